"""`taskagent mcp serve background`: taskagent's tasks as a standalone MCP server over stdio,
for another MCP client (Claude Desktop, MCP Inspector, ...) to start.

It opens the same database as the app (`TASKAGENT_HOME` or the per-user folder); a running app
or daemon notices its changes. It builds the core through `Services`, which is why it lives here
on the composition side and not in `mcp_servers` (`python -m mcp_servers.background_server`
only hands over to this command).
"""

from __future__ import annotations

import asyncio

from taskagent.config import Settings
from taskagent.services import Services


async def serve_background(settings: Settings) -> int:
    """Serve the background server on stdin/stdout until the client closes it."""
    # Never schedules: it reports (and hands "run now" to) whichever process holds the lease.
    # The servers in mcp.json are started because new tasks' tools are checked against them.
    async with Services.open(settings, kind="mcp", desktop=False) as services:
        await services.engine.start(schedule=False)
        await services.background_server.run_async(transport="stdio", show_banner=False)
    return 0


def run_mcp_serve(settings: Settings, server: str) -> int:
    if server != "background":  # argparse allows only cli.MCP_SERVERS
        raise ValueError(f"unknown built-in MCP server {server!r}")
    return asyncio.run(serve_background(settings))
