"""The daily AI budget: `[ai] daily_token_budget` and `[ai] daily_cost_budget` (0 = none).

The day's spend is read from the ledger (every process's Gemini requests: the app, the daemon,
the CLI), so all of them stop together. Once a budget is reached, run summaries are written by
the offline summariser with the note "daily AI budget reached ..." and the chat answers with one
line saying so and when it resets (local midnight in the configured zone); slash commands keep
working. The first process to notice it on a given day announces it once (a compare-and-set
on the `settings` table, so two processes never both do), through `on_reached`.

The check runs before each request, so requests that start at the same moment may each still
go out: the budget can be overshot by the requests in flight when it is reached.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from taskagent.core.ai_ledger import AiLedger, Usage
from taskagent.core.prices import format_cost

log = logging.getLogger(__name__)

ANNOUNCED_KEY = "ai.budget_announced_day"  # settings row: the local day last announced
NOTE = "daily AI budget reached"
Announce = Callable[[str, str], Awaitable[Any] | Any]  # (title, body)


def _in(delta_seconds: float) -> str:
    minutes = max(1, round(delta_seconds / 60))
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


@dataclass(frozen=True, slots=True)
class BudgetState:
    used: Usage
    daily_tokens: int  # 0 = no token budget
    daily_cost: float  # 0 = no cost budget
    resets_at: datetime  # the next local midnight
    now: datetime

    @property
    def limited(self) -> bool:
        return self.daily_tokens > 0 or self.daily_cost > 0

    @property
    def reached(self) -> bool:
        return (self.daily_tokens > 0 and self.used.tokens >= self.daily_tokens) or (
            self.daily_cost > 0 and self.used.cost_usd >= self.daily_cost
        )

    def spent(self) -> str:
        """e.g. "1,015 of 200 tokens today" or "$0.51 of $0.50 today"."""
        parts = []
        if self.daily_tokens > 0:
            parts.append(f"{self.used.tokens:,} of {self.daily_tokens:,} tokens")
        if self.daily_cost > 0:
            parts.append(f"{format_cost(self.used.cost_usd)} of {format_cost(self.daily_cost)}")
        return ", ".join(parts) + " today"

    def resets(self) -> str:
        """e.g. "00:00 Europe/Berlin (in 3 h 12 min)"."""
        left = (self.resets_at - self.now).total_seconds()
        return f"{self.resets_at:%H:%M} {self.resets_at.tzinfo} (in {_in(left)})"

    @property
    def note(self) -> str:
        """The run's summary note when the budget stopped its AI summary."""
        return f"{NOTE} ({self.spent()}); offline summary used"

    def chat_line(self) -> str:
        return (
            f"Daily AI budget reached ({self.spent()}): the chat resumes at {self.resets()}. "
            "Slash commands keep working."
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "daily_token_budget": self.daily_tokens,
            "daily_cost_budget_usd": self.daily_cost,
            "reached": self.reached,
            "resets_at": self.resets_at.isoformat(),
        }


class Budget:
    def __init__(
        self,
        ledger: AiLedger,
        *,
        daily_tokens: int = 0,
        daily_cost: float = 0.0,
        on_reached: Announce | None = None,
    ) -> None:
        self.ledger = ledger
        self.daily_tokens = int(daily_tokens)
        self.daily_cost = float(daily_cost)
        self.on_reached = on_reached

    @property
    def limited(self) -> bool:
        return self.daily_tokens > 0 or self.daily_cost > 0

    async def state(self) -> BudgetState:
        now = self.ledger.clock()
        return BudgetState(
            await self.ledger.day_usage(),
            self.daily_tokens,
            self.daily_cost,
            self.ledger.next_reset(),
            now.astimezone(self.ledger.zone),
        )

    async def check(self) -> BudgetState | None:
        """The state when today's budget is reached (announced once a day), else None.
        Never raises: a ledger that cannot be read does not stop the AI."""
        if not self.limited:
            return None
        try:
            state = await self.state()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("could not read today's AI spend; the budget is not checked")
            return None
        if not state.reached:
            return None
        await self._announce_once(state)
        return state

    async def _announce_once(self, state: BudgetState) -> None:
        day = self.ledger.today().isoformat()
        try:
            if not await self.ledger.repo.set_setting_if_changed(ANNOUNCED_KEY, day):
                return  # announced already today (by us or another process)
        except Exception:
            log.exception("could not record that the AI budget was announced")
            return
        body = (
            f"{state.spent()}. Summaries use the offline summariser and the chat waits until "
            f"{state.resets()}."
        )
        log.warning("daily AI budget reached: %s", body)
        if self.on_reached is None:
            return
        try:
            result = self.on_reached("Daily AI budget reached", body)
            if isinstance(result, Awaitable):
                await result
        except Exception:
            log.exception("the AI budget notification failed")
