"""End to end: the real `taskagent` in tmux (temp TASKAGENT_HOME, the CoinGecko stand-in),
driven with send-keys and read with capture-pane: add a task with /tasks add, run it, see it
in History, quit with /quit."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.coingecko_stub import CoinGeckoStub

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]
REPO = Path(__file__).resolve().parents[2]


class Tmux:
    def __init__(self, name: str) -> None:
        self.name = name

    def keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, *keys], check=True)

    def type(self, text: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, "-l", text], check=True)

    def screen(self) -> str:
        result = subprocess.run(
            ["tmux", "capture-pane", "-p", "-t", self.name], capture_output=True, text=True
        )
        return result.stdout

    def wait(self, check: Callable[[str], bool], timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen()
            if check(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"screen never matched; last screen:\n{text}")
            time.sleep(0.1)


@pytest.fixture
def tmux(tmp_path: Path, coingecko_stub: CoinGeckoStub) -> Iterator[Tmux]:
    name = f"taskagent-e2e-{uuid.uuid4().hex[:8]}"
    env = {
        "TASKAGENT_HOME": str(tmp_path),
        "TASKAGENT_COINGECKO_BASE_URL": coingecko_stub.base_url,
        "TASKAGENT_GENERAL_TIMEZONE": "UTC",
        "TERM": "xterm-256color",
        "PATH": os.environ.get("PATH", ""),
    }
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    command = (
        f"cd {shlex.quote(str(REPO))} && env -i {exports} {shlex.quote(sys.executable)} "
        f"-m taskagent; echo EXITED-$?; sleep 30"
    )
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", name, "-x", "120", "-y", "40", command], check=True
    )
    try:
        yield Tmux(name)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)


def test_add_run_history_quit(tmux: Tmux) -> None:
    tmux.wait(lambda s: "Welcome to taskagent" in s)
    tmux.type("/tasks add")
    tmux.keys("Enter")
    tmux.wait(lambda s: "New task" in s and "crypto:get_crypto_prices" in s)
    tmux.type("e2e btc")
    tmux.wait(lambda s: "e2e btc" in s)  # typed text first, then the save key
    tmux.keys("C-s")
    screen = tmux.wait(lambda s: "New task" not in s and " 1 task" in s)
    assert "e2e btc" in screen and "every 30 minutes" in screen
    tmux.keys("r")
    tmux.wait(lambda s: "✓" in s and "100%" in s)
    tmux.keys("h")
    screen = tmux.wait(lambda s: "success" in s and "1 run" in s)
    assert "e2e btc" in screen
    tmux.keys("F3")
    tmux.wait(lambda s: "Type /help, a slash command" in s)
    time.sleep(0.3)  # focus moves to the input after the switch; keys typed sooner go elsewhere
    tmux.type("/quit")
    tmux.keys("Enter")
    tmux.wait(lambda s: "EXITED-0" in s)


def test_typing_at_first_paint(tmux: Tmux) -> None:
    """Keys typed while the core is still opening arrive in order, once; the README's "press 2"
    works from the empty chat input."""
    tmux.wait(lambda s: "Welcome to taskagent" in s)
    tmux.type("/tasks list")
    tmux.keys("Enter")
    tmux.type("/help")
    tmux.keys("Enter")
    screen = tmux.wait(lambda s: "no tasks yet" in s and "/tasks history <id>" in s, timeout=30)
    assert screen.count("> /tasks list") == 1 and screen.count("> /help") == 1, screen
    tmux.keys("2")
    tmux.wait(lambda s: "OK %" in s and "no tasks yet: press a" in s)
