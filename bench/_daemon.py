"""A real `taskagent daemon` process on a throwaway TASKAGENT_HOME, for the load benches: the
ping tool as a stdio MCP server (bench/_fast_ping_server.py; one persistent session per
worker), tasks imported with the CLI, and the daemon's CPU time and memory read from /proc
(Linux)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

TOOL = "bench:ping"
FAST_PING_SERVER = Path(__file__).with_name("_fast_ping_server.py")
TICKS = os.sysconf("SC_CLK_TCK")


def env(home: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TASKAGENT_")}
    return clean | {"TASKAGENT_HOME": str(home), "TASKAGENT_GENERAL_TIMEZONE": "UTC"}


def prepare_home(home: Path, tasks: list[dict[str, Any]]) -> float:
    """mcp.json with the ping server, then the tasks through `taskagent tasks import`;
    returns the seconds the import took."""
    spec = {"command": sys.executable, "args": [str(FAST_PING_SERVER)]}
    (home / "mcp.json").write_text(json.dumps({"mcpServers": {"bench": spec}}))
    if not tasks:
        return 0.0
    path = home / "load.json"
    path.write_text(json.dumps({"version": 1, "tasks": tasks}))
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "taskagent", "tasks", "import", str(path)],
        env=env(home),
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    if done.returncode != 0:
        raise SystemExit(f"import failed: {done.stderr[-2000:]}")
    return time.perf_counter() - t0


def task_spec(name: str, schedule_type: str, schedule_value: str) -> dict[str, Any]:
    return {
        "name": name,
        "schedule_type": schedule_type,
        "schedule_value": schedule_value,
        "mcp_tool": TOOL,
        "tool_args": {"tag": name},
        "use_ai_summary": False,
        "notification_level": "silent",
    }


class Daemon:
    """`python -m taskagent daemon` with stderr in a file (a pipe nobody reads would block)."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.stderr_path = home / "daemon.stderr"
        self._stderr = self.stderr_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "taskagent", "daemon", "--grace", "2"],
            env=env(home),
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            stdin=subprocess.DEVNULL,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_started(self, limit: float = 120.0) -> None:
        """Until the daemon logged "daemon started" (lease taken, every job scheduled)."""
        wait_for(lambda: "daemon started" in self.stderr_path.read_text(), limit, self)

    def cpu_seconds(self) -> float:
        """User + system CPU of the daemon process (all its threads, not its children)."""
        user, system = self.cpu_split()
        return user + system

    def cpu_split(self) -> tuple[float, float]:
        """(user, system) CPU seconds of the daemon process."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) / TICKS, int(fields[12]) / TICKS

    def memory_mb(self) -> tuple[float, float]:
        """(RSS now, peak RSS) in MB."""
        values: dict[str, float] = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) / 1024
        return values["VmRSS"], values["VmHWM"]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._stderr.close()


def wait_for(predicate: Callable[[], bool], limit: float, daemon: Daemon | None = None) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():
            return
        if daemon is not None and daemon.proc.poll() is not None:
            raise SystemExit(f"the daemon exited: {daemon.stderr_path.read_text()[-2000:]}")
        time.sleep(0.1)
    raise SystemExit("the daemon did not get there in time")


def query(home: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with sqlite3.connect(home / "taskagent.db", timeout=30) as db:
        return db.execute(sql, params).fetchall()


def profile(pid: int, seconds: float) -> subprocess.Popen[bytes] | None:
    """py-spy (raw, folded stacks) on the daemon over the window, when PYSPY_OUT names a file."""
    out = os.environ.get("PYSPY_OUT")
    if not out:
        return None
    spy = Path(sys.executable).with_name("py-spy")
    command = [str(spy), "record", "-p", str(pid), "-f", "raw", "-d", str(int(seconds))]
    command += os.environ.get("PYSPY_ARGS", "--gil --nonblocking").split()
    return subprocess.Popen([*command, "-o", out], stdout=subprocess.DEVNULL)
