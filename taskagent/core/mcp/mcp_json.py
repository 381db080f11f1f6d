"""mcp.json: the `mcpServers` format (as Claude Desktop uses it), parsed into server specs, and
the environment a stdio child gets."""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from taskagent.core.mcp.errors import McpConfigError

if TYPE_CHECKING:
    from pydantic import BaseModel

_Model = TypeVar("_Model", bound="BaseModel")

ServerKind = Literal["builtin", "stdio", "http"]

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


@dataclass(frozen=True)
class BrokenServerSpec:
    """An `mcpServers` entry that cannot be used as written: the server is shown as failed
    with `problem` (Status, /mcp, `tasks status`) and its tasks fail with it, while every
    other server, the app and the daemon work."""

    problem: str
    transport: ServerKind = "stdio"

    @property
    def kind(self) -> ServerKind:
        return self.transport


ServerSpec = StdioServerSpec | HttpServerSpec | BrokenServerSpec


_HTTP_TYPES = {"http", "streamable-http", "streamable_http", "streamablehttp"}
_SERVER_KEYS = ("command", "args", "env", "cwd", "url", "headers", "type", "transport", "disabled")
_TOP_LEVEL_KEYS = ("mcpServers",)

# fastmcp's models check the types of these fields; a failure is told in these words. `{type}`
# is the JSON type of the value at fault, `{key}` the list index or object key inside a field.
_FIELD_PROBLEMS = {
    "command": "'command' must be a non-empty string",
    "args": "'args' must be a list of strings, got {type}",
    "env": "'env' must be an object of strings, got {type}",
    "cwd": "'cwd' must be a non-empty string, got {type}",
    "url": "'url' must be an http:// or https:// URL, got {value!r}",
    "headers": "'headers' must be an object of strings, got {type}",
}
_ITEM_PROBLEMS = {
    "args": "'args' item {key} must be a string, got {type}: {value!r}",
    "env": "'env' value for '{key}' must be a string, got {type}: {value!r}",
    "headers": "'headers' value for '{key}' must be a string, got {type}: {value!r}",
}


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
    except RecursionError:  # the decoder recurses per level of nesting
        raise McpConfigError(
            f"{path}: invalid JSON: lists or objects nested too deeply", path=path
        ) from None
    return parse_mcp_config(raw, path=path)


def parse_mcp_config(raw: Any, *, path: Path | None = None) -> dict[str, ServerSpec]:
    """Validate an already-parsed `{"mcpServers": {...}}` document.

    Each entry is checked by fastmcp's own server model (`StdioMCPServer` or
    `RemoteMCPServer`), the one our transport rules pick, rather than by `MCPConfig` as a
    whole: its union of server types would report a bad field once per type it tried, and it
    reads server-like objects at the top level as servers, which Claude Desktop does not."""
    where = str(path) if path else "mcp config"
    if not isinstance(raw, dict):
        raise McpConfigError(f"{where}: the top level must be a JSON object", path=path)
    # Keys other clients use (globalShortcut, ...) are ignored; "mcpServer" would silently
    # configure nothing, so a near miss of ours is an error.
    typo = _near_miss(raw, _TOP_LEVEL_KEYS)
    if typo:
        raise McpConfigError(f"{where}: {typo}", path=path)
    servers = raw.get("mcpServers", {})
    if not isinstance(servers, dict):
        raise McpConfigError(
            f"{where}: 'mcpServers' must be an object mapping names to servers", path=path
        )
    base_dir = path.parent if path else None
    specs: dict[str, ServerSpec] = {}
    for name, entry in servers.items():
        server = _ServerEntry(name, where, path)
        try:
            spec = server.parse(entry, base_dir)
        except McpConfigError as e:
            if e.problem is None:  # the name itself: there is no server to show it on
                raise
            spec = server.broken(entry, e.problem)
        if spec is not None:
            specs[name] = spec
    return specs


def _near_miss(entry: Mapping[Any, Any], known: tuple[str, ...]) -> str | None:
    """The problem with a key that looks like a typo of a `known` one, if there is one."""
    for key in entry:
        close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.75)
        if key not in known and close:
            return f"unknown key {str(key)[:40]!r} (did you mean '{close[0]}'?)"
    return None


