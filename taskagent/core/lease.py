"""One scheduler per database: a lease row with a heartbeat, and run requests.

Several processes may open the same database (the app, `taskagent daemon`, the background MCP
server another client started, the CLI). Exactly one of them runs the scheduler: the holder of
the lease. It renews `heartbeat_at` every few seconds; a lease whose heartbeat is older than
`LEASE_TIMEOUT` (the holder was killed) can be taken over, and so can one whose holder is a
dead process on this same machine (no need to wait).

Other processes ask the holder to run a task now by inserting a `run_requests` row and waiting
for it to be answered with a `run_id`.

This module holds the rules; the SQL is in core/store/lease_queries.py.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta

from taskagent.core.clock import SYSTEM_CLOCK, Clock
from taskagent.core.errors import TaskAgentError
from taskagent.core.store import Repository
from taskagent.core.store.lease_queries import LeaseInfo

__all__ = [
    "HEARTBEAT_SECONDS",
    "LEASE_TIMEOUT",
    "TAKE_WITHIN_SECONDS",
    "Lease",
    "LeaseInfo",
    "RunRequestFailed",
    "SchedulerBusy",
    "answer_request",
    "process_alive",
    "request_run",
    "take_pending_requests",
    "wait_for_request",
]

LEASE_TIMEOUT = timedelta(seconds=10)
HEARTBEAT_SECONDS = 2.0


def process_alive(info: LeaseInfo) -> bool | None:
    """Whether the lease holder's process runs; None when it is on another machine."""
    if info.host != socket.gethostname():
        return None
    return _pid_alive(info.pid)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class Lease:
    """This process's claim on the scheduler for one database."""

    def __init__(
        self,
        repo: Repository,
        *,
        kind: str,
        timeout: timedelta = LEASE_TIMEOUT,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.repo = repo
        self.kind = kind
        self.timeout = timeout
        self.clock = clock
        self.holder_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.held = False
        self.taken_from: LeaseInfo | None = None  # a live app the last acquire took over from
        self.renewed_at: datetime | None = None  # this process's last written heartbeat

    async def current(self) -> LeaseInfo | None:
        return await self.repo.current_lease()

    def is_live(self, info: LeaseInfo | None) -> bool:
        """Whether that holder still runs the scheduler (a fresh heartbeat, a live process)."""
        return info is not None and not self._is_stale(info, self.clock.now())

    def _is_stale(self, info: LeaseInfo, now: datetime) -> bool:
        if now - info.heartbeat_at > self.timeout:
            return True
        # Same machine and the process is gone (kill -9): take over at once.
        return info.host == socket.gethostname() and not _pid_alive(info.pid)

    async def try_acquire(self, *, take_from_app: bool = False) -> LeaseInfo | None:
        """Take the lease if it is free or stale. Returns None on success, else the holder.

        `take_from_app` (the daemon): also from a live app, which finds the lease gone at its
        next heartbeat (within HEARTBEAT_SECONDS), stands down and attaches; `taken_from` is
        then that app. Safe while both still schedule: a slot is claimed compare-and-set."""
        now = self.clock.now()
        claim = LeaseInfo(self.holder_id, self.kind, os.getpid(), socket.gethostname(), now, now)
        live: list[LeaseInfo] = []

        def may_replace(info: LeaseInfo) -> bool:
            if info.holder == self.holder_id or self._is_stale(info, now):
                return True
            if take_from_app and info.kind == "app":
                live.append(info)
                return True
            return False

        holder = await self.repo.claim_lease(claim, may_replace=may_replace)
        if holder is not None:
            return holder
        self.held = True
        self.renewed_at = now
        self.taken_from = live[-1] if live else None
        return None

    async def heartbeat(self) -> bool:
        """Renew the lease; False means another process took it (we must stop scheduling)."""
        now = self.clock.now()
        kept = await self.repo.renew_lease(self.holder_id, now)
        self.held = kept
        if kept:
            self.renewed_at = now
        return kept

    def beating(self) -> bool:
        """Whether this process holds the lease and wrote its heartbeat within the timeout
        (a heartbeat that keeps failing, e.g. on a busy database, is not healthy)."""
        if not self.held or self.renewed_at is None:
            return False
        return self.clock.now() - self.renewed_at <= self.timeout

    async def release(self) -> None:
        if not self.held:
            return
        await self.repo.release_lease(self.holder_id)
        self.held = False


class SchedulerBusy(TaskAgentError, RuntimeError):
    """Another process holds the lease (for `taskagent daemon`, which refuses to attach)."""

    def __init__(self, holder: LeaseInfo, db: str) -> None:
        super().__init__(
            f"another taskagent {holder.describe()} already runs the scheduler for {db}; "
            "stop it first (or open `taskagent`, which attaches to it)"
        )
        self.holder = holder


# ---- run requests ------------------------------------------------------------------------


class RunRequestFailed(TaskAgentError, RuntimeError):
    pass


async def request_run(
    repo: Repository, task_id: int, requested_by: str, clock: Clock = SYSTEM_CLOCK
) -> int:
    return await repo.add_run_request(task_id, requested_by, clock.now())


# A live holder takes a request within its next look at the database (every 0.5 s); one that
# has not after this long is frozen or stuck, and the request is withdrawn.
TAKE_WITHIN_SECONDS = 5.0


async def wait_for_request(
    repo: Repository,
    request_id: int,
    *,
    wait_seconds: float,
    take_within: float = TAKE_WITHIN_SECONDS,
    poll: float = 0.2,
    clock: Clock = SYSTEM_CLOCK,
) -> int:
    """Wait until the scheduler's process has run the request; returns the run id. A request
    not taken within `take_within` seconds is withdrawn (never run later) and fails."""
    started = clock.monotonic()
    while True:
        row = await repo.run_request_state(request_id)
        if row is None:
            raise RunRequestFailed("the run request disappeared (was the task removed?)")
        state, run_id, error = row
        if state == "done" and run_id is not None:
            return int(run_id)
        if state == "failed":
            raise RunRequestFailed(error or "the scheduler could not run the task")
        waited = clock.monotonic() - started
        if (
            state == "pending"
            and waited > take_within
            and await repo.withdraw_run_request(request_id)
        ):
            raise RunRequestFailed(
                f"the scheduler did not take the request within {take_within:g} s (frozen or "
                "stuck?); not run: check `taskagent tasks status`"
            )
        if waited > wait_seconds:
            raise RunRequestFailed(f"no answer from the scheduler within {wait_seconds:g} s")
        await clock.sleep(poll)


async def take_pending_requests(repo: Repository) -> list[tuple[int, int]]:
    """Claim every pending request: [(request_id, task_id)]."""
    return await repo.take_run_requests()


async def answer_request(
    repo: Repository,
    request_id: int,
    *,
    run_id: int | None,
    error: str | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> None:
    # Answered requests older than a day are of no use to anyone.
    await repo.answer_run_request(
        request_id, run_id=run_id, error=error, purge_before=clock.now() - timedelta(days=1)
    )
