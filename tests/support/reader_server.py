"""A stdio MCP server with one tool, `read_notes`, for the consent-drift tests: whether it is
annotated read-only is decided by READ_ONLY=1 in its environment (a server's new version that
drops the hint, or another server offering a tool of the same name). Every call appends a line
to the file named by CALLS_FILE, so a test can tell that no call reached it."""

from __future__ import annotations

import os
from pathlib import Path

from fastmcp import FastMCP
from mcp.types import ToolAnnotations

mcp = FastMCP("reader")
_HINTS = ToolAnnotations(readOnlyHint=True) if os.environ.get("READ_ONLY") == "1" else None


@mcp.tool(annotations=_HINTS)
def read_notes() -> list[str]:
    """All notes, oldest first."""
    with Path(os.environ["CALLS_FILE"]).open("a", encoding="utf-8") as fh:
        fh.write("called\n")
    return ["a note"]


if __name__ == "__main__":
    mcp.run(show_banner=False)
