"""The CLI's answer time: each `taskagent tasks ...` command a script would call, as a real
process, against `python -c "import sqlite3"` (the yardstick: an interpreter that opens nothing
but SQLite's module) and a bare `python -c pass`, interleaved, in the same run.

The home has one task and an mcp.json naming one more server (whose program does not exist:
no command here may try to start it). One full `tasks add` runs first, as any first use does:
it validates the settings and mcp.json and lists the tools, which the later commands reuse
(taskagent/checked_files.py). Also measured: `tasks list` right after config.toml changed (the
settings validated in full again).

Target: every command within 150 ms of wall time on a quiet machine. Prints medians of RUNS.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 15
TARGET_MS = 150.0
PY = sys.executable
YARDSTICKS: dict[str, list[str]] = {
    'python -c "import sqlite3"': [PY, "-c", "import sqlite3"],
    "python -c pass": [PY, "-c", "pass"],
}


def commands(runs: int) -> dict[str, list[list[str]]]:
    """Each command's argument lists, one per run (add and pause/resume vary per run)."""
    task = ["tasks"]
    return {
        "tasks list --json": [[*task, "list", "--json"]] * runs,
        "tasks list": [[*task, "list"]] * runs,
        "tasks show 1 --json": [[*task, "show", "1", "--json"]] * runs,
        "tasks history 1 --json": [[*task, "history", "1", "--json"]] * runs,
        "tasks pause / resume 1": [
            [*task, "pause" if i % 2 == 0 else "resume", "1"] for i in range(runs)
        ],
        "tasks status --json": [[*task, "status", "--json"]] * runs,
        "tasks export": [[*task, "export"]] * runs,
        "tasks add (crypto tool, args)": [
            [
                *task,
                "add",
                f"bench {i}",
                "--every",
                "1h",
                "--tool",
                "get_crypto_by_symbol",
                "--args",
                '{"symbol": "eth"}',
            ]
            for i in range(runs)
        ],
        "tasks edit 1 --description": [
            [*task, "edit", "1", "--description", f"run {i}"] for i in range(runs)
        ],
    }


def timed(argv: Sequence[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {done.stderr.strip()}")
    return elapsed


def main() -> int:
    home = Path(tempfile.mkdtemp(prefix="taskagent-bench-cli-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKAGENT_")}
    env |= {"TASKAGENT_HOME": str(home), "TASKAGENT_GENERAL_TIMEZONE": "UTC"}
    (home / "mcp.json").write_text(
        json.dumps({"mcpServers": {"notes": {"command": "/nonexistent/notes-server"}}})
    )
    taskagent = [PY, "-m", "taskagent"]
    first = timed(
        [*taskagent, "tasks", "add", "BTC hourly", "--every", "1h", "--tool", "get_crypto_prices"],
        env,
    )
    plan = commands(RUNS)
    samples: dict[str, list[float]] = {name: [] for name in [*YARDSTICKS, *plan]}
    samples["tasks list after config.toml changed"] = []
    for i in range(RUNS):  # interleaved: the machine's load moves every column alike
        for name, argv in YARDSTICKS.items():
            samples[name].append(timed(argv, env))
        for name, runs in plan.items():
            samples[name].append(timed([*taskagent, *runs[i]], env))
        (home / "config.toml").write_text(f"# change {i}\n[general]\ntimezone = 'UTC'\n")
        samples["tasks list after config.toml changed"].append(
            timed([*taskagent, "tasks", "list"], env)
        )
    yard = statistics.median(samples['python -c "import sqlite3"']) * 1000
    print(f"first command of a new home (full validation, tools listed): {first * 1000:.0f} ms")
    print(f"{'command':<42} {'median':>8} {'x yardstick':>12}  target")
    for name, values in samples.items():
        ms = statistics.median(values) * 1000
        verdict = "" if name in YARDSTICKS else ("met" if ms <= TARGET_MS else "missed")
        print(f"{name:<42} {ms:>6.0f} ms {ms / yard:>11.2f}x  {verdict}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{RUNS} runs each, load average {load:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
