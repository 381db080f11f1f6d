"""McpManager: built-in and mcp.json servers behind one tool catalogue, with persistent
clients (see `sessions`) and calls that reconnect once when a session broke. A built-in
server's tools are called in process, through fastmcp's server API (`_call_in_process`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import mcp_types
from fastmcp import FastMCP
from fastmcp.exceptions import DisabledError, FastMCPError, NotFoundError
from mcp import MCPError

from taskagent.core.mcp.catalogue import (
    ServerEntry,
    ServerStatus,
    ToolInfo,
    resolve_tool,
    validate_tool_args,
)
from taskagent.core.mcp.errors import ServerUnavailable, ToolCallError, ToolTimeout
from taskagent.core.mcp.mcp_json import BrokenServerSpec, ServerSpec, check_server_name
from taskagent.core.mcp.sessions import (
    McpClient,
    Session,
    SessionPool,
    format_seconds,
    is_connection_failure,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ToolCallResult:
    server: str
    tool: str
    data: Any  # plain Python (dict/list/str/int/...), never a fastmcp-generated class
    text: str
    is_error: bool = False

    @property
    def ref(self) -> str:
        return f"{self.server}:{self.tool}"


# Calls in a row that did not answer in time before a server is shown as freezing.
FREEZING_AFTER = 2
# A call cut short from outside within this much of its time limit used up its time.
CUT_AT_LIMIT_SLACK = 0.05


class McpManager:
    """All MCP servers behind one catalogue; persistent sessions, one client per event loop.

    Lifecycle: register servers, `await start()` on the main loop, call tools from any loop,
    `close_for_current_loop()` in each worker before its loop ends, `await close()` on the main
    loop last. `async with McpManager(...)` does start/close.
    """

    def __init__(
        self,
        *,
        log_dir: Path,
        call_timeout: float = 60.0,
        connect_timeout: float = 30.0,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        self._call_timeout = call_timeout
        self._connect_timeout = connect_timeout
        self._servers: dict[str, ServerEntry] = {}
        self._lock = threading.Lock()  # guards the sessions and server state across threads
        self._pool = SessionPool(
            self._servers,
            lock=self._lock,
            log_dir=Path(log_dir),
            connect_timeout=connect_timeout,
            extra_env=dict(extra_env or {}),
        )

    # -- registration ------------------------------------------------------------------------

    def add_builtin(self, name: str, server: FastMCP) -> None:
        self._add(ServerEntry(name=name, kind="builtin", instance=server))

    def add_configured(self, specs: Mapping[str, ServerSpec]) -> None:
        """Register mcp.json's servers; an entry that cannot be used as written is shown
        failed with its problem from the start (it is never started)."""
        for name, spec in specs.items():
            entry = ServerEntry(name=name, kind=spec.kind, spec=spec)
            if isinstance(spec, BrokenServerSpec):
                entry.state, entry.error = "failed", spec.problem
            self._add(entry)

    def _add(self, server: ServerEntry) -> None:
        existing = self._servers.get(server.name)
        check_server_name(server.name, None if existing is None else existing.kind)
        self._servers[server.name] = server

    # -- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Connect every server in this loop and build the catalogue. Failures are recorded in
        status(), never raised: one broken server must not stop the others."""
        self._pool.closed = False
        await self.refresh()

    async def refresh(self) -> None:
        """Re-list every server's tools (and retry servers that failed)."""
        await asyncio.gather(*(self._refresh_one(s) for s in list(self._servers.values())))

    async def _refresh_one(self, server: ServerEntry) -> None:
        session = self._pool.session_for(server.name)
        for attempt in (1, 2):
            try:
                client = await self._pool.client(session)
            except ServerUnavailable as e:
                self._pool.set_state(server, "failed", e.reason)
                return
            try:
                async with asyncio.timeout(self._connect_timeout):
                    tools = await client.list_tools()
                break
            except Exception as e:
                if attempt == 1 and is_connection_failure(e):
                    await self._pool.drop_client(session, client)  # died since: reconnect once
                    continue
                reason = (
                    f"did not list its tools within {format_seconds(self._connect_timeout)}"
                    if isinstance(e, TimeoutError)
                    else f"listing tools failed: {e}"
                )
                log.warning("MCP server %r: %s", server.name, reason)
                self._pool.set_state(server, "failed", reason)
                return
        server.tools = {
            t.name: ToolInfo(
                server=server.name,
                name=t.name,
                description=(t.description or "").strip(),
                input_schema=dict(t.input_schema or {"type": "object"}),
                output_schema=dict(t.output_schema) if t.output_schema else None,
                annotations=t.annotations,
            )
            for t in tools
        }
        self._pool.set_state(server, "connected", None)

    async def warm_up(self, refs: Iterable[str]) -> None:
        """Open this loop's sessions to the servers of these tools now, all at once, so that
        the first runs do not pay for starting them (a stdio server: a process spawn, ~1 s for
        a Python one). Unknown tools and servers that fail to start are left to the runs,
        which record the reason; nothing is raised. Built-in servers are skipped: they run in
        this process and connect in milliseconds, one loop at a time (their lock), so warming
        them would only make the start slower."""
        servers: set[str] = set()
        for ref in refs:
            with contextlib.suppress(Exception):
                server = self.resolve(ref).server
                if self._servers[server].kind != "builtin":
                    servers.add(server)

        async def connect(server: str) -> None:
            with contextlib.suppress(Exception):  # _connect logged and recorded the failure
                await self._pool.client(self._pool.session_for(server))

        await asyncio.gather(*(connect(server) for server in sorted(servers)))

    async def close(self) -> None:
        """Close every session and refuse new ones (until start() again); see
        `SessionPool.close` for sessions that belong to other loops."""
        await self._pool.close()

    async def close_for_current_loop(self) -> None:
        """Close this loop's sessions; a worker thread calls it before its loop ends."""
        await self._pool.close_for_current_loop()

    def log_path(self, server: str) -> Path:
        return self._pool.log_path(server)

    # -- catalogue ---------------------------------------------------------------------------

    def status(self) -> list[ServerStatus]:
        with self._lock:
            counts = self._pool.counts_locked()
            return [
                ServerStatus(
                    name=s.name,
                    kind=s.kind,
                    state=s.state,
                    error=s.error,
                    tool_count=len(s.tools),
                    sessions=counts.get(s.name, 0),
                )
                for s in self._servers.values()
            ]

    def session_count(self, server: str | None = None) -> int:
        """Open client sessions (over all loops), for one server or all."""
        with self._lock:
            counts = self._pool.counts_locked()
        return sum(n for name, n in counts.items() if server is None or name == server)

    async def list_tools(self) -> list[ToolInfo]:
        return [t for s in self._servers.values() for t in s.tools.values()]

    def get_tool(self, ref: str) -> ToolInfo:
        return self.resolve(ref)

    def resolve(self, ref: str) -> ToolInfo:
        """`server:tool`, or a bare tool name when only one server has it."""
        return resolve_tool(self._servers, ref)

    def validate_args(self, ref: str, args: Any) -> None:
        """Check `args` against the tool's input schema; raise InvalidToolArgs listing problems."""
        validate_tool_args(self._servers, ref, args)

    async def call_tool(
        self,
        ref: str,
        args: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - sent with the MCP request
        raise_on_error: bool = True,
    ) -> ToolCallResult:
        """Call a tool on this loop's session (connecting lazily); reconnect and call again
        once if the session broke during the call, but only for a tool that is safe to repeat
        (the call may have reached the server). A built-in server's tool is called in process
        on this loop. Raises ToolCallError / ToolTimeout / ServerUnavailable."""
        info = self.resolve(ref)
        seconds = self._call_timeout if timeout is None else timeout
        session = self._pool.session_for(info.server)
        arguments = dict(args or {})
        instance = self._servers[info.server].instance
        if instance is not None:
            await self._pool.client(session)  # the loop's session holds the server's lifespan
            return await _call_in_process(instance, info, arguments, seconds, raise_on_error)
        # When the call's whole time is spent, a cut from outside counts as no answer in time.
        limit_at = asyncio.get_running_loop().time() + seconds - CUT_AT_LIMIT_SLACK
        for attempt in (1, 2):
            client = await self._pool.client(session)
            raw, failure = await self._call_once(
                session, client, info, arguments, seconds, limit_at
            )
            if failure is None:
                data, text = _unwrap(raw, info)
                if raw.is_error and raise_on_error:
                    raise ToolCallError(
                        text or f"tool '{info.ref}' reported an error",
                        server=info.server,
                        tool=info.name,
                    )
                return ToolCallResult(
                    server=info.server, tool=info.name, data=data, text=text, is_error=raw.is_error
                )
            # The session is broken (e.g. the server process died): drop it, reconnect once.
            await self._pool.drop_client(session, client)
            if not info.safe_to_repeat:  # it may have run: never a silent second call
                raise ServerUnavailable(
                    info.server,
                    f"connection lost during '{info.ref}' ({failure}); not called again "
                    "because the tool may change data",
                ) from failure
            if attempt == 2:
                reason = f"connection lost: {failure}"
                self._pool.set_state(self._servers[info.server], "failed", reason)
                raise ServerUnavailable(info.server, reason) from failure
            log.warning("MCP server %r: %s; reconnecting", info.server, failure)
        raise AssertionError("unreachable")

    def _timed_out(self, name: str) -> None:
        """One more call of the server did not answer in time: from the second in a row it is
        shown as freezing (Status, /mcp, `tasks status`)."""
        server = self._servers[name]
        server.timeouts_in_a_row += 1
        if server.timeouts_in_a_row >= FREEZING_AFTER:
            reason = (
                f"{server.timeouts_in_a_row} calls in a row did not answer in time; its "
                "server is restarted after each"
            )
            self._pool.set_state(server, "freezing", reason)
            if server.timeouts_in_a_row == FREEZING_AFTER:  # once per spell: the daemon's log
                log.warning("MCP server %r is freezing: %s", name, reason)

    def _answered(self, name: str) -> None:
        server = self._servers[name]
        if server.timeouts_in_a_row:
            server.timeouts_in_a_row = 0
            if server.state == "freezing":
                self._pool.set_state(server, "connected", None)

    async def _call_once(
        self,
        session: Session,
        client: McpClient,
        info: ToolInfo,
        arguments: dict[str, Any],
        seconds: float,
        limit_at: float,
    ) -> tuple[Any, Exception | None]:
        """One call on `client`: (its raw result, None), or (None, the connection failure to
        recover from). Raises a timeout and the tool's own errors. `limit_at`: the loop time
        from which a cut from outside means the call used up its time."""
        try:
            raw = await client.call_tool_mcp(info.name, arguments, timeout=seconds)
            self._answered(info.server)
            return raw, None
        except asyncio.CancelledError:
            # Cut short (the run's own time limit, a stop): the server may be stuck in the
            # call, so this session and its process go; the next call starts afresh.
            self._pool.drop_client_soon(session, client)
            # The run's limit ends the call at the same moment as its own timeout would (and
            # first): that is a call that did not answer in time. A stop earlier is not.
            if asyncio.get_running_loop().time() >= limit_at:
                self._timed_out(info.server)
            raise
        except MCPError as e:
            if e.code == mcp_types.REQUEST_TIMEOUT:
                # A server that does not answer in time may be stuck for good (a blocking call
                # inside an async tool blocks its whole loop): the session and its process go,
                # and the next call starts a fresh one.
                await self._pool.drop_client(session, client)
                self._timed_out(info.server)
                raise _no_answer(info, seconds) from None
            if e.code != mcp_types.CONNECTION_CLOSED:
                raise ToolCallError(e.message, server=info.server, tool=info.name) from e
            return None, e
        except Exception as e:
            if not is_connection_failure(e):
                raise
            return None, e


