"""SlashCommands: one command line in, one `Reply` out (no UI code).

`SlashCommands.execute(line)` returns a `Reply`: text for the chat log, `error=True` for a
one-line error (always followed by the matching usage), and an optional `action` the UI
carries out:

    "quit"            leave the app
    "clear"           empty the chat log (the conversation was already forgotten)
    "open_task_form"  open the new-task form (/tasks add)
    "tasks_menu"      /tasks alone: the UI may show a menu of the /tasks commands (text has it)
    "confirm"         ask the user yes/no with `text` as the question; on yes, execute
                      `reply.confirm_command` (e.g. "/tasks remove 3 --yes")

The same commands as the app's keys; the list is registry.COMMANDS.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from taskagent.core.slash.chat_commands import ChatCommands
from taskagent.core.slash.mcp_commands import McpCommands
from taskagent.core.slash.registry import (
    CommandError,
    Reply,
    help_text,
    no_args,
    split_line,
    usage,
)
from taskagent.core.slash.task_commands import StatusProvider, TaskCommands
from taskagent.core.tasks import TaskService

if TYPE_CHECKING:
    from taskagent.core.ai_ledger import AiLedger
    from taskagent.core.budget import Budget
    from taskagent.core.chat import ChatSession
    from taskagent.core.engine import Engine
    from taskagent.core.mcp import McpManager
    from taskagent.core.store import Repository

Handler = Callable[[list[str]], Awaitable[Reply]]


class SlashCommands:
    """Every slash command, over explicit dependencies (the composition root's
    `slash_commands()` gives it everything; tests may give it less).

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
        task_commands = TaskCommands(tasks, self.repo, self.timezone, engine, status)
        chat_commands = ChatCommands(tasks, self.repo, chat, ledger, budget)
        self._chat_commands = chat_commands
        self._handlers: dict[str, Handler] = {
            "/help": self._help,
            "/?": self._help,
            "/tasks": task_commands.run,
            "/task": task_commands.run,
            "/mcp": McpCommands(mcp, chat).run,
            "/model": chat_commands.model,
            "/settings": chat_commands.settings,
            "/tokens": chat_commands.tokens,
            "/compress": chat_commands.compress,
            "/clear": chat_commands.clear,
            "/quit": self._quit,
            "/exit": self._quit,
        }

    @staticmethod
    def is_command(line: str) -> bool:
        return line.lstrip().startswith("/")

    async def execute(self, line: str) -> Reply:
        """Run one command line; never raises for user mistakes."""
        line = line.strip()
        if not line.startswith("/"):
            return Reply("slash commands start with '/': try /help", error=True)
        head, rest, words = split_line(line)
        handler = self._handlers.get(head)
        try:
            if head == "/system":  # the instruction is the rest of the line as typed
                return await self._chat_commands.system(rest)
            if handler is None:
                raise CommandError(f"unknown command {head}; type /help for the list")
            return await handler(words)
        except CommandError as exc:
            shown = f" ({usage(exc.key)})" if exc.key else ""
            return Reply(f"{exc}{shown}", error=True)

    async def _help(self, words: list[str]) -> Reply:
        return Reply(help_text())

    async def _quit(self, words: list[str]) -> Reply:
        no_args(words, "/quit")
        return Reply("bye", action="quit")
