"""MCP servers from the app and from mcp.json, one tool catalogue, persistent clients.

Two kinds of server:
* built-in: `FastMCP` instances registered by the composition root, reached in memory;
* user servers from `mcp.json` (the `mcpServers` format Claude Desktop uses): stdio or HTTP.

The package, from the bottom up: `errors` (the exception classes), `config` (mcp.json and a
child's environment), `catalogue` (ToolInfo, resolving a tool reference, checking arguments),
`sessions` (one fastmcp client per server and event loop) and `manager` (McpManager).
The public names are re-exported here; import them from `taskagent.core.mcp`. The manager
and the sessions (they import fastmcp and the MCP SDK, ~1-2 s) load on first use, so reading
mcp.json (`load_mcp_config`) stays cheap for the CLI's database-only commands.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from taskagent.core.mcp.catalogue import ServerState, ServerStatus, ToolInfo, ToolList
from taskagent.core.mcp.errors import (
    AmbiguousTool,
    InvalidToolArgs,
    McpConfigError,
    McpManagerError,
    ServerMisconfigured,
    ServerUnavailable,
    ToolCallError,
    ToolNotFound,
    ToolTimeout,
)
from taskagent.core.mcp.mcp_json import (
    SAFE_ENV_KEYS,
    BrokenServerSpec,
    HttpServerSpec,
    ServerKind,
    ServerSpec,
    StdioServerSpec,
    build_child_env,
    load_mcp_config,
    parse_mcp_config,
)

if TYPE_CHECKING:
    from taskagent.core.mcp.manager import McpManager, ToolCallResult
    from taskagent.core.mcp.sessions import INMEMORY_LOCK_WAIT

_LAZY = {"McpManager": "manager", "ToolCallResult": "manager", "INMEMORY_LOCK_WAIT": "sessions"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "INMEMORY_LOCK_WAIT",
    "SAFE_ENV_KEYS",
    "AmbiguousTool",
    "BrokenServerSpec",
    "HttpServerSpec",
    "InvalidToolArgs",
    "McpConfigError",
    "McpManager",
    "McpManagerError",
    "ServerKind",
    "ServerMisconfigured",
    "ServerSpec",
    "ServerState",
    "ServerStatus",
    "ServerUnavailable",
    "StdioServerSpec",
    "ToolCallError",
    "ToolCallResult",
    "ToolInfo",
    "ToolList",
    "ToolNotFound",
    "ToolTimeout",
    "build_child_env",
    "load_mcp_config",
    "parse_mcp_config",
]
