"""Small display helpers shared by the views (text only, no business rules)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from rich.text import Text

from taskagent.core.models import RunStatus

STATUS_MARKS: dict[str, tuple[str, str]] = {
    "success": ("✓", "green"),
    "error": ("✗", "red"),
    "timeout": ("✗", "red"),
    "interrupted": ("✗", "red"),
    "running": ("…", "yellow"),
    "skipped": ("–", "dim"),
    "missed": ("–", "dim"),
}


def status_mark(status: RunStatus | str | None) -> Text:
    if status is None:
        return Text("")
    value = str(status.value if isinstance(status, RunStatus) else status)
    mark, style = STATUS_MARKS.get(value, ("?", ""))
    return Text(mark, style=style)


def status_text(status: RunStatus | str) -> Text:
    value = str(status.value if isinstance(status, RunStatus) else status)
    mark, style = STATUS_MARKS.get(value, ("?", ""))
    return Text(f"{mark} {value}", style=style)


def relative(moment: datetime | None, now: datetime) -> str:
    """ "in 4m", "3h ago", "now"; "-" for none."""
    if moment is None:
        return "-"
    seconds = (moment - now).total_seconds()
    future = seconds >= 0
    seconds = abs(seconds)
    if seconds < 1:
        return "now"
    if seconds < 60:
        amount = f"{int(seconds)}s"
    elif seconds < 3600:
        amount = f"{int(seconds // 60)}m"
    elif seconds < 86400:
        hours, rest = divmod(int(seconds), 3600)
        amount = f"{hours}h{rest // 60:02d}m" if hours < 10 else f"{hours}h"
    else:
        amount = f"{int(seconds // 86400)}d"
    return f"in {amount}" if future else f"{amount} ago"


def local(moment: datetime | None, timezone: str | None = None, *, seconds: bool = False) -> str:
    """A moment as wall-clock text in `timezone` (the machine's zone when None)."""
    if moment is None:
        return "-"
    zoned = moment.astimezone(ZoneInfo(timezone)) if timezone else moment.astimezone()
    return zoned.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.0f}%"


def duration(ms: int | None) -> str:
    if ms is None:
        return "-"
    if ms < 1000:
        return f"{ms} ms"
    return f"{ms / 1000:.1f} s"


def size(num_bytes: int) -> str:
    value = float(num_bytes)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"
