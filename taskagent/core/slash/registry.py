"""The slash commands there are (one entry of COMMANDS each: usage + one line of help, which
/help and the help screen list), what a command answers (`Reply`), and how a line is split."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from taskagent.core.errors import TaskAgentError


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    action: str | None = None  # quit | clear | open_task_form | tasks_menu | confirm | None
    error: bool = False
    confirm_command: str | None = None  # with action="confirm": run this line on "yes"
    table: bool = False  # lines in columns: shown unwrapped (a narrow pane cuts, never wraps)


@dataclass(frozen=True, slots=True)
class Command:
    usage: str
    help: str


COMMANDS: dict[str, Command] = {
    c.usage.split(" <")[0].split(" [")[0]: c
    for c in (
        Command("/help", "every command with one line each"),
        Command("/tasks", "the /tasks commands (menu)"),
        Command("/tasks list", "all tasks with schedule, state and next run"),
        Command("/tasks add", "open the new-task form"),
        Command("/tasks remove <id>", "delete a task; its history is kept (asks first)"),
        Command("/tasks start <id>", "enable a task"),
        Command("/tasks stop <id>", "disable a task"),
        Command("/tasks pause <id>", "pause a task (it keeps its schedule)"),
        Command("/tasks resume <id>", "resume a paused task"),
        Command("/tasks run <id>", "run a task now and show the result"),
        Command("/tasks history <id>", "the task's last 20 runs"),
        Command("/tasks result <id>", "the task's latest result with its summary"),
        Command("/tasks status", "scheduler state, task counts, runs in the last 24 h"),
        Command("/mcp [server]", "MCP servers and their state, or one server's tools"),
        Command("/model [name]", "show or set the chat model"),
        Command("/system [text|reset]", "show or set the chat's system instruction"),
        Command("/settings [name value]", "show or set temperature, max_tokens, top_p..."),
        Command("/tokens", "tokens and estimated cost: this conversation, today, per task"),
        Command("/compress", "replace older turns by a summary to save tokens"),
        Command("/clear", "forget the conversation and clear the chat"),
        Command("/quit", "leave taskagent"),
    )
}

TASK_ACTIONS: tuple[str, ...] = ("list", "add", "remove", "start", "stop", "pause", "resume", "run")
TASK_ACTIONS += ("history", "result", "status")


# What needs only the database (TaskService): these answer while the agent is still loading.
_DATABASE_ONLY = {"/help", "/?", "/quit", "/exit"}
_DATABASE_ONLY_TASKS = {"list", "add", "remove", "start", "stop", "pause", "resume", "history"}
_DATABASE_ONLY_TASKS |= {"result"}


def needs_agent(line: str) -> bool:
    """True when the command needs more than the database (the engine, MCP, the chat)."""
    words = line.strip().lower().split()
    if not words:
        return False
    if words[0] in _DATABASE_ONLY:
        return False
    if words[0] in ("/tasks", "/task"):
        return len(words) > 1 and words[1] not in _DATABASE_ONLY_TASKS
    return True


def help_text() -> str:
    width = max(len(c.usage) for c in COMMANDS.values())
    return "\n".join(f"{c.usage.ljust(width)}  {c.help}" for c in COMMANDS.values())


def usage(key: str) -> str:
    return f"usage: {COMMANDS[key].usage}"


class CommandError(TaskAgentError):
    """A bad command or argument: one line, shown with the usage of `key`."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


def no_args(words: list[str], key: str) -> None:
    """CommandError when a command that takes no arguments got some."""
    if words:
        raise CommandError(f"{key} takes no arguments", key)


# shlex.split is pure Python and slow (about 20 s per MB on a small machine); no command's
# arguments are near this long, so longer input is split on white space (and then refused by
# the command with its own message).
SHLEX_LIMIT = 4_096


def split_line(line: str) -> tuple[str, str, list[str]]:
    """(command in lower case, the rest as typed, the rest as shell-like words)."""
    head, _, rest = line.partition(" ")
    rest = rest.strip()
    if len(rest) > SHLEX_LIMIT:  # a pasted megabyte: shlex would take a minute over it
        return head.lower(), rest, rest.split()
    try:
        words = shlex.split(rest)
    except ValueError:  # an unbalanced quote: plain words
        words = rest.split()
    return head.lower(), rest, words
