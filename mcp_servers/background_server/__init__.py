"""The background-task MCP server (`server`), and `__main__`: `python -m
mcp_servers.background_server`, a launcher for `taskagent mcp serve background`."""

from __future__ import annotations

from mcp_servers.background_server.server import (
    INSTRUCTIONS,
    RunNow,
    StatusProvider,
    create_server,
)

__all__ = ["INSTRUCTIONS", "RunNow", "StatusProvider", "create_server"]
