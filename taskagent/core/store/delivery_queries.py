"""SQL of delivery (migration 8): a task's channels (`task_delivery`) and the receipts
(`deliveries`, one row per notification and channel). The rules live in core/delivery.py."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiosqlite

from taskagent.core.models import from_iso, to_iso
from taskagent.core.store.connection import Store

# Receipt states. `held`: kept back by quiet hours; `digested`: sent inside a digest;
# `unknown`: the process ended while sending it (whether it arrived is not known).
QUEUED, SENDING, SENT, FAILED, HELD, DIGESTED, UNKNOWN = (
    "queued",
    "sending",
    "sent",
    "failed",
    "held",
    "digested",
    "unknown",
)


@dataclass(frozen=True, slots=True)
class TaskDelivery:
    """A task's own delivery settings (no row = all defaults)."""

    channels: tuple[str, ...] = ()  # as written; empty = the [notify] channels
    urgent: bool = False
    quiet_hours: str | None = None  # None = the [notify] window; "" = none
    digest: str | None = None  # a period such as "daily 08:00"; None = [notify] digest; "" = none


@dataclass(frozen=True, slots=True)
class Receipt:
    id: int
    run_id: int | None
    task_id: int | None
    channel: str
    target: str
    status: str
    attempts: int
    last_error: str | None
    kind: str
    urgent: bool
    title: str
    body: str
    created_at: datetime
    updated_at: datetime
    hold_until: datetime | None
    fallback_of: int | None
    via: str | None

    def to_dict(self) -> dict[str, Any]:
        """For JSON output: never the target (it may hold a secret)."""
        return {
            "id": self.id,
            "run_id": self.run_id,
            "channel": self.channel,
            "status": self.status,
            "attempts": self.attempts,
            "last_error": self.last_error,
            "kind": self.kind,
            "urgent": self.urgent,
            "fallback_of": self.fallback_of,
            "via": self.via,
            "updated_at": to_iso(self.updated_at),
        }


_COLUMNS = (
    "id, run_id, task_id, channel, target, status, attempts, last_error, kind, urgent, title, "
    "body, created_at, updated_at, hold_until, fallback_of, via"
)


def _moment(text: Any) -> datetime:
    moment = from_iso(str(text))
    assert moment is not None
    return moment


def _receipt(row: Any) -> Receipt:
    hold = row["hold_until"]
    return Receipt(
        id=int(row["id"]),
        run_id=row["run_id"],
        task_id=row["task_id"],
        channel=str(row["channel"]),
        target=str(row["target"]),
        status=str(row["status"]),
        attempts=int(row["attempts"]),
        last_error=row["last_error"],
        kind=str(row["kind"]),
        urgent=bool(row["urgent"]),
        title=str(row["title"]),
        body=str(row["body"]),
        created_at=_moment(row["created_at"]),
        updated_at=_moment(row["updated_at"]),
        hold_until=_moment(hold) if hold else None,
        fallback_of=row["fallback_of"],
        via=row["via"],
    )


