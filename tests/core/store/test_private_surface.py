"""The two private names of aiosqlite the store relies on, pinned in pyproject.toml.

aiosqlite has no public way to run a function on its connection's thread, and the store's
write path needs exactly that (one hop per batch, see taskagent/core/store/sync_jobs.py). So
the version is pinned and this file checks the surface the store uses: when an upgrade changes
it, these fail with a message saying what to look at, before any store test fails obscurely.
"""

from __future__ import annotations

import inspect
import sqlite3
import threading
from importlib.metadata import version
from pathlib import Path

import aiosqlite
import pytest

UPGRADE_HINT = (
    "aiosqlite's private surface used by taskagent/core/store (sync_jobs.py, connection.py) changed"
)


def test_the_installed_version_is_the_pinned_one() -> None:
    pyproject = (Path(__file__).resolve().parents[3] / "pyproject.toml").read_text()
    pinned = f'"aiosqlite=={version("aiosqlite")}"'
    assert pinned in pyproject, (
        f"{UPGRADE_HINT}? aiosqlite {version('aiosqlite')} is installed but pyproject.toml does "
        f"not pin it ({pinned}): check this file's tests pass, then pin the new version"
    )


def test_the_private_names_exist() -> None:
    assert callable(getattr(aiosqlite.Connection, "_execute", None)), (
        f"{UPGRADE_HINT}: Connection._execute is gone"
    )
    assert inspect.iscoroutinefunction(aiosqlite.Connection._execute), (
        f"{UPGRADE_HINT}: Connection._execute is no longer a coroutine function"
    )
    assert isinstance(inspect.getattr_static(aiosqlite.Connection, "_conn", None), property), (
        f"{UPGRADE_HINT}: Connection._conn is no longer a property"
    )


async def test_execute_runs_the_function_on_the_connection_thread(tmp_path: Path) -> None:
    db = await aiosqlite.connect(tmp_path / "surface.db", isolation_level=None)
    try:
        conn = db._conn
        assert isinstance(conn, sqlite3.Connection), (
            f"{UPGRADE_HINT}: Connection._conn is a {type(conn).__name__}, not sqlite3.Connection"
        )
        here = threading.get_ident()

        def job(first: int, *, second: int) -> tuple[int, int, int]:
            # sqlite3 refuses a connection used off the thread that made it: this proves it.
            (answer,) = db._conn.execute("SELECT ? + ?", (first, second)).fetchone()
            return answer, threading.get_ident(), id(db._conn)

        answer, thread, conn_id = await db._execute(job, 40, second=2)
        assert answer == 42, f"{UPGRADE_HINT}: _execute(fn, *args, **kwargs) did not return fn(...)"
        assert thread != here, f"{UPGRADE_HINT}: _execute ran the function on the calling thread"
        assert conn_id == id(conn), f"{UPGRADE_HINT}: _conn is not the same connection each time"

        def fail() -> None:
            raise ValueError("from the job")

        with pytest.raises(ValueError, match="from the job"):
            await db._execute(fail)
    finally:
        await db.close()
