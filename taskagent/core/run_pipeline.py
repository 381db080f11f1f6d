"""The steps of one run: the tool call (on a worker) and what follows it (on the main side).

`call_tool` is the only step that runs on a worker's loop: the tool call with its retries,
bounded by the task's timeout, returning a `ToolOutcome`. Nothing a tool, server or network
does escapes as an exception: every failure becomes an outcome with a specific message.

`finish` runs where the run's owner lives (the main loop): the significance test against the
previous successful result (always), the summary (`Summarizer`, when one is given: Gemini or
the offline summariser, as the task's summary mode, the verdict and the daily budget decide; a
failed summary never fails the run), the row (durable before anyone hears of it), the
baseline, the `RunFinished` event and the notification.

`run` does all of it on the current loop: the client processes (CLI, a background MCP server
with no scheduler) and tests.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from taskagent.core import run_outcomes
from taskagent.core.baselines import Baseline, Baselines
from taskagent.core.clock import SYSTEM_CLOCK, Clock
from taskagent.core.errors import TaskAgentError
from taskagent.core.events import EventBus, RunFinished, RunRetrying, RunStarted
from taskagent.core.models import Run, RunStatus, Task
from taskagent.core.retry import RetryPolicy, call_with_retries, is_transient
from taskagent.core.run_journal import RunJournal
from taskagent.core.run_outcomes import ToolOutcome
from taskagent.core.significance import UNCHANGED, Significance, assess, subject_for_tool
from taskagent.core.store import (
    DatabaseBusy,
    Repository,
    RunAlreadyFinished,
    RunNotFound,
    TaskNotFound,
)
from taskagent.core.tasks import consent

if TYPE_CHECKING:
    from taskagent.core.notify import Notifier
    from taskagent.core.summary import Summarizer

log = logging.getLogger(__name__)

# Raw results are stored whole up to this size; larger ones are cut with a marker so one
# runaway tool cannot bloat the database.
MAX_RAW_CHARS = 1_000_000
_CUT_MARKER = "\n[... cut: "
NOTIFY_TIMEOUT = 10.0  # seconds a run waits for the notifier (it never fails the run)
# Seconds the summary may take (Gemini with its own retries); then the offline summary is used.
SUMMARY_TIMEOUT = 45.0
NO_RETRY = RetryPolicy(retries=0)


class ResolvedTool(Protocol):
    @property
    def ref(self) -> str:
        """The tool's full reference, "server:tool"."""
        ...

    @property
    def read_only(self) -> bool:
        """Its server annotated it read-only."""
        ...

    @property
    def safe_to_repeat(self) -> bool:
        """Its MCP annotations say a second call does no harm (read-only or idempotent)."""
        ...


class RunCatalogue(Protocol):
    """What a run asks of the MCP manager's catalogue before the call: which tool a reference
    resolves to now, whether it is still what the task's consent covers, and whether it may be
    retried."""

    def resolve(self, ref: str) -> ResolvedTool: ...


class ToolCaller(Protocol):
    async def call_tool(
        self,
        ref: str,
        args: dict[str, Any] | None = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - sent with the MCP request
    ) -> Any: ...


def encode_raw(data: Any) -> str:
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False, default=str)
    if len(text) > MAX_RAW_CHARS:
        return text[:MAX_RAW_CHARS] + f"\n[... cut: {len(text) - MAX_RAW_CHARS} more characters]"
    return text


class _Unreadable:
    """A previous result that cannot be compared (cut because it was too large)."""


def decode_raw(raw: str | None, like: Any) -> Any:
    """A stored `raw_data` back as data, read the way `like` (this run's result) is shaped:
    text results stay text, anything else is parsed as JSON."""
    if raw is None:
        return None
    if isinstance(like, str):
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return _Unreadable() if _CUT_MARKER in raw else raw


# Attempts to write a run's outcome while the database is busy or full (waits 0.5, 1, 2, 4, 8,
# 15 s ...: about a minute), before it is kept in the journal.
RECORD_ATTEMPTS = 8
KEPT_WARNING_SECONDS = 60.0


