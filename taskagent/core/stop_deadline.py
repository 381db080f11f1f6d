"""A last resort for stopping on time: if the orderly stop has not finished by its deadline
(a tool stuck in a blocking call, a database held by a hung thread), record this process's
unfinished runs as `interrupted`, give up the lease and exit, on a plain thread with its own
SQLite connection, so nothing the event loop waits on can hold it up.

systemd and launchd kill a process that ignores SIGTERM for too long; then its runs would be
recorded only at the next start. Exiting on our own deadline keeps the record right now.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from taskagent.core import child_processes
from taskagent.core.clock import SYSTEM_CLOCK, Clock
from taskagent.core.run_outcomes import Why
from taskagent.core.store.run_queries import interrupt_rows

log = logging.getLogger(__name__)


class StopDeadline:
    """`recorded` is set once the engine has recorded its runs (only closing is left);
    `done` once everything is closed."""

    def __init__(self) -> None:
        self.recorded = threading.Event()
        self.done = threading.Event()


def arm(
    seconds: float,
    *,
    db_path: Path,
    holder_id: str,
    own_runs: Callable[[], Iterable[int]],
    exit_code: int = 0,
    clock: Clock = SYSTEM_CLOCK,
) -> StopDeadline:
    """Start the deadline; set its events as the orderly stop gets there."""
    deadline = StopDeadline()

    def watch() -> None:
        if deadline.done.wait(seconds):
            return
        if deadline.recorded.is_set():
            # Every run is recorded; only MCP servers and sessions were still closing.
            log.info("stopped; not waiting longer for MCP servers to close")
        else:
            log.error(
                "stopping took longer than %.1f s; recording unfinished runs and exiting",
                seconds,
            )
            try:
                record_and_release(db_path, holder_id, list(own_runs()), clock)
            except Exception as exc:  # the next start marks them instead
                log.error("could not record unfinished runs: %s", exc)
        with contextlib.suppress(Exception):
            child_processes.end_children(kill_after=0.5)  # os._exit would leave them running
        for handler in logging.getLogger().handlers:
            with contextlib.suppress(Exception):
                handler.flush()
        os._exit(exit_code)

    threading.Thread(target=watch, name="taskagent-stop-deadline", daemon=True).start()
    return deadline


def record_and_release(
    db_path: Path, holder_id: str, run_ids: list[int], clock: Clock = SYSTEM_CLOCK
) -> int:
    """Mark these runs (if still `running`) interrupted and drop our lease row: one commit."""
    # Not through the store: its connection and write path may be what is stuck.
    with sqlite3.connect(db_path, timeout=0.5) as db:
        count = interrupt_rows(db, Why.STOPPED, clock.now(), ids=sorted(set(run_ids)))
        db.execute("DELETE FROM scheduler_lease WHERE holder = ?", (holder_id,))
        return count