class _ServerEntry:
    """One entry of `mcpServers`: our rules (name, keys, transport, `disabled`), then
    fastmcp's model for the field types, its errors told in the user's words."""

    def __init__(self, name: str, where: str, path: Path | None) -> None:
        self.name = name
        self.where = where
        self.path = path

    def fail(self, problem: str) -> McpConfigError:
        """A problem of this entry's fields: that server's problem alone (`broken`)."""
        return McpConfigError(
            f"{self.where}: server '{self.name}': {problem}",
            path=self.path,
            server=self.name,
            problem=problem,
        )

    def broken(self, entry: Any, problem: str) -> BrokenServerSpec:
        """The entry as a server that is shown failed with `problem` (the file named)."""
        where = self.path.name if self.path is not None else self.where
        transport: ServerKind = "http" if isinstance(entry, dict) and "url" in entry else "stdio"
        return BrokenServerSpec(f"{where}: {problem}", transport)

    def parse(self, entry: Any, base_dir: Path | None) -> ServerSpec | None:
        if not self.name.strip():
            raise McpConfigError(f"{self.where}: a server has an empty name", path=self.path)
        if ":" in self.name:
            # ':' separates server and tool in tool references: no server could carry it.
            raise McpConfigError(
                f"{self.where}: server '{self.name}': the name must not contain ':'",
                path=self.path,
                server=self.name,
            )
        if not isinstance(entry, dict):
            raise self.fail(f"must be an object, got {json_type(entry)}")
        # Keys other clients use (autoApprove, timeout, ...) are ignored; a typo of one of ours
        # would silently drop a setting ("arg" for "args"), so it is an error.
        typo = _near_miss(entry, _SERVER_KEYS)
        if typo:
            raise self.fail(typo)
        disabled = entry.get("disabled", False)
        if not isinstance(disabled, bool):
            raise self.fail(f"'disabled' must be true or false, got {json_type(disabled)}")
        if disabled:  # Cline/Roo style switch: keep the entry, don't start it
            return None
        kind = self.transport(entry)
        has_command, has_url = "command" in entry, "url" in entry
        if has_command and has_url:
            raise self.fail("has both 'command' and 'url'; a server is either stdio or HTTP")
        if not has_command and not has_url:
            raise self.fail("needs 'command' (a stdio server) or 'url' (an HTTP server)")
        if has_command:
            return self.stdio(entry, kind, base_dir)
        return self.http(entry, kind)

    def transport(self, entry: dict[str, Any]) -> str | None:
        """The transport as written in "type" or "transport" (lower case), None if not given."""
        kind = entry.get("type", entry.get("transport"))
        if kind is None:
            return None
        if not isinstance(kind, str):
            raise self.fail(f"'type' must be a string, got {json_type(kind)}")
        kind = kind.lower()
        if kind not in _HTTP_TYPES and kind not in ("stdio", "sse"):
            raise self.fail(f"unknown transport {kind!r}; use 'stdio', 'http' or 'sse'")
        return kind

    def stdio(self, entry: dict[str, Any], kind: str | None, base_dir: Path | None) -> ServerSpec:
        from fastmcp.mcp_config import StdioMCPServer

        if kind not in (None, "stdio"):
            raise self.fail(f"transport {kind!r} needs 'url', not 'command'")
        server = self.validated(StdioMCPServer, entry, ("command", "args", "env", "cwd"))
        if not server.command.strip():
            raise self.fail(_FIELD_PROBLEMS["command"])
        for key, value in server.env.items():  # fastmcp takes any JSON value here
            if not isinstance(value, str):
                raise self.fail(self.problem(("env", key), value))
        cwd = server.cwd
        if cwd is not None:
            if not cwd:
                raise self.fail(self.problem(("cwd",), cwd))
            cwd_path = Path(cwd).expanduser()
            # A relative cwd is read relative to the config file, not to wherever we run.
            if not cwd_path.is_absolute() and base_dir is not None:
                cwd_path = base_dir / cwd_path
            cwd = str(cwd_path)
        return StdioServerSpec(server.command, tuple(server.args), dict(server.env), cwd)

    def http(self, entry: dict[str, Any], kind: str | None) -> ServerSpec:
        from fastmcp.mcp_config import RemoteMCPServer

        if kind == "stdio":
            raise self.fail("transport 'stdio' needs 'command', not 'url'")
        fields: dict[str, Any] = {**entry, "transport": "sse" if kind == "sse" else "http"}
        server = self.validated(RemoteMCPServer, fields, ("url", "headers", "transport"))
        if not re.match(r"https?://", server.url):
            raise self.fail(self.problem(("url",), server.url))
        transport: Literal["http", "sse"] = "sse" if server.transport == "sse" else "http"
        return HttpServerSpec(server.url, dict(server.headers), transport)

    def validated(
        self, model: type[_Model], entry: Mapping[str, Any], keys: tuple[str, ...]
    ) -> _Model:
        """`entry`'s `keys` checked by `model` (the keys we do not use are left unchecked)."""
        from pydantic import ValidationError

        try:
            return model.model_validate({k: entry[k] for k in keys if k in entry})
        except ValidationError as e:
            error = e.errors()[0]
            raise self.fail(self.problem(error["loc"], error["input"])) from None

    @staticmethod
    def problem(loc: tuple[int | str, ...], value: Any) -> str:
        """What is wrong with `value` at `loc` (("args", 1), ("env",), ...), in our words."""
        field_name = str(loc[0])
        template = (
            _ITEM_PROBLEMS.get(field_name) if len(loc) > 1 else _FIELD_PROBLEMS.get(field_name)
        )
        if template is None:
            return f"{'.'.join(map(str, loc))!r} is invalid: {json_type(value)} {value!r}"
        key = loc[1] if len(loc) > 1 else ""
        return template.format(type=json_type(value), value=value, key=key)


def json_type(value: Any) -> str:
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


def check_server_name(name: str, taken_by: str | None = None) -> None:
    """Raise McpConfigError for a server name that cannot be used: empty, with ':' (it
    separates server and tool), or already `taken_by` a server of that kind ("builtin", ...)."""
    if not name.strip() or ":" in name:
        raise McpConfigError(
            f"invalid MCP server name {name!r}: must be non-empty without ':'", server=name
        )
    if taken_by is not None:
        what = "a built-in server" if taken_by == "builtin" else "another server"
        raise McpConfigError(
            f"MCP server '{name}' clashes with {what} of the same name; rename it in mcp.json",
            server=name,
        )
