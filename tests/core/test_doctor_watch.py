"""doctor's scheduler and overdue checks and the watchdog, driven by the fake clock over a real
SQLite file: a lease holder that stops beating, then beats again."""

from __future__ import annotations

import json
import os
import socket
from datetime import timedelta
from pathlib import Path

import pytest

from taskagent.config import load_settings
from taskagent.core.health import probes
from taskagent.core.health.report import Level, exit_code
from taskagent.core.health.watchdog import Watchdog
from taskagent.core.lease import LEASE_TIMEOUT, LeaseInfo
from taskagent.core.models import Task
from taskagent.core.notify import Notifier
from taskagent.core.store import Repository
from taskagent.doctor import WATCHDOG_STATE, collect
from taskagent.paths import resolve_paths
from tests.support.fake_clock import T0, FakeClock

HOLDER = "test-host:1:abc"


async def _hold_lease(db: Path, clock: FakeClock) -> None:
    """A live process (this one) holds the lease, beating at the clock's time."""
    async with await Repository.open(db, clock=clock.now) as repo:
        now = clock.now()
        info = LeaseInfo(HOLDER, "daemon", os.getpid(), socket.gethostname(), now, now)
        assert await repo.claim_lease(info, may_replace=lambda _: True) is None


async def _beat(db: Path, clock: FakeClock) -> None:
    async with await Repository.open(db, clock=clock.now) as repo:
        assert await repo.renew_lease(HOLDER, clock.now())


async def test_a_frozen_lease_holder_fails_naming_its_pid_and_how_stale() -> None:
    clock = FakeClock()
    paths = resolve_paths()
    settings = load_settings(paths)
    await _hold_lease(paths.db_file, clock)
    fresh = {c.name: c for c in await collect(paths, settings, clock=clock)}
    assert fresh["scheduler"].level is Level.OK

    await clock.advance(LEASE_TIMEOUT.total_seconds() + 15)
    checks = await collect(paths, settings, clock=clock)
    scheduler = {c.name: c for c in checks}["scheduler"]
    assert exit_code(checks) == 2
    assert scheduler.level is Level.FAIL
    assert f"pid {os.getpid()}" in scheduler.message
    assert "last heartbeat 25 s ago" in scheduler.message
    assert "frozen" in scheduler.message


async def test_the_watchdog_notifies_once_per_problem_and_once_on_recovery() -> None:
    clock = FakeClock()
    paths = resolve_paths()
    settings = load_settings(paths)
    notifier = Notifier(use_desktop=False, cooldown_seconds=0)
    await notifier.start()
    watchdog = Watchdog(paths.data_dir / WATCHDOG_STATE, notifier.notify_notice, clock=clock)
    await _hold_lease(paths.db_file, clock)

    async def watch() -> list[str]:
        sent = await watchdog.observe(await collect(paths, settings, clock=clock))
        return [note.title for note in sent]

    assert await watch() == []
    await clock.advance(60)
    assert await watch() == ["taskagent: scheduler failing"]
    assert f"pid {os.getpid()}" in notifier.sent[-1][3]
    for _ in range(3):  # still failing (the heartbeat keeps ageing): no more messages
        await clock.advance(300)
        assert await watch() == []
    state = json.loads((paths.data_dir / WATCHDOG_STATE).read_text())
    assert list(state["problems"]) == ["scheduler"]

    await _beat(paths.db_file, clock)
    assert await watch() == ["taskagent: scheduler recovered"]
    assert await watch() == []
    assert [kind for _, kind, _, _ in notifier.sent] == ["notice", "notice"]
    await clock.advance(60)  # and a new stall is a new problem
    assert await watch() == ["taskagent: scheduler failing"]
    await notifier.aclose()


def _task(next_run_ago: float, grace: int = 60) -> Task:
    return Task(
        id=7,
        name="prices",
        schedule_type="interval",
        schedule_value="1 hour",
        mcp_tool="crypto:get_crypto_prices",
        misfire_grace_seconds=grace,
        next_run=T0 - timedelta(seconds=next_run_ago),
    )


@pytest.mark.parametrize(("ago", "level"), [(60, Level.OK), (95, Level.FAIL), (3600, Level.FAIL)])
def test_a_task_is_overdue_past_its_grace_with_no_row_for_its_slot(
    ago: float, level: Level
) -> None:
    check = probes.overdue([_task(ago)], T0)
    assert check.level is level
    if level is Level.FAIL:
        assert "#7 prices" in check.message


def test_paused_and_disabled_tasks_are_never_overdue() -> None:
    paused, disabled = _task(3600), _task(3600)
    paused.paused = True
    disabled.enabled = False
    assert probes.overdue([paused, disabled], T0).level is Level.OK


def test_permissions_name_a_world_writable_mcp_json(tmp_path: Path) -> None:
    mcp = tmp_path / "mcp.json"
    mcp.write_text("{}")
    mcp.chmod(0o666)
    db = tmp_path / "taskagent.db"
    db.write_bytes(b"")
    check = probes.permissions([tmp_path], [mcp], db)
    assert check.level is Level.WARN
    assert f"{mcp} is writable by others" in check.message and f"chmod o-w {mcp}" in check.fix
    mcp.chmod(0o644)
    assert probes.permissions([tmp_path], [mcp], db).level is Level.OK


def test_permissions_fail_on_a_folder_you_cannot_write(tmp_path: Path) -> None:
    db = tmp_path / "taskagent.db"
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):  # root writes anywhere
            pytest.skip("running as root: every folder is writable")
        check = probes.permissions([locked], [], db)
        assert check.level is Level.FAIL and f"{locked} is not writable by you" in check.message
    finally:
        locked.chmod(0o700)


def test_the_disk_check_reads_the_free_space(tmp_path: Path) -> None:
    check = probes.disk(tmp_path)
    assert check.name == "disk" and "GB free where the database lives" in check.message


async def test_each_channel_is_a_line_with_its_last_delivery() -> None:
    from taskagent.core.delivery import Deliverer, DeliveryConfig, Message
    from taskagent.doctor import channel_lines
    from tests.support.webhook_receiver import webhook_receiver

    with webhook_receiver(always=500) as broken, webhook_receiver() as works:
        paths = resolve_paths()
        paths.config_file.write_text(
            '[notify]\nchannels = ["broken", "works"]\n'
            f'[notify.named]\nbroken = "{broken.url()}"\nworks = "{works.url()}"\n'
        )
        settings = load_settings(paths)
        assert [c.message for c in channel_lines(settings)] == [
            "broken: nothing sent yet",
            "works: nothing sent yet",
        ]
        clock = FakeClock()
        async with await Repository.open(paths.db_file, clock=clock.now) as repo:
            config = DeliveryConfig(
                channels=settings.notify_channels, named=dict(settings.notify_named)
            )
            deliverer = Deliverer(repo, clock, config, backoff=())
            await deliverer.deliver(Message("t", "b"))
            await clock.drive(deliverer.idle())
            await deliverer.aclose()
        failed, sent = channel_lines(settings)
    assert failed.level is Level.WARN and "broken: last delivery failed" in failed.message
    assert "notify test broken" in failed.fix
    assert sent.level is Level.OK and sent.message == "works: last delivery sent"
