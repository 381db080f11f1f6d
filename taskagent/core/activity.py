"""One log line per run, per task change and per notification button: what a 24/7 log is for.

`ActivityLog(repo, events).attach()` subscribes to the core's events (RunFinished, TaskChanged)
and writes, on the loop it was attached on, lines such as::

    run #812 "BTC hourly": success in 412 ms, significant: BTC price -6.2% since last run;
        BTC $97,410 (+2.1% 24h); top mover SOL +8.3%...
    run #813 "Trending": error in 5.0 s: CoinGecko rate limit (429): retry after 60 s
    task #3 "BTC hourly" paused

(one line each; summaries and errors are cut at ~100 characters). Notifications are logged by
the notifier itself (core/notify.py). No UI imports.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

from taskagent.core.events import EventBus, RunFinished, TaskChanged
from taskagent.core.models import Run, RunStatus
from taskagent.core.store import Repository

log = logging.getLogger("taskagent.activity")
TEXT_CHARS = 100
DRAIN_SECONDS = 0.5  # the daemon promises to exit within grace + 2 s


def cut(text: str | None, limit: int = TEXT_CHARS) -> str:
    """One line, at most `limit` characters (an ellipsis marks the cut)."""
    flat = " ".join((text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def took(ms: int | None) -> str:
    if ms is None:
        return "?"
    return f"{ms} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def outcome_line(run: Run) -> str:
    """A finished run for a toast: "run #12: success in 1.2 s — <summary or error>"."""
    detail = cut(run.error_message or run.ai_summary, 200) or "no summary"
    return f"run #{run.id}: {run.status.value} in {took(run.duration_ms)} — {detail}"


def run_line(run: Run, task_name: str) -> str:
    """The log line of one finished run."""
    head = f'run #{run.id} "{task_name}": {run.status.value}'
    if run.status in (RunStatus.SKIPPED, RunStatus.MISSED):  # bookkeeping rows: the reason
        return f"{head}: {cut(run.error_message or run.ai_summary)}"
    head += f" in {took(run.duration_ms)}"
    if run.status.failed:
        return f"{head}: {cut(run.error_message) or 'no error message'}"
    if run.significant:
        head += f", significant: {cut(run.significance_reason, 80)}"
    elif run.significance_reason and run.significance_reason != "first run":
        head += ", not significant"
    detail = cut(run.ai_summary or run.error_message)
    return f"{head}; {detail}" if detail else head


class ActivityLog:
    def __init__(self, repo: Repository, events: EventBus) -> None:
        self.repo = repo
        self.events = events
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: int | None = None
        self._unsubscribe: list[Callable[[], None]] = []
        self._pending: set[asyncio.Task[Any]] = set()
        self._names: dict[int, str] = {}

    def attach(self) -> ActivityLog:
        """Start logging (call on the loop that owns `repo`, e.g. the daemon's main loop)."""
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        self._unsubscribe = [
            self.events.subscribe(RunFinished, self._on_event),
            self.events.subscribe(TaskChanged, self._on_event),
        ]
        return self

    def close(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []

    @property
    def pending(self) -> int:
        """Lines still being written (each waits for a read of the task or the run)."""
        return len(self._pending)

    async def drain(self) -> None:
        """Wait (at most DRAIN_SECONDS) for the lines still being written, before the database
        closes."""
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=DRAIN_SECONDS)

    def _on_event(self, event: RunFinished | TaskChanged) -> None:
        # Events come from the publisher's thread (the main loop records scheduled runs).
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        if threading.get_ident() == self._thread and self._written_now(event):
            return
        loop.call_soon_threadsafe(self._start, event)

    def _written_now(self, event: RunFinished | TaskChanged) -> bool:
        """Write a run's line at once when nothing needs reading (the usual case under load:
        the row comes with the event and the task's name is known)."""
        if not isinstance(event, RunFinished) or event.run is None:
            return False
        name = event.task_name or self._names.get(event.task_id)
        if name is None:
            return False
        log.info("%s", run_line(event.run, name))
        return True

    def _start(self, event: RunFinished | TaskChanged) -> None:
        if self._written_now(event):
            return
        task = asyncio.ensure_future(self._write(event))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _write(self, event: RunFinished | TaskChanged) -> None:
        try:
            if isinstance(event, TaskChanged):
                self._names.pop(event.task_id, None)  # renamed, maybe
                task = await self.repo.get_task(event.task_id)
                known = f' "{task.name}"' if task is not None else ""
                log.info("task #%s%s %s", event.task_id, known, event.change)
                return
            name = await self._name(event.task_id)
            # Under load (hundreds of runs a second) the row comes with the event: no read.
            run = event.run if event.run is not None else await self.repo.get_run(event.run_id)
            if run is None:
                log.info('run #%s "%s": %s', event.run_id, name, event.status)
                return
            log.info("%s", run_line(run, name))
        except Exception as exc:  # the database closing under us; never worth more
            log.debug("activity line for %r not written: %r", event, exc)

    async def _name(self, task_id: int) -> str:
        name = self._names.get(task_id)
        if name is None:
            task = await self.repo.get_task(task_id)
            name = task.name if task is not None else f"task {task_id}"
            if task is not None:
                self._names[task_id] = name
        return name
