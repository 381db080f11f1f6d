"""`taskagent service`: the unit files (checked by `systemd-analyze verify` where it exists), the
launchd agents, --dry-run, and install/uninstall/status through a recording command runner (the
service managers themselves are not ours to start in a test)."""

from __future__ import annotations

import plistlib
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from taskagent.config import load_settings
from taskagent.paths import resolve_paths
from taskagent.service_install import (
    DAEMON_LABEL,
    DAEMON_UNIT,
    WATCH_TIMER,
    plan_for,
    run_command,
    run_service_command,
    taskagent_command,
)
from tests.support.daemon_proc import env


class Recorder:
    """Stands in for systemctl/launchctl: records each command, answers like they would."""

    def __init__(self, answers: dict[str, str] | None = None, fail: str | None = None) -> None:
        self.commands: list[list[str]] = []
        self.answers = answers or {}
        self.fail = fail

    def __call__(self, command: Sequence[str]) -> subprocess.CompletedProcess[str]:
        self.commands.append(list(command))
        text = " ".join(command)
        if self.fail is not None and self.fail in text:
            return subprocess.CompletedProcess(command, 1, "", "Failed to connect to bus\n")
        out = next((a for key, a in self.answers.items() if key in text), "")
        return subprocess.CompletedProcess(command, 0, out, "")


def _environ(tmp_path: Path, home: Path) -> dict[str, str]:
    return {
        "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
        "HOME": str(tmp_path / "user"),
        "TASKAGENT_HOME": str(home),
        "PATH": "/opt/tools/bin:/usr/bin:/bin",
    }


def test_install_writes_the_units_and_enables_them(tmp_path: Path, taskagent_home: Path) -> None:
    settings = load_settings(resolve_paths())
    runner = Recorder()
    environ = _environ(tmp_path, taskagent_home)
    code = run_service_command(
        settings, "install", dry_run=False, runner=runner, platform="linux", environ=environ
    )
    assert code == 0
    folder = tmp_path / "xdg" / "systemd" / "user"
    daemon = (folder / DAEMON_UNIT).read_text()
    assert f"ExecStart={taskagent_command()[0]} daemon" in daemon
    assert f"Environment=TASKAGENT_HOME={taskagent_home}" in daemon
    assert "Environment=PATH=/opt/tools/bin:/usr/bin:/bin" in daemon
    assert "doctor --watch" in (folder / "taskagent-watchdog.service").read_text()
    assert "OnUnitActiveSec=5min" in (folder / WATCH_TIMER).read_text()
    assert runner.commands == [
        ["systemctl", "--user", "daemon-reload"],
        ["systemctl", "--user", "enable", "--now", DAEMON_UNIT, WATCH_TIMER],
    ]

    status = Recorder({"is-enabled": "enabled\n", "is-active": "active\n"})
    assert (
        run_service_command(
            settings, "status", dry_run=False, runner=status, platform="linux", environ=environ
        )
        == 0
    )

    removed = Recorder()
    assert (
        run_service_command(
            settings, "uninstall", dry_run=False, runner=removed, platform="linux", environ=environ
        )
        == 0
    )
    assert removed.commands[0] == [
        "systemctl",
        "--user",
        "disable",
        "--now",
        DAEMON_UNIT,
        WATCH_TIMER,
    ]
    assert not list(folder.iterdir())


def test_status_says_installed_enabled_and_running(
    tmp_path: Path, taskagent_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = load_settings(resolve_paths())
    environ = _environ(tmp_path, taskagent_home)
    run_service_command(
        settings, "status", dry_run=False, runner=Recorder(), platform="linux", environ=environ
    )
    assert capsys.readouterr().out.splitlines() == [
        f"{DAEMON_UNIT}: not installed",
        f"{WATCH_TIMER}: not installed",
    ]
    run_service_command(
        settings, "install", dry_run=False, runner=Recorder(), platform="linux", environ=environ
    )
    capsys.readouterr()
    answers = Recorder({"is-enabled": "enabled\n", "is-active": "active\n"})
    run_service_command(
        settings, "status", dry_run=False, runner=answers, platform="linux", environ=environ
    )
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith(f"{DAEMON_UNIT}: installed (") and first.endswith(", enabled, active")


def test_a_failing_service_manager_is_one_line_and_exit_1(
    tmp_path: Path, taskagent_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = load_settings(resolve_paths())
    code = run_service_command(
        settings,
        "install",
        dry_run=False,
        runner=Recorder(fail="enable"),
        platform="linux",
        environ=_environ(tmp_path, taskagent_home),
    )
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"taskagent: `systemctl --user enable --now {DAEMON_UNIT} {WATCH_TIMER}` failed "
        "(exit 1): Failed to connect to bus"
    ]


def test_dry_run_prints_the_files_and_commands_and_writes_nothing(tmp_path: Path) -> None:
    xdg = tmp_path / "xdg"
    done = subprocess.run(
        [sys.executable, "-m", "taskagent", "service", "install", "--dry-run"],
        env=env(tmp_path) | {"XDG_CONFIG_HOME": str(xdg)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert f"# would write {xdg}/systemd/user/{DAEMON_UNIT}" in done.stdout
    assert f"systemctl --user enable --now {DAEMON_UNIT} {WATCH_TIMER}" in done.stdout
    assert not xdg.exists()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_the_unit_files_pass_systemd_analyze_verify(tmp_path: Path, taskagent_home: Path) -> None:
    plan = plan_for(
        "linux", resolve_paths(), _environ(tmp_path, taskagent_home), taskagent_command()
    )
    assert plan is not None
    for item in plan.files:
        item.path.parent.mkdir(parents=True, exist_ok=True)
        item.path.write_text(item.text)
    done = subprocess.run(
        ["systemd-analyze", "verify", *(str(item.path) for item in plan.files)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == ""  # unknown keys are only warnings there


def test_macos_gets_launchd_agents(tmp_path: Path, taskagent_home: Path) -> None:
    plan = plan_for(
        "darwin", resolve_paths(), _environ(tmp_path, taskagent_home), ["/bin/taskagent"]
    )
    assert plan is not None
    agents = {item.path.name: plistlib.loads(item.text.encode()) for item in plan.files}
    daemon = agents[f"{DAEMON_LABEL}.plist"]
    assert daemon["ProgramArguments"] == ["/bin/taskagent", "daemon"]
    assert daemon["EnvironmentVariables"]["TASKAGENT_HOME"] == str(taskagent_home)
    watchdog = agents["dev.taskagent.watchdog.plist"]
    assert watchdog["ProgramArguments"][1:] == ["doctor", "--watch"]
    assert watchdog["StartInterval"] == 300
    assert plan.install[0][:2] == ["launchctl", "bootstrap"]


def test_an_unknown_platform_is_one_line(
    taskagent_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = load_settings(resolve_paths())
    assert run_service_command(settings, "install", dry_run=False, platform="win32") == 1
    assert "no service manager support on win32" in capsys.readouterr().err


def test_a_missing_service_manager_is_one_line(
    tmp_path: Path, taskagent_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = load_settings(resolve_paths())
    environ = _environ(tmp_path, taskagent_home)

    def absent(command: Sequence[str]) -> subprocess.CompletedProcess[str]:
        return run_command(["no-such-systemctl-here", *command[1:]])

    code = run_service_command(
        settings, "install", dry_run=False, runner=absent, platform="linux", environ=environ
    )
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "`no-such-systemctl-here` was not found" in err[0]
