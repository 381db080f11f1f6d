"""`taskagent doctor` against real homes: a real daemon, real stdio MCP servers, real SQLite
files (healthy, damaged, left by a killed daemon)."""

from __future__ import annotations

import hashlib
import json
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.daemon_proc import cli, query, start_daemon, wait_for
from tests.support.ping_receiver import PingReceiver

REPO_ROOT = Path(__file__).resolve().parents[2]
ECHO_SERVER = REPO_ROOT / "tests" / "support" / "echo_server.py"

pytestmark = pytest.mark.slow


def _servers(home: Path, **servers: dict[str, object]) -> None:
    (home / "mcp.json").write_text(json.dumps({"mcpServers": servers}))


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    """A home with the echo server, one hourly task and desktop notifications off (no
    desktop session here: that would be a warning)."""
    (tmp_path / "config.toml").write_text("[notifications]\ndesktop = false\n")
    _servers(tmp_path, echo={"command": sys.executable, "args": [str(ECHO_SERVER)]})
    added = cli(tmp_path, "tasks", "add", "hourly", "--every", "1h", "--tool", "echo:echo",
                "--args", '{"text": "hi"}')  # fmt: skip
    assert added.returncode == 0, added.stderr
    yield tmp_path


def _doctor(home: Path, *args: str) -> tuple[int, dict[str, dict[str, str]], str]:
    done = cli(home, "doctor", "--json", *args)
    report = json.loads(done.stdout)
    return done.returncode, {c["name"]: c for c in report["checks"]}, done.stdout


def test_a_healthy_home_with_its_daemon_exits_0(home: Path) -> None:
    daemon = start_daemon(home)
    try:
        wait_for(lambda: query(home, "SELECT count(*) FROM scheduler_lease")[0][0] == 1)
        code, checks, out = _doctor(home)
        assert code == 0, out
        assert checks["mcp server echo"]["message"].startswith("started, ")
        assert f"pid {daemon.pid}" in checks["scheduler"]["message"]
        text = cli(home, "doctor")
        assert text.returncode == 0
        status = json.loads(cli(home, "tasks", "status", "--json").stdout)
        assert status["overdue"] == [] and status["last_run"] is None
        assert 0 <= status["scheduler"]["lease_holder"]["heartbeat_age_seconds"] < 10
        assert all(line.startswith("ok ") for line in text.stdout.splitlines()), text.stdout
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)


def test_no_scheduler_with_an_enabled_task_fails_with_the_fix(home: Path) -> None:
    code, checks, out = _doctor(home)
    assert code == 2, out
    assert checks["scheduler"]["level"] == "fail"
    assert "1 enabled task(s) will not run" in checks["scheduler"]["message"]
    assert "taskagent service install" in checks["scheduler"]["fix"]


def test_a_killed_daemon_is_named_with_its_pid(home: Path) -> None:
    daemon = start_daemon(home)
    wait_for(lambda: query(home, "SELECT count(*) FROM scheduler_lease")[0][0] == 1)
    daemon.kill()
    daemon.wait(timeout=30)
    code, checks, out = _doctor(home)
    assert code == 2, out
    message = checks["scheduler"]["message"]
    assert f"pid {daemon.pid}" in message and "is gone" in message and "heartbeat" in message


def test_a_broken_server_entry_is_named(home: Path) -> None:
    _servers(
        home,
        echo={"command": sys.executable, "args": [str(ECHO_SERVER)]},
        broken={
            "command": sys.executable,
            "args": [str(ECHO_SERVER)],
            "env": {"ECHO_SERVER_FAIL": "cannot load its config"},
        },
    )
    code, checks, out = _doctor(home)
    assert code == 2, out
    assert checks["mcp server echo"]["level"] == "ok"
    broken = checks["mcp server broken"]
    assert broken["level"] == "fail"
    assert '"broken" in mcp.json' in broken["fix"]


