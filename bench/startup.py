"""Start-up of the full-screen app, against a bare Textual app with the same tabs.

Runs the real `python -m taskagent` in tmux (a temp TASKAGENT_HOME with one task, 120x40, no API
key) and polls the screen with capture-pane. At the first paint it types `/tasks list` and
`hello` into the chat and presses F2 (the Tasks tab with the chat beside it), then records:

* first paint     - the welcome line is on screen;
* core ready      - the Tasks tab lists the task *and* `/tasks list` has answered in the chat
                    (the database, TaskService and slash commands are up);
* agent ready     - the agent answered `hello` (without a key: "AI chat is off"), i.e. fastmcp,
                    the built-in MCP servers and the chat session are up (one run: it takes
                    seconds, and has no target).

The yardstick is bench/_bare_app.py's first paint, measured in the same run, interleaved (the
machine's load changes both alike). Targets: first paint <= 1.25x the bare app's; core ready
<= 2x the bare app's first paint and within 1.5 s. Both apps start with bytecode caching on
(PYTHONDONTWRITEBYTECODE unset) after a warm-up start of each, as every start but the very
first does on a user's machine. Prints medians. Needs tmux.
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
PAINT_TARGET = 1.25  # x the bare app's first paint
CORE_TARGET = 2.0  # x the bare app's first paint
CORE_TARGET_S = 1.5  # seconds from launch
# A private tmux server: other tmux users (and their environment) stay out of the measurement.
TMUX = ["tmux", "-L", f"taskagent-bench-{os.getpid()}"]

Check = Callable[[str], bool]
APP_CHECKS: dict[str, Check] = {
    "first paint": lambda s: "Welcome to taskagent" in s,
    "core ready": lambda s: "1 task" in s and f"{TASK}  active" in s,
    "agent ready": lambda s: "AI chat is off" in s,
}


def screen(name: str) -> str:
    return subprocess.run(
        [*TMUX, "capture-pane", "-p", "-t", name], capture_output=True, text=True
    ).stdout


def keys(name: str, *items: str, literal: bool = False) -> None:
    extra = ["-l"] if literal else []
    subprocess.run([*TMUX, "send-keys", "-t", name, *extra, *items], check=True)


def _env(home: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("GEMINI_API_KEY", "GOOGLE_API_KEY")}
    env.update(TASKAGENT_HOME=home, TERM="xterm-256color")
    return env


def _spawn(name: str, argv: list[str], env: dict[str, str]) -> float:
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items() if k.startswith("TASK"))
    # The session gets the server's environment: set what matters here.
    command = (
        f"cd {shlex.quote(str(REPO))} && env -u PYTHONDONTWRITEBYTECODE -u GEMINI_API_KEY "
        f"-u GOOGLE_API_KEY TERM=xterm-256color {exports} " + " ".join(shlex.quote(a) for a in argv)
    )
    t0 = time.perf_counter()
    subprocess.run(
        [*TMUX, "new-session", "-d", "-s", name, "-x", "120", "-y", "40", command],
        check=True,
        env=env,
    )
    return t0


def _poll(name: str, t0: float, checks: dict[str, Check]) -> dict[str, float]:
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
        subprocess.run([*TMUX, "kill-session", "-t", name], capture_output=True)
    raise SystemExit("the bare app did not paint within 60 s")


def make_home(root: Path) -> Path:
    """A TASKAGENT_HOME with the one task, made once and copied for each start."""
    home = root / "template"
    env = _env(str(home))
    add = [sys.executable, "-m", "taskagent", "tasks", "add", TASK, "--every", "1h", *ADD_ARGS]
    subprocess.run(add, check=True, cwd=REPO, env=env, capture_output=True)
    return home


def app_start(template: Path, until: str) -> dict[str, float]:
    """One start of taskagent on a copy of `template`, timed until the check `until`."""
    name = f"taskagent-bench-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as root:
        home = shutil.copytree(template, Path(root) / "home")
        checks = dict(list(APP_CHECKS.items())[: list(APP_CHECKS).index(until) + 1])
        t0 = _spawn(name, [sys.executable, "-m", "taskagent"], _env(str(home)))
        try:
            return _poll(name, t0, checks)
        finally:
            subprocess.run([*TMUX, "kill-session", "-t", name], capture_output=True)


def _verdict(ok: bool) -> str:
    return "OK" if ok else "MISSED"


def main() -> None:
    if shutil.which("tmux") is None:
        raise SystemExit("bench/startup.py needs tmux")
    # One idle session keeps the server up between the measured ones.
    subprocess.run([*TMUX, "new-session", "-d", "-s", "keep", "sleep 3600"], check=True)
    try:
        with tempfile.TemporaryDirectory() as root:
            template = make_home(Path(root))
            bare_start()  # warm-ups: the OS caches, and each app's bytecode
            app_start(template, "agent ready")
            bares: list[float] = []
            apps: list[dict[str, float]] = []
            for _ in range(RUNS):  # interleaved, so both see the same load
                bares.append(bare_start())
                apps.append(app_start(template, "core ready"))
            agent = app_start(template, "agent ready")["agent ready"]
    finally:
        subprocess.run([*TMUX, "kill-server"], capture_output=True)
    bare = statistics.median(bares)

    def median(what: str) -> tuple[float, float]:
        value = statistics.median(a[what] for a in apps)
        ratio = statistics.median(a[what] / b for a, b in zip(apps, bares, strict=True))
        return value, ratio

    paint, paint_x = median("first paint")
    core, core_x = median("core ready")
    print(f"taskagent start-up, median of {RUNS} interleaved runs (bytecode cached)")
    print(f"  bare Textual app  first paint {bare * 1000:6.0f} ms")
    print(
        f"  taskagent         first paint {paint * 1000:6.0f} ms = {paint_x:.2f}x bare"
        f"   target <= {PAINT_TARGET}x: {_verdict(paint_x <= PAINT_TARGET)}"
    )
    print(
        f"  taskagent         core ready  {core * 1000:6.0f} ms = {core_x:.2f}x bare"
        f"   target <= {CORE_TARGET:g}x: {_verdict(core_x <= CORE_TARGET)},"
        f" <= {CORE_TARGET_S * 1000:.0f} ms: {_verdict(core <= CORE_TARGET_S)}"
    )
    print(
        f"  taskagent         agent ready {agent * 1000:6.0f} ms = {agent / bare:.1f}x bare"
        f"   (one run; no target)"
    )


if __name__ == "__main__":
    main()
