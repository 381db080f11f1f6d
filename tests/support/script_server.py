"""An MCP server over stdio whose one tool answers the values of a script, one per call:
`quote()` -> {"symbol": "BTC", "price": <next value>} (the last value again once the script has
run out). The script is the JSON list in the file SCRIPT_FILE; how far it got is kept in
SCRIPT_FILE + ".pos", so a restarted server (and a restarted daemon) goes on where it was."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from fastmcp import FastMCP
from mcp.types import ToolAnnotations

mcp = FastMCP("script")


@mcp.tool(annotations=ToolAnnotations(readOnlyHint=True, openWorldHint=False))
def quote() -> dict[str, Any]:
    """The next value of the script."""
    script = Path(os.environ["SCRIPT_FILE"])
    position = script.with_name(script.name + ".pos")
    values = json.loads(script.read_text(encoding="utf-8"))
    at = int(position.read_text()) if position.exists() else 0
    position.write_text(str(at + 1))
    return {"symbol": "BTC", "price": values[min(at, len(values) - 1)]}


if __name__ == "__main__":
    mcp.run(show_banner=False)
