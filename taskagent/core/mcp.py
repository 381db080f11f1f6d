"""McpManager: MCP servers from the app and from mcp.json, one tool catalogue, persistent clients.

Two kinds of server:
* built-in: `FastMCP` instances registered by the composition root, reached in memory;
* user servers from `mcp.json` (the `mcpServers` format Claude Desktop uses): stdio or HTTP.

Sessions are kept open between calls (a call on an open stdio session costs ~3 ms, spawning one
~1.5 s) and there is one fastmcp `Client` per (server, event loop): a client is bound to the loop
it connected in, and the runner's worker threads each own a loop for their lifetime.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import json
import logging
import os
import re
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Self

import anyio
import httpx2
import jsonschema
import mcp_types
from fastmcp import Client, FastMCP
from fastmcp.client.logging import LogMessage
from fastmcp.client.transports import (
    ClientTransport,
    FastMCPTransport,
    SSETransport,
    StdioTransport,
    StreamableHttpTransport,
)
from mcp import MCPError

from taskagent.core.errors import TaskAgentError

log = logging.getLogger(__name__)

ServerKind = Literal["builtin", "stdio", "http"]
ServerState = Literal["connected", "failed", "not started"]

# Environment a stdio child may inherit: enough to find programs, locale, temp dirs, the proxy
# exceptions and CA bundles. Everything else (API keys above all) must be passed explicitly
# through "env". HTTP_PROXY/HTTPS_PROXY (any case) are not inherited either: a proxy URL may
# carry credentials (http://user:password@proxy:3128), so a server gets one only when its
# "env" in mcp.json names it.
SAFE_ENV_KEYS: tuple[str, ...] = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "TERM",
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "LC_CTYPE",
    "LC_MESSAGES",
    "TZ",
    "TMPDIR",
    "TEMP",
    "TMP",
    "XDG_RUNTIME_DIR",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "XDG_CACHE_HOME",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "NO_PROXY",
    "no_proxy",
    # Windows needs these to start almost anything.
    "SYSTEMROOT",
    "COMSPEC",
    "PATHEXT",
    "APPDATA",
    "LOCALAPPDATA",
    "USERPROFILE",
)


# --------------------------------------------------------------------------------------------
# Errors


INMEMORY_LOCK_WAIT = 10.0  # seconds


class McpManagerError(TaskAgentError):
    """Base class of every error this module raises."""


class McpConfigError(McpManagerError):
    """mcp.json (or a registration) is invalid; the message names the file and the server."""

    def __init__(self, message: str, *, path: Path | None = None, server: str | None = None):
        super().__init__(message)
        self.path = path
        self.server = server


class ToolNotFound(McpManagerError):
    def __init__(self, message: str, *, ref: str, suggestions: list[str]):
        super().__init__(message)
        self.ref = ref
        self.suggestions = suggestions


class AmbiguousTool(McpManagerError):
    def __init__(self, message: str, *, ref: str, candidates: list[str]):
        super().__init__(message)
        self.ref = ref
        self.candidates = candidates


class InvalidToolArgs(McpManagerError):
    def __init__(self, message: str, *, ref: str, problems: list[str]):
        super().__init__(message)
        self.ref = ref
        self.problems = problems


class ToolCallError(McpManagerError):
    """The tool ran and reported an error; str() is the server's message."""

    foreign_message = True

    def __init__(self, message: str, *, server: str = "", tool: str = ""):
        super().__init__(message)
        self.server = server
        self.tool = tool


class ToolTimeout(McpManagerError):
    transient = True

    def __init__(self, message: str, *, server: str, tool: str, timeout: float):
        super().__init__(message)
        self.server = server
        self.tool = tool
        self.timeout = timeout


class ServerUnavailable(McpManagerError):
    """The server could not be reached (failed to start, died twice, manager closed)."""

    transient = True

    def __init__(self, server: str, reason: str):
        super().__init__(f"MCP server '{server}' is not available: {reason}")
        self.server = server
        self.reason = reason


# --------------------------------------------------------------------------------------------
# Public data


@dataclass(frozen=True)
class StdioServerSpec:
    command: str
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str | None = None

    @property
    def kind(self) -> ServerKind:
        return "stdio"


@dataclass(frozen=True)
class HttpServerSpec:
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    transport: Literal["http", "sse"] = "http"

    @property
    def kind(self) -> ServerKind:
        return "http"


