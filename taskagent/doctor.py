"""`taskagent doctor [--json] [--watch]`: every check of a taskagent home, one line each.

The checks themselves are in core/health/probes.py; this module gathers what they need from
the settings and the files, bounds each in time, prints them, and in `--watch` mode hands them
to the watchdog, which notifies through the notifier (`notify_notice`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from taskagent.core.clock import SYSTEM_CLOCK, Clock
from taskagent.core.health import probes
from taskagent.core.health.report import Check, Level, bounded, exit_code, fail, ok, to_json, warn
from taskagent.paths import Paths

if TYPE_CHECKING:
    from taskagent.config import Settings
    from taskagent.core.health.watchdog import Send, Sent
    from taskagent.core.mcp import ServerSpec
    from taskagent.core.notify import Notifier, Severity
    from taskagent.core.store import Repository

# Time limits: a server may take a while to start (a Python one ~1 s, an npx one more).
SERVER_SECONDS = 20.0
CHECK_SECONDS = 10.0

WATCHDOG_STATE = "watchdog.json"


def settings_line(paths: Paths, error: str | None) -> Check:
    if error is not None:
        return fail("settings", error, f"edit {paths.config_file} or the variable it names")
    if not paths.config_file.exists():
        return ok("settings", "no config.toml: the defaults (`taskagent config init` writes one)")
    return ok("settings", f"{paths.config_file} is valid")


async def _mcp_lines(paths: Paths, seconds: float) -> list[Check]:
    """mcp.json valid, then every server in it started and asked for its tools."""
    from taskagent.core.mcp import McpConfigError, load_mcp_config
    from taskagent.core.mcp.mcp_json import check_server_name
    from taskagent.services import BUILTIN_BACKGROUND, BUILTIN_CRYPTO

    try:
        specs = load_mcp_config(paths.mcp_file)
        for name in specs:  # the same names every command refuses
            builtin = name in (BUILTIN_CRYPTO, BUILTIN_BACKGROUND)
            check_server_name(name, "builtin" if builtin else None)
    except McpConfigError as exc:
        return [fail("mcp.json", str(exc), f"edit {paths.mcp_file}")]
    if not specs:
        return [ok("mcp.json", "no servers of your own (the built-in ones need no set-up)")]
    head = ok("mcp.json", f"{len(specs)} server(s): {', '.join(specs)}")
    return [head, *await _server_lines(paths, specs, seconds)]


async def _server_lines(paths: Paths, specs: dict[str, ServerSpec], seconds: float) -> list[Check]:
    from taskagent.core.mcp import McpManager

    home = os.environ.get("TASKAGENT_HOME")  # what the daemon passes its servers too
    manager = McpManager(
        log_dir=paths.log_dir,
        connect_timeout=seconds,
        extra_env={"TASKAGENT_HOME": home} if home else {},
    )
    try:
        manager.add_configured(specs)
    except Exception as exc:
        return [fail("mcp servers", str(exc), f"edit {paths.mcp_file}")]
    try:
        await manager.start()
        rows = [(s.name, s.state, s.error, s.tool_count) for s in manager.status()]
        return probes.servers(rows, {name: manager.log_path(name) for name in specs})
    finally:
        with contextlib.suppress(Exception):
            await manager.close()


async def _repository_lines(repo: Repository, settings: Settings, clock: Clock) -> list[Check]:
    from taskagent.core.ai_ledger import AiLedger
    from taskagent.core.budget import Budget
    from taskagent.core.models import TaskState
    from taskagent.core.status_report import spend_words

    now = clock.now()
    tasks = await repo.list_tasks()
    enabled = sum(task.state is TaskState.ACTIVE for task in tasks)
    lines = [
        probes.scheduler(await repo.current_lease(), now, enabled=enabled),
        probes.overdue(tasks, now),
    ]
    ledger = AiLedger(repo, timezone=settings.timezone, prices=settings.ai_prices, clock=clock.now)
    budget = Budget(
        ledger,
        daily_tokens=settings.ai_daily_token_budget,
        daily_cost=settings.ai_daily_cost_budget,
    )
    state = (await budget.state()).to_dict()
    spent, limits = spend_words({"today": (await ledger.day_usage()).to_dict(), "budget": state})
    lines += probes.gemini(
        settings.has_ai_key, spent, limits=limits, reached=bool(state.get("reached"))
    )
    return lines


async def _with_repository(settings: Settings, clock: Clock) -> list[Check]:
    from taskagent.core.store import Repository

    repo = await Repository.open(settings.paths.db_file, clock=clock.now)
    try:
        return await _repository_lines(repo, settings, clock)
    finally:
        await repo.close()


def build_notifier(settings: Settings | None) -> Notifier:
    """The notifier doctor checks and the watchdog sends through: the one seam to point at
    the notification channels the settings configure. No cooldown: the watchdog sends at most
    one message per problem itself."""
    from taskagent.core.notify import Notifier

    desktop = True if settings is None else settings.notifications_desktop
    return Notifier(cooldown_seconds=0, use_desktop=desktop)


async def notification_lines(settings: Settings) -> list[Check]:
    """How notifications would reach you: the desktop service, then one line per channel of
    `[notify]` (and the fallback) with the last delivery's outcome on it."""
    return [*await _desktop_line(settings), *await asyncio.to_thread(channel_lines, settings)]