class StoreUnavailable(TaskAgentError):
    """The database stayed busy or full for every attempt."""


def is_store_unavailable(exc: BaseException) -> bool:
    """Busy (another process holds the write lock) or full: worth trying again later."""
    if isinstance(exc, DatabaseBusy):
        return True
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and (
        "full" in text or "locked" in text or "busy" in text or "disk i/o" in text
    )


def _verdict(
    task: Task, before: Baseline | None, data: Any, raw: str | None
) -> tuple[Any, Significance]:
    """The previous result (as data) and the significance of `data` against it."""
    if before is not None and before.raw is not None and before.raw == raw:
        # The same result as last time to the character (a cached source, a quiet market):
        # nothing to parse or compare.
        return data, UNCHANGED
    previous = None if before is None else decode_raw(before.raw, data)
    if isinstance(previous, _Unreadable):
        return None, Significance(False, "the previous result was too large to compare")
    verdict = assess(
        previous,
        data,
        task.significance_threshold,
        first_run=before is None,
        subject=subject_for_tool(task.mcp_tool),
    )
    return previous, verdict


def _is_timeout(exc: BaseException) -> bool:
    return type(exc).__name__ in {"ToolTimeout", "TimeoutError"}


class AfterRecord(Protocol):
    """The alert rules (core/alerts/evaluator.py): evaluated on a successful run before its
    summary, so a firing counts as a significant change for the summary mode `changes`, the
    row and the notification; may set the run's significance. Makes no AI request."""

    async def after_record(self, task: Task, run: Run) -> Any: ...


# on_retry(attempt, error, wait): a transient failure is tried again after `wait` seconds.
RetryNote = Callable[[int, BaseException, float], None]


