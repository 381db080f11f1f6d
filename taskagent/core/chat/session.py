"""ChatSession: the conversation, its settings and its tool loop (see the package docstring).

No key: the chat explains once how to enable the AI; slash commands keep working. Every
request's tokens go to the AI ledger (core/ai_ledger.py, with an estimated cost). When the daily
AI budget is reached (core/budget.py) a message is answered with one line saying so and when it
resets, and no request is made.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from taskagent.core.chat.chat_events import ChatEvent, ConfirmationNeeded, Notice, TurnFailed
from taskagent.core.chat.chat_settings import (
    CHAT_SETTINGS,
    clean_model_name,
    clean_system_instruction,
    find_setting,
)
from taskagent.core.chat.compress import KEEP_TURNS, CompressError, compress_history, count_tokens
from taskagent.core.chat.confirm_cards import CardMaker, Confirmations
from taskagent.core.chat.failures import NO_KEY_SHORT, NO_KEY_TEXT
from taskagent.core.chat.messages import ChatLine, History, TurnTokens, text_of, transcript_lines
from taskagent.core.chat.store import ChatStore
from taskagent.core.chat.system_prompt import (
    DEFAULT_SYSTEM_INSTRUCTION,
    ToolNames,
    full_instruction,
    generation_config,
)
from taskagent.core.chat.tools import ToolRunner
from taskagent.core.chat.turn import Turn
from taskagent.core.confirm_policy import ALWAYS_ASK, ConfirmPolicy
from taskagent.core.cost_estimate import CostEstimator
from taskagent.core.gemini_client import GeminiClient
from taskagent.core.mcp import McpManagerError, ToolInfo

if TYPE_CHECKING:
    from google.genai import types

    from taskagent.core.ai_ledger import AiLedger
    from taskagent.core.budget import Budget
    from taskagent.core.mcp import McpManager
    from taskagent.core.store import Repository
    from taskagent.core.tasks import TaskService

DEFAULT_SESSION = "default"
# Tools whose card is always shown (the allowlist and `a` do not apply); every other tool asks
# unless it is annotated read-only (see core/confirm_policy.py).
CONFIRM_TOOLS: frozenset[str] = ALWAYS_ASK

GeminiSource = GeminiClient | Callable[[], GeminiClient]


class ChatSession:
    """The conversation, its settings and its tool loop. Create with `await ChatSession.open()`.

    Not thread-safe: use it from one event loop (the UI's). One message at a time: `send()`
    while a reply is running yields a TurnFailed(kind="busy").
    """

    def __init__(
        self,
        *,
        repo: Repository,
        mcp: McpManager,
        tasks: TaskService,
        gemini: GeminiSource,
        timezone: str | None = None,
        default_model: str = "gemini-2.5-flash",
        session: str = DEFAULT_SESSION,
        confirm_tools: Iterable[str] = CONFIRM_TOOLS,
        always_allow: Iterable[str] = (),
        request_timeout: float = 120.0,
        clock: Callable[[], datetime] | None = None,
        ledger: AiLedger | None = None,
        budget: Budget | None = None,
    ) -> None:
        self.repo = repo
        self.mcp = mcp
        self.tasks = tasks
        self._gemini = gemini
        self.timezone = timezone or tasks.default_timezone or "UTC"
        self.default_model = default_model
        self.session = session
        self.store = ChatStore(repo, session)
        self.confirm_tools = frozenset(confirm_tools)
        self.policy = ConfirmPolicy(always_allow, always_ask=self.confirm_tools)
        # A card that creates or changes a task says what its AI summaries will cost a day.
        costs = CostEstimator(ledger, default_model) if ledger is not None else None
        cards = CardMaker(tasks, lambda: self.clock(), self._tool, costs=costs)
        self.confirmations = Confirmations(self.policy, cards)
        self.tools = ToolRunner(mcp, self.confirmations, lambda: self.timezone)
        self.request_timeout = request_timeout
        self.clock = clock or tasks.clock
        self.ledger = ledger
        self.budget = budget
        self.model = default_model
        self.custom_system: str | None = None
        self.settings: dict[str, Any] = {}
        self.history = History()  # what is sent to the model
        self._busy = False
        self._explained_no_key = False

    @classmethod
    async def open(cls, **kwargs: Any) -> ChatSession:
        """Build a session and load its history and settings from the database."""
        session = cls(**kwargs)
        await session.load()
        return session

    # ----------------------------------------------------------------------------- state
    @property
    def gemini(self) -> GeminiClient:
        source = self._gemini
        return source if isinstance(source, GeminiClient) else source()

    @property
    def available(self) -> bool:
        """True when an API key is configured (the AI can answer)."""
        return self.gemini.configured

    @property
    def busy(self) -> bool:
        return self._busy

    @property
    def waiting_for(self) -> ConfirmationNeeded | None:
        """The confirmation the running turn is waiting for, if any."""
        return self.confirmations.waiting

    @property
    def system_instruction(self) -> str:
        """The editable part of the instruction (date, time zone and tools are added to it)."""
        return self.custom_system or DEFAULT_SYSTEM_INSTRUCTION

    def setting(self, name: str) -> Any:
        spec = CHAT_SETTINGS[name]
        return self.settings.get(name, spec.default)

    async def load(self) -> None:
        self.model = await self.store.get_setting("model", self.default_model)
        self.custom_system = await self.store.get_setting("system", None)
        stored = await self.store.get_setting("settings", {}) or {}
        self.settings = {k: v for k, v in stored.items() if k in CHAT_SETTINGS}
        self.history = await self.store.load()

    async def set_model(self, name: str) -> str:
        self.model = clean_model_name(name)
        await self.store.set_setting("model", self.model)
        return self.model

    async def set_system_instruction(self, text: str | None) -> None:
        """Replace the editable instruction; None or "" restores the default. ValueError when
        it is longer than MAX_SYSTEM_CHARS (it is sent with every message)."""
        self.custom_system = clean_system_instruction(text)
        if self.custom_system is None:
            await self.store.delete_setting("system")
        else:
            await self.store.set_setting("system", self.custom_system)

    async def set_setting(self, name: str, text: str) -> tuple[str, Any]:
        """Validate and store one generation setting; returns (name, value). ValueError."""
        spec = find_setting(name)
        if spec is None:
            raise ValueError(f"unknown setting '{name}' (use {', '.join(CHAT_SETTINGS)})")
        value = spec.parse(text)
        if value is None:
            self.settings.pop(spec.name, None)
        else:
            self.settings[spec.name] = value
        await self.store.set_setting("settings", self.settings)
        return spec.name, self.setting(spec.name)

    # --------------------------------------------------------------------- history views
    def transcript(self) -> list[ChatLine]:
        """The conversation in context, for the UI to show when it opens."""
        return transcript_lines(self.history)

    async def token_usage(self) -> list[TurnTokens]:
        """Prompt/response tokens per turn of this conversation (compressed turns included)."""
        return await self.store.token_usage()

    async def compressed_turns(self) -> set[int]:
        """Turns /compress replaced by its summary (still in /tokens, no longer sent)."""
        return await self.store.compressed_turns()

    async def context_tokens(self) -> tuple[int, bool] | None:
        """(tokens, exact) of the conversation as sent now, counted as /compress counts them;
        None without a key."""
        if not self.gemini.configured or not (self.history.context or self.history.summary):
            return None
        contents = self.history.contents()
        return await count_tokens(self.gemini.get(), self.model, contents, self.request_timeout)

    async def clear(self) -> None:
        """Forget the conversation (database too). Settings, model and instruction stay."""
        if self._busy:
            raise RuntimeError("wait until the current reply has finished")
        await self.store.clear()
        self.history = History()
        self.policy.forget_conversation()  # `a` answers hold for one conversation

    # ---------------------------------------------------------------------- confirmation
    def confirm(
        self, confirmation_id: str, approved: bool, *, for_conversation: bool = False
    ) -> bool:
        """The user's answer to a ConfirmationNeeded; False if nothing waits for that id.

        `for_conversation` (the card's `a`): also run this tool without asking for the rest of
        the conversation (until /clear or the app closes), where the card allows it.
        May be called before the consumer asks for the next event (the answer is kept)."""
        return self.confirmations.answer(confirmation_id, approved, for_conversation)

    def decline_all(self) -> None:
        """Decline every open confirmation (e.g. the chat pane is closing)."""
        self.confirmations.decline_all()

    # ------------------------------------------------------------------------- the turn
    async def send(self, text: str) -> AsyncGenerator[ChatEvent, None]:
        """Answer one user message; see the package docstring for the events."""
        text = text.strip()
        if not text:
            return
        if not self.gemini.configured:
            if self._explained_no_key:
                yield Notice(NO_KEY_SHORT)
            else:
                self._explained_no_key = True
                yield Notice(NO_KEY_TEXT)
            return
        if self._busy:
            yield TurnFailed("The agent is still answering the previous message.", "busy")
            return
        if self.budget is not None and (reached := await self.budget.check()) is not None:
            yield Notice(reached.chat_line())
            return
        self._busy = True
        try:
            # aclosing: when the UI stops listening, the turn's own clean-up runs now.
            async with contextlib.aclosing(Turn(self, text).run()) as events:
                async for event in events:
                    yield event
        finally:
            self._busy = False
            self.confirmations.waiting = None

    def request_config(
        self, tools: list[ToolInfo], names: ToolNames
    ) -> types.GenerateContentConfig:
        """One request's config: instruction, generation settings and the tools."""
        return generation_config(self.full_instruction(tools, names), tools, names, self.setting)

    def full_instruction(self, tools: list[ToolInfo], names: ToolNames | None = None) -> str:
        """The instruction sent: the editable part + date/time zone + tools + summary."""
        summary = self.history.summary
        return full_instruction(
            self.system_instruction,
            tools,
            names or ToolNames(tools),
            timezone=self.timezone,
            now=self.clock(),
            summary=text_of(summary.content) if summary is not None else None,
        )

    async def record_usage(self, kind: str, prompt: int | None, response: int | None) -> None:
        """One request's tokens into the AI ledger (it never raises)."""
        if self.ledger is not None and (prompt or response):
            await self.ledger.record(kind, self.model, prompt, response)

    def _tool(self, ref: str) -> ToolInfo | None:
        try:
            return self.mcp.resolve(ref)
        except McpManagerError:
            return None

    # ------------------------------------------------------------------------ compress
    async def compress(self, keep_turns: int = KEEP_TURNS) -> str:
        """Replace all but the last `keep_turns` turns by a model-written summary.

        Returns the report line (tokens of the context before and after) or says there is
        nothing to compress. Raises CompressError (one line) when it cannot run."""
        if not self.gemini.configured:
            raise CompressError(
                "/compress needs the AI: set GEMINI_API_KEY (or GOOGLE_API_KEY) and restart."
            )
        if self._busy:
            raise CompressError("wait until the current reply has finished, then /compress")
        if self.budget is not None and (reached := await self.budget.check()) is not None:
            raise CompressError(
                f"Daily AI budget reached ({reached.spent()}): /compress works again at "
                f"{reached.resets()}; nothing was changed."
            )
        return await compress_history(
            self.history,
            self.store,
            self.gemini,
            model=self.model,
            request_timeout=self.request_timeout,
            record=self.record_usage,
            clock=self.clock,
            keep_turns=keep_turns,
        )
