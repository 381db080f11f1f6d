"""How slash commands lay out their answers: cut cells, aligned columns, durations, times."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from taskagent.core import schedules
from taskagent.core.models import Run


def fit(text: str, width: int) -> str:
    """`text` cut to `width` characters with "…"."""
    return text if len(text) <= width else text[: width - 1] + "…"


def columns(head: tuple[str, ...], rows: Sequence[tuple[str, ...]], right: tuple[int, ...]) -> str:
    """Rows in aligned columns (two spaces apart); the last column is not padded."""
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    out = []
    for row in [head, *rows]:
        cells = [
            cell.rjust(w) if i in right else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        cells[-1] = row[-1]
        out.append("  ".join(cells).rstrip())
    return "\n".join(out)


def duration(ms: int | None) -> str:
    if ms is None:
        return "-"
    return f"{ms} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def local_time(moment: datetime | None, timezone: str) -> str:
    """ "YYYY-MM-DD HH:MM" in `timezone` (UTC when it is not a valid zone), "-" for None."""
    if moment is None:
        return "-"
    try:
        zone = ZoneInfo(schedules.validate_timezone(timezone))
    except schedules.ScheduleError:
        zone = ZoneInfo("UTC")
    local = moment.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M}"


def run_notes(run: Run, summary_label: str = "summary") -> list[str]:
    """The error and summary lines of a run, when it has them."""
    lines = []
    if run.error_message:
        lines.append(f"error: {run.error_message}")
    if run.ai_summary:
        lines.append(f"{summary_label}: {run.ai_summary}")
    return lines
