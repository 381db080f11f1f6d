"""SQL of the AI ledger (`ai_usage`, migration 7): one row per Gemini request, and totals.

Days, prices and the "never raises" rule live in core/ai_ledger.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiosqlite

from taskagent.core.models import to_iso
from taskagent.core.prices import cost_words
from taskagent.core.store.connection import Store


@dataclass(frozen=True, slots=True)
class Usage:
    """Totals over some ledger rows."""

    calls: int = 0
    prompt_tokens: int = 0
    response_tokens: int = 0
    cost_usd: float = 0.0
    unpriced_calls: int = 0  # calls of a model with no price (their cost is not in cost_usd)
    unpriced_prompt_tokens: int = 0  # the tokens of those calls (budgets price them high)
    unpriced_response_tokens: int = 0

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.response_tokens

    def cost_words(self) -> str:
        """The estimated cost: "~$0.0123", "unpriced" when no call had a price, or
        "~$0.0123 + 2 unpriced" (never "~$0" for calls whose price is unknown)."""
        return cost_words(self.cost_usd, self.calls, self.unpriced_calls)

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
        int(row["unpriced_prompt"] or 0),
        int(row["unpriced_response"] or 0),
    )


_TOTALS = (
    "count(*) AS calls, sum(prompt_tokens) AS prompt, sum(response_tokens) AS response, "
    "sum(cost_usd) AS cost, sum(cost_usd IS NULL) AS unpriced, "
    "sum(CASE WHEN cost_usd IS NULL THEN prompt_tokens END) AS unpriced_prompt, "
    "sum(CASE WHEN cost_usd IS NULL THEN response_tokens END) AS unpriced_response"
)


class AiUsageQueries(Store):
    """Rows of `ai_usage`."""

    async def add_ai_usage(
        self,
        *,
        at: datetime,
        kind: str,
        task_id: int | None,
        model: str,
        prompt_tokens: int,
        response_tokens: int,
        cost_usd: float | None,
    ) -> None:
        row = (to_iso(at), kind, task_id, model, prompt_tokens, response_tokens, cost_usd)

        async def job(db: aiosqlite.Connection) -> None:  # once per summarised run: batched
            await db.execute(
                "INSERT INTO ai_usage (at, kind, task_id, model, prompt_tokens, "
                "response_tokens, cost_usd) VALUES (?, ?, ?, ?, ?, ?, ?)",
                row,
            )

        await self._submit(job)

    async def ai_usage(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        task_id: int | None = None,
        kind: str | None = None,
    ) -> Usage:
        """Totals of the rows in [since, until), optionally of one task and/or kind."""
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
        return _usage(await self._fetchone(sql, params))

    async def ai_usage_by_task(
        self, task_ids: Iterable[int] | None = None, *, since: datetime | None = None
    ) -> dict[int, Usage]:
        """Totals per task (rows with a task), from `since` if given."""
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
        rows = await self._fetchall(
            f"SELECT task_id, {_TOTALS} FROM ai_usage WHERE {' AND '.join(where)} GROUP BY task_id",
            params,
        )
        return {int(row["task_id"]): _usage(row) for row in rows}

    async def summary_average(
        self, model: str, summary_mode: str | None, *, since: datetime
    ) -> tuple[int, float, float]:
        """(summaries, average prompt tokens, average response tokens) of `model`'s run
        summaries from `since` on, of tasks in `summary_mode` (any task, removed ones too,
        when None)."""
        sql = (
            "SELECT count(*) AS n, avg(u.prompt_tokens) AS prompt, "
            "avg(u.response_tokens) AS response FROM ai_usage u"
        )
        params: list[Any] = [to_iso(since), model]
        if summary_mode is not None:
            sql += " JOIN tasks t ON t.id = u.task_id"
        sql += " WHERE u.at >= ? AND u.kind = 'summary' AND u.model = ?"
        if summary_mode is not None:
            sql += " AND t.summary_mode = ? AND t.use_ai_summary = 1"
            params.append(summary_mode)
        row = await self._fetchone(sql, params)
        return int(row["n"] or 0), float(row["prompt"] or 0.0), float(row["response"] or 0.0)