def channel_lines(settings: Settings) -> list[Check]:
    """Each `[notify]` channel (masked) and its last receipt, read-only from the database; a
    channel whose last delivery failed is a warning naming the error."""
    from taskagent.core.channels import resolve_all

    try:
        channels = resolve_all(list(settings.notify_channels), settings.notify_named)
        if settings.notify_fallback:
            channels += resolve_all([settings.notify_fallback], settings.notify_named)
    except Exception as exc:  # settings were validated; a name that went missing
        return [fail("channels", str(exc), "fix [notify] in config.toml")]
    lines = []
    for channel in channels:
        if channel.is_desktop:
            continue
        last = probes.last_receipt(settings.paths.db_file, channel.label)
        if last is None:
            lines.append(ok("channel", f"{channel.label}: nothing sent yet"))
        elif last[0] == "failed":
            fix = f"`taskagent notify test {channel.label}` tries it once and shows the reason"
            lines.append(warn("channel", f"{channel.label}: last delivery failed: {last[1]}", fix))
        else:
            lines.append(ok("channel", f"{channel.label}: last delivery {last[0]}"))
    return lines


async def _desktop_line(settings: Settings) -> list[Check]:
    notifier = build_notifier(settings)
    await notifier.start()
    try:
        backend = notifier.backend
        if notifier.desktop_available:
            return [ok("notifications", backend)]
        if not settings.notifications_desktop:
            return [ok("notifications", f"{backend}; switched off in the settings")]
        return [
            warn(
                "notifications",
                backend,
                "run taskagent inside your desktop session (a DBus session bus and a "
                "notification service), or set [notifications] desktop = false",
            )
        ]
    finally:
        await notifier.aclose()


def file_lines(paths: Paths) -> list[Check]:
    folder = paths.data_dir if paths.data_dir.exists() else paths.data_dir.parent
    return [
        probes.disk(folder),
        probes.permissions(
            [paths.config_dir, paths.data_dir, paths.log_dir],
            [paths.config_file, paths.mcp_file],
            paths.db_file,
        ),
    ]


async def collect(
    paths: Paths,
    settings: Settings | None,
    settings_error: str | None = None,
    *,
    clock: Clock = SYSTEM_CLOCK,
    server_seconds: float = SERVER_SECONDS,
) -> list[Check]:
    """Every check, in the order they are printed; each bounded in time."""
    lines = [settings_line(paths, settings_error)]
    lines += await bounded(
        "mcp servers",
        lambda: _mcp_lines(paths, server_seconds),
        server_seconds + CHECK_SECONDS,
        clock=clock,
    )
    database = await bounded(
        "database",
        lambda: _threaded(probes.database, paths.db_file),
        CHECK_SECONDS,
        clock=clock,
    )
    lines += database
    if settings is not None and database[0].level is Level.OK:
        lines += await bounded(
            "scheduler", lambda: _with_repository(settings, clock), CHECK_SECONDS, clock=clock
        )
    if settings is not None:
        lines += await bounded(
            "notifications", lambda: notification_lines(settings), CHECK_SECONDS, clock=clock
        )
    lines += file_lines(paths)
    return lines


