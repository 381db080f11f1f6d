"""The store's connection: opening (pragmas), migrations, reads, closing, diagnostics.

Connection set-up (SQLite 3.x via aiosqlite 0.22):
  * WAL, synchronous=NORMAL, foreign_keys=ON, busy_timeout = `timeout` seconds.
  * `isolation_level=None` (autocommit). Every transaction that writes is made by the store's
    one writer task (core/store/writer.py: group commit, `BEGIN IMMEDIATE`).
  * Reads are single statements run with `execute_fetchall`, i.e. one call on aiosqlite's thread,
    so they never interleave with another coroutine's statement. They take no lock, so a read
    may see another coroutine's not-yet-committed write on this same connection (never another
    process's).

`Store` is the base of the query mixins (core/store/task_queries.py, run_queries.py, ...) that together make
up `Repository`; they use `_fetchall`/`_fetchone` to read and `_write()` to write.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import stat
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, suppress
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiosqlite

from taskagent.core.migrations import MIGRATIONS, split_statements
from taskagent.core.models import utcnow
from taskagent.core.private_files import FILE_MODE, create_private, tighten
from taskagent.core.store.errors import (
    DatabaseUnusable,
    RepositoryError,
    SchemaError,
    SchemaTooNew,
)
from taskagent.core.store.sync_jobs import SyncJob
from taskagent.core.store.writer import Job, T, Writer

log = logging.getLogger(__name__)


def _prepare(db: aiosqlite.Connection, busy_ms: int) -> tuple[str, int]:
    """On aiosqlite's thread: the connection's settings; (journal mode, schema version)."""
    # `_conn`, the sqlite3 connection (used only on this thread), is private aiosqlite API:
    # the version is pinned for it, see store/sync_jobs.py.
    conn = db._conn
    conn.execute(f"PRAGMA busy_timeout = {busy_ms}")
    row = conn.execute("PRAGMA journal_mode = WAL").fetchone()
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    version = conn.execute("PRAGMA user_version").fetchone()
    return (str(row[0]).lower() if row else "?"), int(version[0])


NEW_FILE_SECONDS = 5.0


def _check_file(path: Path) -> None:
    """Refuse what SQLite would misread: a folder, or an empty file (SQLite takes a 0-byte file
    for a new database, and a truncated one would silently start over empty); and what it would
    open but not write: a read-only file, or a folder where it cannot make its -wal and -shm
    files (it would read, then fail at the first write)."""
    if path.is_dir():
        raise DatabaseUnusable(
            path, "is a folder, not a file", "move it away, or set TASKAGENT_HOME elsewhere"
        )
    info = path.stat() if path.exists() else None
    _check_permissions(path, exists=info is not None)
    # A 0-byte file a few seconds old is not one another taskagent is creating right now
    # (SQLite writes the header within milliseconds of creating the file).
    if info is not None and info.st_size == 0 and time.time() - info.st_mtime > NEW_FILE_SECONDS:
        raise DatabaseUnusable(
            path,
            "is an empty file (0 bytes)",
            "restore your backup, or delete the file to start with a new database",
        )


def _check_permissions(path: Path, *, exists: bool) -> None:
    """This user may read and write the file, and create files beside it (SQLite's -wal and
    -shm, unless both are there already). Root may always; a read-only mount never."""
    if exists and not os.access(path, os.R_OK | os.W_OK):
        readable = os.access(path, os.R_OK)
        mode = stat.filemode(path.stat().st_mode)
        raise DatabaseUnusable(
            path,
            f"{'is read-only' if readable else 'cannot be read'} for this user ({mode})",
            "give this user read and write permission on it, or run taskagent as its owner",
        )
    sidecars = [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm")]
    if not all(sidecar.exists() for sidecar in sidecars) and not os.access(
        path.parent, os.W_OK | os.X_OK
    ):
        raise DatabaseUnusable(
            path,
            f"is in a folder this user cannot write ({path.parent})",
            "SQLite keeps its -wal and -shm files beside the database: give this user write "
            "permission on the folder, or set TASKAGENT_HOME elsewhere",
        )


def _make_private(path: Path) -> None:
    """The database file is the user's alone (0600), created so before SQLite opens it: SQLite
    gives the WAL and shared-memory files it creates the database file's mode."""
    create_private(path)
    for file in (str(path), f"{path}-wal", f"{path}-shm"):
        tighten(Path(file), FILE_MODE)