ServerSpec = StdioServerSpec | HttpServerSpec


@dataclass(frozen=True)
class ToolInfo:
    server: str
    name: str
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any] | None
    # The server's hints (read_only_hint, destructive_hint, ...); None when it gave none.
    annotations: Any = None

    @property
    def ref(self) -> str:
        return f"{self.server}:{self.name}"

    # MCP's defaults for a hint the server left out: not read-only, may be destructive, not
    # idempotent, reaches the outside world. So a tool without annotations is treated as a
    # tool that may change data (the chat asks first; a task needs an explicit allow-write).
    def _hint(self, name: str) -> bool | None:
        value = getattr(self.annotations, name, None)
        return value if isinstance(value, bool) else None

    @property
    def read_only(self) -> bool:
        return self._hint("read_only_hint") is True

    @property
    def destructive(self) -> bool:
        return not self.read_only and self._hint("destructive_hint") is not False

    @property
    def idempotent(self) -> bool:
        return self.read_only or self._hint("idempotent_hint") is True

    @property
    def open_world(self) -> bool:
        return self._hint("open_world_hint") is not False

    @property
    def safe_to_repeat(self) -> bool:
        """Calling it twice does no harm (read-only or idempotent), so a transient failure may
        be retried; a tool that may change data is never called a second time on its own."""
        return self.idempotent


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


@dataclass(frozen=True)
class ServerStatus:
    name: str
    kind: ServerKind
    state: ServerState
    error: str | None
    tool_count: int
    sessions: int = 0  # open client sessions over all event loops


# --------------------------------------------------------------------------------------------
# mcp.json

_HTTP_TYPES = {"http", "streamable-http", "streamable_http", "streamablehttp"}
_SERVER_KEYS = ("command", "args", "env", "cwd", "url", "headers", "type", "transport", "disabled")


