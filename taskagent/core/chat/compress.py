"""/compress: all but the last turns are replaced by a summary the model writes.

The replaced rows stay in the database (out of the context, still counted by /tokens); the
summary goes with every later request as part of the instruction. The report compares the
conversation's size before and after, counted by the API (or estimated when that fails).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from taskagent.core.chat.failures import failure_line
from taskagent.core.chat.messages import (
    History,
    StoredMessage,
    content_to_json,
    text_content,
    usage_counts,
)
from taskagent.core.chat.text import compact
from taskagent.core.errors import TaskAgentError
from taskagent.core.gemini_client import classify
from taskagent.core.models import to_iso
from taskagent.core.summary import render_data

if TYPE_CHECKING:
    from taskagent.core.chat.store import ChatStore
    from taskagent.core.gemini_client import GeminiClient

log = logging.getLogger(__name__)

KEEP_TURNS = 2  # /compress keeps the last turns verbatim
SUMMARY_PROMPT = (
    "Summarise the conversation below between a user and taskagent's assistant so the "
    "assistant can continue without it. Keep what matters later: ids and names of tasks "
    "created, changed or removed, decisions, the user's preferences and the key numbers. "
    "Plain text, at most 200 words.\n\n<conversation>\n{transcript}\n</conversation>"
)

# Records one request's tokens in the AI ledger: (kind, prompt tokens, response tokens).
Recorder = Callable[[str, int | None, int | None], Awaitable[None]]


class CompressError(TaskAgentError):
    """/compress could not run (no key, busy, Gemini failed); the message is one line."""


async def compress_history(
    history: History,
    store: ChatStore,
    gemini: GeminiClient,
    *,
    model: str,
    request_timeout: float,
    record: Recorder,
    clock: Callable[[], datetime],
    keep_turns: int = KEEP_TURNS,
) -> str:
    """Replace all but the last `keep_turns` turns of `history` (in memory and in `store`) by
    a summary the model writes; the report line, or why there was nothing to compress.
    Raises CompressError (one line) when Gemini fails."""
    turns = sorted({m.turn for m in history.context})
    if len(turns) <= keep_turns:
        return (
            f"nothing to compress: the conversation has {len(turns)} turn(s) and the last "
            f"{keep_turns} are always kept"
        )
    old_turns = set(turns[:-keep_turns])
    old = [m for m in history.context if m.turn in old_turns]
    keep = [m for m in history.context if m.turn not in old_turns]
    client = gemini.get()
    before = await count_tokens(client, model, history.contents(), request_timeout)
    summary = await _summarise(client, model, request_timeout, old, turn=history.last_turn + 1)
    await record("compress", summary.prompt_tokens, summary.response_tokens)
    after = await count_tokens(client, model, History(keep, summary).contents(), request_timeout)
    replaced = [m.id for m in old if m.id is not None]
    if history.summary is not None and history.summary.id is not None:
        replaced.append(history.summary.id)
    await store.replace_with_summary(replaced, summary, to_iso(clock()))
    history.summary, history.context, history.last_turn = summary, keep, summary.turn
    used = (summary.prompt_tokens or 0) + (summary.response_tokens or 0)
    approx = "" if before[1] and after[1] else "about "
    return (
        f"Compressed {len(old_turns)} older turn(s) into a summary: conversation "
        f"{approx}{before[0]:,} → {after[0]:,} tokens (the summary itself used {used:,}). "
        f"The last {keep_turns} turn(s) are kept as they were."
    )


async def _summarise(
    client: Any, model: str, request_timeout: float, messages: list[StoredMessage], *, turn: int
) -> StoredMessage:
    """The model's summary of `messages`, as the `summary` message of `turn`."""
    from google.genai import types

    prompt = SUMMARY_PROMPT.format(transcript=render_transcript(messages))
    try:
        async with asyncio.timeout(request_timeout):
            response = await client.aio.models.generate_content(
                model=model,
                contents=prompt,
                config=types.GenerateContentConfig(temperature=0.2, max_output_tokens=2048),
            )
    except Exception as exc:
        raise CompressError(failure_line(classify(exc), model)) from exc
    text = (response.text or "").strip()
    if not text:
        raise CompressError("Gemini returned an empty summary; nothing was changed.")
    prompt_tokens, response_tokens = usage_counts(response.usage_metadata)
    return StoredMessage(
        turn, "summary", text_content("user", text), prompt_tokens, response_tokens
    )


async def count_tokens(
    client: Any, model: str, contents: list[Any], request_timeout: float
) -> tuple[int, bool]:
    """(tokens, exact): the API's count, or a characters/4 estimate if that fails."""
    if not contents:
        return 0, True
    try:
        async with asyncio.timeout(min(request_timeout, 30)):
            result = await client.aio.models.count_tokens(model=model, contents=contents)
        if isinstance(result.total_tokens, int):
            return result.total_tokens, True
    except Exception as exc:
        log.info("count_tokens failed (%s); estimating", classify(exc).short)
    chars = sum(len(content_to_json(c)) for c in contents)
    return max(1, chars // 4), False


def render_transcript(messages: list[StoredMessage]) -> str:
    """The messages as plain lines for the summary prompt (thoughts left out)."""
    out: list[str] = []
    for m in messages:
        for part in m.content.parts or []:
            if part.function_call is not None:
                fc = part.function_call
                out.append(f"[tool call] {fc.name} {compact(dict(fc.args or {}))}")
            elif part.function_response is not None:
                fr = part.function_response
                out.append(f"[tool result] {fr.name} {render_data(fr.response, 1500)}")
            elif isinstance(part.text, str) and part.text and not part.thought:
                who = "User" if m.role == "user" else "Assistant"
                out.append(f"{who}: {part.text}")
    return "\n".join(out)
