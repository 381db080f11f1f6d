"""A real `taskagent daemon` process on a throwaway TASKAGENT_HOME, for the load benches: the
tool the tasks call (a `ToolPath`: by default the ping tool as a stdio MCP server,
bench/_fast_ping_server.py, one persistent session per worker; or the built-in crypto tool
against a local CoinGecko stand-in), tasks imported with the CLI, and the daemon's CPU time and
memory read from /proc (Linux)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FAST_PING_SERVER = Path(__file__).with_name("_fast_ping_server.py")
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ToolPath:
    """What the benches' tasks call: the tool, its arguments for a task of a given name, the
    servers of mcp.json, and a stand-in (a context manager giving the daemon's extra
    environment) that lives as long as the daemon."""

    label: str
    tool: str
    args: Callable[[str], dict[str, Any]]
    servers: dict[str, Any] = field(default_factory=dict)
    stand_in: Callable[[], AbstractContextManager[dict[str, str]]] = lambda: nullcontext({})


PING = ToolPath(
    label="ping (stdio)",
    tool="bench:ping",
    args=lambda name: {"tag": name},
    servers={"bench": {"command": sys.executable, "args": [str(FAST_PING_SERVER)]}},
)


@contextmanager
def coingecko_stand_in() -> Iterator[dict[str, str]]:
    """The tests' local CoinGecko (recorded answers over real HTTP, in a thread of this
    process, so its CPU is not the daemon's)."""
    from tests.support.coingecko_stub import CoinGeckoStub

    with CoinGeckoStub() as stub:
        yield {"TASKAGENT_COINGECKO_BASE_URL": stub.base_url}
        print(f"the CoinGecko stand-in answered {stub.count()} HTTP request(s)")


# The path a user runs: the built-in crypto server in memory, the shared CoinGecko client with
# its cache and rate limit, over HTTP to the stand-in. Every task asks the same question, as a
# user's "top 10 every N seconds" tasks do; the cache answers all but one call a minute.
CRYPTO = ToolPath(
    label="crypto (built-in)",
    tool="crypto:get_crypto_prices",
    args=lambda _name: {"limit": 10},
    stand_in=coingecko_stand_in,
)

PATHS = {"ping": PING, "crypto": CRYPTO}


def env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TASKAGENT_")}
    return (
        clean | {"TASKAGENT_HOME": str(home), "TASKAGENT_GENERAL_TIMEZONE": "UTC"} | (extra or {})
    )


def prepare_home(home: Path, tasks: list[dict[str, Any]], path: ToolPath = PING) -> float:
    """mcp.json with the path's servers, then the tasks through `taskagent tasks import`;
    returns the seconds the import took."""
    (home / "mcp.json").write_text(json.dumps({"mcpServers": path.servers}))
    if not tasks:
        return 0.0
    load = home / "load.json"
    load.write_text(json.dumps({"version": 1, "tasks": tasks}))
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "taskagent", "tasks", "import", str(load)],
        env=env(home),
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    if done.returncode != 0:
        raise SystemExit(f"import failed: {done.stderr[-2000:]}")
    return time.perf_counter() - t0


def task_spec(
    name: str, schedule_type: str, schedule_value: str, path: ToolPath = PING
) -> dict[str, Any]:
    return {
        "name": name,
        "schedule_type": schedule_type,
        "schedule_value": schedule_value,
        "mcp_tool": path.tool,
        "tool_args": path.args(name),
        "use_ai_summary": False,
        "notification_level": "silent",
    }


class Daemon:
    """`python -m taskagent daemon` with stderr in a file (a pipe nobody reads would block)."""

    def __init__(self, home: Path, extra_env: dict[str, str] | None = None) -> None:
        self.home = home
        self.stderr_path = home / "daemon.stderr"
        self._stderr = self.stderr_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "taskagent", "daemon", "--grace", "2"],
            env=env(home, extra_env),
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
    """py-spy on the daemon over the window, when PYSPY_OUT names a file; PYSPY_FORMAT picks
    the format (raw folded stacks by default; speedscope, flamegraph)."""
    out = os.environ.get("PYSPY_OUT")
    if not out:
        return None
    spy = Path(sys.executable).with_name("py-spy")
    form = os.environ.get("PYSPY_FORMAT", "raw")
    command = [str(spy), "record", "-p", str(pid), "-f", form, "-d", str(int(seconds))]
    command += os.environ.get("PYSPY_ARGS", "--gil --nonblocking").split()
    return subprocess.Popen([*command, "-o", out], stdout=subprocess.DEVNULL)