def load_mcp_config(path: Path) -> dict[str, ServerSpec]:
    """Read and validate an `mcpServers` file. A missing or empty file means no user servers."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise McpConfigError(f"{path}: cannot read: {e.strerror or e}", path=path) from e
    if not text.strip():
        return {}
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        raise McpConfigError(
            f"{path}: invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}", path=path
        ) from e
    return parse_mcp_config(raw, path=path)


def parse_mcp_config(raw: Any, *, path: Path | None = None) -> dict[str, ServerSpec]:
    """Validate an already-parsed `{"mcpServers": {...}}` document."""
    where = str(path) if path else "mcp config"
    if not isinstance(raw, dict):
        raise McpConfigError(f"{where}: the top level must be a JSON object", path=path)
    servers = raw.get("mcpServers", {})
    if not isinstance(servers, dict):
        raise McpConfigError(
            f"{where}: 'mcpServers' must be an object mapping names to servers", path=path
        )
    base_dir = path.parent if path else None
    specs: dict[str, ServerSpec] = {}
    for name, entry in servers.items():
        spec = _parse_server(name, entry, where=where, path=path, base_dir=base_dir)
        if spec is not None:
            specs[name] = spec
    return specs


def _parse_server(
    name: str, entry: Any, *, where: str, path: Path | None, base_dir: Path | None
) -> ServerSpec | None:
    def fail(problem: str) -> McpConfigError:
        return McpConfigError(f"{where}: server '{name}': {problem}", path=path, server=name)

    if not name.strip():
        raise McpConfigError(f"{where}: a server has an empty name", path=path)
    if ":" in name:
        # ':' separates server and tool in tool references.
        raise fail("the name must not contain ':'")
    if not isinstance(entry, dict):
        raise fail(f"must be an object, got {_json_type(entry)}")
    for key in entry:
        # Keys other clients use (autoApprove, timeout, ...) are ignored; a typo of one of ours
        # would silently drop a setting ("arg" for "args"), so it is an error.
        close = difflib.get_close_matches(str(key), _SERVER_KEYS, n=1, cutoff=0.75)
        if key not in _SERVER_KEYS and close:
            raise fail(f"unknown key {str(key)[:40]!r} (did you mean '{close[0]}'?)")
    disabled = entry.get("disabled", False)
    if not isinstance(disabled, bool):
        raise fail(f"'disabled' must be true or false, got {_json_type(disabled)}")
    if disabled:  # Cline/Roo style switch: keep the entry, don't start it
        return None

    kind = entry.get("type", entry.get("transport"))
    if kind is not None and not isinstance(kind, str):
        raise fail(f"'type' must be a string, got {_json_type(kind)}")
    kind = kind.lower() if kind else None
    if kind is not None and kind != "stdio" and kind != "sse" and kind not in _HTTP_TYPES:
        raise fail(f"unknown transport {kind!r}; use 'stdio', 'http' or 'sse'")

    has_command, has_url = "command" in entry, "url" in entry
    if has_command and has_url:
        raise fail("has both 'command' and 'url'; a server is either stdio or HTTP")
    if not has_command and not has_url:
        raise fail("needs 'command' (a stdio server) or 'url' (an HTTP server)")

    if has_command:
        if kind not in (None, "stdio"):
            raise fail(f"transport {kind!r} needs 'url', not 'command'")
        command = entry["command"]
        if not isinstance(command, str) or not command.strip():
            raise fail("'command' must be a non-empty string")
        args = entry.get("args", [])
        if not isinstance(args, list):
            raise fail(f"'args' must be a list of strings, got {_json_type(args)}")
        for i, arg in enumerate(args):
            if not isinstance(arg, str):
                raise fail(f"'args' item {i} must be a string, got {_json_type(arg)}: {arg!r}")
        env = _string_map(entry.get("env", {}), "env", fail)
        cwd = entry.get("cwd")
        if cwd is not None:
            if not isinstance(cwd, str) or not cwd:
                raise fail(f"'cwd' must be a non-empty string, got {_json_type(cwd)}")
            cwd_path = Path(cwd).expanduser()
            # A relative cwd is read relative to the config file, not to wherever we run.
            if not cwd_path.is_absolute() and base_dir is not None:
                cwd_path = base_dir / cwd_path
            cwd = str(cwd_path)
        return StdioServerSpec(command=command, args=tuple(args), env=env, cwd=cwd)

    if kind == "stdio":
        raise fail("transport 'stdio' needs 'command', not 'url'")
    url = entry["url"]
    if not isinstance(url, str) or not re.match(r"https?://", url):
        raise fail(f"'url' must be an http:// or https:// URL, got {url!r}")
    headers = _string_map(entry.get("headers", {}), "headers", fail)
    return HttpServerSpec(url=url, headers=headers, transport="sse" if kind == "sse" else "http")


def _string_map(value: Any, key: str, fail: Callable[[str], McpConfigError]) -> dict[str, str]:
    if not isinstance(value, dict):
        raise fail(f"'{key}' must be an object of strings, got {_json_type(value)}")
    for k, v in value.items():
        if not isinstance(v, str):
            raise fail(f"'{key}' value for '{k}' must be a string, got {_json_type(v)}: {v!r}")
    return dict(value)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def build_child_env(
    spec_env: Mapping[str, str], extra_env: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Safe base from our environment < extra env from the app < the server's own "env"."""
    env = {k: os.environ[k] for k in SAFE_ENV_KEYS if k in os.environ}
    env.update(extra_env or {})
    env.update(spec_env)
    return env


# --------------------------------------------------------------------------------------------
# Manager internals


@dataclass(eq=False)
class _Server:
    name: str
    kind: ServerKind
    instance: FastMCP | None = None
    spec: ServerSpec | None = None
    state: ServerState = "not started"
    error: str | None = None
    tools: dict[str, ToolInfo] = field(default_factory=dict)


@dataclass(eq=False)
class _Session:
    """The client of one server in one event loop."""

    server: str
    loop: asyncio.AbstractEventLoop
    lock: asyncio.Lock  # serialises connect/reconnect within this loop
    client: Client | None = None


def _walk_exceptions(exc: BaseException) -> Iterator[BaseException]:
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


def _is_connection_failure(exc: BaseException) -> bool:
    """True when the session itself is broken (worth one reconnect), not the tool."""
    for e in _walk_exceptions(exc):
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


def _format_seconds(seconds: float) -> str:
    return f"{seconds:g} s"


def _unwrap(raw: Any, info: ToolInfo) -> tuple[Any, str]:
    """(data, text) from a raw CallToolResult, as plain Python objects."""
    text = "\n".join(block.text for block in raw.content if getattr(block, "type", None) == "text")
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
        try:
            return json.loads(text), text
        except ValueError:
            return text, text
    return None, text


_UNSAFE_FILENAME_RE = re.compile(r"[^\w.-]")


def _arg_name(path: Any) -> str:
    parts = [str(p) for p in path]
    return ".".join(parts) if parts else "(arguments)"