def _unusable(path: Path, exc: sqlite3.Error) -> DatabaseUnusable | None:
    """What a failure to open or read the database means for the user; None when it is not
    about the file (a busy database, for one)."""
    text = str(exc).lower()
    if "not a database" in text or "malformed" in text:
        return DatabaseUnusable(
            path,
            f"is damaged or not a taskagent database ({exc})",
            f"restore your backup, or try `sqlite3 {path} .recover`",
        )
    if "unable to open" in text or "readonly" in text or "read-only" in text:
        return DatabaseUnusable(
            path,
            f"cannot be opened for writing ({exc})",
            "check the permissions of the file and its folder",
        )
    return None


class Store:
    """One aiosqlite connection with its write path. Create with `await cls.open(path)`."""

    def __init__(
        self,
        db: aiosqlite.Connection,
        path: Path,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._db: aiosqlite.Connection | None = db
        self.path = path
        self._clock = clock
        self._writer = Writer(path, lambda: self._conn)
        # Set once a damaged file is met while running (see `_watching`).
        self.damage: DatabaseUnusable | None = None
        self.damaged = asyncio.Event()
        with suppress(RuntimeError):  # the writer lives on the loop that opens the store
            self._writer.bind(asyncio.get_running_loop())

    # ---------------------------------------------------------------------------- lifecycle
    @classmethod
    async def open(
        cls,
        path: Path,
        *,
        timeout: float = 10.0,  # noqa: ASYNC109 - SQLite busy_timeout, not a deadline
        clock: Callable[[], datetime] = utcnow,
    ) -> Self:
        """Open (creating the file and parent directory) and migrate to the current schema.

        `timeout` is SQLite's busy_timeout: how long a write waits for another process's write
        lock before `DatabaseBusy`. `clock` supplies created_at/updated_at/finished_at stamps.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)  # one stat when it exists: no thread hop
        _check_file(path)
        _make_private(path)
        try:
            db = await aiosqlite.connect(path, timeout=timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise (_unusable(path, exc) or exc) from exc
        try:
            db.row_factory = sqlite3.Row
            # Every setting and the schema check in ONE hop to the database's thread: while the
            # app starts, its UI thread holds the interpreter lock in long stretches, so each
            # awaited statement would wait for its turn. `_execute(fn)` is private aiosqlite
            # API, the only way to run a function on its thread: the version is pinned for it
            # (see store/sync_jobs.py).
            mode, version = await db._execute(_prepare, db, int(timeout * 1000))  # type: ignore[no-untyped-call]
            if mode != "wal":
                log.warning("could not switch %s to WAL (journal_mode=%s)", path, mode)
            repo = cls(db, path, clock=clock)
            await repo._migrate(version)
        except sqlite3.Error as exc:
            await db.close()
            unusable = _unusable(path, exc)
            if unusable is None:
                raise
            raise unusable from exc
        except BaseException:
            await db.close()
            raise
        return repo

    async def close(self) -> None:
        """Close the connection (idempotent). An unclosed connection hangs interpreter exit."""
        if self._db is None:
            return
        await self._writer.close()  # commits what is pending first
        db, self._db = self._db, None
        if db is not None:
            await db.close()

    @property
    def closed(self) -> bool:
        return self._db is None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def _conn(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RepositoryError("the repository is closed")
        return self._db

    # ------------------------------------------------------------------------ reads, writes
    async def _fetchall(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[Any]:
        with self._watching():
            return list(await self._conn.execute_fetchall(sql, params))

    @contextlib.contextmanager
    def _watching(self) -> Iterator[None]:
        """A damaged file met while running (a corrupt page): `damage` says what to do and
        `damaged` is set, so the scheduler stops with that line instead of retrying for ever."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            found = _unusable(self.path, exc)
            if found is None or "writing" in str(found):
                raise
            if self.damage is None:
                self.damage = found
                self.damaged.set()
            raise found from exc

    async def _fetchone(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        rows = await self._fetchall(sql, params)
        return rows[0] if rows else None

    def _write(self) -> AbstractAsyncContextManager[aiosqlite.Connection]:
        """One write transaction whose body runs in this task (see core/store/writer.py)."""
        return self._writer.transaction()

    async def _submit(self, job: Job[T]) -> T:
        """`job(db)` run by the store's writer, batched with other writes."""
        with self._watching():
            return await self._writer.submit(job)

    async def _submit_sync(self, job: SyncJob[T]) -> T:
        """`job(conn)` run on the database's thread in one hop, batched with other writes
        (the hot path; see core/store/writer.py)."""
        with self._watching():
            return await self._writer.submit_sync(job)

    @property
    def writer(self) -> Writer:
        """The store's single writer (its counters show the batching)."""
        return self._writer

    # Core modules whose SQL is not in the store (chat messages, a few status/slash reads) use
    # the same connection, write path and BEGIN IMMEDIATE discipline through these.
    def write(self) -> AbstractAsyncContextManager[aiosqlite.Connection]:
        return self._write()

    async def fetchall(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[Any]:
        return await self._fetchall(sql, params)

    async def fetchone(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        return await self._fetchone(sql, params)

    # ----------------------------------------------------------------------------- schema
    async def _migrate(self, current: int) -> None:
        known = len(MIGRATIONS)
        if current > known:
            raise SchemaTooNew(self.path, current, known)
        if current == known:
            return
        async with self._write() as db:
            current = await self.schema_version()  # another process may have migrated meanwhile
            if current > known:
                raise SchemaTooNew(self.path, current, known)
            if current == 0:
                row = await self._fetchone(
                    "SELECT count(*) FROM sqlite_schema "
                    "WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
                )
                if row[0]:
                    raise SchemaError(
                        f"{self.path} already has tables but no taskagent schema version; "
                        "it is not a taskagent database (or predates versioning)"
                    )
            for version in range(current + 1, known + 1):
                for statement in split_statements(MIGRATIONS[version - 1]):
                    await db.execute(statement)
                await db.execute(f"PRAGMA user_version = {version}")
                log.info("migrated %s to schema version %d", self.path, version)

    async def schema_version(self) -> int:
        row = await self._fetchone("PRAGMA user_version")
        return int(row[0])

    # ------------------------------------------------------------------------- diagnostics
    async def data_version(self) -> int:
        """`PRAGMA data_version`: changes when ANOTHER connection (process) commits; our own
        writes do not change it. Poll it to notice changes made by the daemon/MCP server."""
        row = await self._fetchone("PRAGMA data_version")
        return int(row[0])

    async def integrity_check(self) -> str:
        """'ok', or SQLite's list of problems (one per line)."""
        rows = await self._fetchall("PRAGMA integrity_check")
        return "\n".join(str(row[0]) for row in rows)

    async def file_size(self) -> int:
        """Bytes on disk: the database file plus its WAL file (if any)."""

        def size() -> int:
            total = 0
            for candidate in (self.path, self.path.with_name(self.path.name + "-wal")):
                with suppress(FileNotFoundError):
                    total += candidate.stat().st_size
            return total

        return await asyncio.to_thread(size)


def inspect_file(path: Path) -> tuple[str, int]:
    """(`PRAGMA quick_check`'s answer, schema version) of an existing database file, read
    only: nothing is created, migrated or written. A file that cannot be used raises the same
    `DatabaseUnusable` (the same one line) as opening it for work would. Blocking: run it on a
    thread."""
    _check_file(path)
    try:
        with contextlib.closing(
            sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
        ) as conn:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            rows = conn.execute("PRAGMA quick_check").fetchall()
    except sqlite3.Error as exc:
        raise (_unusable(path, exc) or exc) from exc
    return "\n".join(str(row[0]) for row in rows), version
