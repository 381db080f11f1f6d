"""The chat's commands: /model, /system, /settings, /tokens, /compress and /clear.

The chat package is imported on use: it pulls in fastmcp and google-genai (~1 s), which the
app must not pay for before its first screen (these commands need the agent anyway).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from taskagent.core.slash.registry import CommandError, Reply, no_args
from taskagent.core.slash.reply_format import fit
from taskagent.core.status_report import spend_report, summary_tokens

if TYPE_CHECKING:
    from taskagent.core.ai_ledger import AiLedger
    from taskagent.core.budget import Budget
    from taskagent.core.chat import ChatSession
    from taskagent.core.store import Repository
    from taskagent.core.tasks import TaskService

RESET_WORDS = ("default", "reset", "none")


def _chat_package() -> Any:
    from taskagent.core import chat

    return chat


class ChatCommands:
    """The chat's settings and conversation commands; `chat` may be missing (then they say
    the agent is not available; /tokens still shows the task summaries)."""

    def __init__(
        self,
        tasks: TaskService,
        repo: Repository,
        chat: ChatSession | None = None,
        ledger: AiLedger | None = None,
        budget: Budget | None = None,
    ) -> None:
        self.tasks = tasks
        self.repo = repo
        self.chat = chat
        self.ledger = ledger
        self.budget = budget

    def _need_chat(self, key: str) -> ChatSession:
        if self.chat is None:
            raise CommandError(f"{key}: the chat agent is not available here")
        return self.chat

    async def clear(self, words: list[str]) -> Reply:
        no_args(words, "/clear")
        if self.chat is not None:
            try:
                await self.chat.clear()
            except RuntimeError as exc:
                raise CommandError(str(exc)) from None
        return Reply("conversation cleared", action="clear")

    async def model(self, words: list[str]) -> Reply:
        chat = self._need_chat("/model")
        models = _chat_package().CHAT_MODELS
        if not words:
            others = ", ".join(m for m in models if m != chat.model)
            return Reply(f"model: {chat.model} (others: {others}, or any Gemini model name)")
        if len(words) > 1:
            raise CommandError("/model takes one model name", "/model")
        try:
            name = await chat.set_model(words[0])
        except ValueError as exc:
            raise CommandError(str(exc), "/model") from None
        note = "" if name in models else " (not one of the usual models; check the name)"
        return Reply(f"model set to {name}{note}")

    async def system(self, rest: str) -> Reply:
        """/system takes the rest of the line as typed (quotes and all)."""
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

    async def settings(self, words: list[str]) -> Reply:
        chat = self._need_chat("/settings")
        package = _chat_package()
        if not words:
            lines = []
            for spec in package.CHAT_SETTINGS.values():
                value = chat.setting(spec.name)
                shown = "model default" if value is None else f"{value:g}"
                lines.append(f"{spec.name:<12} {shown:<14} {spec.help}")
            lines.append("set one: /settings temperature 0.3 ('default' resets it)")
            return Reply("\n".join(lines))
        if len(words) != 2:
            raise CommandError("/settings needs a name and a value", "/settings")
        spec = package.find_setting(words[0])
        if spec is None:
            raise CommandError(
                f"unknown setting '{words[0]}' (use {', '.join(package.CHAT_SETTINGS)})",
                "/settings",
            )
        try:
            name, value = await chat.set_setting(spec.name, words[1])
        except ValueError as exc:
            raise CommandError(str(exc), "/settings") from None
        shown = "the model's default" if value is None else f"{value:g}"
        if words[1].strip().lower() in RESET_WORDS:
            return Reply(f"{name} reset to its default: {shown}")
        return Reply(f"{name} set to {shown}")

    async def compress(self, words: list[str]) -> Reply:
        no_args(words, "/compress")
        chat = self._need_chat("/compress")
        try:
            return Reply(await chat.compress())
        except _chat_package().CompressError as exc:
            raise CommandError(str(exc)) from None

    async def tokens(self, words: list[str]) -> Reply:
        no_args(words, "/tokens")
        lines = await self._conversation_tokens() if self.chat is not None else []
        prompt, response, runs = await summary_tokens(self.repo)
        lines.append(
            f"task summaries: {prompt:,} + {response:,} = {prompt + response:,} tokens "
            f"over {runs} AI-summarised run(s)"
        )
        if self.ledger is not None:
            names = {t.stored_id: t.name for t in await self.tasks.list_tasks()}
            lines += await spend_report(self.ledger, self.budget, names)
        return Reply("\n".join(lines), table=True)

    async def _conversation_tokens(self) -> list[str]:
        """This conversation's tokens per turn, and its size as /compress counts it."""
        chat = self._need_chat("/tokens")
        turns = await chat.token_usage()
        if not turns:
            return ["this conversation: no tokens used yet"]
        compressed = await chat.compressed_turns()
        # Short enough for the side pane (58 columns): a figure is never wrapped.
        lines = [
            "this conversation, tokens billed per turn:",
            f"    {'turn':<24} {'prompt':>8} + {'reply':>7} = {'total':>8}",
        ]
        for i, t in enumerate(turns, 1):
            label = "/compress summary" if t.label == "/compress" else f"{i}. {t.label}"
            mark = "✂ " if t.turn in compressed else "  "
            lines.append(
                f"  {mark}{fit(label, 24):<24} {t.prompt_tokens:>8,} + "
                f"{t.response_tokens:>7,} = {t.total:>8,}"
            )
        prompt = sum(t.prompt_tokens for t in turns)
        response = sum(t.response_tokens for t in turns)
        lines.append(
            f"    {'all turns':<24} {prompt:>8,} + {response:>7,} = {prompt + response:>8,}"
        )
        if compressed:
            lines.append("  ✂ = replaced by the /compress summary (no longer sent)")
        size = await chat.context_tokens()
        if size is not None:
            about = "" if size[1] else "about "
            lines.append(f"in context now: {about}{size[0]:,} tokens (the scale /compress reports)")
        return lines