def _describe_schema_error(err: jsonschema.ValidationError) -> list[str]:
    where = _arg_name(err.absolute_path)
    v = err.validator
    if v == "required":
        missing = [m for m in err.validator_value if m not in (err.instance or {})]
        prefix = f"{where}." if err.absolute_path else ""
        return [f"missing required argument '{prefix}{m}'" for m in missing]
    if v == "additionalProperties":
        props = err.schema.get("properties", {}) if isinstance(err.schema, dict) else {}
        extra = [k for k in err.instance if k not in props]
        prefix = f"{where}." if err.absolute_path else ""
        return [f"unknown argument '{prefix}{k}'" for k in extra] or [err.message]
    if v == "type":
        expected = err.validator_value
        expected_s = " or ".join(expected) if isinstance(expected, list) else str(expected)
        return [f"wrong type for '{where}': expected {expected_s}, got {_json_type(err.instance)}"]
    if v == "enum":
        allowed = ", ".join(repr(x) for x in err.validator_value)
        return [f"invalid value for '{where}': {err.instance!r} is not one of {allowed}"]
    if v == "const":
        return [f"invalid value for '{where}': must be {err.validator_value!r}"]
    bounds = {
        "minimum": ">=",
        "maximum": "<=",
        "exclusiveMinimum": ">",
        "exclusiveMaximum": "<",
    }
    if v in bounds:
        return [f"'{where}' must be {bounds[v]} {err.validator_value}, got {err.instance!r}"]
    if v in ("minLength", "maxLength", "minItems", "maxItems", "pattern", "format"):
        return [f"invalid value for '{where}': {err.message}"]
    if v in ("anyOf", "oneOf") and err.context:
        # A branch that failed deeper down is the one the caller meant (e.g. list[str] | None
        # given ["a", 1]): report its errors. Otherwise all failed on type: "expected a or b".
        deeper = [sub for sub in err.context if sub.relative_path]
        if deeper:
            return [p for sub in deeper for p in _describe_schema_error(sub)]
        types = [sub.validator_value for sub in err.context if sub.validator == "type"]
        if len(types) == len(err.context):
            flat = [t for ty in types for t in (ty if isinstance(ty, list) else [ty])]
            return [
                f"wrong type for '{where}': expected {' or '.join(dict.fromkeys(flat))}, "
                f"got {_json_type(err.instance)}"
            ]
    return [f"invalid value for '{where}': {err.message}"]