async def _threaded(probe: Callable[[Path], Check], path: Path) -> list[Check]:
    return [await asyncio.to_thread(probe, path)]


def print_checks(checks: list[Check], *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(to_json(checks), indent=2, ensure_ascii=False))
        return
    for check in checks:
        print(check.line())


async def watch(
    paths: Paths, checks: list[Check], send: Send, *, clock: Clock = SYSTEM_CLOCK
) -> list[Sent]:
    from taskagent.core.health.watchdog import Watchdog

    return await Watchdog(paths.data_dir / WATCHDOG_STATE, send, clock=clock).observe(checks)


async def _run(
    paths: Paths, settings: Settings | None, error: str | None, *, watching: bool, as_json: bool
) -> int:
    checks = await collect(paths, settings, error)
    print_checks(checks, as_json=as_json)
    if watching:
        await _watch_and_notify(paths, settings, checks)
    return exit_code(checks)


async def _watch_and_notify(paths: Paths, settings: Settings | None, checks: list[Check]) -> None:
    """Hand the checks to the watchdog, which sends through the desktop notifier and every
    channel of `[notify]` (the fallback when a channel fails); what it sent goes to stderr
    (the journal under systemd; stdout may be JSON). It sends straight to the channels, not
    through the delivery queue: the database it would keep receipts in may be what is broken.
    """
    notifier = build_notifier(settings)
    channels = ChannelSend(settings)
    await notifier.start()

    async def send(title: str, body: str, severity: Severity) -> None:
        await notifier.notify_notice(title, body, severity, kind="watchdog")
        await channels.send(title, body, severity)

    try:
        sent = await watch(paths, checks, send)
    finally:
        await notifier.aclose()
    where = ", ".join([notifier.backend, *channels.labels])
    for note in sent:
        print(f"taskagent doctor: notified ({where}): {note.title}", file=sys.stderr)
    for problem in channels.problems:
        print(f"taskagent doctor: {problem}", file=sys.stderr)


class ChannelSend:
    """The watchdog's messages to the `[notify]` channels (not the desktop: the notifier has
    it), each tried once, then the fallback when one fails. Never raises; what failed is kept
    in `problems` (secrets masked)."""

    def __init__(self, settings: Settings | None) -> None:
        from taskagent.core.channels import resolve_all

        self.problems: list[str] = []
        self.channels: list[Any] = []
        self.fallback: list[Any] = []
        if settings is None:
            return
        try:
            resolved = resolve_all(list(settings.notify_channels), settings.notify_named)
            self.channels = [c for c in resolved if not c.is_desktop]
            if settings.notify_fallback:
                self.fallback = [
                    c
                    for c in resolve_all([settings.notify_fallback], settings.notify_named)
                    if not c.is_desktop
                ]
        except Exception as exc:  # a channel that cannot be used: said, never raised
            self.problems.append(f"channels not used: {exc}")

    @property
    def labels(self) -> list[str]:
        return [c.label for c in self.channels]

    async def send(self, title: str, body: str, severity: Severity) -> None:
        from taskagent.core.delivery import AppriseSender, Message

        sender = AppriseSender()
        message = Message(title, body, severity=severity, kind="watchdog", urgent=True)
        failed = False
        for channel in self.channels:
            try:
                await sender.send(channel.url, message)
            except Exception as exc:
                failed = True
                self.problems.append(f"{channel.label}: {exc}")
        for channel in self.fallback if failed else []:
            try:
                await sender.send(channel.url, message)
            except Exception as exc:
                self.problems.append(f"fallback {channel.label}: {exc}")


def run_doctor(
    paths: Paths, settings: Settings | None, error: str | None, *, watching: bool, as_json: bool
) -> int:
    try:
        return asyncio.run(_run(paths, settings, error, watching=watching, as_json=as_json))
    except KeyboardInterrupt:
        return 130


__all__ = ["collect", "run_doctor", "watch"]
