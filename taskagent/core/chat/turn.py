"""One turn: the answer to one user message, with as many tool rounds as the model needs.

The loop is ours (google-genai 1.x-3.x: passing an MCP session to the SDK as a tool fails with
fastmcp 4's client sessions). Each round streams one answer. Its parts are kept exactly as
returned (the ``thoughtSignature`` of function-call parts must go back unchanged) and appended
to the turn; every function call is executed (tools.py) and answered; then the next round. At
most ``tool_rounds`` requests per message: a model still asking for tools after that gets its
calls dropped and the user a clear message. The daily AI budget is checked before every
request: the first by the session, each later one here (a turn that reaches it stops there).

The turn is written when it ends. A turn that fails before the model answered is not kept
(the user retries it); once tools may have run, it is kept and closed by a note, also when
the UI stops listening or the app cancels it, with every open call answered so the history
stays valid for the next request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from taskagent.core.chat.chat_events import ChatEvent, Notice, TextDelta, TurnFailed, TurnFinished
from taskagent.core.chat.failures import failure_line
from taskagent.core.chat.messages import (
    StoredMessage,
    merge_parts,
    note_message,
    response_part,
    text_content,
    usage_counts,
)
from taskagent.core.chat.system_prompt import ToolNames
from taskagent.core.chat.text import one_line
from taskagent.core.errors import TaskAgentError
from taskagent.core.gemini_client import FailureKind, GeminiFailure, classify
from taskagent.core.models import to_iso

if TYPE_CHECKING:
    from google.genai import types

    from taskagent.core.chat.session import ChatSession

log = logging.getLogger(__name__)


class GeminiCallFailed(TaskAgentError):
    """A request of the turn failed (or came back empty); the turn ends with its line."""

    def __init__(self, failure: GeminiFailure) -> None:
        super().__init__(failure.message)
        self.failure = failure


@dataclass(slots=True)
class _Round:
    """What one streamed answer brought."""

    parts: list[types.Part] = field(default_factory=list)
    usage: Any = None
    finish: Any = None
    started: bool = False  # this round has streamed text


class Turn:
    """The answer to one message; `run()` yields its events. One use."""

    def __init__(self, session: ChatSession, text: str) -> None:
        self.session = session
        self.number = session.history.last_turn + 1
        # What this turn adds to the history; written when it ends.
        self.pending = [StoredMessage(self.number, "user", text_content("user", text))]
        self.saved = False
        self.answer: list[str] = []  # the text shown to the user
        self.rounds = 0
        self.open_calls: list[types.FunctionCall] = []  # of the last model message, unanswered
        self.responses: list[types.Part] = []

    async def run(self) -> AsyncGenerator[ChatEvent, None]:
        session = self.session
        try:
            client = session.gemini.get()
            session.tools.begin_turn()
            tools = await session.mcp.list_tools()
            names = ToolNames(tools)
            config = session.request_config(tools, names)
            max_rounds = int(session.setting("tool_rounds"))
            while True:
                self.rounds += 1
                answer = _Round()
                async with contextlib.aclosing(self._stream(client, config, answer)) as stream:
                    async for delta in stream:
                        yield delta
                model_msg = await self._model_message(answer)
                self.pending.append(model_msg)
                parts = model_msg.content.parts or []
                calls = [p.function_call for p in parts if p.function_call is not None]
                if not calls:
                    break
                if self.rounds >= max_rounds:
                    yield self._stop_at_round_limit(model_msg, max_rounds)
                    break
                async with contextlib.aclosing(self._run_calls(calls, names)) as running:
                    async for event in running:
                        yield event
                if (stop := await self._budget_stop()) is not None:
                    yield stop
                    break
            await self._persist(self.pending)
            self.saved = True
            yield self._finished()
        except GeminiCallFailed as failed:
            yield await self._failed(failed.failure)
        except Exception as exc:  # a bug must cost one message, not the chat
            log.exception("chat turn failed")
            yield TurnFailed(
                f"The chat failed: {type(exc).__name__}: {one_line(str(exc))}", "internal"
            )
        finally:
            if not self.saved and len(self.pending) > 1:
                await self._save_interrupted()

    # ------------------------------------------------------------------------ one round
    async def _stream(
        self, client: Any, config: Any, answer: _Round
    ) -> AsyncGenerator[TextDelta, None]:
        """Stream one request's answer into `answer`, yielding its visible text."""
        session = self.session
        contents = [m.content for m in session.history.context] + [m.content for m in self.pending]
        try:
            stream = await client.aio.models.generate_content_stream(
                model=session.model, contents=contents, config=config
            )
            try:
                while True:
                    try:
                        async with asyncio.timeout(session.request_timeout):
                            chunk = await anext(stream)
                    except StopAsyncIteration:
                        break
                    answer.usage = chunk.usage_metadata or answer.usage
                    candidate = chunk.candidates[0] if chunk.candidates else None
                    if candidate is None:
                        continue
                    answer.finish = candidate.finish_reason or answer.finish
                    for part in (candidate.content.parts if candidate.content else None) or []:
                        answer.parts.append(part)
                        for delta in self._deltas(part, answer):
                            yield delta
            finally:
                with contextlib.suppress(Exception):
                    await stream.aclose()
        except Exception as exc:
            raise GeminiCallFailed(classify(exc)) from exc

    def _deltas(self, part: types.Part, answer: _Round) -> list[TextDelta]:
        """The visible text of one streamed part (none for thoughts and calls)."""
        if not part.text or part.thought or part.function_call is not None:
            return []
        deltas = []
        if self.answer and not answer.started and not self.answer[-1].endswith("\n"):
            deltas.append(TextDelta("\n\n"))  # text of an earlier round (before its tool calls)
        answer.started = True
        deltas.append(TextDelta(part.text))
        self.answer.extend(d.text for d in deltas)
        return deltas

    async def _model_message(self, answer: _Round) -> StoredMessage:
        """The round's answer as the model's message (its tokens go to the ledger)."""
        prompt_tokens, response_tokens = usage_counts(answer.usage)
        await self.session.record_usage("chat", prompt_tokens, response_tokens)
        merged = merge_parts(answer.parts)
        if not merged:
            # google-genai's FinishReason, or the plain string of a value the SDK does not know
            why = getattr(answer.finish, "value", answer.finish) or "no parts"
            raise GeminiCallFailed(
                GeminiFailure(FailureKind.EMPTY, f"finishReason {why}")
                if answer.finish
                else GeminiFailure(FailureKind.EMPTY, "no text in the answer")
            )
        from google.genai import types

        content = types.Content(role="model", parts=merged)
        return StoredMessage(self.number, "model", content, prompt_tokens, response_tokens)

    async def _budget_stop(self) -> Notice | None:
        """Before the next request of the turn: the daily budget reached closes the turn with
        a note (the tools' answers are kept) and says so; None to go on."""
        budget = self.session.budget
        if budget is None or (reached := await budget.check()) is None:
            return None
        line = reached.chat_line()
        self.pending.append(note_message(self.number, f"(Stopped before the next request: {line})"))
        return Notice(line)

    def _stop_at_round_limit(self, model_msg: StoredMessage, max_rounds: int) -> Notice:
        """The last round still asked for tools: its calls are dropped for a note."""
        note = (
            f"I stopped after {max_rounds} rounds of tool calls without a final "
            "answer. Ask me to continue, or narrow the request."
        )
        model_msg.content = text_content("model", note)
        return Notice(note)

    async def _run_calls(
        self, calls: Sequence[types.FunctionCall], names: ToolNames
    ) -> AsyncGenerator[ChatEvent, None]:
        """Execute the round's calls in order; their answers go back as one user message."""
        self.open_calls, self.responses = list(calls), []
        for call in calls:
            execute = self.session.tools.execute(call, names, self.responses)
            async with contextlib.aclosing(execute) as run:
                async for event in run:
                    yield event
        self.pending.append(self._tool_message())
        self.open_calls = []

    def _tool_message(self) -> StoredMessage:
        from google.genai import types

        return StoredMessage(self.number, "tool", types.Content(role="user", parts=self.responses))

    # ------------------------------------------------------------------------ the end
    def _finished(self) -> TurnFinished:
        return TurnFinished(
            "".join(self.answer),
            self.rounds,
            sum(m.prompt_tokens or 0 for m in self.pending),
            sum(m.response_tokens or 0 for m in self.pending),
        )

    async def _persist(self, messages: list[StoredMessage]) -> None:
        session = self.session
        await session.store.append(messages, to_iso(session.clock()))
        session.history.add(messages)

    async def _failed(self, failure: GeminiFailure) -> TurnFailed:
        line = failure_line(failure, self.session.model)
        log.warning("chat: %s (%s)", failure.short, failure.message)
        if len(self.pending) > 1:  # tools may have run: keep the turn, closed by a note
            note = note_message(self.number, f"(The reply was cut short: {line})")
            await self._persist([*self.pending, note])
            self.saved = True
        return TurnFailed(line, failure.kind.value)

    async def _save_interrupted(self) -> None:
        """Cancelled or closed mid-turn after the model answered: keep what happened (tools
        may have run), with every open call answered so the history stays valid."""
        if self.open_calls:
            for call in self.open_calls[len(self.responses) :]:
                self.responses.append(
                    response_part(call, {"error": "interrupted: this call was not run"})
                )
            self.pending.append(self._tool_message())
        # Shielded: the app may cancel this task again while it shuts down; the save itself
        # still completes on the loop.
        note = note_message(self.number, "(The reply was interrupted.)")
        save = asyncio.ensure_future(self._persist([*self.pending, note]))
        # Read its outcome either way, so a failed save is not reported as unretrieved.
        save.add_done_callback(lambda done: done.cancelled() or done.exception())
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.shield(save)