def test_a_bad_mcp_json_and_a_bad_setting_are_lines_not_crashes(home: Path) -> None:
    (home / "mcp.json").write_text("{not json")
    (home / "config.toml").write_text("[scheduler]\nworker_threads = 0\n")
    code, checks, out = _doctor(home)
    assert code == 2, out
    assert checks["settings"]["level"] == "fail"
    assert "worker_threads" in checks["settings"]["message"]
    assert checks["mcp.json"]["level"] == "fail"
    assert str(home / "mcp.json") in checks["mcp.json"]["message"]
    assert checks["database"]["level"] == "ok"  # the other checks still ran


def test_a_damaged_database_gives_the_one_line_every_command_gives(tmp_path: Path) -> None:
    db = tmp_path / "taskagent.db"
    db.write_bytes(bytes(range(256)) * 16)
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    listed = cli(tmp_path, "tasks", "list")
    code, checks, out = _doctor(tmp_path)
    assert code == 2, out
    assert listed.stderr.strip() == f"taskagent: {checks['database']['message']}"
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before


def test_a_daemon_pings_its_url_while_it_runs_and_stops_when_stopped(tmp_path: Path) -> None:
    with PingReceiver() as receiver:
        (tmp_path / "config.toml").write_text(
            f'[health]\nping_url = "{receiver.origin}/hc/abc"\nping_every = "1s"\n'
        )
        daemon = start_daemon(tmp_path)
        try:
            wait_for(lambda: receiver.count >= 3)
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=30)
        stopped_at = receiver.count
        # The daemon is gone; a run of the watchdog-side check (doctor) sends no pings.
        cli(tmp_path, "doctor")
        assert receiver.count == stopped_at
        assert set(receiver.paths) == {"/hc/abc"}


def test_the_watchdog_notifies_a_dead_daemon_once_and_its_recovery_once(home: Path) -> None:
    daemon = start_daemon(home)
    wait_for(lambda: query(home, "SELECT count(*) FROM scheduler_lease")[0][0] == 1)
    daemon.kill()
    daemon.wait(timeout=30)
    state = home / "watchdog.json"

    first = cli(home, "doctor", "--watch")
    assert first.returncode == 2
    assert "notified (log only" in first.stderr and "scheduler failing" in first.stderr
    assert "scheduler" in json.loads(state.read_text())["problems"]
    again = cli(home, "doctor", "--watch")
    assert again.returncode == 2 and "notified" not in again.stderr

    daemon = start_daemon(home)
    try:
        wait_for(lambda: query(home, "SELECT pid FROM scheduler_lease") == [(daemon.pid,)])
        healed = cli(home, "doctor", "--watch")
        assert healed.returncode == 0, healed.stdout
        assert healed.stderr.count("notified") == 1 and "scheduler recovered" in healed.stderr
        assert json.loads(state.read_text())["problems"] == {}
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)


def test_the_watchdog_reaches_the_notify_channels_and_the_fallback(home: Path) -> None:
    from tests.support.webhook_receiver import webhook_receiver

    with webhook_receiver(always=500) as broken, webhook_receiver() as fallback:
        (home / "config.toml").write_text(
            "[notifications]\ndesktop = false\n"
            f'[notify]\nchannels = ["desktop", "{broken.url()}"]\n'
            f'fallback = "{fallback.url("fallback")}"\n'
        )
        # No scheduler at all: a failure the watchdog tells about once.
        first = cli(home, "doctor", "--watch")
        assert first.returncode == 2
        assert "notified (" in first.stderr and "json://127.…" in first.stderr  # masked
        assert "json://127.0.0.1" not in first.stderr and "error=500" in first.stderr
        assert broken.requests >= 1 and broken.accepted == []
        (message,) = fallback.accepted  # the broken channel's message went to the fallback
        assert "scheduler" in json.dumps(message)
        again = cli(home, "doctor", "--watch")
        assert again.returncode == 2 and len(fallback.accepted) == 1  # once per problem
