"""Plain-function write jobs run on aiosqlite's thread (the store's hot path, see writer.py).

`fn(conn)` gets the sqlite3 connection; each runs inside its own SAVEPOINT, so a failing job
rolls back only itself. `in_thread` runs them inside the transaction the writer opened;
`transaction_in_thread` makes the whole transaction (BEGIN IMMEDIATE ... COMMIT) in the same
single hop.

aiosqlite has no public call that runs a function on its connection's thread, so this module
uses two private names: `Connection._execute(fn)` (queues `fn` for that thread and awaits its
result; the public calls are built on it) and `Connection._conn` (the sqlite3 connection).
pyproject.toml therefore pins aiosqlite to one exact version, and
tests/core/store/test_private_surface.py fails when either name changes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

import aiosqlite

from taskagent.core.store.errors import RepositoryError

T = TypeVar("T")
SyncJob = Callable[[sqlite3.Connection], T]
Outcome = tuple[Any, BaseException | None]  # (result, None) or (None, the job's exception)
ABORTED = "the write transaction was aborted"


def run_jobs(conn: sqlite3.Connection, jobs: list[SyncJob[Any]]) -> list[Outcome]:
    """Inside an open transaction: each job in its own savepoint. Once SQLite aborted the whole
    transaction the rest get ABORTED (the caller fails them all)."""
    outcomes: list[Outcome] = []
    for fn in jobs:
        if not conn.in_transaction:
            outcomes.append((None, RepositoryError(ABORTED)))
            continue
        conn.execute("SAVEPOINT job")
        try:
            result = fn(conn)
        except Exception as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK TO job")
                conn.execute("RELEASE job")
            outcomes.append((None, exc))
            continue
        conn.execute("RELEASE job")
        outcomes.append((result, None))
    return outcomes


async def in_thread(db: aiosqlite.Connection, jobs: list[SyncJob[Any]]) -> list[Outcome]:
    """`run_jobs` in the transaction the writer opened, in ONE hop to aiosqlite's thread."""
    # Private aiosqlite API (pinned version, see the module docstring).
    outcomes: list[Outcome] = await db._execute(lambda: run_jobs(db._conn, jobs))  # type: ignore[no-untyped-call]
    return outcomes


async def transaction_in_thread(
    db: aiosqlite.Connection, jobs: list[SyncJob[Any]]
) -> tuple[list[Outcome], BaseException | None]:
    """A whole transaction in ONE hop: (outcomes, None), or (outcomes, the BEGIN's or COMMIT's
    error) with nothing committed. Aborted by SQLite half-way: ABORTED outcomes, no error."""

    def transaction() -> tuple[list[Outcome], BaseException | None]:
        conn = db._conn  # the sqlite3 connection; only ever used on this thread
        if conn.in_transaction:  # left open by a cancelled statement; never commit it
            conn.execute("ROLLBACK")
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            return [(None, None)] * len(jobs), exc
        outcomes = run_jobs(conn, jobs)
        if not conn.in_transaction:
            return outcomes, None
        try:
            conn.execute("COMMIT")
        except Exception as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            return outcomes, exc
        return outcomes, None

    # Private aiosqlite API (pinned version, see the module docstring).
    result: tuple[list[Outcome], BaseException | None] = await db._execute(transaction)  # type: ignore[no-untyped-call]
    return result
