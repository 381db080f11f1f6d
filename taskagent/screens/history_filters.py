"""The History tab's filters: the status choices and the since / until text a user types."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from taskagent.core.models import RunStatus

STATUS_FILTERS: dict[str, list[RunStatus] | None] = {
    "all": None,
    "success": [RunStatus.SUCCESS],
    "failed": [RunStatus.ERROR, RunStatus.TIMEOUT, RunStatus.INTERRUPTED],
    "running": [RunStatus.RUNNING],
    "skipped/missed": [RunStatus.SKIPPED, RunStatus.MISSED],
}


def parse_since(text: str, now: datetime) -> datetime | None:
    """'24h', '7d', '30m' or a date 'YYYY-MM-DD' (local midnight); '' = no limit."""
    text = text.strip().lower()
    if not text:
        return None
    if m := re.fullmatch(r"(\d+)\s*([mhdw])", text):
        unit = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[m.group(2)]
        try:
            return now - timedelta(**{unit: int(m.group(1))})
        except (OverflowError, ValueError):  # "99999999999d": before the year 1
            raise ValueError(f"'{text[:40]}' is too far back") from None
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.astimezone()


def parse_until(text: str, now: datetime) -> datetime | None:
    """The end of the range (exclusive): '2026-01-31' includes that whole day (up to the next
    local midnight), '2026-01-31T12:00' stops at that moment, '2h' means up to 2 hours ago."""
    text = text.strip().lower()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        day = datetime.fromisoformat(text) + timedelta(days=1)
        return day.astimezone()
    return parse_since(text, now)
