"""The conversation in memory: one StoredMessage per google-genai `Content`, and the helpers
that build, merge and read those contents. google-genai is imported on use (~1 s cold)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from taskagent.core.chat.text import compact, one_line
from taskagent.core.summary import render_data

if TYPE_CHECKING:
    from google.genai import types

MAX_RESULT_CHARS = 20_000  # one tool result sent back to the model (about 5k tokens)


@dataclass(slots=True)
class StoredMessage:
    """One row of `chat_messages`: a Content of one turn (`id` once it is written)."""

    turn: int
    role: str  # user | model | tool | summary
    content: types.Content
    prompt_tokens: int | None = None
    response_tokens: int | None = None
    id: int | None = None


@dataclass(slots=True)
class History:
    """What is sent to the model: /compress's summary of older turns, then the kept turns."""

    context: list[StoredMessage] = field(default_factory=list)  # oldest first
    summary: StoredMessage | None = None
    last_turn: int = 0  # the highest turn ever stored (compressed turns included)

    def add(self, messages: Sequence[StoredMessage]) -> None:
        """Messages just written join the context."""
        self.context.extend(messages)
        self.last_turn = max(self.last_turn, *(m.turn for m in messages))

    def contents(self) -> list[types.Content]:
        """The summary (when there is one) and every message in context, for token counts."""
        head = [self.summary.content] if self.summary is not None else []
        return head + [m.content for m in self.context]


@dataclass(frozen=True, slots=True)
class ChatLine:
    """One entry of the conversation as the UI shows it when it is reopened."""

    role: str  # user | assistant | tool | summary
    text: str


@dataclass(frozen=True, slots=True)
class TurnTokens:
    turn: int
    label: str  # the user's message (shortened), or "/compress"
    prompt_tokens: int
    response_tokens: int

    @property
    def total(self) -> int:
        return self.prompt_tokens + self.response_tokens


def content_to_json(content: types.Content) -> str:
    return json.dumps(content.model_dump(mode="json", exclude_none=True), ensure_ascii=False)


def content_from_json(text: str) -> types.Content:
    from google.genai import types

    return types.Content.model_validate(json.loads(text))


def text_content(role: str, text: str) -> types.Content:
    from google.genai import types

    return types.Content(role=role, parts=[types.Part(text=text)])


def text_of(content: types.Content) -> str:
    """The visible text of a Content (thoughts left out)."""
    return "".join(p.text for p in content.parts or [] if isinstance(p.text, str) and not p.thought)


def _plain_text(part: types.Part) -> bool:
    """A text part that carries nothing else (so it may be joined with its neighbour)."""
    return (
        isinstance(part.text, str)
        and part.thought_signature is None
        and part.function_call is None
        and part.function_response is None
    )


def merge_parts(parts: Sequence[types.Part]) -> list[types.Part]:
    """Join the text pieces of a stream into one part each; anything carrying a signature, a
    call or another payload is kept exactly as it came."""
    from google.genai import types

    out: list[types.Part] = []
    for part in parts:
        prev = out[-1] if out else None
        if (
            _plain_text(part)
            and prev is not None
            and isinstance(prev.text, str)
            and prev.thought_signature is None
            and prev.function_call is None
            and bool(prev.thought) == bool(part.thought)
        ):
            out[-1] = types.Part(text=prev.text + (part.text or ""), thought=prev.thought)
        else:
            out.append(part)
    return out


def response_part(call: types.FunctionCall, payload: dict[str, Any]) -> types.Part:
    """The functionResponse answering `call`."""
    from google.genai import types

    return types.Part(
        function_response=types.FunctionResponse(id=call.id, name=call.name, response=payload)
    )


def note_message(turn: int, text: str) -> StoredMessage:
    """A model message of our own (closes a turn that was cut short)."""
    return StoredMessage(turn, "model", text_content("model", text))


def usage_counts(usage: Any) -> tuple[int | None, int | None]:
    """(prompt, response) tokens of a response's usage_metadata; thinking counts as response."""
    if usage is None:
        return None, None
    # google-genai's usage metadata: read by name, a count the API left out may be missing.
    prompt = getattr(usage, "prompt_token_count", None)
    answer = getattr(usage, "candidates_token_count", None)
    thoughts = getattr(usage, "thoughts_token_count", None)
    response = None if answer is None and thoughts is None else (answer or 0) + (thoughts or 0)
    return prompt, response


def fit_result(data: Any) -> Any:
    """A tool result small enough for the model: as is, or shortened JSON text."""
    text = compact(data)
    if len(text) <= MAX_RESULT_CHARS:
        return data
    return render_data(data, MAX_RESULT_CHARS)


def transcript_lines(history: History) -> list[ChatLine]:
    """The conversation in context as the UI shows it when it opens."""
    lines: list[ChatLine] = []
    if history.summary is not None:
        lines.append(ChatLine("summary", text_of(history.summary.content)))
    for msg in history.context:
        for part in msg.content.parts or []:
            if part.function_call is not None:
                fc = part.function_call
                lines.append(ChatLine("tool", f"{fc.name}({compact(dict(fc.args or {}))})"))
            elif part.function_response is not None:
                fr = part.function_response
                resp = fr.response or {}
                text = (
                    f"{fr.name}: error: {one_line(resp['error'])}"
                    if "error" in resp
                    else f"{fr.name}: ok"
                )
                lines.append(ChatLine("tool", text))
        text = text_of(msg.content)
        if text and msg.role in ("user", "model"):
            lines.append(ChatLine("user" if msg.role == "user" else "assistant", text))
    return lines
