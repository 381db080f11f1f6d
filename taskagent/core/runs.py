"""One run of a task: record `running`, call the tool with a timeout, record the outcome.

This is the pipeline's core step. "Run now" calls `run` directly; the scheduler's runner calls
`execute` on a worker thread and `record` back on the main loop, so a worker never waits for
the database's writer (core/store/writer.py). Nothing a tool, server or network does escapes as an exception: every
failure becomes a history row with a specific `error_message`.

After a successful tool call the result is compared with the previous successful run's
(`significance.assess`, always) and summarised (`Summarizer`, when one is given: Gemini or the
offline summariser, as the task's summary mode, the verdict and the daily budget decide; a
failed summary never fails the run). The finished run is then offered to
the `Notifier` (when one is given), which hands it over to the main loop itself.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from taskagent.core.baselines import Baselines
from taskagent.core.events import EventBus, RunFinished, RunRetrying, RunStarted
from taskagent.core.models import Run, RunStatus, Task, utcnow
from taskagent.core.retry import RetryPolicy, call_with_retries, is_transient
from taskagent.core.significance import Significance, assess, subject_for_tool
from taskagent.core.store import Repository, RunNotFound, TaskNotFound

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


def _is_timeout(exc: BaseException) -> bool:
    return type(exc).__name__ in {"ToolTimeout", "TimeoutError"}


class RunExecutor:
    def __init__(
        self,
        repo: Repository,
        tools: ToolCaller,
        *,
        events: EventBus | None = None,
        clock: Callable[[], datetime] = utcnow,
        summarizer: Summarizer | None = None,
        notifier: Notifier | None = None,
        retry: RetryPolicy | None = None,
        baselines: Baselines | None = None,
    ) -> None:
        self.repo = repo
        self.tools = tools
        self.events = events or EventBus()
        self.clock = clock
        self.summarizer = summarizer
        self.notifier = notifier
        self.retry = retry or RetryPolicy()
        # The previous successful result of each task, for the significance test (in memory:
        # no history query on the hot path; core/baselines.py).
        self.baselines = baselines or Baselines(repo)

    async def run(
        self,
        task: Task,
        *,
        trigger: str = "manual",
        scheduled_time: datetime | None = None,
        claimed: Run | None = None,
    ) -> Run:
        """Run `task` once and record it. `claimed` is a `running` row the scheduler already
        wrote for a slot (it is updated, with the real start time); else a row is added."""
        finished, started = await self.execute(
            task, trigger=trigger, scheduled_time=scheduled_time, claimed=claimed
        )
        return await self.record(task, finished, started)

    async def execute(
        self,
        task: Task,
        *,
        trigger: str = "manual",
        scheduled_time: datetime | None = None,
        claimed: Run | None = None,
    ) -> tuple[Run, datetime]:
        """The run up to its outcome, not yet recorded: (finished run, start time). A worker
        calls this and hands the outcome back, so it never waits for the database's writer."""
        assert task.id is not None
        started = self.clock()
        if claimed is not None:
            run = replace(claimed, run_time=started)
        else:
            run = await self.repo.add_run(
                Run(
                    task_id=task.id,
                    run_time=started,
                    status=RunStatus.RUNNING,
                    trigger=trigger,
                    scheduled_time=scheduled_time,
                )
            )
        assert run.id is not None
        self.events.publish(RunStarted(task.id, run.id))
        t0 = time.perf_counter()

        def note_retry(attempt: int, exc: BaseException, wait: float) -> None:
            log.info(
                "task %s attempt %d failed (%s); retrying in %.1f s", task.id, attempt, exc, wait
            )
            self.events.publish(RunRetrying(task.stored_id, run.stored_id, attempt, wait, str(exc)))

        # ONE time limit for the whole tool phase: connecting, every attempt, every backoff.
        limit = task.timeout_seconds
        deadline = time.monotonic() + limit
        repeatable = self._safe_to_repeat(task.mcp_tool)
        tries_made = 0

        async def attempt() -> Any:
            nonlocal tries_made
            tries_made += 1
            left = max(0.1, deadline - time.monotonic())
            return await self.tools.call_tool(task.mcp_tool, task.tool_args, timeout=left)

        try:
            async with asyncio.timeout(limit):
                result, attempts = await call_with_retries(
                    attempt, self.retry if repeatable else NO_RETRY, on_retry=note_retry
                )
        except Exception as exc:  # every failure becomes history, never a crash
            status = RunStatus.TIMEOUT if _is_timeout(exc) else RunStatus.ERROR
            tries = getattr(exc, "attempts", tries_made) or 1
            if isinstance(exc, TimeoutError):
                message = f"tool '{task.mcp_tool}' did not finish within {limit:g} s"
            else:
                message = str(exc) or type(exc).__name__
            if tries > 1:
                message += f" (after {tries} attempts)"
            if not repeatable and is_transient(exc):
                message += "; not retried because the tool may change data"
            finished = replace(run, status=status, error_message=message, attempts=tries)
        else:
            finished = replace(
                run, status=RunStatus.SUCCESS, raw_data=encode_raw(result.data), attempts=attempts
            )
        finished.duration_ms = round((time.perf_counter() - t0) * 1000)  # the tool call
        if finished.status is RunStatus.SUCCESS:
            await self._analyse(task, result.data, finished)
        finished.finished_at = self.clock()
        return finished, started

    async def record(self, task: Task, finished: Run, started: datetime) -> Run:
        """Write the outcome (durable before anyone hears of it), then announce and notify."""
        run = finished
        assert task.id is not None and run.id is not None
        try:
            await self.repo.update_run(finished, task_last_run=started)
        except (TaskNotFound, RunNotFound):
            # The task was removed while it ran (its history stays; this row is kept).
            log.info("task %s was removed during run %s", task.id, run.id)
            self.baselines.forget(task.id)
        else:
            if finished.status is RunStatus.SUCCESS:
                self.baselines.record(task.id, finished.raw_data)
        self.events.publish(
            RunFinished(task.id, run.id, finished.status.value, finished, task_name=task.name)
        )
        if self.notifier is not None:
            try:
                async with asyncio.timeout(NOTIFY_TIMEOUT):  # no extra task (see _analyse)
                    await self.notifier.notify_run(task, finished)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a notification is never worth a failed run
                log.warning("notification for run %s failed: %r", run.id, exc)
        return finished

    def _safe_to_repeat(self, ref: str) -> bool:
        """Retries only for tools whose MCP annotations say a second call does no harm."""
        resolve = getattr(self.tools, "resolve", None)
        if resolve is None:
            return True  # a plain caller (tests, benchmarks) without a catalogue
        try:
            return bool(resolve(ref).safe_to_repeat)
        except Exception:
            return False

    async def _analyse(self, task: Task, data: Any, run: Run) -> None:
        """Significance against the previous successful run, then the summary; fills `run`.
        Never raises (apart from cancellation): the run stays a success whatever happens."""
        assert task.id is not None
        previous: Any = None
        try:
            before = await self.baselines.previous(task.id)
            previous = None if before is None else decode_raw(before.raw, data)
            if isinstance(previous, _Unreadable):
                verdict = Significance(False, "the previous result was too large to compare")
                previous = None
            else:
                verdict = assess(
                    previous,
                    data,
                    task.significance_threshold,
                    first_run=before is None,
                    subject=subject_for_tool(task.mcp_tool),
                )
            run.significant = verdict.significant
            run.significance_reason = verdict.reason
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("significance test of run %s failed", run.id)
        if self.summarizer is None:
            return
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for wraps the call in a task of its
            # own, one more task and wake-up per run.
            async with asyncio.timeout(SUMMARY_TIMEOUT):
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
