"""Start-up of the full-screen app, as a ratio to a bare Textual app with the same tabs.

Runs the real `python -m taskagent` in tmux (temp TASKAGENT_HOME with one task, 120x40, no API
key) and polls the screen with capture-pane. At the first paint it types `/tasks list` and
`hello` into the chat and presses F2 (the Tasks tab with the chat beside it), then records:

* first paint     - the welcome line is on screen;
* core ready      - the Tasks tab lists the task *and* `/tasks list` has answered in the chat
                    (the database, TaskService and slash commands are up);
* agent ready     - the agent answered `hello` (without a key: "AI chat is off"), i.e. fastmcp,
                    the built-in MCP servers and the chat session are up.

The yardstick is bench/_bare_app.py's first paint, measured in the same run (the machine's
load changes both alike). Target (issue #17): core ready <= 2x the bare app's first paint.
Prints medians. Needs tmux.
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
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BARE = Path(__file__).with_name("_bare_app.py")
RUNS = 5
TASK = "bench btc hourly"
ADD_ARGS = ("--tool", "get_crypto_prices", "--args", '{"limit": 3}')


def screen(name: str) -> str:
    return subprocess.run(
        ["tmux", "capture-pane", "-p", "-t", name], capture_output=True, text=True
    ).stdout


def keys(name: str, *items: str, literal: bool = False) -> None:
    extra = ["-l"] if literal else []
    subprocess.run(["tmux", "send-keys", "-t", name, *extra, *items], check=True)


def _env(home: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("GEMINI_API_KEY", "GOOGLE_API_KEY")}
    env.update(TASKAGENT_HOME=home, TERM="xterm-256color")
    return env


def _spawn(name: str, argv: list[str], env: dict[str, str]) -> float:
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items() if k.startswith("TASK"))
    command = f"cd {shlex.quote(str(REPO))} && env TERM=xterm-256color {exports} " + " ".join(
        shlex.quote(a) for a in argv
    )
    t0 = time.perf_counter()
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", name, "-x", "120", "-y", "40", command],
        check=True,
        env=env,
    )
    return t0


def _poll(name: str, t0: float, checks: dict[str, Callable[[str], bool]]) -> dict[str, float]:
    """Seconds from spawn until each check first holds (checked in order of definition)."""
    seen: dict[str, float] = {}
    typed = False
    while time.perf_counter() - t0 < 60 and len(seen) < len(checks):
        text = screen(name)
        now = time.perf_counter() - t0
        for what, check in checks.items():
            if what not in seen and check(text):
                seen[what] = now
        if "first paint" in seen and not typed:
            typed = True
            for key, literal in (("/tasks list", True), ("Enter", False), ("hello", True)):
                keys(name, key, literal=literal)
                time.sleep(0.01)
            keys(name, "Enter", "F2")
        time.sleep(0.01)
    if len(seen) < len(checks):
        raise SystemExit(f"not reached within 60 s: {set(checks) - set(seen)}\n{screen(name)}")
    return seen


def bare_start() -> float:
    name = f"bare-bench-{uuid.uuid4().hex[:8]}"
    t0 = _spawn(name, [sys.executable, str(BARE)], dict(os.environ))
    try:
        while time.perf_counter() - t0 < 60:
            if "Welcome to the bare app" in screen(name):
                return time.perf_counter() - t0
            time.sleep(0.01)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)
    raise SystemExit("the bare app did not paint within 60 s")


def app_start() -> dict[str, float]:
    name = f"taskagent-bench-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as home:
        env = _env(home)
        subprocess.run(
            [sys.executable, "-m", "taskagent", "tasks", "add", TASK, "--every", "1h", *ADD_ARGS],
            check=True,
            cwd=REPO,
            env=env,
            capture_output=True,
        )
        t0 = _spawn(name, [sys.executable, "-m", "taskagent"], env)
        try:
            return _poll(
                name,
                t0,
                {
                    "first paint": lambda s: "Welcome to taskagent" in s,
                    "core ready": lambda s: "1 task" in s and f"{TASK}  active" in s,
                    "agent ready": lambda s: "AI chat is off" in s,
                },
            )
        finally:
            subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)


def main() -> None:
    if shutil.which("tmux") is None:
        raise SystemExit("bench/startup.py needs tmux")
    bare_start()  # warm the OS caches
    app_start()
    bares: list[float] = []
    apps: list[dict[str, float]] = []
    for _ in range(RUNS):  # interleaved, so both see the same load
        bares.append(bare_start())
        apps.append(app_start())
    bare = statistics.median(bares)
    print(f"bare Textual app, first paint : {bare * 1000:6.0f} ms (median of {RUNS})")
    ratios: dict[str, float] = {}
    for what in ("first paint", "core ready", "agent ready"):
        value = statistics.median(a[what] for a in apps)
        ratios[what] = statistics.median(a[what] / b for a, b in zip(apps, bares, strict=True))
        print(f"taskagent {what:<19} : {value * 1000:6.0f} ms = {ratios[what]:.2f}x the bare app")
    verdict = "OK" if ratios["core ready"] <= 2.0 else "MISSED"
    print(f"target: core ready <= 2x the bare app's first paint -> {verdict}")


if __name__ == "__main__":
    main()
