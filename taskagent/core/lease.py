"""One scheduler per database: a lease row with a heartbeat, and run requests.

Several processes may open the same database (the app, `taskagent daemon`, the background MCP
server another client started, the CLI). Exactly one of them runs the scheduler: the holder of
the lease. It renews `heartbeat_at` every few seconds; a lease whose heartbeat is older than
`LEASE_TIMEOUT` (the holder was killed) can be taken over, and so can one whose holder is a
dead process on this same machine (no need to wait).

Other processes ask the holder to run a task now by inserting a `run_requests` row and waiting
for it to be answered with a `run_id`.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from taskagent.core.errors import TaskAgentError
from taskagent.core.models import from_iso, to_iso, utcnow
from taskagent.core.repository import Repository

LEASE_TIMEOUT = timedelta(seconds=10)
HEARTBEAT_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class LeaseInfo:
    holder: str
    kind: str  # "daemon" | "app" | ...
    pid: int
    host: str
    started_at: datetime
    heartbeat_at: datetime

    def describe(self) -> str:
        return f"{self.kind} (pid {self.pid} on {self.host})"


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
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.repo = repo
        self.kind = kind
        self.timeout = timeout
        self.clock = clock
        self.holder_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.held = False

    async def current(self) -> LeaseInfo | None:
        row = await self.repo.fetchone(
            "SELECT holder, kind, pid, host, started_at, heartbeat_at FROM scheduler_lease"
        )
        if row is None:
            return None
        return LeaseInfo(
            holder=row[0],
            kind=row[1],
            pid=row[2],
            host=row[3],
            started_at=from_iso(row[4]),  # type: ignore[arg-type]
            heartbeat_at=from_iso(row[5]),  # type: ignore[arg-type]
        )

    def _is_stale(self, info: LeaseInfo, now: datetime) -> bool:
        if now - info.heartbeat_at > self.timeout:
            return True
        # Same machine and the process is gone (kill -9): take over at once.
        return info.host == socket.gethostname() and not _pid_alive(info.pid)

    async def try_acquire(self) -> LeaseInfo | None:
        """Take the lease if it is free or stale. Returns None on success, else the holder."""
        now = self.clock()
        async with self.repo.write() as db:
            rows = await db.execute_fetchall(
                "SELECT holder, kind, pid, host, started_at, heartbeat_at FROM scheduler_lease"
            )
            if rows:
                row = rows[0]
                info = LeaseInfo(
                    row[0],
                    row[1],
                    row[2],
                    row[3],
                    from_iso(row[4]),
                    from_iso(row[5]),  # type: ignore[arg-type]
                )
                if info.holder != self.holder_id and not self._is_stale(info, now):
                    return info
            await db.execute(
                "INSERT INTO scheduler_lease (id, holder, kind, pid, host, started_at, heartbeat_at)"
                " VALUES (1, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, kind = excluded.kind,"
                " pid = excluded.pid, host = excluded.host, started_at = excluded.started_at,"
                " heartbeat_at = excluded.heartbeat_at",
                (
                    self.holder_id,
                    self.kind,
                    os.getpid(),
                    socket.gethostname(),
                    to_iso(now),
                    to_iso(now),
                ),
            )
        self.held = True
        return None

    async def heartbeat(self) -> bool:
        """Renew the lease; False means another process took it (we must stop scheduling)."""
        async with self.repo.write() as db:
            cursor = await db.execute(
                "UPDATE scheduler_lease SET heartbeat_at = ? WHERE holder = ?",
                (to_iso(self.clock()), self.holder_id),
            )
            kept = cursor.rowcount > 0
            await cursor.close()
        self.held = kept
        return kept

    async def release(self) -> None:
        if not self.held:
            return
        async with self.repo.write() as db:
            await db.execute("DELETE FROM scheduler_lease WHERE holder = ?", (self.holder_id,))
        self.held = False


# ---- run requests ------------------------------------------------------------------------


class RunRequestFailed(TaskAgentError, RuntimeError):
    pass


async def request_run(repo: Repository, task_id: int, requested_by: str) -> int:
    async with repo.write() as db:
        cursor = await db.execute(
            "INSERT INTO run_requests (task_id, requested_at, requested_by) VALUES (?, ?, ?)",
            (task_id, to_iso(utcnow()), requested_by),
        )
        request_id = cursor.lastrowid
        await cursor.close()
    assert request_id is not None
    return request_id


async def wait_for_request(
    repo: Repository, request_id: int, *, wait_seconds: float, poll: float = 0.2
) -> int:
    """Wait until the scheduler's process has run the request; returns the run id."""
    deadline = asyncio.get_running_loop().time() + wait_seconds
    while True:
        row = await repo.fetchone(
            "SELECT state, run_id, error FROM run_requests WHERE id = ?", (request_id,)
        )
        if row is None:
            raise RunRequestFailed("the run request disappeared (was the task removed?)")
        state, run_id, error = row
        if state == "done" and run_id is not None:
            return int(run_id)
        if state == "failed":
            raise RunRequestFailed(error or "the scheduler could not run the task")
        if asyncio.get_running_loop().time() > deadline:
            raise RunRequestFailed(f"no answer from the scheduler within {wait_seconds:g} s")
        await asyncio.sleep(poll)


async def take_pending_requests(repo: Repository) -> list[tuple[int, int]]:
    """Claim every pending request: [(request_id, task_id)]."""
    async with repo.write() as db:
        rows = await db.execute_fetchall(
            "SELECT id, task_id FROM run_requests WHERE state = 'pending' ORDER BY id"
        )
        if rows:
            await db.execute(
                f"UPDATE run_requests SET state = 'taken' WHERE id IN ({','.join('?' * len(rows))})",
                [r[0] for r in rows],
            )
    return [(int(r[0]), int(r[1])) for r in rows]


async def answer_request(
    repo: Repository, request_id: int, *, run_id: int | None, error: str | None = None
) -> None:
    async with repo.write() as db:
        await db.execute(
            "UPDATE run_requests SET state = ?, run_id = ?, error = ? WHERE id = ?",
            ("done" if run_id is not None else "failed", run_id, error, request_id),
        )
        # Answered requests older than a day are of no use to anyone.
        await db.execute(
            "DELETE FROM run_requests WHERE state IN ('done', 'failed') AND requested_at < ?",
            (to_iso(utcnow() - timedelta(days=1)),),
        )
