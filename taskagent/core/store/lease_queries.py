"""SQL of the scheduler lease (`scheduler_lease`, one row) and of run requests (`run_requests`).

The rules (who may take the lease, when it is stale, how long to wait for an answer) live in
core/lease.py; this module only reads and writes the rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from taskagent.core.models import from_iso, to_iso
from taskagent.core.store.connection import Store

_SELECT_LEASE = "SELECT holder, kind, pid, host, started_at, heartbeat_at FROM scheduler_lease"


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


def _stored_time(text: str) -> datetime:
    """A NOT NULL time column: from_iso gives None only for empty text, which is never stored."""
    moment = from_iso(text)
    if moment is None:
        raise ValueError("scheduler_lease holds an empty time")
    return moment


def _lease_from_row(row: Any) -> LeaseInfo:
    return LeaseInfo(
        holder=row[0],
        kind=row[1],
        pid=row[2],
        host=row[3],
        started_at=_stored_time(row[4]),
        heartbeat_at=_stored_time(row[5]),
    )


class LeaseQueries(Store):
    """Rows of `scheduler_lease` and `run_requests`."""

    # ------------------------------------------------------------------------------ lease
    async def current_lease(self) -> LeaseInfo | None:
        row = await self._fetchone(_SELECT_LEASE)
        return None if row is None else _lease_from_row(row)

    async def claim_lease(
        self, claim: LeaseInfo, *, may_replace: Callable[[LeaseInfo], bool]
    ) -> LeaseInfo | None:
        """Write `claim` as the lease unless a row exists that `may_replace` refuses to replace
        (it is called inside the write transaction, so no other process can interleave).
        Returns None when written, else the holder that keeps the lease."""
        async with self._write() as db:
            rows = list(await db.execute_fetchall(_SELECT_LEASE))
            if rows:
                info = _lease_from_row(rows[0])
                if not may_replace(info):
                    return info
            await db.execute(
                "INSERT INTO scheduler_lease (id, holder, kind, pid, host, started_at, heartbeat_at)"
                " VALUES (1, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, kind = excluded.kind,"
                " pid = excluded.pid, host = excluded.host, started_at = excluded.started_at,"
                " heartbeat_at = excluded.heartbeat_at",
                (
                    claim.holder,
                    claim.kind,
                    claim.pid,
                    claim.host,
                    to_iso(claim.started_at),
                    to_iso(claim.heartbeat_at),
                ),
            )
        return None

    async def renew_lease(self, holder: str, at: datetime) -> bool:
        """Set the heartbeat of `holder`'s lease; False when `holder` no longer has it."""
        async with self._write() as db:
            cursor = await db.execute(
                "UPDATE scheduler_lease SET heartbeat_at = ? WHERE holder = ?",
                (to_iso(at), holder),
            )
            kept = cursor.rowcount > 0
            await cursor.close()
        return kept

    async def release_lease(self, holder: str) -> None:
        async with self._write() as db:
            await db.execute("DELETE FROM scheduler_lease WHERE holder = ?", (holder,))

    # ------------------------------------------------------------------------ run requests
    async def add_run_request(self, task_id: int, requested_by: str, at: datetime) -> int:
        async with self._write() as db:
            cursor = await db.execute(
                "INSERT INTO run_requests (task_id, requested_at, requested_by) VALUES (?, ?, ?)",
                (task_id, to_iso(at), requested_by),
            )
            request_id = cursor.lastrowid
            await cursor.close()
        assert request_id is not None
        return request_id

    async def run_request_state(self, request_id: int) -> tuple[str, int | None, str | None] | None:
        """(state, run_id, error) of a request, or None when it is gone."""
        row = await self._fetchone(
            "SELECT state, run_id, error FROM run_requests WHERE id = ?", (request_id,)
        )
        return None if row is None else (row[0], row[1], row[2])

    async def withdraw_run_request(self, request_id: int) -> bool:
        """Delete a request nobody has taken yet; False when the holder took it meanwhile."""
        async with self._write() as db:
            cursor = await db.execute(
                "DELETE FROM run_requests WHERE id = ? AND state = 'pending'", (request_id,)
            )
            withdrawn = cursor.rowcount > 0
            await cursor.close()
        return withdrawn

    async def take_run_requests(self) -> list[tuple[int, int]]:
        """Mark every pending request taken: [(request_id, task_id)]."""
        async with self._write() as db:
            rows = list(
                await db.execute_fetchall(
                    "SELECT id, task_id FROM run_requests WHERE state = 'pending' ORDER BY id"
                )
            )
            if rows:
                await db.execute(
                    f"UPDATE run_requests SET state = 'taken' WHERE id IN ({','.join('?' * len(rows))})",
                    [r[0] for r in rows],
                )
        return [(int(r[0]), int(r[1])) for r in rows]

    async def answer_run_request(
        self, request_id: int, *, run_id: int | None, error: str | None, purge_before: datetime
    ) -> None:
        """Answer a request (done with `run_id`, else failed) and, in the same transaction,
        delete answered requests made before `purge_before`."""
        async with self._write() as db:
            await db.execute(
                "UPDATE run_requests SET state = ?, run_id = ?, error = ? WHERE id = ?",
                ("done" if run_id is not None else "failed", run_id, error, request_id),
            )
            await db.execute(
                "DELETE FROM run_requests WHERE state IN ('done', 'failed') AND requested_at < ?",
                (to_iso(purge_before),),
            )
