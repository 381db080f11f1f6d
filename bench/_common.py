"""Shared set-up for the benchmarks: a throwaway TASKAGENT_HOME and a trivial MCP tool, so what
is measured is our overhead, not CoinGecko's or a tool's own work."""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

from fastmcp import FastMCP

PING_SERVER = Path(__file__).with_name("_ping_server.py")


def make_ping_server() -> FastMCP:
    server = FastMCP("bench")

    @server.tool
    async def ping(tag: str = "") -> dict[str, str]:
        return {"pong": tag}

    return server


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def percentile_ms(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index] * 1000


def python() -> str:
    return sys.executable
