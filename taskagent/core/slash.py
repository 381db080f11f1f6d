"""Slash commands typed in the chat input: parsing and execution, with no UI code.

`SlashCommands.execute(line)` returns a `Reply`: text for the chat log, `error=True` for a
one-line error (always followed by the matching usage), and an optional `action` the UI
carries out:

    "quit"            leave the app
    "clear"           empty the chat log (the conversation was already forgotten)
    "open_task_form"  open the new-task form (/tasks add)
    "tasks_menu"      /tasks alone: the UI may show a menu of the /tasks commands (text has it)
    "confirm"         ask the user yes/no with `text` as the question; on yes, execute
                      `reply.confirm_command` (e.g. "/tasks remove 3 --yes")

The same commands as the app's keys; every command is one entry of COMMANDS (usage + one line
of help), which /help and the help screen list.
"""

from __future__ import annotations

import contextlib
import json
import shlex
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from taskagent.core import schedules
from taskagent.core.errors import TaskAgentError
from taskagent.core.models import Run, Task
from taskagent.core.status import spend_report, task_overview
from taskagent.core.summary import render_data
from taskagent.core.tasks import TaskInputError, TaskNotFound, TaskService

if TYPE_CHECKING:
    from taskagent.core.chat import ChatSession


def _chat_module() -> Any:
    # Imported on use: core.chat pulls in fastmcp and google-genai (~1 s), which the app must
    # not pay for before its first screen.
    from taskagent.core import chat

    return chat


if TYPE_CHECKING:
    from taskagent.core.budget import Budget
    from taskagent.core.engine import Engine
    from taskagent.core.ledger import AiLedger
    from taskagent.core.mcp import McpManager
    from taskagent.core.repository import Repository

StatusProvider = Callable[[], Awaitable[dict[str, Any]]]


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

