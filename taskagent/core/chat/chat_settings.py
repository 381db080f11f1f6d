"""The chat's user settings: the model, the system instruction and the generation settings
(/model, /system, /settings), with their validation. Stored per session by ChatStore."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CHAT_MODELS: tuple[str, ...] = ("gemini-2.5-flash", "gemini-2.5-flash-lite", "gemini-2.5-pro")
MAX_MODEL_NAME = 100
MAX_SYSTEM_CHARS = 20_000  # the instruction goes with every request


@dataclass(frozen=True, slots=True)
class ChatSetting:
    name: str
    help: str
    default: Any  # None = the model's own default
    low: float
    high: float
    integer: bool = False

    def parse(self, text: str) -> Any:
        """The validated value of `text`; "default" -> None. Raises ValueError (one line)."""
        raw = text.strip().lower()
        if raw in ("default", "reset", "none"):
            return None
        try:
            value: float = int(raw) if self.integer else float(raw)
        except ValueError:
            kind = "a whole number" if self.integer else "a number"
            raise ValueError(
                f"{self.name} must be {kind} from {self.low:g} to {self.high:g}, not '{text}'"
            ) from None
        if not self.low <= value <= self.high:
            raise ValueError(f"{self.name} must be from {self.low:g} to {self.high:g}")
        return value


CHAT_SETTINGS: dict[str, ChatSetting] = {
    s.name: s
    for s in (
        ChatSetting("temperature", "randomness of answers (0-2)", 0.7, 0, 2),
        ChatSetting(
            "max_tokens", "most output tokens per answer, thinking included", 8192, 16, 65536, True
        ),
        ChatSetting("top_p", "nucleus sampling (0-1)", None, 0, 1),
        ChatSetting("top_k", "sample from the k likeliest tokens", None, 1, 1000, True),
        ChatSetting("tool_rounds", "model requests allowed per message", 8, 1, 50, True),
    )
}
SETTING_ALIASES = {
    "max_output_tokens": "max_tokens",
    "maxtokens": "max_tokens",
    "tokens": "max_tokens",
    "topp": "top_p",
    "topk": "top_k",
    "rounds": "tool_rounds",
    "temp": "temperature",
}


def find_setting(name: str) -> ChatSetting | None:
    key = name.strip().lower().replace("-", "_")
    return CHAT_SETTINGS.get(SETTING_ALIASES.get(key, key))


def clean_model_name(name: str) -> str:
    """A model name as stored ("models/" prefix dropped); ValueError (one line) when bad."""
    clean = name.strip()
    if not clean or any(c.isspace() for c in clean):
        raise ValueError("a model name has no spaces, e.g. gemini-2.5-flash")
    if len(clean) > MAX_MODEL_NAME or not clean.isprintable():
        raise ValueError(
            f"a model name is at most {MAX_MODEL_NAME} printable characters, e.g. gemini-2.5-flash"
        )
    return clean.removeprefix("models/")


def clean_system_instruction(text: str | None) -> str | None:
    """The custom instruction to keep, None for the default; ValueError when it is longer than
    MAX_SYSTEM_CHARS (it is sent with every message)."""
    if text and len(text.strip()) > MAX_SYSTEM_CHARS:
        raise ValueError(
            f"the system instruction is longer than {MAX_SYSTEM_CHARS:,} characters "
            f"({len(text.strip()):,})"
        )
    return text.strip() if text and text.strip() else None
