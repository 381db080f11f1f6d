"""Before the first fires: open every worker's sessions to the servers of the tasks due soon.

A stdio server takes about a second to start; without this, a start's first runs wait for it
and a task every second has its next slot `skipped`. The warm-up is part of the start (slots
due meanwhile join the start's catch-up) and bounded; a stop during the start cuts it short.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import timedelta

from taskagent.core.clock import Clock
from taskagent.core.store import Repository
from taskagent.core.worker_pool import WorkerPool

log = logging.getLogger(__name__)

# Tools of tasks due within the horizon are warmed up, waiting at most WARM_UP_SECONDS (a
# slower server goes on starting while the scheduler runs; a run that needs it waits for the
# same connection).
WARM_UP_HORIZON = timedelta(seconds=60)
WARM_UP_SECONDS = 5.0

# Opens the current loop's sessions to the servers of these tool refs (McpManager.warm_up).
OpenSessions = Callable[[Iterable[str]], Awaitable[None]]


async def warm_up_workers(
    pool: WorkerPool,
    open_sessions: OpenSessions,
    repo: Repository,
    clock: Clock,
    cut: asyncio.Event,
) -> None:
    """Open the sessions the first runs need on every worker; return early once `cut` is set.
    An optimisation: a failure is logged and never a reason not to schedule."""
    try:
        due = await repo.tools_due_by(clock.now() + WARM_UP_HORIZON)
    except Exception as exc:
        log.warning("could not look up the tools due soon: %s", exc)
        return
    if not due or cut.is_set():
        return
    refs = sorted(due)
    # Every worker, not only as many as there are tasks: the run slots rotate, so the second
    # round of runs already reaches the other threads.
    warming = asyncio.ensure_future(pool.warm(lambda: open_sessions(refs), limit=WARM_UP_SECONDS))
    stopped = asyncio.ensure_future(cut.wait())
    try:
        await asyncio.wait({warming, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        # Cut short by a stop: the sessions go on opening on the workers until the pool stops
        # (it cancels them like runs).
        for waiter in (warming, stopped):
            waiter.cancel()