TASK_ACTIONS = ("list", "add", "remove", "start", "stop", "pause", "resume", "run")
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


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _columns(head: tuple[str, ...], rows: list[tuple[str, ...]], right: tuple[int, ...]) -> str:
    """Rows in aligned columns (two spaces apart); the last column is not padded."""
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    out = []
    for row in [head, *rows]:
        cells = [
            cell.rjust(w) if i in right else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        cells[-1] = row[-1]
        out.append("  ".join(cells).rstrip())
    return "\n".join(out)


def help_text() -> str:
    width = max(len(c.usage) for c in COMMANDS.values())
    return "\n".join(f"{c.usage.ljust(width)}  {c.help}" for c in COMMANDS.values())


def _usage(key: str) -> str:
    return f"usage: {COMMANDS[key].usage}"


class CommandError(TaskAgentError):
    """A bad command or argument: one line, shown with the usage of `key`."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


def _fmt_duration(ms: int | None) -> str:
    if ms is None:
        return "-"
    return f"{ms} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


class SlashCommands:
    """Every slash command, over explicit dependencies (tests build it from real Services).

    Only `tasks` is required; a command whose dependency is missing says it is unavailable.
    """

    def __init__(
        self,
        tasks: TaskService,
        *,
        engine: Engine | None = None,
        mcp: McpManager | None = None,
        repo: Repository | None = None,
        chat: ChatSession | None = None,
        status: StatusProvider | None = None,
        timezone: str | None = None,
        ledger: AiLedger | None = None,
        budget: Budget | None = None,
    ) -> None:
        self.tasks = tasks
        self.ledger = ledger
        self.budget = budget
        self.engine = engine
        self.mcp = mcp
        self.repo = repo or tasks.repo
        self.chat = chat
        self.status = status
        self.timezone = timezone or (chat.timezone if chat is not None else "UTC")

    @classmethod
    def from_services(cls, services: Any, chat: ChatSession | None = None) -> SlashCommands:
        """Build from a taskagent.services.Services (its `chat` when it has one)."""
        return cls(
            services.tasks,
            engine=services.engine,
            mcp=services.mcp,
            repo=services.repo,
            chat=chat if chat is not None else getattr(services, "chat", None),
            status=services.status,
            timezone=services.settings.timezone,
            ledger=getattr(services, "ledger", None),
            budget=getattr(services, "budget", None),
        )

    # ----------------------------------------------------------------------------- entry
    @staticmethod
    def is_command(line: str) -> bool:
        return line.lstrip().startswith("/")

    async def execute(self, line: str) -> Reply:
        """Run one command line; never raises for user mistakes."""
        line = line.strip()
        if not line.startswith("/"):
            return Reply("slash commands start with '/': try /help", error=True)
        head, _, rest = line.partition(" ")
        head = head.lower()
        rest = rest.strip()
        try:
            words = shlex.split(rest)
        except ValueError:
            words = rest.split()
        handler = {
            "/help": self._help,
            "/?": self._help,
            "/tasks": self._tasks,
            "/task": self._tasks,
            "/mcp": self._mcp,
            "/model": self._model,
            "/settings": self._settings,
            "/tokens": self._tokens,
            "/compress": self._compress,
            "/clear": self._clear,
            "/quit": self._quit,
            "/exit": self._quit,
        }.get(head)
        try:
            if head == "/system":
                return await self._system(rest)
            if handler is None:
                raise CommandError(f"unknown command {head}; type /help for the list")
            return await handler(words)
        except CommandError as exc:
            usage = f" ({_usage(exc.key)})" if exc.key else ""
            return Reply(f"{exc}{usage}", error=True)

    # --------------------------------------------------------------------------- simple
    async def _help(self, words: list[str]) -> Reply:
        return Reply(help_text())

    async def _quit(self, words: list[str]) -> Reply:
        self._no_args(words, "/quit")
        return Reply("bye", action="quit")

    async def _clear(self, words: list[str]) -> Reply:
        self._no_args(words, "/clear")
        if self.chat is not None:
            try:
                await self.chat.clear()
            except RuntimeError as exc:
                raise CommandError(str(exc)) from None
        return Reply("conversation cleared", action="clear")

    @staticmethod
    def _no_args(words: list[str], key: str) -> None:
        if words:
            raise CommandError(f"{key} takes no arguments", key)

    def _need_chat(self, key: str) -> ChatSession:
        if self.chat is None:
            raise CommandError(f"{key}: the chat agent is not available here")
        return self.chat

    # ---------------------------------------------------------------------------- tasks
    async def _tasks(self, words: list[str]) -> Reply:
        if not words:
            menu = "\n".join(
                f"{c.usage.ljust(20)}  {c.help}"
                for key, c in COMMANDS.items()
                if key.startswith("/tasks ")
            )
            return Reply(menu, action="tasks_menu")
        sub = words[0].lower()
        args = words[1:]
        key = f"/tasks {sub}"
        if sub not in TASK_ACTIONS:
            raise CommandError(
                f"unknown /tasks action '{words[0]}' (use one of: {', '.join(TASK_ACTIONS)})",
                "/tasks",
            )
        if sub in ("list", "add", "status"):
            self._no_args(args, key)
            if sub == "list":
                return Reply(await self._list(), table=True)
            if sub == "add":
                return Reply("opening the new-task form", action="open_task_form")
            return Reply(await self._status())
        confirmed = False
        if sub == "remove" and args and args[-1] in ("--yes", "-y"):
            confirmed, args = True, args[:-1]
        if len(args) != 1:
            what = "a task id" if not args else "one task id"
            raise CommandError(f"/tasks {sub} needs {what}", key)
        try:
            task = await self.tasks.get(args[0])
            if sub == "remove":
                if not confirmed:
                    return Reply(
                        f"Remove task {task.id} “{task.name}”? Its run history is kept.",
                        action="confirm",
                        confirm_command=f"/tasks remove {task.id} --yes",
                    )
                await self.tasks.remove(task.id)  # type: ignore[arg-type]
                return Reply(f"removed task {task.id} ({task.name})")
            if sub in ("start", "stop", "pause", "resume"):
                change = {
                    "start": (self.tasks.enable, "enabled"),
                    "stop": (self.tasks.disable, "disabled"),
                    "pause": (self.tasks.pause, "paused"),
                    "resume": (self.tasks.resume, "resumed"),
                }[sub]
                task = await change[0](task.id)  # type: ignore[arg-type]
                nxt = f"; next run {self._time(task.next_run)}" if task.next_run else ""
                return Reply(f"{change[1]} task {task.id} ({task.name}){nxt}")
            if sub == "run":
                return Reply(await self._run(task))
            if sub == "history":
                return Reply(await self._history(task))
            return Reply(await self._result(task))
        except (TaskNotFound, TaskInputError) as exc:
            raise CommandError(str(exc), key) from None

    def _time(self, moment: datetime | None) -> str:
        if moment is None:
            return "-"
        try:
            zone = ZoneInfo(schedules.validate_timezone(self.timezone))
        except schedules.ScheduleError:
            zone = ZoneInfo("UTC")
        local = moment.astimezone(zone)
        return f"{local:%Y-%m-%d %H:%M}"

    async def _list(self) -> str:
        tasks = await self.tasks.list_tasks()
        if not tasks:
            return "no tasks yet: /tasks add, or ask the agent to create one"
        rows = [
            (
                str(t.id),
                _fit(t.name, 24),
                t.state.value,
                _fit(schedules.describe(t.schedule), 28),
                self._time(t.next_run)[5:] if t.next_run else "-",  # MM-DD HH:MM
                t.mcp_tool,
            )
            for t in tasks
        ]
        return _columns(("ID", "Name", "State", "Schedule", "Next run", "Tool"), rows, right=(0,))

    async def _run(self, task: Task) -> str:
        if self.engine is None:
            raise CommandError("/tasks run: the scheduler is not available here")
        try:
            run = await self.engine.run_now(task.id)  # type: ignore[arg-type]
        except (LookupError, RuntimeError) as exc:
            raise CommandError(f"could not run task {task.id}: {exc}") from None
        return self._describe_run(task, run)

    def _describe_run(self, task: Task, run: Run) -> str:
        lines = [
            f"run #{run.id} of task {task.id} ({task.name}): {run.status.value} "
            f"in {_fmt_duration(run.duration_ms)}"
        ]
        if run.error_message:
            lines.append(f"error: {run.error_message}")
        if run.ai_summary:
            lines.append(f"summary: {run.ai_summary}")
        return "\n".join(lines)

    async def _history(self, task: Task) -> str:
        runs = await self.tasks.history(task.id, 20)  # type: ignore[arg-type]
        if not runs:
            return f"task {task.id} ({task.name}) has not run yet"
        lines = [f"last {len(runs)} run(s) of task {task.id} ({task.name}), newest first:"]
        for r in runs:
            note = r.error_message or r.ai_summary or ""
            note = " ".join(note.split())
            if len(note) > 90:
                note = note[:89] + "…"
            lines.append(
                f"#{r.id:<5} {self._time(r.run_time)}  {r.status.value:<11} "
                f"{_fmt_duration(r.duration_ms):>8}  {note}".rstrip()
            )
        return "\n".join(lines)

    async def _result(self, task: Task) -> str:
        run = await self.tasks.latest_result(task.id)  # type: ignore[arg-type]
        if run is None:
            return f"task {task.id} ({task.name}) has not run yet"
        lines = [
            f"latest result of task {task.id} ({task.name}): run #{run.id} at "
            f"{self._time(run.run_time)}, {run.status.value} in {_fmt_duration(run.duration_ms)}"
        ]
        if run.error_message:
            lines.append(f"error: {run.error_message}")
        if run.ai_summary:
            lines.append(f"summary ({run.summarizer or 'offline'}): {run.ai_summary}")
        if run.raw_data:
            try:
                data: Any = json.loads(run.raw_data)
            except ValueError:
                data = run.raw_data
            lines.append(f"data: {render_data(data, 1500)}")
        return "\n".join(lines)

    async def _status(self) -> str:
        if self.status is not None:
            info = await self.status()
        else:
            info = await task_overview(self.repo)
            if self.engine is not None:
                info["scheduler"] = await self.engine.status()
        t = info.get("tasks", {})
        day = info.get("last_24h", {})
        lines = [
            f"tasks: {t.get('total', 0)} ({t.get('active', 0)} active, {t.get('paused', 0)} "
            f"paused, {t.get('disabled', 0)} disabled, {t.get('done', 0)} done); "
            f"running now: {info.get('running_now', 0)}",
            f"last 24 h: {day.get('runs', 0)} runs, {day.get('successes', 0)} ok, "
            f"{day.get('errors', 0)} failed",
        ]
        scheduler = info.get("scheduler")
        if isinstance(scheduler, dict):
            lines.append(
                f"scheduler: {scheduler.get('mode', '?')}, up {scheduler.get('uptime_seconds', 0)} s"
            )
        if info.get("ai"):
            lines.append(f"AI summaries: {info['ai']}")
        upcoming = info.get("next_runs") or []
        for item in upcoming[:5]:
            when = item.get("next_run")
            with contextlib.suppress(TypeError, ValueError):
                when = self._time(datetime.fromisoformat(when))
            lines.append(f"next: {item.get('name')} ({item.get('schedule')}) at {when}")
        return "\n".join(lines)

    # ------------------------------------------------------------------------------ mcp
    async def _mcp(self, words: list[str]) -> Reply:
        if self.mcp is None:
            raise CommandError("/mcp: the MCP manager is not available here")
        if len(words) > 1:
            raise CommandError("/mcp takes at most one server name", "/mcp")
        servers = self.mcp.status()
        if not words:
            if not servers:
                return Reply("no MCP servers configured")
            lines = [
                f"{s.name:<14} {s.kind:<8} {s.state:<12} {s.tool_count} tool(s)"
                + (f"  error: {s.error}" if s.error else "")
                for s in servers
            ]
            lines.append("/mcp <server> lists a server's tools")
            lines.extend(self._confirm_lines())
            return Reply("\n".join(lines))
        name = words[0]
        match = next((s for s in servers if s.name == name), None)
        if match is None:
            names = ", ".join(s.name for s in servers) or "none"
            raise CommandError(f"no MCP server '{name}' (servers: {names})", "/mcp")
        tools = [t for t in await self.mcp.list_tools() if t.server == name]
        head = f"{match.name} ({match.kind}, {match.state}): {len(tools)} tool(s)"
        if match.error:
            head += f"; error: {match.error}"
        lines = [head]
        width = max((len(t.name) for t in tools), default=0)
        for t in sorted(tools, key=lambda t: t.name):
            lines.append(
                f"  {t.name.ljust(width)}  {self._tool_mode(t):<10} "
                f"{_chat_module().first_paragraph(t.description, 120)}".rstrip()
            )
        lines.extend(self._confirm_lines())
        return Reply("\n".join(lines))

    def _tool_mode(self, tool: Any) -> str:
        """How the chat treats a call of this tool: read-only, asks, or allowed."""
        if self.chat is None:
            return "read-only" if getattr(tool, "read_only", False) else "writes"
        decision = self.chat.policy.decide(tool.ref, tool)
        if decision.ask:
            return "asks"
        return "read-only" if decision.reason == "read-only" else "allowed"

    def _confirm_lines(self) -> list[str]:
        if self.chat is None:
            return []
        policy = self.chat.policy
        allowed = ", ".join(policy.patterns) or "none"
        lines = [f"chat: asks before any tool not marked read-only; [chat] always_allow: {allowed}"]
        if policy.allowed_in_conversation:
            lines.append(
                "allowed for this conversation (a): "
                + ", ".join(sorted(policy.allowed_in_conversation))
            )
        return lines

    # --------------------------------------------------------------------- chat settings
    async def _model(self, words: list[str]) -> Reply:
        chat = self._need_chat("/model")
        if not words:
            others = ", ".join(m for m in _chat_module().CHAT_MODELS if m != chat.model)
            return Reply(f"model: {chat.model} (others: {others}, or any Gemini model name)")
        if len(words) > 1:
            raise CommandError("/model takes one model name", "/model")
        try:
            name = await chat.set_model(words[0])
        except ValueError as exc:
            raise CommandError(str(exc), "/model") from None
        note = (
            ""
            if name in _chat_module().CHAT_MODELS
            else " (not one of the usual models; check the name)"
        )
        return Reply(f"model set to {name}{note}")

    async def _system(self, rest: str) -> Reply:
        chat = self._need_chat("/system")
        if not rest:
            origin = "custom" if chat.custom_system else "default"
            return Reply(
                f"system instruction ({origin}; today's date, time zone and the tool list are "
                f"added to it):\n{chat.system_instruction}"
            )
        if rest.lower() in ("reset", "default"):
            await chat.set_system_instruction(None)
            return Reply("system instruction reset to the default")
        try:
            await chat.set_system_instruction(rest)
        except ValueError as exc:
            raise CommandError(str(exc), "/system") from None
        return Reply("system instruction set")

    async def _settings(self, words: list[str]) -> Reply:
        chat = self._need_chat("/settings")
        if not words:
            lines = []
            for spec in _chat_module().CHAT_SETTINGS.values():
                value = chat.setting(spec.name)
                shown = "model default" if value is None else f"{value:g}"
                lines.append(f"{spec.name:<12} {shown:<14} {spec.help}")
            lines.append("set one: /settings temperature 0.3 ('default' resets it)")
            return Reply("\n".join(lines))
        if len(words) != 2:
            raise CommandError("/settings needs a name and a value", "/settings")
        spec = _chat_module().find_setting(words[0])
        if spec is None:
            raise CommandError(
                f"unknown setting '{words[0]}' (use {', '.join(_chat_module().CHAT_SETTINGS)})",
                "/settings",
            )
        try:
            name, value = await chat.set_setting(spec.name, words[1])
        except ValueError as exc:
            raise CommandError(str(exc), "/settings") from None
        shown = "the model's default" if value is None else f"{value:g}"
        if words[1].strip().lower() in ("default", "reset", "none"):
            return Reply(f"{name} reset to its default: {shown}")
        return Reply(f"{name} set to {shown}")

    async def _tokens(self, words: list[str]) -> Reply:
        self._no_args(words, "/tokens")
        lines: list[str] = []
        if self.chat is not None:
            turns = await self.chat.token_usage()
            if turns:
                compressed = await self._compressed_turns(self.chat)
                # Short enough for the side pane (58 columns): a figure is never wrapped.
                lines.append("this conversation, tokens billed per turn:")
                lines.append(f"    {'turn':<24} {'prompt':>8} + {'reply':>7} = {'total':>8}")
                for i, t in enumerate(turns, 1):
                    label = "/compress summary" if t.label == "/compress" else f"{i}. {t.label}"
                    mark = "✂ " if t.turn in compressed else "  "
                    lines.append(
                        f"  {mark}{_fit(label, 24):<24} {t.prompt_tokens:>8,} + "
                        f"{t.response_tokens:>7,} = {t.total:>8,}"
                    )
                prompt = sum(t.prompt_tokens for t in turns)
                response = sum(t.response_tokens for t in turns)
                lines.append(
                    f"    {'all turns':<24} {prompt:>8,} + {response:>7,} = {prompt + response:>8,}"
                )
                if compressed:
                    lines.append("  ✂ = replaced by the /compress summary (no longer sent)")
                size = await self.chat.context_tokens()
                if size is not None:
                    about = "" if size[1] else "about "
                    lines.append(
                        f"in context now: {about}{size[0]:,} tokens (the scale /compress reports)"
                    )
            else:
                lines.append("this conversation: no tokens used yet")
        row = await self.repo.fetchone(
            "SELECT COALESCE(SUM(prompt_tokens), 0), COALESCE(SUM(response_tokens), 0), "
            "COUNT(prompt_tokens) FROM task_history"
        )
        prompt, response, runs = int(row[0]), int(row[1]), int(row[2])
        lines.append(
            f"task summaries: {prompt:,} + {response:,} = {prompt + response:,} tokens "
            f"over {runs} AI-summarised run(s)"
        )
        if self.ledger is not None:
            names = {t.id: t.name for t in await self.tasks.list_tasks()}
            lines += await spend_report(self.ledger, self.budget, names)  # type: ignore[arg-type]
        return Reply("\n".join(lines), table=True)

    async def _compressed_turns(self, chat: ChatSession) -> set[int]:
        """Turns /compress replaced by its summary (kept in the database, not sent any more)."""
        rows = await self.repo.fetchall(
            "SELECT DISTINCT turn FROM chat_messages "
            "WHERE session = ? AND in_context = 0 AND role != 'summary'",
            (chat.session,),
        )
        return {int(row[0]) for row in rows}

    async def _compress(self, words: list[str]) -> Reply:
        self._no_args(words, "/compress")
        chat = self._need_chat("/compress")
        try:
            return Reply(await chat.compress())
        except _chat_module().CompressError as exc:
            raise CommandError(str(exc)) from None
