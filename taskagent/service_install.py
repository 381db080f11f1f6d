"""`taskagent service install|uninstall|status [--dry-run]`: the daemon as a user service that
starts at login and restarts after a crash, plus a timer running the watchdog
(`taskagent doctor --watch`) every 5 minutes, outside the daemon's process.

Linux: systemd `--user` units in `$XDG_CONFIG_HOME/systemd/user` (`taskagent.service`,
`taskagent-watchdog.service`, `taskagent-watchdog.timer`). macOS: launchd agents in
`~/Library/LaunchAgents`. The files name the `taskagent` that runs this command, the data folder
in force (TASKAGENT_HOME when set) and this shell's PATH (so mcp.json's commands are found as in
the terminal). Secrets are never written into them: systemd reads an optional `service.env`
beside config.toml (`GEMINI_API_KEY=...`).
"""

from __future__ import annotations

import os
import plistlib
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from taskagent.core.errors import TaskAgentError
from taskagent.paths import Paths

if TYPE_CHECKING:
    from taskagent.config import Settings

WATCH_EVERY_MINUTES = 5
# The daemon's stop grace (`--grace`, default 10 s) plus its slack: the service manager waits
# this long after SIGTERM before it kills.
STOP_TIMEOUT_SECONDS = 20
DAEMON_UNIT = "taskagent.service"
WATCH_SERVICE = "taskagent-watchdog.service"
WATCH_TIMER = "taskagent-watchdog.timer"
DAEMON_LABEL = "dev.taskagent.daemon"
WATCH_LABEL = "dev.taskagent.watchdog"
ENV_FILE = "service.env"

Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


class ServiceError(TaskAgentError):
    """A service manager command failed; the message is one line for the user."""


def run_command(command: Sequence[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            list(command), capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
        )
    except FileNotFoundError:
        raise ServiceError(
            f"`{command[0]}` was not found: this system has no {command[0]} to run services "
            "(run `taskagent daemon` under your own supervisor)"
        ) from None


def taskagent_command() -> list[str]:
    """The installed `taskagent` beside this interpreter, else `python -m taskagent`."""
    beside = Path(sys.executable).parent / "taskagent"
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside)]
    return [sys.executable, "-m", "taskagent"]


