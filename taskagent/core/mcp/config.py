"""mcp.json: the `mcpServers` format (as Claude Desktop uses it), parsed into server specs, and
the environment a stdio child gets."""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from taskagent.core.mcp.errors import McpConfigError

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


ServerSpec = StdioServerSpec | HttpServerSpec


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
        raise fail(f"must be an object, got {json_type(entry)}")
    for key in entry:
        # Keys other clients use (autoApprove, timeout, ...) are ignored; a typo of one of ours
        # would silently drop a setting ("arg" for "args"), so it is an error.
        close = difflib.get_close_matches(str(key), _SERVER_KEYS, n=1, cutoff=0.75)
        if key not in _SERVER_KEYS and close:
            raise fail(f"unknown key {str(key)[:40]!r} (did you mean '{close[0]}'?)")
    disabled = entry.get("disabled", False)
    if not isinstance(disabled, bool):
        raise fail(f"'disabled' must be true or false, got {json_type(disabled)}")
    if disabled:  # Cline/Roo style switch: keep the entry, don't start it
        return None

    kind = entry.get("type", entry.get("transport"))
    if kind is not None and not isinstance(kind, str):
        raise fail(f"'type' must be a string, got {json_type(kind)}")
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
            raise fail(f"'args' must be a list of strings, got {json_type(args)}")
        for i, arg in enumerate(args):
            if not isinstance(arg, str):
                raise fail(f"'args' item {i} must be a string, got {json_type(arg)}: {arg!r}")
        env = _string_map(entry.get("env", {}), "env", fail)
        cwd = entry.get("cwd")
        if cwd is not None:
            if not isinstance(cwd, str) or not cwd:
                raise fail(f"'cwd' must be a non-empty string, got {json_type(cwd)}")
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
        raise fail(f"'{key}' must be an object of strings, got {json_type(value)}")
    for k, v in value.items():
        if not isinstance(v, str):
            raise fail(f"'{key}' value for '{k}' must be a string, got {json_type(v)}: {v!r}")
    return dict(value)


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
