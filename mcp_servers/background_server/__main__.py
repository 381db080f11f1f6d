"""`python -m mcp_servers.background_server`: the same as `taskagent mcp serve background`.

A launcher, not part of the server library: the standalone server needs the whole core
(database, MCP manager, engine), which only the composition root builds, so this one module
hands over to taskagent's command line. Nothing else in `mcp_servers` imports that side.
"""

from __future__ import annotations

import sys

from taskagent.__main__ import main

if __name__ == "__main__":
    sys.exit(main(["mcp", "serve", "background"]))
