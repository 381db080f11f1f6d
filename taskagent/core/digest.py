"""The digest: what quiet hours or a digest period held, as one message per channel.

`digest_body` lists the held notifications offline (times in the user's zone, repeated
failures of a task on one line with a count); `summary_writer` has the run summariser (Gemini
within the AI budget) write a few sentences to open it with.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from taskagent.core.store.delivery_queries import Receipt

if TYPE_CHECKING:
    from taskagent.core.summary import Summarizer

DIGEST_LINES = 30  # items listed in one digest; the rest are counted
# Writes a digest's opening in words (Gemini); None = no words, the lines alone.
DigestWriter = Callable[[Sequence[Receipt]], Awaitable[str | None]]


def digest_body(items: Sequence[Receipt], zone_name: str) -> str:
    """ "While you were away: 02:14 BTC hourly: BTC crossed …; 3× ETH hourly: Run failed: …"."""
    zone = ZoneInfo(zone_name or "UTC")
    counted: dict[tuple[str, str], list[Receipt]] = defaultdict(list)
    for item in items:
        # Repeated failures of one task are one line with a count.
        key = (item.title, item.body if item.kind != "failure" else "failure")
        counted[key].append(item)
    lines = []
    for (title, _), group in list(counted.items())[:DIGEST_LINES]:
        first = group[0]
        at = first.created_at.astimezone(zone).strftime("%H:%M")
        times = f"{len(group)}× since {at}" if len(group) > 1 else at
        lines.append(f"{times} {title}: {_short(first.body)}")
    rest = len(counted) - DIGEST_LINES
    if rest > 0:
        lines.append(f"and {rest} more")
    return "While you were away:\n" + "\n".join(lines)


def _short(text: str, limit: int = 140) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def summary_writer(summarizer: Summarizer, zone_name: str) -> DigestWriter:
    """A digest's opening written by the run summariser (Gemini within the AI budget and its
    summary mode; None when it would be the offline summary: the digest's lines say it)."""
    from taskagent.core.models import ScheduleType, SummaryMode, Task
    from taskagent.core.summary.gemini_summary import OFFLINE

    subject = Task(
        name="Digest of held notifications",
        schedule_type=ScheduleType.INTERVAL,
        schedule_value="1 day",
        mcp_tool="taskagent:digest",
        summary_mode=SummaryMode.ALWAYS,
    )
    zone = ZoneInfo(zone_name or "UTC")

    async def write(items: Sequence[Receipt]) -> str | None:
        data = {
            "held_notifications": [
                {
                    "at": item.created_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
                    "task": item.title,
                    "kind": item.kind,
                    "text": item.body,
                }
                for item in items
            ]
        }
        result = await summarizer.summarize(subject, data, None)
        return None if result.summarizer == OFFLINE else result.text

    return write
