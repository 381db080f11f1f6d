"""The daily AI budget: `[ai] daily_token_budget` and `[ai] daily_cost_budget` (0 = none).

The day's spend is read from the ledger (every process's Gemini requests: the app, the daemon,
the CLI), so all of them stop together. Once a budget is reached, run summaries are written by
the offline summariser with the note "daily AI budget reached ..." and the chat answers with one
line saying so and when it resets (local midnight in the configured zone); slash commands keep
working. The first process to notice it on a given day announces it once (a compare-and-set
on the `settings` table, so two processes never both do), through `on_reached`.

A model without a price counts at the highest price of the table (`prices.highest_price`), so it
never slips past a cost budget. The check runs before each request (every request of a chat
turn, `/compress`, each run summary), so requests that start at the same moment may each still
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
from taskagent.core.prices import format_cost, highest_price

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
    counted_cost: float = 0.0  # today's cost as the budget counts it (unpriced: highest price)

    @property
    def limited(self) -> bool:
        return self.daily_tokens > 0 or self.daily_cost > 0

    @property
    def reached(self) -> bool:
        return self.tokens_reached or self.cost_reached

    @property
    def tokens_reached(self) -> bool:
        return self.daily_tokens > 0 and self.used.tokens >= self.daily_tokens

    @property
    def cost_reached(self) -> bool:
        return self.daily_cost > 0 and self.counted_cost >= self.daily_cost

    def spent(self) -> str:
        """e.g. "1,015 of 200 tokens today" or "$0.51 of $0.50 today": the budgets reached
        (every budget set while none is)."""
        reached = self.reached
        parts = []
        if self.daily_tokens > 0 and (self.tokens_reached or not reached):
            parts.append(f"{self.used.tokens:,} of {self.daily_tokens:,} tokens")
        show_cost = self.daily_cost > 0 and (self.cost_reached or not reached)
        if show_cost:
            parts.append(f"{format_cost(self.counted_cost)} of {format_cost(self.daily_cost)}")
        unpriced = (
            f" ({self.used.unpriced_calls} unpriced request(s) counted at the highest price)"
            if show_cost and self.used.unpriced_calls
            else ""
        )
        return ", ".join(parts) + " today" + unpriced

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
            "counted_cost_usd": round(self.counted_cost, 6),
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
        used = await self.ledger.day_usage()
        top = highest_price(self.ledger.prices)
        unpriced = (
            used.unpriced_prompt_tokens * top.input_per_million
            + used.unpriced_response_tokens * top.output_per_million
        ) / 1_000_000
        return BudgetState(
            used,
            self.daily_tokens,
            self.daily_cost,
            self.ledger.next_reset(),
            now.astimezone(self.ledger.zone),
            counted_cost=used.cost_usd + unpriced,
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
