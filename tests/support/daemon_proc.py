"""`taskagent` as a real child process for end-to-end tests: its environment, CLI calls, the
daemon, and reads of its SQLite file."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path


def env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKAGENT_")}
    env |= {"TASKAGENT_HOME": str(home), "TASKAGENT_GENERAL_TIMEZONE": "UTC"}
    return env


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "taskagent", *args],
        env=env(home),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def start_daemon(home: Path, *, grace: float = 2) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "taskagent", "daemon", "--grace", str(grace)],
        env=env(home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def query(home: Path, sql: str) -> list[tuple]:  # type: ignore[type-arg]
    with sqlite3.connect(home / "taskagent.db", timeout=10) as db:
        return db.execute(sql).fetchall()


def wait_for(predicate, limit: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")
