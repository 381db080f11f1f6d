"""Files are the user's alone: folders 0700, files 0600 (database and its WAL files, logs,
exports, `config init`), whatever the umask; left-over wider modes are narrowed at start; a log
or an export is never written through a symbolic link; a folder owned by another user is
refused with one line. Real `taskagent` processes (CLI and daemon) on a temporary home."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.daemon_proc import cli, env, wait_for

pytestmark = pytest.mark.slow
TASK = ("tasks", "add", "mine", "--every", "1s", "--no-summary")
TOOL = ("--tool", "background:list_background_tasks")


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def loose_umask() -> None:
    os.umask(0o022)  # what most systems give a user: files 0644, folders 0755


def run_daemon_until_a_run(home: Path) -> tuple[int, str, dict[str, int]]:
    """Start `taskagent daemon` (umask 022), wait for a recorded run, note the modes of the
    database's WAL files while it runs, stop it; (status, stderr, modes)."""
    daemon = subprocess.Popen(
        [sys.executable, "-m", "taskagent", "daemon", "--grace", "2"],
        env=env(home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        preexec_fn=loose_umask,
    )
    seen: dict[str, int] = {}
    log_file = home / "logs" / "taskagent.log"
    try:
        wait_for(lambda: log_file.exists() and '"mine": success' in log_file.read_text(), 60)
        for name in ("taskagent.db-wal", "taskagent.db-shm"):
            if (home / name).exists():
                seen[name] = mode(home / name)
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, err = daemon.communicate(timeout=30)
    return daemon.returncode, err, seen


def test_the_daemon_keeps_every_file_private_and_narrows_old_ones(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    added = cli(home, *TASK, *TOOL)
    assert added.returncode == 0, added.stderr
    # what an earlier version left: everything readable by everybody
    os.chmod(home, 0o755)
    os.chmod(home / "taskagent.db", 0o644)
    (home / "logs").mkdir(exist_ok=True)
    os.chmod(home / "logs", 0o755)
    old_log = home / "logs" / "taskagent.log"
    old_log.write_text("an old line\n")
    os.chmod(old_log, 0o644)
    rotated = home / "logs" / "taskagent.log.1"
    rotated.write_text("an older line\n")
    os.chmod(rotated, 0o644)

    status, err, wal_modes = run_daemon_until_a_run(home)

    assert status == 0, err[-2000:]
    assert wal_modes.get("taskagent.db-wal") == 0o600, wal_modes
    assert wal_modes.get("taskagent.db-shm") == 0o600, wal_modes
    assert mode(home) == 0o700
    assert mode(home / "logs") == 0o700
    assert mode(home / "taskagent.db") == 0o600
    assert mode(old_log) == 0o600 and "an old line" in old_log.read_text()
    assert mode(rotated) == 0o600
    assert mode(home / "logs" / "mcp-builtin.log") == 0o600


def test_a_new_home_is_private_from_the_first_command(tmp_path: Path) -> None:
    home = tmp_path / "new"
    result = subprocess.run(
        [sys.executable, "-m", "taskagent", *TASK, *TOOL],
        env=env(home),
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=loose_umask,
    )
    assert result.returncode == 0, result.stderr
    assert mode(home) == 0o700 and mode(home / "logs") == 0o700
    assert mode(home / "taskagent.db") == 0o600


def test_a_symlink_at_the_log_file_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "logs").mkdir(parents=True)
    target = tmp_path / "unrelated.txt"
    target.write_text("mine\n")
    (home / "logs" / "taskagent.log").symlink_to(target)
    result = subprocess.run(
        [sys.executable, "-m", "taskagent", "daemon", "--grace", "1"],
        env=env(home),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "taskagent.log is a symbolic link" in lines[0] and "Traceback" not in result.stderr
    assert target.read_text() == "mine\n"


def test_an_export_is_private_and_never_written_through_a_link(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert cli(home, *TASK, *TOOL).returncode == 0
    out = tmp_path / "tasks.json"
    exported = subprocess.run(
        [sys.executable, "-m", "taskagent", "tasks", "export", str(out)],
        env=env(home),
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=loose_umask,
    )
    assert exported.returncode == 0, exported.stderr
    assert mode(out) == 0o600 and '"mine"' in out.read_text()

    target = tmp_path / "unrelated.txt"
    target.write_text("mine\n")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    refused = cli(home, "tasks", "export", str(link))
    assert refused.returncode == 1
    assert refused.stderr.strip().count("\n") == 0
    assert "link.json is a symbolic link" in refused.stderr
    assert target.read_text() == "mine\n"


def test_config_init_writes_a_private_file_and_refuses_a_link(tmp_path: Path) -> None:
    home = tmp_path / "home"
    made = subprocess.run(
        [sys.executable, "-m", "taskagent", "config", "init"],
        env=env(home),
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=loose_umask,
    )
    assert made.returncode == 0, made.stderr
    assert mode(home / "config.toml") == 0o600 and mode(home) == 0o700

    (home / "config.toml").unlink()
    target = tmp_path / "unrelated.toml"
    target.write_text("# mine\n")
    (home / "config.toml").symlink_to(target)
    refused = cli(home, "config", "init", "--force")
    assert refused.returncode == 1
    assert "config.toml is a symbolic link" in refused.stderr
    assert target.read_text() == "# mine\n"


def test_a_data_folder_of_another_user_is_refused_in_one_line(tmp_path: Path) -> None:
    home = tmp_path / "theirs"
    home.mkdir()
    os.chown(home, 65534, 65534)
    for argv in (("tasks", "list"), ("daemon", "--grace", "1")):
        result = cli(home, *argv)
        assert result.returncode == 1, (argv, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert "belongs to another user (uid 65534)" in lines[0]
    assert list(home.iterdir()) == []  # nothing written into it
