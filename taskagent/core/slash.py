"""Slash commands typed in the chat input: parsing and execution, with no UI code.

Each command returns a `Reply` (text for the chat log, plus an optional action such as `quit`
that the UI carries out). Unknown commands and bad arguments give one line of error plus the
matching usage.
"""

from __future__ import annotations

import shlex
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from taskagent.core import schedules
from taskagent.core.tasks import TaskInputError, TaskNotFound, TaskService


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    action: str | None = None  # "quit" | "clear" | None
    error: bool = False


@dataclass(frozen=True, slots=True)
class Command:
    usage: str
    help: str


COMMANDS: dict[str, Command] = {
    "/help": Command("/help", "every command with one line each"),
    "/tasks list": Command("/tasks list", "all tasks with schedule, state and next run"),
    "/tasks start": Command("/tasks start <id>", "enable a task"),
    "/tasks stop": Command("/tasks stop <id>", "disable a task"),
    "/tasks pause": Command("/tasks pause <id>", "pause a task (it keeps its schedule)"),
    "/tasks resume": Command("/tasks resume <id>", "resume a paused task"),
    "/tasks remove": Command("/tasks remove <id>", "delete a task and its history"),
    "/tasks history": Command("/tasks history <id>", "the task's last 20 runs"),
    "/clear": Command("/clear", "clear the chat log"),
    "/quit": Command("/quit", "leave taskagent"),
}


def help_text() -> str:
    width = max(len(c.usage) for c in COMMANDS.values())
    return "\n".join(f"{c.usage.ljust(width)}  {c.help}" for c in COMMANDS.values())


class SlashCommands:
    def __init__(self, tasks: TaskService) -> None:
        self.tasks = tasks

    async def execute(self, line: str) -> Reply:
        try:
            words = shlex.split(line.strip())
        except ValueError as exc:
            return Reply(f"cannot read that command: {exc}", error=True)
        if not words or not words[0].startswith("/"):
            return Reply("slash commands start with '/': try /help", error=True)
        head = words[0].lower()
        if head == "/help":
            return Reply(help_text())
        if head == "/quit":
            return Reply("bye", action="quit")
        if head == "/clear":
            return Reply("", action="clear")
        if head == "/tasks":
            return await self._tasks(words[1:])
        return Reply(f"unknown command {words[0]}; type /help for the list", error=True)

    async def _tasks(self, words: list[str]) -> Reply:
        if not words or words[0].lower() == "list":
            return Reply(await self._list())
        sub = words[0].lower()
        key = f"/tasks {sub}"
        if key not in COMMANDS:
            subs = ", ".join(k.split()[1] for k in COMMANDS if k.startswith("/tasks "))
            return Reply(f"unknown /tasks action '{words[0]}' (use one of: {subs})", error=True)
        if len(words) != 2:
            return Reply(f"usage: {COMMANDS[key].usage}", error=True)
        actions: dict[str, Callable[[str], Awaitable[object]]] = {
            "start": self.tasks.enable,
            "stop": self.tasks.disable,
            "pause": self.tasks.pause,
            "resume": self.tasks.resume,
            "remove": self.tasks.remove,
        }
        try:
            if sub == "history":
                runs = await self.tasks.history(words[1], 20)
                if not runs:
                    return Reply("no runs yet")
                return Reply(
                    "\n".join(
                        f"#{r.id} {r.run_time:%Y-%m-%d %H:%M} {r.status.value}"
                        f" {r.error_message or r.ai_summary or ''}".rstrip()
                        for r in runs
                    )
                )
            task = await actions[sub](words[1])
        except (TaskNotFound, TaskInputError) as exc:
            return Reply(f"{exc}; usage: {COMMANDS[key].usage}", error=True)
        done = {"start": "enabled", "stop": "disabled", "pause": "paused", "resume": "resumed"}
        return Reply(f"{done.get(sub, 'removed')} task {task.id} ({task.name})")  # type: ignore[attr-defined]

    async def _list(self) -> str:
        tasks = await self.tasks.list_tasks()
        if not tasks:
            return "no tasks yet"
        return "\n".join(
            f"{t.id:>3}  {t.name}  [{t.state.value}]  {schedules.describe(t.schedule)}  -> {t.mcp_tool}"
            for t in tasks
        )
