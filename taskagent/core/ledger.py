"""The AI ledger: one row per Gemini request (run summaries and chat), with an estimated cost.

Rows live in `ai_usage` (migration 7) and are written through the repository's connection and
write gate, like core/lease.py. A "day" is a calendar day in the configured time zone
(`[general] timezone`), so "today" and the daily budget reset at local midnight. Recording
never raises: a ledger that cannot be written costs a log line, never a run or a chat turn.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from taskagent.core.models import to_iso, utcnow
from taskagent.core.prices import DEFAULT_PRICES, Price, estimate_cost

if TYPE_CHECKING:
    from taskagent.core.repository import Repository

log = logging.getLogger(__name__)

KINDS = ("summary", "chat", "compress")


@dataclass(frozen=True, slots=True)
class Usage:
    """Totals over some ledger rows."""

    calls: int = 0
    prompt_tokens: int = 0
    response_tokens: int = 0
    cost_usd: float = 0.0
    unpriced_calls: int = 0  # calls of a model with no price (their cost is not in cost_usd)

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.response_tokens

    def to_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "prompt_tokens": self.prompt_tokens,
            "response_tokens": self.response_tokens,
            "tokens": self.tokens,
            "cost_usd": round(self.cost_usd, 6),
            "unpriced_calls": self.unpriced_calls,
        }


def _usage(row: Any) -> Usage:
    return Usage(
        int(row["calls"] or 0),
        int(row["prompt"] or 0),
        int(row["response"] or 0),
        float(row["cost"] or 0.0),
        int(row["unpriced"] or 0),
    )


_TOTALS = (
    "count(*) AS calls, sum(prompt_tokens) AS prompt, sum(response_tokens) AS response, "
    "sum(cost_usd) AS cost, sum(cost_usd IS NULL) AS unpriced"
)


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
            async with self.repo.write() as db:
                await db.execute(
                    "INSERT INTO ai_usage (at, kind, task_id, model, prompt_tokens, "
                    "response_tokens, cost_usd) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (to_iso(self.clock()), kind, task_id, model, prompt, response, cost),
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
        where: list[str] = []
        params: list[Any] = []
        for term, value in (
            ("at >= ?", to_iso(since)),
            ("at < ?", to_iso(until)),
            ("task_id = ?", task_id),
            ("kind = ?", kind),
        ):
            if value is not None:
                where.append(term)
                params.append(value)
        sql = f"SELECT {_TOTALS} FROM ai_usage"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return _usage(await self.repo.fetchone(sql, params))

    async def day_usage(self, day: date | None = None, **filters: Any) -> Usage:
        start, end = self.day_bounds(day or self.today())
        return await self.usage(since=start, until=end, **filters)

    async def by_task(
        self, task_ids: Iterable[int] | None = None, *, since: datetime | None = None
    ) -> dict[int, Usage]:
        """Summary spend per task (all time, or from `since`)."""
        where = ["task_id IS NOT NULL"]
        params: list[Any] = []
        if task_ids is not None:
            ids = sorted(set(task_ids))
            if not ids:
                return {}
            where.append(f"task_id IN ({', '.join('?' * len(ids))})")
            params.extend(ids)
        if since is not None:
            where.append("at >= ?")
            params.append(to_iso(since))
        rows = await self.repo.fetchall(
            f"SELECT task_id, {_TOTALS} FROM ai_usage WHERE {' AND '.join(where)} GROUP BY task_id",
            params,
        )
        return {int(row["task_id"]): _usage(row) for row in rows}

    async def recent_days(self, days: int = 7) -> list[tuple[date, Usage]]:
        """The last `days` local days, today first (days without calls included)."""
        today = self.today()
        out: list[tuple[date, Usage]] = []
        for back in range(days):
            day = today - timedelta(days=back)
            out.append((day, await self.day_usage(day)))
        return out