class RunPipeline:
    def __init__(
        self,
        repo: Repository,
        tools: ToolCaller,
        *,
        events: EventBus | None = None,
        clock: Clock = SYSTEM_CLOCK,
        summarizer: Summarizer | None = None,
        notifier: Notifier | None = None,
        retry: RetryPolicy | None = None,
        baselines: Baselines | None = None,
        catalogue: RunCatalogue | None = None,
        journal: RunJournal | None = None,
        record_attempts: int = RECORD_ATTEMPTS,
        after_record: AfterRecord | None = None,
    ) -> None:
        """`catalogue`: what each tool reference resolves to now: a run whose task's consent no
        longer covers it makes no call (core/tasks/consent.py), and only tools safe to repeat
        are retried; without one (a plain caller in tests and benchmarks) neither is checked. `journal`: where an outcome the database will not take
        (busy or full, `record_attempts` times) is kept until it does; without one such a
        failure is raised."""
        self.journal = journal
        self.after_record = after_record
        self.record_attempts = record_attempts
        self._kept = 0  # outcomes kept in the journal by this process
        self._kept_told: float | None = None  # when that was last logged (monotonic)
        self.repo = repo
        self.tools = tools
        self.catalogue = catalogue
        self.events = events or EventBus()
        self.clock = clock
        self.summarizer = summarizer
        self.notifier = notifier
        self.retry = retry or RetryPolicy()
        # The previous successful result of each task, for the significance test (in memory:
        # no history query on the hot path; core/baselines.py).
        self.baselines = baselines or Baselines(repo)

    async def run(
        self, task: Task, *, trigger: str = "manual", scheduled_time: datetime | None = None
    ) -> Run:
        """Run `task` once on this loop and record it (a new `running` row, then the outcome)."""
        assert task.id is not None
        run = await self.repo.add_run(
            Run(
                task_id=task.id,
                run_time=self.clock.now(),
                status=RunStatus.RUNNING,
                trigger=trigger,
                scheduled_time=scheduled_time,
            )
        )
        self.events.publish(RunStarted(task.id, run.stored_id))

        def note(attempt: int, exc: BaseException, wait: float) -> None:
            self.note_retry(task, run, attempt, exc, wait)

        outcome = await self.call_tool(task, note)
        return await self.finish(task, run, outcome)

    def note_retry(
        self, task: Task, run: Run, attempt: int, exc: BaseException, wait: float
    ) -> None:
        log.info("task %s attempt %d failed (%s); retrying in %.1f s", task.id, attempt, exc, wait)
        self.events.publish(RunRetrying(task.stored_id, run.stored_id, attempt, wait, str(exc)))

    async def call_tool(self, task: Task, on_retry: RetryNote | None = None) -> ToolOutcome:
        """The tool call with its retries, under ONE time limit (connecting, every attempt,
        every backoff). The step a worker runs; it touches nothing but the tool."""
        started = self.clock.now()
        t0 = self.clock.monotonic()
        refused = self._consent_problem(task)
        if refused is not None:  # no call: the user approves again first
            return ToolOutcome(RunStatus.ERROR, None, refused, 0, 0, started)
        limit = task.timeout_seconds
        deadline = t0 + limit
        repeatable = self._safe_to_repeat(task.mcp_tool)
        tries_made = 0

        async def attempt() -> Any:
            nonlocal tries_made
            tries_made += 1
            left = max(0.1, deadline - self.clock.monotonic())
            return await self.tools.call_tool(task.mcp_tool, task.tool_args, timeout=left)

        def elapsed_ms() -> int:
            return round((self.clock.monotonic() - t0) * 1000)

        try:
            async with self.clock.timeout(limit):
                result, attempts = await call_with_retries(
                    attempt,
                    self.retry if repeatable else NO_RETRY,
                    sleep=self.clock.sleep,
                    on_retry=on_retry,
                )
        except Exception as exc:  # every failure becomes history, never a crash
            status = RunStatus.TIMEOUT if _is_timeout(exc) else RunStatus.ERROR
            tries = getattr(exc, "attempts", tries_made) or 1
            if isinstance(exc, TimeoutError):
                message = run_outcomes.tool_timeout(task.mcp_tool, limit)
            else:
                message = str(exc) or type(exc).__name__
            if tries > 1:
                message += f" (after {tries} attempts)"
            if not repeatable and is_transient(exc):
                message += run_outcomes.NOT_RETRIED
            return ToolOutcome(status, None, message, tries, elapsed_ms(), started)
        return ToolOutcome(RunStatus.SUCCESS, result.data, None, attempts, elapsed_ms(), started)

    async def finish(self, task: Task, run: Run, outcome: ToolOutcome) -> Run:
        """Everything after the tool call: analysis, the row, the baseline, the event and the
        notification. Never raises (apart from cancellation) for a tool's sake."""
        raw = encode_raw(outcome.data) if outcome.status is RunStatus.SUCCESS else None
        finished = outcome.apply(run, raw)
        if finished.status is RunStatus.SUCCESS:
            await self._analyse(task, outcome.data, finished)
        finished.finished_at = self.clock.now()
        return await self.record(task, finished)

    async def record(self, task: Task, finished: Run) -> Run:
        """Write the outcome (durable before anyone hears of it), then announce and notify."""
        assert task.id is not None and finished.id is not None
        try:
            await self._finish_run(finished)
        except StoreUnavailable as exc:
            if self.journal is None:
                raise
            self.journal.keep(finished)
            self._kept += 1
            now = self.clock.monotonic()
            if self._kept_told is None or now - self._kept_told >= KEPT_WARNING_SECONDS:
                # One line a minute, however many runs finish meanwhile (a full disk).
                self._kept_told = now
                log.warning(
                    "the database did not take a run's outcome (%s); %d kept in %s until it does",
                    exc,
                    self._kept,
                    self.journal.path,
                )
        except RunAlreadyFinished as exc:
            # Another process took the scheduler over while this run was going (this one was
            # frozen past its lease) and recorded it: its record stands, nobody is told twice.
            log.warning("task %s: %s; its outcome here is not recorded", task.id, exc)
            self.baselines.forget(task.id)
            return finished
        except (TaskNotFound, RunNotFound):
            # The task was removed while it ran (its history stays; this row is kept).
            log.info("task %s was removed during run %s", task.id, finished.id)
            self.baselines.forget(task.id)
        else:
            if finished.status is RunStatus.SUCCESS:
                self.baselines.record(task.id, finished.raw_data)
            if self.journal is not None and self.journal.has_pending:
                await self.replay_unrecorded()
        self.events.publish(
            RunFinished(task.id, finished.id, finished.status.value, finished, task_name=task.name)
        )
        if self.notifier is not None:
            try:
                async with self.clock.timeout(NOTIFY_TIMEOUT):
                    await self.notifier.notify_run(task, finished)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a notification is never worth a failed run
                log.warning("notification for run %s failed: %r", finished.id, exc)
        return finished

    async def _after_record(self, task: Task, finished: Run) -> None:
        if self.after_record is None:
            return
        try:
            await self.after_record.after_record(task, finished)
        except asyncio.CancelledError:
            raise
        except Exception:  # a rule is never worth a failed run
            log.exception("alert rules of task %s on run %s failed", task.id, finished.id)

    async def _finish_run(self, finished: Run) -> None:
        """`finish_run`, tried again while the database is busy or full (with backoff, about
        a minute in all); then StoreUnavailable."""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.record_attempts),
            retry=retry_if_exception(is_store_unavailable),
            wait=wait_exponential(multiplier=0.5, max=15),
            sleep=self.clock.sleep,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    await self.repo.finish_run(finished, task_last_run=finished.run_time)
        except Exception as exc:
            if is_store_unavailable(exc):
                raise StoreUnavailable(str(exc)) from exc
            raise

    async def replay_unrecorded(self) -> int:
        """Write the outcomes kept in the journal; returns how many were settled. One the
        database still refuses stays for the next chance."""
        if self.journal is None or not self.journal.has_pending:
            return 0
        settled: set[int] = set()
        for run in self.journal.pending():
            try:
                await self.repo.finish_run(run, task_last_run=run.run_time)
            except (RunAlreadyFinished, RunNotFound, TaskNotFound) as exc:
                log.warning("a kept outcome of run %s is not written: %s", run.id, exc)
            except Exception as exc:
                if not is_store_unavailable(exc):
                    raise
                break  # still busy or full: the next chance
            else:
                log.info("run %s: its kept outcome (%s) is written", run.id, run.status.value)
            settled.add(run.stored_id)
        if settled:
            self.journal.forget(settled)
        return len(settled)

    def _consent_problem(self, task: Task) -> str | None:
        if self.catalogue is None:
            return None
        return consent.problem(
            task.consent, task.mcp_tool, task.tool_args, task.schedule, self.catalogue
        )

    def _safe_to_repeat(self, ref: str) -> bool:
        """Retries only for tools whose MCP annotations say a second call does no harm."""
        if self.catalogue is None:
            return True
        try:
            return self.catalogue.resolve(ref).safe_to_repeat
        except Exception:  # an unknown tool: its call fails with the reason, once
            return False

    async def _analyse(self, task: Task, data: Any, run: Run) -> None:
        """Significance against the previous successful run, then the summary; fills `run`.
        Never raises (apart from cancellation): the run stays a success whatever happens."""
        assert task.id is not None
        previous: Any = None
        try:
            before = await self.baselines.previous(task.id)
            previous, verdict = _verdict(task, before, data, run.raw_data)
            run.significant = verdict.significant
            run.significance_reason = verdict.reason
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("significance test of run %s failed", run.id)
        await self._after_record(task, run)  # the alert rules decide significance when set
        if self.summarizer is None:
            return
        try:
            async with self.clock.timeout(SUMMARY_TIMEOUT):
                summary = await self.summarizer.summarize(
                    task, data, previous, significant=run.significant
                )
        except asyncio.CancelledError:
            raise
        except TimeoutError:
            summary = self.summarizer.offline(
                data, previous, f"the AI summary took over {SUMMARY_TIMEOUT:g} s"
            )
        except Exception:  # Summarizer never raises; this guards a replacement that does
            log.exception("summary of run %s failed", run.id)
            return
        run.ai_summary = summary.text
        run.summarizer = summary.summarizer
        run.prompt_tokens = summary.prompt_tokens
        run.response_tokens = summary.response_tokens
        run.summary_note = summary.fallback_reason