class DeliveryQueries(Store):
    """Rows of `task_delivery` and `deliveries`."""

    # ------------------------------------------------------------- a task's settings
    async def task_delivery(self, task_id: int) -> TaskDelivery:
        row = await self._fetchone(
            "SELECT channels, urgent, quiet_hours, digest FROM task_delivery WHERE task_id = ?",
            (task_id,),
        )
        if row is None:
            return TaskDelivery()
        return TaskDelivery(
            tuple(json.loads(row["channels"] or "[]")),
            bool(row["urgent"]),
            row["quiet_hours"],
            row["digest"],
        )

    async def set_task_delivery(self, task_id: int, delivery: TaskDelivery) -> None:
        async with self._write() as db:
            await db.execute(
                "INSERT INTO task_delivery (task_id, channels, urgent, quiet_hours, digest) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (task_id) DO UPDATE SET "
                "channels = excluded.channels, urgent = excluded.urgent, "
                "quiet_hours = excluded.quiet_hours, digest = excluded.digest",
                (
                    task_id,
                    json.dumps(list(delivery.channels)),
                    int(delivery.urgent),
                    delivery.quiet_hours,
                    delivery.digest,
                ),
            )

    # ------------------------------------------------------------------- receipts
    async def add_receipt(
        self,
        *,
        at: datetime,
        run_id: int | None,
        task_id: int | None,
        channel: str,
        target: str,
        status: str,
        kind: str,
        urgent: bool,
        title: str,
        body: str,
        hold_until: datetime | None = None,
        fallback_of: int | None = None,
    ) -> int:
        row = (
            run_id,
            task_id,
            channel,
            target,
            status,
            kind,
            int(urgent),
            title,
            body,
            to_iso(at),
            to_iso(at),
            to_iso(hold_until) if hold_until else None,
            fallback_of,
        )
        async with self._write() as db:
            cursor = await db.execute(
                "INSERT INTO deliveries (run_id, task_id, channel, target, status, kind, urgent, "
                "title, body, created_at, updated_at, hold_until, fallback_of) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )
            return int(cursor.lastrowid or 0)

    async def update_receipt(
        self,
        receipt_id: int,
        *,
        at: datetime,
        status: str,
        attempts: int | None = None,
        last_error: str | None = None,
        via: str | None = None,
        only_if: str | None = None,
    ) -> bool:
        """Set a receipt's state; with `only_if`, only while it is in that state (a claim).
        True when the row changed."""
        async with self._write() as db:
            cursor = await db.execute(
                "UPDATE deliveries SET status = ?, updated_at = ?, "
                "attempts = coalesce(?, attempts), last_error = coalesce(?, last_error), "
                "via = coalesce(?, via) WHERE id = ? AND (? IS NULL OR status = ?)",
                (status, to_iso(at), attempts, last_error, via, receipt_id, only_if, only_if),
            )
            return bool(cursor.rowcount)

    async def receipt(self, receipt_id: int) -> Receipt | None:
        row = await self._fetchone(f"SELECT {_COLUMNS} FROM deliveries WHERE id = ?", (receipt_id,))
        return None if row is None else _receipt(row)

    async def receipts_of_runs(self, run_ids: Sequence[int]) -> list[Receipt]:
        if not run_ids:
            return []
        marks = ",".join("?" * len(run_ids))
        rows = await self._fetchall(
            f"SELECT {_COLUMNS} FROM deliveries WHERE run_id IN ({marks}) ORDER BY id",
            tuple(run_ids),
        )
        return [_receipt(row) for row in rows]

    async def fallbacks_of(self, receipt_ids: Sequence[int]) -> list[Receipt]:
        if not receipt_ids:
            return []
        marks = ",".join("?" * len(receipt_ids))
        rows = await self._fetchall(
            f"SELECT {_COLUMNS} FROM deliveries WHERE fallback_of IN ({marks}) ORDER BY id",
            tuple(receipt_ids),
        )
        return [_receipt(row) for row in rows]

    async def receipts_with_status(self, *statuses: str) -> list[Receipt]:
        marks = ",".join("?" * len(statuses))
        rows = await self._fetchall(
            f"SELECT {_COLUMNS} FROM deliveries WHERE status IN ({marks}) ORDER BY id", statuses
        )
        return [_receipt(row) for row in rows]

    async def recent_receipts(self, since: datetime, limit: int = 200) -> list[Receipt]:
        rows = await self._fetchall(
            f"SELECT {_COLUMNS} FROM deliveries WHERE updated_at >= ? ORDER BY id DESC LIMIT ?",
            (to_iso(since), limit),
        )
        return [_receipt(row) for row in rows]

    async def mark_unfinished_receipts(self, at: datetime, before: datetime) -> int:
        """A receipt left `sending` since before `before` becomes `unknown` (it may or may not
        have arrived; it is not sent again), one left `queued` becomes `failed` (never
        tried). Returns how many rows changed."""

        async def job(db: aiosqlite.Connection) -> int:
            stamp, old = to_iso(at), to_iso(before)
            first = await db.execute(
                "UPDATE deliveries SET status = ?, updated_at = ?, last_error = "
                "'taskagent stopped while sending: whether it arrived is not known' "
                "WHERE status = ? AND updated_at < ?",
                (UNKNOWN, stamp, SENDING, old),
            )
            second = await db.execute(
                "UPDATE deliveries SET status = ?, updated_at = ?, last_error = "
                "'taskagent stopped before sending it' WHERE status = ? AND updated_at < ?",
                (FAILED, stamp, QUEUED, old),
            )
            return int(first.rowcount or 0) + int(second.rowcount or 0)

        async with self._write() as db:
            return await job(db)

    async def undelivered_tasks(self, since: datetime) -> set[int]:
        """Tasks with a notification since `since` that failed on a channel (and its fallback
        did not deliver it) or whose sending was cut off."""
        rows = await self._fetchall(
            "SELECT DISTINCT d.task_id FROM deliveries d WHERE d.updated_at >= ? "
            "AND d.task_id IS NOT NULL AND (d.status = 'unknown' OR (d.status = 'failed' "
            "AND NOT EXISTS (SELECT 1 FROM deliveries f WHERE f.fallback_of = d.id "
            "AND f.status = 'sent')))",
            (to_iso(since),),
        )
        return {int(row["task_id"]) for row in rows}

    async def prune_receipts(self, before: datetime) -> int:
        """Delete receipts last changed before `before` (never a held one: it is still to be
        sent). Returns how many."""
        async with self._write() as db:
            cursor = await db.execute(
                "DELETE FROM deliveries WHERE updated_at < ? AND status != 'held'",
                (to_iso(before),),
            )
            return int(cursor.rowcount or 0)

    async def claim_app_toasts(self, after_id: int, at: datetime) -> list[Receipt]:
        """`desktop` notifications another process could only log (it has no desktop session),
        newer than `after_id`, claimed for this app to show as toasts (`via` becomes `app`, so
        a second app does not show them again)."""
        rows = await self._fetchall(
            f"SELECT {_COLUMNS} FROM deliveries WHERE id > ? AND channel = 'desktop' "
            "AND via = 'log' ORDER BY id LIMIT 20",
            (after_id,),
        )
        claimed = []
        for row in rows:
            async with self._write() as db:
                cursor = await db.execute(
                    "UPDATE deliveries SET via = 'app', updated_at = ? WHERE id = ? AND via = 'log'",
                    (to_iso(at), row["id"]),
                )
            if cursor.rowcount:
                claimed.append(_receipt(row))
        return claimed

    async def last_receipt_id(self) -> int:
        row = await self._fetchone("SELECT max(id) AS id FROM deliveries")
        return int(row["id"] or 0) if row is not None else 0
