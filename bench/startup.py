"""Start-up of the full-screen app: spawn -> first screen painted, and spawn -> core ready.

Runs the real `python -m taskagent` in tmux (temp TASKAGENT_HOME, 120x40) and polls the screen
with capture-pane. For comparison it times importing what the old start-up imported before the
first paint (the core with fastmcp and the built-in servers, plus the app). Prints medians.
Needs tmux.
"""

from __future__ import annotations

import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RUNS = 5


def screen(name: str) -> str:
    return subprocess.run(
        ["tmux", "capture-pane", "-p", "-t", name], capture_output=True, text=True
    ).stdout


def one_start() -> tuple[float, float]:
    name = f"taskagent-bench-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as home:
        env = f"env TASKAGENT_HOME={shlex.quote(home)} TERM=xterm-256color"
        command = f"cd {shlex.quote(str(REPO))} && {env} {shlex.quote(sys.executable)} -m taskagent"
        t0 = time.perf_counter()
        subprocess.run(
            ["tmux", "new-session", "-d", "-s", name, "-x", "120", "-y", "40", command], check=True
        )
        first = ready = None
        try:
            while time.perf_counter() - t0 < 30:
                text = screen(name)
                now = time.perf_counter() - t0
                if first is None and "Welcome to taskagent" in text:
                    first = now
                    subprocess.run(["tmux", "send-keys", "-t", name, "F6"], check=True)
                if first is not None and "MCP servers" in text:
                    ready = now
                    break
                time.sleep(0.01)
        finally:
            subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)
    if first is None or ready is None:
        raise SystemExit("taskagent did not start within 30 s")
    return first, ready


def import_everything() -> float:
    code = (
        "import taskagent.services, mcp_servers.crypto_server, mcp_servers.background_server,"
        " taskagent.app"
    )
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, env=os.environ.copy())
    return time.perf_counter() - t0


def main() -> None:
    if shutil.which("tmux") is None:
        raise SystemExit("bench/startup.py needs tmux")
    one_start()  # warm the OS caches
    starts = [one_start() for _ in range(RUNS)]
    first = statistics.median(s[0] for s in starts)
    ready = statistics.median(s[1] for s in starts)
    imports = statistics.median(import_everything() for _ in range(RUNS))
    print(f"spawn -> first screen painted : {first * 1000:6.0f} ms (median of {RUNS})")
    print(f"spawn -> core ready (Status)  : {ready * 1000:6.0f} ms")
    print(f"importing everything up front : {imports * 1000:6.0f} ms (the old path, before paint)")
    print(f"first paint / old pre-paint imports : {first / imports:.2f}")
    print(f"target: first screen within 1 s -> {'OK' if first < 1.0 else 'MISSED'}")


if __name__ == "__main__":
    main()
