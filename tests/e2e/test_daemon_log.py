"""The daemon's log is a log of runs (issue #17): a real `taskagent daemon` with AI summaries
from the Gemini stand-in writes one line per run with task, outcome, duration, significance and
summary, and none of the libraries' chatter (google_genai's "AFC is enabled", httpx's request
lines) unless --verbose."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.daemon_proc import wait_for as _wait_for
from tests.support.gemini_stub import GeminiStub

pytestmark = pytest.mark.slow
TOOL = ("--tool", "background:list_background_tasks")


def _env(home: Path, stub: GeminiStub) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKAGENT_")}
    return env | {
        "TASKAGENT_HOME": str(home),
        "TASKAGENT_GENERAL_TIMEZONE": "UTC",
        "GEMINI_API_KEY": "test-key",
        "TASKAGENT_GEMINI_BASE_URL": stub.base_url,
    }


@pytest.mark.parametrize("verbose", [False, True])
def test_one_line_per_run_and_no_library_chatter(
    tmp_path: Path,
    gemini_stub: GeminiStub,
    verbose: bool,
) -> None:
    env = _env(tmp_path, gemini_stub)
    added = subprocess.run(
        [sys.executable, "-m", "taskagent", "tasks", "add", "my tasks", "--every", "1s", *TOOL],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert added.returncode == 0, added.stderr
    argv = [sys.executable, "-m", "taskagent", "daemon", "--grace", "2"]
    daemon = subprocess.Popen(
        argv + (["--verbose"] if verbose else []),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    log_file = tmp_path / "logs" / "taskagent.log"

    def text() -> str:
        return log_file.read_text(encoding="utf-8") if log_file.exists() else ""

    try:
        _wait_for(lambda: len(re.findall(r'run #\d+ "my tasks": success', text())) >= 2, 60)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
    log = text()
    lines = [line for line in log.splitlines() if '"my tasks": success' in line]
    # task, outcome, duration and the summary (the stand-in's answer) on one line
    assert re.search(r'run #\d+ "my tasks": success in \d+(\.\d)? m?s', lines[0]), lines[0]
    first_summary = lines[0].split("; ", 1)[1]
    assert first_summary and len(first_summary) <= 100
    assert "not significant" in lines[1] or "significant:" in lines[1]
    chatter = ("AFC is enabled", "HTTP Request:")
    if verbose:
        assert any(c in log for c in chatter)
    else:
        assert not any(c in log for c in chatter), log


def test_a_failing_built_in_tool_is_logged_to_the_file_not_the_console(tmp_path: Path) -> None:
    """fastmcp installs a Rich handler on stderr when it is imported; start-up imports it late,
    and routing its logger before that was undone: each failed built-in tool call printed
    "Error calling tool ..." on the daemon's console (the journal under systemd)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKAGENT_")}
    env |= {
        "TASKAGENT_HOME": str(tmp_path),
        "TASKAGENT_GENERAL_TIMEZONE": "UTC",
        "TASKAGENT_COINGECKO_BASE_URL": "http://127.0.0.1:9",  # nothing listens: every call fails
    }
    args = ["tasks", "add", "prices", "--every", "1s", "--tool", "get_crypto_prices"]
    added = subprocess.run(
        [sys.executable, "-m", "taskagent", *args, "--no-summary"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert added.returncode == 0, added.stderr
    daemon = subprocess.Popen(
        [sys.executable, "-m", "taskagent", "daemon", "--grace", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    library_log = tmp_path / "logs" / "mcp-builtin.log"
    try:
        _wait_for(
            lambda: library_log.exists() and "Error calling tool" in library_log.read_text(),
            limit=30,
        )
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, err = daemon.communicate(timeout=30)
    assert daemon.returncode == 0, err[-2000:]
    assert "Error calling tool" not in err, err[-2000:]
