"""A small MCP server for tests. stdio by default; `--http PORT` serves streamable HTTP.

ECHO_SERVER_FAIL=<message> makes it print the message to stderr and exit 3 before importing
fastmcp (a fast "crashed at start-up" server).
"""

from __future__ import annotations

import os
import sys
import time

if os.environ.get("ECHO_SERVER_FAIL"):
    print("echo_server: loading config", file=sys.stderr)
    print(os.environ["ECHO_SERVER_FAIL"], file=sys.stderr, flush=True)
    sys.exit(3)

import asyncio

from fastmcp import FastMCP
from fastmcp.exceptions import ToolError
from mcp.types import ToolAnnotations

STDERR_MARKER = "echo_server: started (stderr marker)"

mcp = FastMCP("echo")
# Every tool here only reads or answers (honest MCP annotations): tasks may run them unattended
# without allow_write.
READ_ONLY = ToolAnnotations(readOnlyHint=True, openWorldHint=False)


@mcp.tool(annotations=READ_ONLY)
def echo(text: str) -> str:
    """Return the text unchanged."""
    return text


@mcp.tool(annotations=READ_ONLY)
def pid() -> int:
    """The server's process id."""
    return os.getpid()


@mcp.tool(annotations=READ_ONLY)
def getenv(name: str) -> str | None:
    """One environment variable of the server process."""
    return os.environ.get(name)


@mcp.tool(annotations=READ_ONLY)
def shout(text: str) -> str:
    """Write the text to stderr and return it upper-cased."""
    print(f"shout: {text}", file=sys.stderr, flush=True)
    return text.upper()


@mcp.tool(annotations=READ_ONLY)
def fail(message: str) -> str:
    """Always fails with the given message."""
    raise ToolError(message)


@mcp.tool(annotations=READ_ONLY)
async def slow(seconds: float) -> str:
    """Sleep, then answer (and say so on stderr, i.e. in the server's log)."""
    await asyncio.sleep(seconds)
    print(f"slow: done after {seconds} s", file=sys.stderr, flush=True)
    return "done"


@mcp.tool(annotations=READ_ONLY)
async def block(seconds: float) -> str:
    """A blocking call inside an async tool, as third-party servers have: the server's whole
    event loop stands still meanwhile."""
    time.sleep(seconds)  # noqa: ASYNC251 - blocking on purpose: what this tool is for
    return "done"


def main() -> None:
    print(STDERR_MARKER, file=sys.stderr, flush=True)
    if len(sys.argv) == 3 and sys.argv[1] == "--http":
        mcp.run(transport="http", host="127.0.0.1", port=int(sys.argv[2]), show_banner=False)
    else:
        mcp.run(show_banner=False)


if __name__ == "__main__":
    main()