def service_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """What the service gets of this shell: the data folder and PATH; nothing secret."""
    env = {"PATH": environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")}
    if environ.get("TASKAGENT_HOME"):
        env["TASKAGENT_HOME"] = str(Path(environ["TASKAGENT_HOME"]).expanduser().resolve())
    return env


@dataclass(frozen=True)
class ServiceFile:
    path: Path
    text: str


@dataclass(frozen=True)
class Plan:
    """What install, uninstall and status do on this platform."""

    files: list[ServiceFile]
    install: list[list[str]]
    uninstall: list[list[str]]
    units: list[tuple[str, Path]] = field(default_factory=list)  # (unit or label, its file)


# ------------------------------------------------------------------------------- systemd
def _systemd_quote(word: str) -> str:
    """One argument of ExecStart / Environment, quoted for systemd; `%` is its specifier."""
    word = word.replace("%", "%%")
    if word and not any(c in word for c in " \t\"'\\"):
        return word
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _exec(command: Sequence[str]) -> str:
    return " ".join(_systemd_quote(word) for word in command)


def _environment(env: Mapping[str, str]) -> str:
    return "\n".join(f"Environment={_systemd_quote(f'{k}={v}')}" for k, v in sorted(env.items()))


def systemd_units(command: Sequence[str], env: Mapping[str, str], paths: Paths) -> dict[str, str]:
    env_file = _systemd_quote(str(paths.config_dir / ENV_FILE))
    daemon = f"""\
[Unit]
Description=taskagent daemon: scheduled MCP tool runs

[Service]
Type=exec
ExecStart={_exec([*command, "daemon"])}
{_environment(env)}
EnvironmentFile=-{env_file}
Restart=on-failure
RestartSec=10
TimeoutStopSec={STOP_TIMEOUT_SECONDS}

[Install]
WantedBy=default.target
"""
    watch_service = f"""\
[Unit]
Description=taskagent watchdog: notify when taskagent is not healthy

[Service]
Type=oneshot
ExecStart={_exec([*command, "doctor", "--watch"])}
{_environment(env)}
EnvironmentFile=-{env_file}
# doctor's exit status says ok (0), warnings (1) or failures (2); none is the unit's failure
SuccessExitStatus=1 2
"""
    timer = f"""\
[Unit]
Description=taskagent watchdog every {WATCH_EVERY_MINUTES} minutes

[Timer]
OnBootSec=2min
OnUnitActiveSec={WATCH_EVERY_MINUTES}min
Unit={WATCH_SERVICE}

[Install]
WantedBy=timers.target
"""
    return {DAEMON_UNIT: daemon, WATCH_SERVICE: watch_service, WATCH_TIMER: timer}


def systemd_plan(
    command: Sequence[str], env: Mapping[str, str], paths: Paths, environ: Mapping[str, str]
) -> Plan:
    config = Path(environ.get("XDG_CONFIG_HOME") or Path(environ.get("HOME", "~")) / ".config")
    folder = config.expanduser() / "systemd" / "user"
    units = systemd_units(command, env, paths)
    files = [ServiceFile(folder / name, text) for name, text in units.items()]
    ctl = ["systemctl", "--user"]
    return Plan(
        files=files,
        install=[[*ctl, "daemon-reload"], [*ctl, "enable", "--now", DAEMON_UNIT, WATCH_TIMER]],
        uninstall=[[*ctl, "disable", "--now", DAEMON_UNIT, WATCH_TIMER], [*ctl, "daemon-reload"]],
        units=[(DAEMON_UNIT, folder / DAEMON_UNIT), (WATCH_TIMER, folder / WATCH_TIMER)],
    )


# ------------------------------------------------------------------------------- launchd
def launchd_agents(command: Sequence[str], env: Mapping[str, str], paths: Paths) -> dict[str, str]:
    daemon = {
        "Label": DAEMON_LABEL,
        "ProgramArguments": [*command, "daemon"],
        "EnvironmentVariables": dict(env),
        "RunAtLoad": True,
        "KeepAlive": {"SuccessfulExit": False},
        "ExitTimeOut": STOP_TIMEOUT_SECONDS,
        "StandardErrorPath": str(paths.log_dir / "daemon-stderr.log"),
    }
    watch = {
        "Label": WATCH_LABEL,
        "ProgramArguments": [*command, "doctor", "--watch"],
        "EnvironmentVariables": dict(env),
        "StartInterval": WATCH_EVERY_MINUTES * 60,
        "RunAtLoad": True,
        "StandardErrorPath": str(paths.log_dir / "watchdog-stderr.log"),
    }
    return {
        label: plistlib.dumps(agent).decode()
        for label, agent in ((DAEMON_LABEL, daemon), (WATCH_LABEL, watch))
    }


def launchd_plan(
    command: Sequence[str], env: Mapping[str, str], paths: Paths, environ: Mapping[str, str]
) -> Plan:
    folder = Path(environ.get("HOME", "~")).expanduser() / "Library" / "LaunchAgents"
    domain = f"gui/{os.getuid()}"
    agents = launchd_agents(command, env, paths)
    files = [ServiceFile(folder / f"{label}.plist", text) for label, text in agents.items()]
    return Plan(
        files=files,
        install=[["launchctl", "bootstrap", domain, str(f.path)] for f in files],
        uninstall=[["launchctl", "bootout", f"{domain}/{label}"] for label in agents],
        units=[(label, folder / f"{label}.plist") for label in agents],
    )


def plan_for(
    platform: str, paths: Paths, environ: Mapping[str, str], command: Sequence[str]
) -> Plan | None:
    env = service_environment(environ)
    if platform.startswith("linux"):
        return systemd_plan(command, env, paths, environ)
    if platform == "darwin":
        return launchd_plan(command, env, paths, environ)
    return None


# ------------------------------------------------------------------------------- actions
def _run_all(commands: list[list[str]], runner: Runner, *, strict: bool) -> None:
    for command in commands:
        done = runner(command)
        if done.returncode != 0 and strict:
            why = (done.stderr or done.stdout or "").strip().splitlines()
            raise ServiceError(
                f"`{' '.join(command)}` failed (exit {done.returncode})"
                + (f": {why[0]}" if why else "")
            )


def install(plan: Plan, runner: Runner) -> list[str]:
    for item in plan.files:
        item.path.parent.mkdir(parents=True, exist_ok=True)
        item.path.write_text(item.text, encoding="utf-8")
    _run_all(plan.install, runner, strict=True)
    return [f"wrote {item.path}" for item in plan.files] + [
        f"ran {' '.join(command)}" for command in plan.install
    ]


def uninstall(plan: Plan, runner: Runner) -> list[str]:
    # Not installed, already stopped: the commands' failures are no reason to keep the files.
    _run_all(plan.uninstall, runner, strict=False)
    removed = []
    for item in plan.files:
        if item.path.exists():
            item.path.unlink()
            removed.append(f"removed {item.path}")
    return removed or ["nothing was installed"]


def status_lines(plan: Plan, runner: Runner, platform: str) -> list[str]:
    lines = []
    for unit, path in plan.units:
        if not path.exists():
            lines.append(f"{unit}: not installed")
            continue
        if platform == "darwin":
            done = runner(["launchctl", "print", f"gui/{os.getuid()}/{unit}"])
            loaded = done.returncode == 0
            running = loaded and "state = running" in done.stdout
            lines.append(
                f"{unit}: installed ({path}), {'loaded' if loaded else 'not loaded'}, "
                f"{'running' if running else 'not running'}"
            )
            continue
        enabled = runner(["systemctl", "--user", "is-enabled", unit]).stdout.strip() or "unknown"
        active = runner(["systemctl", "--user", "is-active", unit]).stdout.strip() or "unknown"
        lines.append(f"{unit}: installed ({path}), {enabled}, {active}")
    return lines


def dry_run_text(plan: Plan, action: str) -> str:
    parts: list[str] = []
    if action == "install":
        for item in plan.files:
            parts.append(f"# would write {item.path}\n{item.text}")
        parts.append("# would run\n" + "\n".join(" ".join(c) for c in plan.install))
    elif action == "uninstall":
        parts.append("# would run\n" + "\n".join(" ".join(c) for c in plan.uninstall))
        parts.append("# would remove\n" + "\n".join(str(f.path) for f in plan.files))
    else:
        parts.append("# would look at\n" + "\n".join(str(path) for _, path in plan.units))
    return "\n".join(parts)


def run_service_command(
    settings: Settings,
    action: str,
    *,
    dry_run: bool,
    runner: Runner = run_command,
    platform: str = sys.platform,
    environ: Mapping[str, str] | None = None,
) -> int:
    environ = os.environ if environ is None else environ
    plan = plan_for(platform, settings.paths, environ, taskagent_command())
    if plan is None:
        print(
            f"taskagent: no service manager support on {platform} (systemd on Linux, launchd "
            "on macOS); run `taskagent daemon` under yours",
            file=sys.stderr,
        )
        return 1
    if dry_run:
        print(dry_run_text(plan, action))
        return 0
    try:
        if action == "install":
            lines = install(plan, runner)
        elif action == "uninstall":
            lines = uninstall(plan, runner)
        else:
            lines = status_lines(plan, runner, platform)
    except (ServiceError, OSError, subprocess.SubprocessError) as exc:
        print(f"taskagent: {exc}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0
