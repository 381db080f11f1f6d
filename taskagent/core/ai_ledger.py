"""The AI ledger: one row per Gemini request (run summaries and chat), with an estimated cost.

Rows live in `ai_usage` (migration 7); their SQL is in core/store/ledger_queries.py. A "day" is a
calendar day in the configured time zone (`[general] timezone`), so "today" and the daily
budget reset at local midnight. Recording never raises: a ledger that cannot be written costs a log line, never a run or a chat turn.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from taskagent.core.models import utcnow
from taskagent.core.prices import DEFAULT_PRICES, Price, estimate_cost
from taskagent.core.store.ledger_queries import Usage

if TYPE_CHECKING:
    from taskagent.core.store import Repository

__all__ = ["KINDS", "AiLedger", "Usage"]

log = logging.getLogger(__name__)

KINDS = ("summary", "chat", "compress")


class AiLedger:
    def __init__(
        self,
        repo: Repository,
        *,
        timezone: str = "UTC",
        prices: Mapping[str, Price] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.repo = repo
        self.zone = ZoneInfo(timezone or "UTC")
        self.prices = dict(DEFAULT_PRICES if prices is None else prices)
        self.clock = clock

    # ---------------------------------------------------------------------------- days
    def today(self) -> date:
        return self.clock().astimezone(self.zone).date()

    def day_bounds(self, day: date) -> tuple[datetime, datetime]:
        """[start, end) of a local calendar day (23 or 25 hours long on DST changes)."""
        start = datetime.combine(day, time(0), self.zone)
        end = datetime.combine(day + timedelta(days=1), time(0), self.zone)
        return start, end

    def next_reset(self) -> datetime:
        """The next local midnight (aware, in the configured zone)."""
        return self.day_bounds(self.today())[1]

    # -------------------------------------------------------------------------- writing
    async def record(
        self,
        kind: str,
        model: str,
        prompt_tokens: int | None,
        response_tokens: int | None,
        *,
        task_id: int | None = None,
    ) -> float | None:
        """Add one request's usage; returns its estimated cost. Never raises."""
        prompt, response = int(prompt_tokens or 0), int(response_tokens or 0)
        cost = estimate_cost(model, prompt, response, self.prices)
        try:
            await self.repo.add_ai_usage(
                at=self.clock(),
                kind=kind,
                task_id=task_id,
                model=model,
                prompt_tokens=prompt,
                response_tokens=response,
                cost_usd=cost,
            )
        except Exception:
            log.exception("could not record %s tokens of a %s request in the ledger", model, kind)
        return cost

    # -------------------------------------------------------------------------- reading
    async def usage(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        task_id: int | None = None,
        kind: str | None = None,
    ) -> Usage:
        return await self.repo.ai_usage(since=since, until=until, task_id=task_id, kind=kind)

    async def day_usage(self, day: date | None = None, **filters: Any) -> Usage:
        start, end = self.day_bounds(day or self.today())
        return await self.usage(since=start, until=end, **filters)

    async def by_task(
        self, task_ids: Iterable[int] | None = None, *, since: datetime | None = None
    ) -> dict[int, Usage]:
        """Summary spend per task (all time, or from `since`)."""
        return await self.repo.ai_usage_by_task(task_ids, since=since)

    async def recent_days(self, days: int = 7) -> list[tuple[date, Usage]]:
        """The last `days` local days, today first (days without calls included)."""
        today = self.today()
        out: list[tuple[date, Usage]] = []
        for back in range(days):
            day = today - timedelta(days=back)
            out.append((day, await self.day_usage(day)))
        return out
