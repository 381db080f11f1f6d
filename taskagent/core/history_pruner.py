"""History retention: old runs (and delivery receipts) are removed at the scheduler's start
and then hourly."""

from __future__ import annotations

import logging
from datetime import timedelta

from taskagent.core.baselines import Baselines
from taskagent.core.clock import SYSTEM_CLOCK, Clock
from taskagent.core.store import Repository

log = logging.getLogger(__name__)

PRUNE_SECONDS = 3600.0


class HistoryPruner:
    def __init__(
        self,
        repo: Repository,
        baselines: Baselines,
        *,
        retention_days: int = 90,
        max_rows_per_task: int = 10_000,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.repo = repo
        self.baselines = baselines
        self.retention_days = retention_days  # 0: keep forever
        self.max_rows_per_task = max_rows_per_task  # 0: no limit
        self.clock = clock

    async def prune_once(self) -> int:
        removed = await self.repo.prune_history(
            max_age_days=self.retention_days or None,
            max_rows_per_task=self.max_rows_per_task or None,
            now=self.clock.now(),
        )
        if removed:
            log.info("history retention removed %d old run(s)", removed)
            self.baselines.forget()  # a baseline may be among them
        if self.retention_days:
            cutoff = self.clock.now() - timedelta(days=self.retention_days)
            await self.repo.prune_receipts(cutoff)
        return removed

    async def run_forever(self) -> None:
        while True:
            try:
                await self.prune_once()
            except Exception as exc:
                log.warning("pruning history failed: %s", exc)
            await self.clock.sleep(PRUNE_SECONDS)
