"""The per-loop client pool: one fastmcp `Client` per (server, event loop).

Sessions are kept open between calls (a call on an open stdio session costs ~3 ms, spawning one
~1.5 s). A client is bound to the loop it connected in, and the runner's worker threads each own
a loop for their lifetime, so each loop gets its own client, connected lazily and closed by
that loop (`close_for_current_loop()`) or, at the end, by `close()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeAlias

import anyio
import httpx2
import mcp_types
from fastmcp import Client
from fastmcp.client.logging import LogMessage
from fastmcp.client.transports import (
    ClientTransport,
    FastMCPTransport,
    SSETransport,
    StdioTransport,
    StreamableHttpTransport,
)
from mcp import MCPError

from taskagent.core.mcp.catalogue import ServerEntry, ServerState
from taskagent.core.mcp.errors import McpManagerError, ServerMisconfigured, ServerUnavailable
from taskagent.core.mcp.mcp_json import (
    BrokenServerSpec,
    HttpServerSpec,
    StdioServerSpec,
    build_child_env,
)
from taskagent.core.private_files import PrivateFileError, open_private

log = logging.getLogger(__name__)

# Our clients are built over any of the transports below (see `_transport`).
McpClient: TypeAlias = Client[ClientTransport]

INMEMORY_LOCK_WAIT = 10.0  # seconds

_UNSAFE_FILENAME_RE = re.compile(r"[^\w.-]")


@dataclass(eq=False)
class Session:
    """The client of one server in one event loop."""

    server: str
    loop: asyncio.AbstractEventLoop
    lock: asyncio.Lock  # serialises connect/reconnect within this loop
    client: McpClient | None = None


def walk_exceptions(exc: BaseException) -> Iterator[BaseException]:
    """The exception, its causes/contexts and the members of exception groups."""
    seen: set[int] = set()
    stack = [exc]
    while stack:
        e = stack.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        if isinstance(e, BaseExceptionGroup):
            stack.extend(e.exceptions)
        for nxt in (e.__cause__, e.__context__):
            if nxt is not None:
                stack.append(nxt)


def is_connection_failure(exc: BaseException) -> bool:
    """True when the session itself is broken (worth one reconnect), not the tool."""
    for e in walk_exceptions(exc):
        if isinstance(e, MCPError):
            return e.code == mcp_types.CONNECTION_CLOSED
        if isinstance(
            e,
            OSError
            | EOFError
            | anyio.ClosedResourceError
            | anyio.BrokenResourceError
            | anyio.EndOfStream
            | httpx2.TransportError
            | httpx2.HTTPStatusError,
        ):
            return True
        # fastmcp reports dead/absent sessions as RuntimeError ("Client failed to connect",
        # "Server session was closed unexpectedly", "Client is not connected", ...).
        if type(e) is RuntimeError:
            return True
    return False


def _last_log_line(path: Path, offset: int) -> str | None:
    """Last meaningful stderr line the child wrote after `offset` (skips Rich box borders)."""
    try:
        with path.open("rb") as fh:
            fh.seek(offset)
            tail = fh.read()[-65536:].decode("utf-8", "replace")
    except OSError:
        return None
    for line in reversed(tail.splitlines()):
        line = line.strip().strip("│┃║").strip()
        if line and not re.fullmatch(r"[\s─━═╭╮╰╯┏┓┗┛╔╗╚╝┌┐└┘│┃║]+", line):
            return line[:300]
    return None


def _stdio_failure(spec: StdioServerSpec, exc: BaseException) -> str | None:
    """Why a command could not be started at all, or None when it started and then failed."""
    for e in walk_exceptions(exc):
        if isinstance(e, FileNotFoundError):
            if spec.cwd and not Path(spec.cwd).is_dir():
                return f"working directory not found: {spec.cwd}"
            return f"command not found: {spec.command}"
        if isinstance(e, PermissionError):
            return f"permission denied: {spec.command}"
    return None


def _http_failure(spec: HttpServerSpec, exc: BaseException) -> str | None:
    """The HTTP status or the transport error that stopped the connection, if one did."""
    for e in walk_exceptions(exc):
        if isinstance(e, httpx2.HTTPStatusError):
            return f"HTTP {e.response.status_code} from {spec.url}"
        if isinstance(e, httpx2.TransportError):
            return f"cannot connect to {spec.url}: {e}"
    return None


def format_seconds(seconds: float) -> str:
    return f"{seconds:g} s"


class SessionPool:
    """The clients of every server in every event loop; `lock` also guards the servers' state
    (the manager shares it), since both are read and written from several threads."""

    def __init__(
        self,
        servers: Mapping[str, ServerEntry],
        *,
        lock: threading.Lock,
        log_dir: Path,
        connect_timeout: float,
        extra_env: Mapping[str, str],
    ) -> None:
        self._servers = servers  # the manager's registry, read when a server connects
        self.lock = lock
        self._log_dir = log_dir
        self._connect_timeout = connect_timeout
        self._extra_env = extra_env
        self._sessions: dict[tuple[str, asyncio.AbstractEventLoop], Session] = {}
        # One FastMCP instance's lifespan lock is an asyncio.Lock shared by every loop that
        # connects in memory; contention from two threads would bind it to the wrong loop. So
        # in-memory connects and closes are serialised across threads.
        self._inmemory_lock = threading.Lock()
        self.closed = False
        self._closing: set[asyncio.Task[None]] = set()  # sessions dropped by cancelled calls

    def counts_locked(self) -> dict[str, int]:
        """Open sessions per server over all live loops; call with `lock` held."""
        counts: dict[str, int] = {}
        for (name, loop), s in self._sessions.items():
            if s.client is not None and not loop.is_closed():  # died with its loop otherwise
                counts[name] = counts.get(name, 0) + 1
        return counts

    async def close(self) -> None:
        """Close every session and refuse new ones (until start() again).

        Sessions of other loops are closed through their loop if it is running; dropped if it
        is closed (their tasks died with it); kept if it is stopped but not closed, because only
        that loop can close them: its thread's close_for_current_loop() still will. This loop's
        sessions go last: an in-memory server's lifespan belongs to the first client that
        connected (start()'s loop) and is torn down when that client closes.
        """
        self.closed = True
        loop = asyncio.get_running_loop()
        with self.lock:
            sessions = list(self._sessions.values())
            self._sessions.clear()
        mine = [s for s in sessions if s.loop is loop and s.client is not None]
        others = [s for s in sessions if s.loop is not loop and s.client is not None]
        stranded = [s for s in others if not s.loop.is_closed() and not s.loop.is_running()]
        if stranded:
            log.warning(
                "%d MCP session(s) belong to stopped event loops and stay open until their "
                "threads call close_for_current_loop()",
                len(stranded),
            )
            with self.lock:
                self._sessions.update({(s.server, s.loop): s for s in stranded})
        running = [s for s in others if s.loop.is_running()]
        await asyncio.gather(*(self._close_foreign(s) for s in running))
        await asyncio.gather(*(self.close_client(s.server, s.client) for s in mine if s.client))

    async def close_for_current_loop(self) -> None:
        """Close this loop's sessions; a worker thread calls it before its loop ends."""
        loop = asyncio.get_running_loop()
        with self.lock:
            keys = [k for k in self._sessions if k[1] is loop]
            sessions = [self._sessions.pop(k) for k in keys]
        await asyncio.gather(*(self.close_client(s.server, s.client) for s in sessions if s.client))

    async def _close_foreign(self, session: Session) -> None:
        assert session.client is not None
        try:
            future = asyncio.run_coroutine_threadsafe(
                self.close_client(session.server, session.client), session.loop
            )
            async with asyncio.timeout(10):
                await asyncio.wrap_future(future)
        except (RuntimeError, TimeoutError) as e:  # loop closed meanwhile / stuck
            log.warning("MCP session of %r not closed cleanly: %s", session.server, e)

    async def close_client(self, server: str, client: McpClient) -> None:
        try:
            async with self._serialise_inmemory(client), asyncio.timeout(10):
                await client.close()  # type: ignore[no-untyped-call]  # fastmcp leaves it unannotated
        except TimeoutError:
            log.warning("closing MCP client of %r timed out", server)
        except Exception as e:
            # Closing a dead or half-open session may fail; the session is gone either way.
            log.debug("closing MCP client of %r: %r", server, e)

    @contextlib.asynccontextmanager
    async def _serialise_inmemory(self, client: McpClient) -> AsyncIterator[None]:
        if not isinstance(client.transport, FastMCPTransport):
            yield
            return
        # Poll rather than block: blocking would stall this loop, and a thread waiting in
        # to_thread() would keep the lock if our task were cancelled.
        # (An asyncio.Event can't be shared between loops, hence the poll.)
        # Bounded: if a loop that held the lock was stopped mid-connect, go on without it
        # rather than hang (the worst case is the contention this lock normally prevents).
        deadline = asyncio.get_running_loop().time() + INMEMORY_LOCK_WAIT
        held = False
        while not (held := self._inmemory_lock.acquire(blocking=False)):
            if asyncio.get_running_loop().time() > deadline:
                log.warning("in-memory MCP lock not free after %g s; going on", INMEMORY_LOCK_WAIT)
                break
            await asyncio.sleep(0.002)
        try:
            yield
        finally:
            if held:
                self._inmemory_lock.release()

    def session_for(self, name: str) -> Session:
        loop = asyncio.get_running_loop()
        with self.lock:
            # Sessions of loops that were closed without close_for_current_loop() are dead.
            for key in [k for k in self._sessions if k[1].is_closed()]:
                del self._sessions[key]
            session = self._sessions.get((name, loop))
            if session is None:
                session = Session(server=name, loop=loop, lock=asyncio.Lock())
                self._sessions[(name, loop)] = session
            return session

    async def client(self, session: Session) -> McpClient:
        client = session.client
        if client is not None:
            return client
        async with session.lock:
            if session.client is None:
                if self.closed:
                    raise ServerUnavailable(session.server, "the MCP manager is closed")
                session.client = await self._connect(self._servers[session.server])
            return session.client

    def drop_client_soon(self, session: Session, client: McpClient) -> None:
        """`drop_client` from a call being cancelled (it cannot await): in a task of this
        loop's, kept until done."""
        closing = asyncio.get_running_loop().create_task(self.drop_client(session, client))
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)

    async def drop_client(self, session: Session, client: McpClient) -> None:
        async with session.lock:
            if session.client is client:
                session.client = None
        await self.close_client(session.server, client)

    def _transport(self, server: ServerEntry) -> ClientTransport:
        if server.instance is not None:
            return FastMCPTransport(server.instance)
        spec = server.spec
        if isinstance(spec, StdioServerSpec):
            return StdioTransport(
                command=spec.command,
                args=list(spec.args),
                env=build_child_env(spec.env, self._extra_env),
                cwd=spec.cwd,
                keep_alive=False,  # the child dies with its client: no orphans
                log_file=self.log_path(server.name),  # never our stderr (it is the TUI)
            )
        if isinstance(spec, HttpServerSpec):
            if spec.transport == "sse":
                return SSETransport(spec.url, headers=dict(spec.headers))
            return StreamableHttpTransport(spec.url, headers=dict(spec.headers))
        raise McpManagerError(f"MCP server '{server.name}' has no transport")

    def log_path(self, server: str) -> Path:
        return self._log_dir / f"mcp-{_UNSAFE_FILENAME_RE.sub('_', server)}.log"

    def _mark_log(self, server: ServerEntry) -> int:
        """Write a start marker to the child's log; returns the offset where its output begins.
        The log is a private file, never written through a symbolic link (PrivateFileError):
        the child's stderr is appended to the same path afterwards."""
        path = self.log_path(server.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        descriptor = open_private(path, append=True, what=f"the log of MCP server '{server.name}'")
        with os.fdopen(descriptor, "a", encoding="utf-8") as fh:
            fh.write(f"--- {stamp} taskagent (pid {os.getpid()}) starts '{server.name}' ---\n")
            return fh.tell()

    async def _connect(self, server: ServerEntry) -> McpClient:
        if isinstance(server.spec, BrokenServerSpec):  # nothing to start: the entry is wrong
            self.set_state(server, "failed", server.spec.problem)
            raise ServerMisconfigured(server.name, server.spec.problem)
        try:
            offset = self._mark_log(server) if server.kind == "stdio" else 0
        except PrivateFileError as e:  # a link where its log goes: not started at all
            self.set_state(server, "failed", str(e))
            raise ServerMisconfigured(server.name, str(e)) from e
        client = Client(
            self._transport(server),
            init_timeout=self._connect_timeout,
            log_handler=self._log_handler(server.name),
        )
        try:
            async with self._serialise_inmemory(client), asyncio.timeout(self._connect_timeout):
                # Kept open: closed by close()/drop_client(). (fastmcp leaves __aenter__ unannotated.)
                await client.__aenter__()  # type: ignore[no-untyped-call]
        except Exception as e:
            await self.close_client(server.name, client)
            reason = self._start_failure(server, e, offset)
            log.warning("MCP server %r failed to start: %s", server.name, reason)
            self.set_state(server, "failed", reason)
            raise ServerUnavailable(server.name, reason) from e
        log.debug("MCP server %r connected", server.name)
        if server.tools and server.state == "failed":
            self.set_state(server, "connected", None)  # it came back (e.g. after a crash)
        return client

    def _start_failure(self, server: ServerEntry, exc: BaseException, log_offset: int) -> str:
        """A short readable reason for a failed start."""
        if isinstance(exc, TimeoutError):
            return f"did not start within {format_seconds(self._connect_timeout)}"
        spec = server.spec
        if isinstance(spec, StdioServerSpec):
            return _stdio_failure(spec, exc) or (
                "exited during start-up: "
                + (_last_log_line(self.log_path(server.name), log_offset) or "no output on stderr")
            )
        if isinstance(spec, HttpServerSpec) and (reason := _http_failure(spec, exc)):
            return reason
        for e in walk_exceptions(exc):
            if isinstance(e, MCPError):
                return e.message
        return f"{type(exc).__name__}: {exc}"

    def _log_handler(self, server: str) -> Callable[[LogMessage], Awaitable[None]]:
        async def handle(message: LogMessage) -> None:
            # Server log notifications go to our logger, never straight to the terminal.
            level = logging.getLevelNamesMapping().get(message.level.upper(), logging.INFO)
            log.log(level, "[%s] %s", server, message.data)

        return handle

    def set_state(self, server: ServerEntry, state: ServerState, error: str | None) -> None:
        with self.lock:
            server.state = state
            server.error = error