def _no_answer(info: ToolInfo, seconds: float) -> ToolTimeout:
    return ToolTimeout(
        f"tool '{info.ref}' did not answer within {format_seconds(seconds)}",
        server=info.server,
        tool=info.name,
        timeout=seconds,
    )


async def _call_in_process(
    server: FastMCP,
    info: ToolInfo,
    arguments: dict[str, Any],
    seconds: float,
    raise_on_error: bool,
) -> ToolCallResult:
    """Call a built-in server's tool through fastmcp's server API, on this loop.

    The server runs in this process: a JSON-RPC round trip over in-memory streams would
    serialise and validate the request and the result on both sides, which costs more than
    most tools' own work. `FastMCP.call_tool` runs the same middleware, argument validation,
    error masking and result conversion; the answer is the one an MCP client receives (the
    failures a tools/call handler turns into error results are turned into the same ones)."""
    try:
        async with asyncio.timeout(seconds):
            result: Any = await server.call_tool(info.name, arguments)
    except TimeoutError:
        raise _no_answer(info, seconds) from None
    except (NotFoundError, DisabledError):
        result = mcp_types.CallToolResult(
            content=[mcp_types.TextContent(type="text", text=f"Unknown tool: {info.name!r}")],
            is_error=True,
        )
    except FastMCPError as e:
        result = mcp_types.CallToolResult(
            content=[mcp_types.TextContent(type="text", text=str(e))], is_error=True
        )
    except MCPError as e:  # raised by a middleware, say: its message, as over MCP
        raise ToolCallError(e.message, server=info.server, tool=info.name) from e
    except Exception as e:  # a bug outside the tool: an MCP client is told no more than this
        log.exception("MCP server %r failed to answer '%s'", info.server, info.name)
        raise ToolCallError("Internal server error", server=info.server, tool=info.name) from e
    data, text = _unwrap(result, info)
    if result.is_error and raise_on_error:
        raise ToolCallError(
            text or f"tool '{info.ref}' reported an error", server=info.server, tool=info.name
        )
    return ToolCallResult(
        server=info.server, tool=info.name, data=data, text=text, is_error=result.is_error
    )


