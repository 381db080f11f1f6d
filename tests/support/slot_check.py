"""Checks the slot rule on stored rows: every slot of a grid is covered by exactly one row.

A row covers slots like this: a run or `skipped` row with trigger `schedule` covers its
`scheduled_time`; a `missed` row covers `scheduled_time` .. `slot_end` (or one slot); catch-up
and manual runs cover none (they are extra runs, at most one per `missed` row)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class SlotRow:
    status: str
    trigger: str
    scheduled_time: datetime | None
    slot_end: datetime | None


def coverage(rows: list[SlotRow], first: datetime, step: timedelta) -> Counter[datetime]:
    """How many rows cover each slot of the grid `first + k * step` (rounded to the grid)."""

    def on_grid(moment: datetime) -> datetime:
        k = round((moment - first) / step)
        assert abs((moment - (first + k * step)).total_seconds()) < 0.01, f"{moment} is off grid"
        return first + k * step

    counts: Counter[datetime] = Counter()
    for row in rows:
        if row.scheduled_time is None or row.trigger != "schedule":
            continue
        start = on_grid(row.scheduled_time)
        end = on_grid(row.slot_end) if row.slot_end is not None else start
        slot = start
        while slot <= end:
            counts[slot] += 1
            slot += step
    return counts


def assert_each_slot_once(rows: list[SlotRow], first: datetime, step: timedelta) -> int:
    """Every slot from the first covered one to the last covered one has exactly one row;
    returns how many slots that is. Catch-ups never outnumber `missed` rows."""
    counts = coverage(rows, first, step)
    assert counts, "no slot was accounted for"
    low, high = min(counts), max(counts)
    slot, seen = low, 0
    while slot <= high:
        assert counts.get(slot) == 1, f"slot {slot} has {counts.get(slot, 0)} rows"
        slot += step
        seen += 1
    catch_ups = sum(r.trigger == "catch-up" for r in rows)
    missed = sum(r.status == "missed" for r in rows)
    assert catch_ups <= missed, (catch_ups, missed)
    return seen
