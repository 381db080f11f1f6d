"""Reading CoinGecko's answers: retry-after, the reason behind an error, and shape checks."""

from __future__ import annotations

import email.utils
import math
from collections.abc import Callable
from typing import Any

import httpx


def parse_retry_after(value: str | None, now_wall: float) -> float | None:
    """``retry-after`` is seconds in practice, but HTTP also allows a date."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - now_wall
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(0.0, seconds)


def error_detail(response: httpx.Response) -> str:
    """The reason CoinGecko gave, from JSON, Cloudflare plain text or an HTML page."""
    text = response.text.strip()
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        status = body.get("status")
        if isinstance(status, dict) and status.get("error_message"):
            return str(status["error_message"])[:200]
        for key in ("error", "message"):
            if isinstance(body.get(key), str) and body[key]:
                return body[key][:200]
    low = text.lower()
    if low.startswith("error code:"):  # Cloudflare edge, e.g. "error code: 1015"
        return f"Cloudflare {text}"
    if low.startswith(("<!doctype", "<html")) or "<html" in low[:500]:
        return "an HTML error page"
    return text[:120] or f"HTTP {response.status_code}"


def fmt_seconds(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds >= 1 else f"{seconds:.1f} s"


def is_list_of_coin_dicts(body: Any) -> bool:
    return isinstance(body, list) and all(isinstance(c, dict) and "id" in c for c in body)


def is_dict_of_dicts(body: Any) -> bool:
    return isinstance(body, dict) and all(isinstance(v, dict) for v in body.values())


def has_list(key: str) -> Callable[[Any], bool]:
    return lambda body: isinstance(body, dict) and isinstance(body.get(key), list)


def has_dict(key: str) -> Callable[[Any], bool]:
    return lambda body: isinstance(body, dict) and isinstance(body.get(key), dict)
