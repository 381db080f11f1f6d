"""Run summaries: Gemini when it can, the offline summariser when it cannot.

`Summarizer.summarize(task, data, previous, significant=...)` never raises and never fails a
run. It asks Gemini (google-genai, async client shared through `GeminiClient`) when a key is
configured and the task's summary mode wants it:
  * `always`: every successful run;
  * `changes`: the first run (no previous result) and runs whose result is significant against
    the previous successful run (`significant`, from core/significance.py); the other runs get
    the offline summary with the note "no significant change since the last run ...";
  * `off` (or `use_ai_summary` 0): never.
Before a request the daily budget is checked (core/budget.py): once it is reached the offline
summary is used with the note "daily AI budget reached (...)". Every request that reports usage
is written to the ledger (core/ai_ledger.py) with its estimated cost. Whenever the Gemini call
fails, the offline summariser writes the summary and `fallback_reason` says why ("Gemini quota
exhausted (429); offline summary used").

Failures: a 429 that cannot be waited out falls back and stops asking Gemini until its delay
has passed; 400 API_KEY_INVALID / 403 / 404 model turn Gemini off until `reconfigure()` or a
restart, with one message in `status`; network errors and timeouts fall back.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from taskagent.core.gemini_client import FailureKind, GeminiClient, GeminiFailure
from taskagent.core.models import SummaryMode, Task
from taskagent.core.summary.gemini_summary import (
    OFFLINE,
    Outcome,
    RetryRules,
    SummaryResult,
    ask_gemini,
    summary_config,
)
from taskagent.core.summary.offline import offline_summary
from taskagent.core.summary.summary_prompt import build_prompt

if TYPE_CHECKING:
    from google.genai import types

    from taskagent.core.ai_ledger import AiLedger
    from taskagent.core.budget import Budget

log = logging.getLogger(__name__)

NO_CHANGE_NOTE = (
    "no significant change since the last run (summary mode: changes); offline summary used"
)


class Summarizer:
    """Gemini with an offline fallback; safe to call from any thread's event loop."""

    def __init__(
        self,
        settings: Any,
        *,
        http_options: types.HttpOptions | dict[str, Any] | None = None,
        gemini: GeminiClient | None = None,
        request_timeout: float = 30.0,
        max_retry_wait: float = 10.0,
        unavailable_retries: int = 2,
        backoff: float = 1.0,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        ledger: AiLedger | None = None,
        budget: Budget | None = None,
    ) -> None:
        self.model: str = settings.ai_model
        self.temperature: float = float(settings.ai_summary_temperature)
        self.max_tokens: int = int(settings.ai_summary_max_tokens)
        self.gemini = gemini or GeminiClient.from_settings(settings, http_options=http_options)
        self.request_timeout = request_timeout
        self.max_retry_wait = max_retry_wait
        self.unavailable_retries = unavailable_retries
        self.backoff = backoff
        self._sleep = sleep
        self._clock = clock
        self.ledger = ledger
        self.budget = budget
        self._lock = threading.Lock()
        self._disabled: GeminiFailure | None = None
        self._quiet_until = 0.0  # no Gemini calls before this (quota)
        self._quiet_reason: GeminiFailure | None = None
        self.last_fallback: str | None = None
        self.counts = {"gemini": 0, "offline": 0, "fallbacks": 0}
        self.tokens = {"prompt": 0, "response": 0}

    # ------------------------------------------------------------------------- status
    @property
    def status(self) -> str:
        """One line for the Status tab."""
        if not self.gemini.configured:
            return "offline (no GEMINI_API_KEY)"
        with self._lock:
            disabled, quiet_until, quiet = self._disabled, self._quiet_until, self._quiet_reason
        if disabled is not None:
            if disabled.kind is FailureKind.INVALID_KEY:
                return "offline: API key rejected — check GEMINI_API_KEY"
            if disabled.kind is FailureKind.PERMISSION:
                return (
                    f"offline: Gemini refused the API key ({disabled.code} {disabled.status}) "
                    "— check GEMINI_API_KEY"
                )
            return f"offline: model '{self.model}' not found — check [ai] model"
        remaining = quiet_until - self._clock()
        if quiet is not None and remaining > 0:
            return f"{self.model} (quota exhausted; offline summaries for {math.ceil(remaining)} s)"
        return self.model

    @property
    def uses_gemini(self) -> bool:
        return self.gemini.configured and self._disabled is None

    def describe(self) -> dict[str, Any]:
        """Details for the Status tab and `/tokens`."""
        status = self.status
        with self._lock:
            return {
                "status": status,
                "model": self.model,
                "last_fallback": self.last_fallback,
                "summaries": dict(self.counts),
                "tokens": dict(self.tokens),
            }

    async def reconfigure(self, settings: Any) -> None:
        """Apply new settings (e.g. a new key) and forget a rejected key or quota pause."""
        await self.gemini.reconfigure(settings.gemini_api_key, settings.gemini_base_url)
        self.model = settings.ai_model
        self.temperature = float(settings.ai_summary_temperature)
        self.max_tokens = int(settings.ai_summary_max_tokens)
        with self._lock:
            self._disabled = None
            self._quiet_until = 0.0
            self._quiet_reason = None

    async def aclose(self) -> None:
        await self.gemini.aclose()

    # ---------------------------------------------------------------------- summarise
    async def summarize(
        self, task: Task, data: Any, previous: Any | None, *, significant: bool | None = None
    ) -> SummaryResult:
        """Never raises: any Gemini problem becomes an offline summary with a reason.

        `previous` is the last successful run's result (None: this is the first run) and
        `significant` the significance verdict against it (None: unknown)."""
        mode = task.ai_mode
        if mode is SummaryMode.OFF or not self.gemini.configured:
            return self._offline(data, previous, None)
        if mode is SummaryMode.CHANGES and previous is not None and significant is False:
            return self._offline(data, previous, NO_CHANGE_NOTE, fallback=False)
        blocked = self._blocked_reason()
        if blocked is not None:
            return self._offline(data, previous, blocked)
        if self.budget is not None:
            reached = await self.budget.check()
            if reached is not None:
                return self._offline(data, previous, reached.note, fallback=False)
        try:
            outcome = await self._ask_gemini(task, data, previous)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug here must not cost the run its summary
            log.exception("Gemini summary of task %s failed unexpectedly", task.id)
            outcome = (GeminiFailure(FailureKind.OTHER, type(exc).__name__), None)
        if isinstance(outcome, SummaryResult):
            with self._lock:
                self.counts["gemini"] += 1
                self.tokens["prompt"] += outcome.prompt_tokens or 0
                self.tokens["response"] += outcome.response_tokens or 0
            await self._record(task, outcome.prompt_tokens, outcome.response_tokens)
            return outcome
        failure, usage = outcome
        reason = self._record_failure(task, failure)
        result = self._offline(data, previous, reason)
        if usage is not None:  # an empty answer still cost tokens: keep them on the run
            result = SummaryResult(result.text, OFFLINE, usage[0], usage[1], reason)
            with self._lock:
                self.tokens["prompt"] += usage[0] or 0
                self.tokens["response"] += usage[1] or 0
            await self._record(task, usage[0], usage[1])
        return result

    async def _record(self, task: Task, prompt: int | None, response: int | None) -> None:
        if self.ledger is not None and (prompt or response):
            await self.ledger.record("summary", self.model, prompt, response, task_id=task.id)

    def offline(self, data: Any, previous: Any, reason: str | None) -> SummaryResult:
        """The offline summary, counted; `reason` says why Gemini's was not used."""
        return self._offline(data, previous, reason)

    def _offline(
        self, data: Any, previous: Any, reason: str | None, *, fallback: bool = True
    ) -> SummaryResult:
        """`reason` becomes the run's summary note; `fallback=False` for notes that are the
        plan (summary mode, budget), not a failure."""
        with self._lock:
            self.counts["offline"] += 1
            if reason is not None and fallback:
                self.counts["fallbacks"] += 1
        return SummaryResult(offline_summary(data, previous), OFFLINE, fallback_reason=reason)

    def _blocked_reason(self) -> str | None:
        with self._lock:
            if self._disabled is not None:
                return f"{self._disabled.short}; offline summary used"
            if self._quiet_reason is not None and self._clock() < self._quiet_until:
                return f"{self._quiet_reason.short}; offline summary used"
        return None

    def _record_failure(self, task: Task, failure: GeminiFailure) -> str:
        detail = f" ({failure.message})" if failure.kind is FailureKind.EMPTY else ""
        reason = f"{failure.short}{detail}; offline summary used"
        with self._lock:
            self.last_fallback = reason
            first_disable = failure.disables and self._disabled is None
            if failure.disables:
                self._disabled = failure
            if failure.kind is FailureKind.QUOTA:
                pause = failure.retry_after or (900.0 if failure.daily_quota else 60.0)
                self._quiet_until = self._clock() + pause
                self._quiet_reason = failure
        if first_disable:
            log.error("Gemini summaries switched off: %s (%s)", failure.short, failure.message)
        else:
            log.warning(
                "summary of task %s: %s (%s); offline summary used",
                task.id,
                failure.short,
                failure.message,
            )
        return reason

    def config(self) -> types.GenerateContentConfig:
        return summary_config(self.model, self.temperature, self.max_tokens)

    async def _ask_gemini(self, task: Task, data: Any, previous: Any) -> Outcome:
        rules = RetryRules(
            self.request_timeout, self.max_retry_wait, self.unavailable_retries, self.backoff
        )
        prompt = build_prompt(task, data, previous)
        return await ask_gemini(
            self.gemini.get(), self.model, self.config(), prompt, rules, self._sleep
        )
