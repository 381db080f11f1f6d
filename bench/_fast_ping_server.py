"""The load benches' tool: MCP over stdio, hand-written (no fastmcp), one `ping` tool.

A fastmcp stdio server spends a few milliseconds of CPU per call; with 300 calls a second on a
2-core machine that would measure the server, not the daemon. This one answers a call in a few
microseconds, so the machine's CPU is left to the process under test. Speaks only what a client
needs: initialize, tools/list, tools/call, ping (JSON-RPC 2.0, one message per line).
"""

from __future__ import annotations

import json
import sys
from typing import Any

TOOL = {
    "name": "ping",
    "description": "Answers {'pong': tag} at once.",
    "inputSchema": {"type": "object", "properties": {"tag": {"type": "string", "default": ""}}},
    "outputSchema": {"type": "object", "properties": {"pong": {"type": "string"}}},
    "annotations": {"readOnlyHint": True, "openWorldHint": False},
}


def answer(method: str, params: dict[str, Any]) -> dict[str, Any]:
    if method == "initialize":
        return {
            "protocolVersion": params.get("protocolVersion", "2025-06-18"),
            "capabilities": {"tools": {"listChanged": False}},
            "serverInfo": {"name": "bench-fast", "version": "1"},
        }
    if method == "tools/list":
        return {"tools": [TOOL]}
    if method == "tools/call":
        data = {"pong": str((params.get("arguments") or {}).get("tag", ""))}
        return {
            "content": [{"type": "text", "text": json.dumps(data)}],
            "structuredContent": data,
            "isError": False,
        }
    if method == "ping":
        return {}
    raise LookupError(method)


def main() -> None:
    out = sys.stdout
    for line in sys.stdin:
        message = json.loads(line)
        if "id" not in message:  # a notification (initialized, cancelled): no answer
            continue
        reply: dict[str, Any] = {"jsonrpc": "2.0", "id": message["id"]}
        try:
            reply["result"] = answer(message.get("method", ""), message.get("params") or {})
        except LookupError as exc:
            reply["error"] = {"code": -32601, "message": f"method not found: {exc}"}
        out.write(json.dumps(reply) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