# --------------------------------------------------------------------------------------------
# The manager


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
        self._log_dir = Path(log_dir)
        self._call_timeout = call_timeout
        self._connect_timeout = connect_timeout
        self._extra_env = dict(extra_env or {})
        self._servers: dict[str, _Server] = {}
        self._sessions: dict[tuple[str, asyncio.AbstractEventLoop], _Session] = {}
        self._lock = threading.Lock()  # guards _sessions and server state across threads
        # One FastMCP instance's lifespan lock is an asyncio.Lock shared by every loop that
        # connects in memory; contention from two threads would bind it to the wrong loop. So
        # in-memory connects and closes are serialised across threads.
        self._inmemory_lock = threading.Lock()
        self._closed = False

    # -- registration ------------------------------------------------------------------------

    def add_builtin(self, name: str, server: FastMCP) -> None:
        self._add(_Server(name=name, kind="builtin", instance=server))

    def add_configured(self, specs: Mapping[str, ServerSpec]) -> None:
        for name, spec in specs.items():
            self._add(_Server(name=name, kind=spec.kind, spec=spec))

    def _add(self, server: _Server) -> None:
        if not server.name.strip() or ":" in server.name:
            raise McpConfigError(
                f"invalid MCP server name {server.name!r}: must be non-empty without ':'",
                server=server.name,
            )
        existing = self._servers.get(server.name)
        if existing is not None:
            what = "a built-in server" if existing.kind == "builtin" else "another server"
            raise McpConfigError(
                f"MCP server '{server.name}' clashes with {what} of the same name; "
                "rename it in mcp.json",
                server=server.name,
            )
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
        self._closed = False
        await self.refresh()

    async def refresh(self) -> None:
        """Re-list every server's tools (and retry servers that failed)."""
        await asyncio.gather(*(self._refresh_one(s) for s in list(self._servers.values())))

    async def _refresh_one(self, server: _Server) -> None:
        session = self._session_for(server.name)
        for attempt in (1, 2):
            try:
                client = await self._client(session)
            except ServerUnavailable as e:
                self._set_state(server, "failed", e.reason)
                return
            try:
                async with asyncio.timeout(self._connect_timeout):
                    tools = await client.list_tools()
                break
            except Exception as e:
                if attempt == 1 and _is_connection_failure(e):
                    await self._drop_client(session, client)  # died since: reconnect once
                    continue
                reason = (
                    f"did not list its tools within {_format_seconds(self._connect_timeout)}"
                    if isinstance(e, TimeoutError)
                    else f"listing tools failed: {e}"
                )
                log.warning("MCP server %r: %s", server.name, reason)
                self._set_state(server, "failed", reason)
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
        self._set_state(server, "connected", None)

    async def close(self) -> None:
        """Close every session and refuse new ones (until start() again).

        Sessions of other loops are closed through their loop if it is running; dropped if it
        is closed (their tasks died with it); kept if it is stopped but not closed, because only
        that loop can close them: its thread's close_for_current_loop() still will. This loop's
        sessions go last: an in-memory server's lifespan belongs to the first client that
        connected (start()'s loop) and is torn down when that client closes.
        """
        self._closed = True
        loop = asyncio.get_running_loop()
        with self._lock:
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
            with self._lock:
                self._sessions.update({(s.server, s.loop): s for s in stranded})
        running = [s for s in others if s.loop.is_running()]
        await asyncio.gather(*(self._close_foreign(s) for s in running))
        await asyncio.gather(*(self._close_client(s.server, s.client) for s in mine if s.client))

    async def close_for_current_loop(self) -> None:
        """Close this loop's sessions; a worker thread calls it before its loop ends."""
        loop = asyncio.get_running_loop()
        with self._lock:
            keys = [k for k in self._sessions if k[1] is loop]
            sessions = [self._sessions.pop(k) for k in keys]
        await asyncio.gather(
            *(self._close_client(s.server, s.client) for s in sessions if s.client)
        )

    async def _close_foreign(self, session: _Session) -> None:
        assert session.client is not None
        try:
            future = asyncio.run_coroutine_threadsafe(
                self._close_client(session.server, session.client), session.loop
            )
            async with asyncio.timeout(10):
                await asyncio.wrap_future(future)
        except (RuntimeError, TimeoutError) as e:  # loop closed meanwhile / stuck
            log.warning("MCP session of %r not closed cleanly: %s", session.server, e)

    async def _close_client(self, server: str, client: Client) -> None:
        try:
            async with self._serialise_inmemory(client), asyncio.timeout(10):
                await client.close()
        except TimeoutError:
            log.warning("closing MCP client of %r timed out", server)
        except Exception as e:
            # Closing a dead or half-open session may fail; the session is gone either way.
            log.debug("closing MCP client of %r: %r", server, e)

    @contextlib.asynccontextmanager
    async def _serialise_inmemory(self, client: Client) -> AsyncIterator[None]:
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

    # -- sessions ----------------------------------------------------------------------------

    def _session_for(self, name: str) -> _Session:
        loop = asyncio.get_running_loop()
        with self._lock:
            # Sessions of loops that were closed without close_for_current_loop() are dead.
            for key in [k for k in self._sessions if k[1].is_closed()]:
                del self._sessions[key]
            session = self._sessions.get((name, loop))
            if session is None:
                session = _Session(server=name, loop=loop, lock=asyncio.Lock())
                self._sessions[(name, loop)] = session
            return session

    async def _client(self, session: _Session) -> Client:
        client = session.client
        if client is not None:
            return client
        async with session.lock:
            if session.client is None:
                if self._closed:
                    raise ServerUnavailable(session.server, "the MCP manager is closed")
                session.client = await self._connect(self._servers[session.server])
            return session.client

    async def _drop_client(self, session: _Session, client: Client) -> None:
        async with session.lock:
            if session.client is client:
                session.client = None
        await self._close_client(session.server, client)

    def _transport(self, server: _Server) -> ClientTransport:
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

    def _mark_log(self, server: _Server) -> int:
        """Write a start marker to the child's log; returns the offset where its output begins."""
        path = self.log_path(server.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        with path.open("a", encoding="utf-8") as fh:
            fh.write(f"--- {stamp} taskagent starts '{server.name}' ---\n")
            return fh.tell()

    async def _connect(self, server: _Server) -> Client:
        offset = self._mark_log(server) if server.kind == "stdio" else 0
        client = Client(
            self._transport(server),
            init_timeout=self._connect_timeout,
            log_handler=self._log_handler(server.name),
        )
        try:
            async with self._serialise_inmemory(client), asyncio.timeout(self._connect_timeout):
                await client.__aenter__()  # kept open: closed by close()/_drop_client()
        except Exception as e:
            await self._close_client(server.name, client)
            reason = self._start_failure(server, e, offset)
            log.warning("MCP server %r failed to start: %s", server.name, reason)
            self._set_state(server, "failed", reason)
            raise ServerUnavailable(server.name, reason) from e
        log.debug("MCP server %r connected", server.name)
        if server.tools and server.state == "failed":
            self._set_state(server, "connected", None)  # it came back (e.g. after a crash)
        return client

    def _start_failure(self, server: _Server, exc: BaseException, log_offset: int) -> str:
        """A short readable reason for a failed start."""
        if isinstance(exc, TimeoutError):
            return f"did not start within {_format_seconds(self._connect_timeout)}"
        spec = server.spec
        for e in _walk_exceptions(exc):
            if isinstance(spec, StdioServerSpec):
                if isinstance(e, FileNotFoundError):
                    if spec.cwd and not Path(spec.cwd).is_dir():
                        return f"working directory not found: {spec.cwd}"
                    return f"command not found: {spec.command}"
                if isinstance(e, PermissionError):
                    return f"permission denied: {spec.command}"
            if isinstance(spec, HttpServerSpec):
                if isinstance(e, httpx2.HTTPStatusError):
                    return f"HTTP {e.response.status_code} from {spec.url}"
                if isinstance(e, httpx2.TransportError):
                    return f"cannot connect to {spec.url}: {e}"
        if isinstance(spec, StdioServerSpec):
            last = _last_log_line(self.log_path(server.name), log_offset)
            detail = last or "no output on stderr"
            return f"exited during start-up: {detail}"
        for e in _walk_exceptions(exc):
            if isinstance(e, MCPError):
                return e.message
        return f"{type(exc).__name__}: {exc}"

    def _log_handler(self, server: str) -> Callable[[LogMessage], Awaitable[None]]:
        async def handle(message: LogMessage) -> None:
            # Server log notifications go to our logger, never straight to the terminal.
            level = logging.getLevelNamesMapping().get(message.level.upper(), logging.INFO)
            log.log(level, "[%s] %s", server, message.data)

        return handle

    def _set_state(self, server: _Server, state: ServerState, error: str | None) -> None:
        with self._lock:
            server.state = state
            server.error = error

    # -- catalogue ---------------------------------------------------------------------------

    def status(self) -> list[ServerStatus]:
        with self._lock:
            counts: dict[str, int] = {}
            for (name, loop), s in self._sessions.items():
                if s.client is not None and not loop.is_closed():
                    counts[name] = counts.get(name, 0) + 1
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
            return sum(
                1
                for (name, loop), s in self._sessions.items()
                if s.client is not None
                and not loop.is_closed()  # died with its loop; pruned on next use
                and (server is None or name == server)
            )

    async def list_tools(self) -> list[ToolInfo]:
        return [t for s in self._servers.values() for t in s.tools.values()]

    def get_tool(self, ref: str) -> ToolInfo:
        return self.resolve(ref)

    def resolve(self, ref: str) -> ToolInfo:
        """`server:tool`, or a bare tool name when only one server has it."""
        ref = ref.strip()
        if ":" in ref:
            server_name, _, tool = ref.partition(":")
            server = self._servers.get(server_name)
            if server is None:
                names = list(self._servers)
                close = difflib.get_close_matches(server_name, names, n=3)
                hint = f"; did you mean {', '.join(close)}?" if close else ""
                raise ToolNotFound(
                    f"unknown MCP server '{server_name}' in '{ref}'{hint} "
                    f"(servers: {', '.join(names) or 'none'})",
                    ref=ref,
                    suggestions=[f"{c}:{tool}" for c in close],
                )
            if tool in server.tools:
                return server.tools[tool]
            if server.state != "connected" and not server.tools:
                raise ServerUnavailable(server_name, server.error or server.state)
            close = difflib.get_close_matches(tool, list(server.tools), n=5)
            suggestions = [f"{server_name}:{c}" for c in close]
            raise ToolNotFound(
                self._not_found_message(ref, suggestions, list(server.tools.values())),
                ref=ref,
                suggestions=suggestions,
            )

        matches = [s.tools[ref] for s in self._servers.values() if ref in s.tools]
        if len(matches) == 1:
            return matches[0]
        if matches:
            candidates = [m.ref for m in matches]
            raise AmbiguousTool(
                f"tool name '{ref}' is ambiguous: {', '.join(candidates)}; "
                "use 'server:tool' to pick one",
                ref=ref,
                candidates=candidates,
            )
        all_tools = [t for s in self._servers.values() for t in s.tools.values()]
        by_name: dict[str, list[str]] = {}
        for t in all_tools:
            by_name.setdefault(t.name, []).append(t.ref)
        suggestions: list[str] = []
        for name in difflib.get_close_matches(ref, list(by_name), n=5):
            suggestions.extend(by_name[name])
        raise ToolNotFound(
            self._not_found_message(ref, suggestions, all_tools), ref=ref, suggestions=suggestions
        )

    def _not_found_message(self, ref: str, suggestions: list[str], pool: list[ToolInfo]) -> str:
        msg = f"unknown tool '{ref}'"
        if suggestions:
            msg += f"; did you mean {', '.join(suggestions)}?"
        elif pool:
            shown = ", ".join(t.ref for t in pool[:10])
            more = f" (+{len(pool) - 10} more)" if len(pool) > 10 else ""
            msg += f"; available: {shown}{more}"
        else:
            msg += "; no tools are available"
        down = [s.name for s in self._servers.values() if s.state == "failed"]
        if down:
            msg += f" (not available: {', '.join(down)})"
        return msg

    def validate_args(self, ref: str, args: Any) -> None:
        """Check `args` against the tool's input schema; raise InvalidToolArgs listing problems."""
        info = self.resolve(ref)
        if not isinstance(args, Mapping):
            raise InvalidToolArgs(
                f"arguments for '{info.ref}' must be an object, got {_json_type(args)}",
                ref=info.ref,
                problems=["arguments must be an object"],
            )
        schema = info.input_schema
        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        validator = cls(schema)
        problems: list[str] = []
        # Stable, readable order: by argument, missing before unknown before bad values.
        rank = {"required": 0, "additionalProperties": 1}
        errors = sorted(
            validator.iter_errors(dict(args)),
            key=lambda e: ([str(p) for p in e.absolute_path], rank.get(str(e.validator), 2)),
        )
        for err in errors:
            for p in _describe_schema_error(err):
                if p not in problems:
                    problems.append(p)
        if problems:
            raise InvalidToolArgs(
                f"invalid arguments for '{info.ref}': {'; '.join(problems)}",
                ref=info.ref,
                problems=problems,
            )

    # -- calls -------------------------------------------------------------------------------

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
        (the call may have reached the server). Raises ToolCallError / ToolTimeout /
        ServerUnavailable."""
        info = self.resolve(ref)
        seconds = self._call_timeout if timeout is None else timeout
        session = self._session_for(info.server)
        arguments = dict(args or {})
        for attempt in (1, 2):
            client = await self._client(session)
            try:
                raw = await client.call_tool_mcp(info.name, arguments, timeout=seconds)
            except MCPError as e:
                if e.code == mcp_types.REQUEST_TIMEOUT:
                    raise ToolTimeout(
                        f"tool '{info.ref}' did not answer within {_format_seconds(seconds)}",
                        server=info.server,
                        tool=info.name,
                        timeout=seconds,
                    ) from None
                if e.code != mcp_types.CONNECTION_CLOSED:
                    raise ToolCallError(e.message, server=info.server, tool=info.name) from e
                failure: Exception = e
            except Exception as e:
                if not _is_connection_failure(e):
                    raise
                failure = e
            else:
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
            await self._drop_client(session, client)
            if not info.safe_to_repeat:  # it may have run: never a silent second call
                raise ServerUnavailable(
                    info.server,
                    f"connection lost during '{info.ref}' ({failure}); not called again "
                    "because the tool may change data",
                ) from failure
            if attempt == 2:
                reason = f"connection lost: {failure}"
                self._set_state(self._servers[info.server], "failed", reason)
                raise ServerUnavailable(info.server, reason) from failure
            log.warning("MCP server %r: %s; reconnecting", info.server, failure)
        raise AssertionError("unreachable")
