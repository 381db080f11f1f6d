"""What the chat says when the AI cannot answer: no key, or a failed Gemini call (one line)."""

from __future__ import annotations

from taskagent.core.chat.text import one_line
from taskagent.core.gemini_client import FailureKind, GeminiFailure

NO_KEY_TEXT = (
    "The AI chat is off because no Gemini API key is set. To enable it, get a key at "
    "https://aistudio.google.com/apikey, set GEMINI_API_KEY (or GOOGLE_API_KEY) in the "
    "environment and restart taskagent. Slash commands work without a key: type /help."
)
NO_KEY_SHORT = "AI chat is off (no GEMINI_API_KEY); slash commands still work: /help"


def failure_line(failure: GeminiFailure, model: str) -> str:
    """A failed Gemini call as one readable line for the chat."""
    msg = one_line(failure.message, 140).rstrip(".")
    code = failure.code
    match failure.kind:
        case FailureKind.INVALID_KEY:
            return (
                f"Gemini rejected the API key ({code} API_KEY_INVALID): check GEMINI_API_KEY or "
                "GOOGLE_API_KEY and restart taskagent."
            )
        case FailureKind.PERMISSION:
            return (
                f"Gemini refused the API key ({code} {failure.status or 'PERMISSION_DENIED'}): "
                "check the key and that the Gemini API is enabled for it, then restart."
            )
        case FailureKind.MODEL_NOT_FOUND:
            return f"Gemini model '{model}' was not found ({code}); choose another with /model."
        case FailureKind.QUOTA:
            if failure.daily_quota:
                return (
                    f"Gemini daily quota used up ({code}); try again tomorrow or switch model "
                    "with /model."
                )
            wait = f"in {round(failure.retry_after)} s" if failure.retry_after else "in a minute"
            return f"Gemini quota exhausted ({code} RESOURCE_EXHAUSTED); try again {wait}."
        case FailureKind.UNAVAILABLE:
            return f"Gemini is unavailable right now ({code}: {msg}); try again in a moment."
        case FailureKind.TIMEOUT:
            return "Gemini did not answer in time; try again."
        case FailureKind.NETWORK:
            return f"Cannot reach Gemini ({msg}); check the network connection."
        case FailureKind.BAD_REQUEST:
            return f"Gemini rejected the request ({code}: {msg})."
        case FailureKind.EMPTY:
            hint = (
                "; raise the limit with /settings max_tokens"
                if "MAX_TOKENS" in failure.message
                else ""
            )
            return f"Gemini returned no answer ({msg}){hint}."
    return f"The Gemini call failed: {msg}."
