"""Small text helpers the chat's cards, tool lines and transcripts share."""

from __future__ import annotations

import json
from typing import Any


def one_line(text: str, limit: int = 160) -> str:
    """`text` on one line (whitespace collapsed), cut with "…" past `limit` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def compact(value: Any) -> str:
    """`value` as compact JSON (anything JSON cannot hold becomes its str())."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def first_paragraph(text: str | None, limit: int = 200) -> str:
    """The first paragraph of a tool description, on one line."""
    para = (text or "").strip().split("\n\n", 1)[0]
    return one_line(para, limit)