def _decoded_size(data: str | None) -> str:
    """The size of base64 `data` once decoded, e.g. "1,024"."""
    return f"{len((data or '').rstrip('=')) * 3 // 4:,}"


def _describe(block: Any) -> str | None:
    """A content block as a line of text: its text, or what it holds (an image, audio, a
    resource), so that a result of only such blocks is not recorded as "no data".

    A block is one of the MCP SDK's content types (and a resource text or binary), each with
    its own fields, and a server may send a kind this SDK version does not know: the fields
    are read by name."""
    kind = getattr(block, "type", None)
    if kind == "text":
        return str(block.text)
    mime = getattr(block, "mime_type", None) or "unknown type"
    if kind in ("image", "audio"):
        return f"[{kind} {mime}, {_decoded_size(getattr(block, 'data', None))} bytes]"
    if kind == "resource_link":
        return f"[resource link {getattr(block, 'name', '')} {getattr(block, 'uri', '')}]".strip()
    if kind == "resource":
        resource = block.resource
        text = getattr(resource, "text", None)
        if text is not None:
            return str(text)
        mime = getattr(resource, "mime_type", None) or "unknown type"
        size = _decoded_size(getattr(resource, "blob", None))
        return f"[resource {resource.uri} {mime}, {size} bytes]"
    return f"[{kind} content]" if kind else None


def _unwrap(raw: Any, info: ToolInfo) -> tuple[Any, str]:
    """(data, text) from a raw CallToolResult, as plain Python objects."""
    text = "\n".join(line for block in raw.content if (line := _describe(block)) is not None)
    structured = raw.structured_content
    if structured is not None:
        # fastmcp wraps non-object returns as {"result": x}; it says so in the output schema
        # and in the result's _meta.
        meta = (raw.meta or {}).get("fastmcp") or {}
        wrapped = bool(meta.get("wrap_result")) or bool(
            (info.output_schema or {}).get("x-fastmcp-wrap-result")
        )
        if wrapped and isinstance(structured, dict) and set(structured) == {"result"}:
            return structured["result"], text
        return structured, text
    if text:
        if all(getattr(block, "type", None) != "text" for block in raw.content):
            return text, text  # only descriptions of images, audio or resources
        try:
            return json.loads(text), text
        except ValueError:
            return text, text
    return None, text
