"""Notifications: the pure decision table, the in-app fallback, and the real desktop-notifier
against a real (private) DBus session bus with a fake notification server on it."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fastmcp import FastMCP

from taskagent.config import load_settings
from taskagent.core.mcp import McpManager
from taskagent.core.models import NotificationLevel, Run, RunStatus, ScheduleType, Task, utcnow
from taskagent.core.notify import (
    Decision,
    Notifier,
    NotifyState,
    message_for,
    should_notify,
)
from taskagent.core.run_pipeline import RunPipeline
from taskagent.core.store import Repository
from taskagent.core.summary import Summarizer
from taskagent.core.tasks import TaskService
from taskagent.paths import resolve_paths
from tests.support.dbus_notifications import FakeNotificationServer
from tests.support.waiting import HANG, until

ALL, ERRORS, SIGNIFICANT, SILENT = (
    NotificationLevel.ALL,
    NotificationLevel.ERRORS,
    NotificationLevel.SIGNIFICANT,
    NotificationLevel.SILENT,
)
FRESH = NotifyState()
ALERTED = NotifyState(failures=3, alerted=True, last_sent=0.0)
RECENT = NotifyState(last_sent=900.0)  # notified 100 s before NOW
NOW = 1_000.0


# ============================================================================ the decision
DECISIONS: list[tuple[str, NotificationLevel, bool, bool, NotifyState, float, Any, NotifyState]] = [
    # name, level, failed, significant, state, cooldown, (send, kind, reason), new state
    ("all: success", ALL, False, False, FRESH, 300, (True, "success"), NotifyState(last_sent=NOW)),
    (
        "all: significant",
        ALL,
        False,
        True,
        FRESH,
        300,
        (True, "significant"),
        NotifyState(last_sent=NOW),
    ),
    (
        "all: first failure",
        ALL,
        True,
        False,
        FRESH,
        300,
        (True, "failure"),
        NotifyState(1, True, NOW),
    ),
    (
        "errors: success is quiet",
        ERRORS,
        False,
        True,
        FRESH,
        300,
        (False, ""),
        FRESH,
    ),
    (
        "errors: failure",
        ERRORS,
        True,
        False,
        FRESH,
        300,
        (True, "failure"),
        NotifyState(1, True, NOW),
    ),
    (
        "significant: plain success is quiet",
        SIGNIFICANT,
        False,
        False,
        FRESH,
        300,
        (False, ""),
        FRESH,
    ),
    (
        "significant: significant success",
        SIGNIFICANT,
        False,
        True,
        FRESH,
        300,
        (True, "significant"),
        NotifyState(last_sent=NOW),
    ),
    (
        "significant: failure",
        SIGNIFICANT,
        True,
        False,
        FRESH,
        300,
        (True, "failure"),
        NotifyState(1, True, NOW),
    ),
    ("silent: success", SILENT, False, True, FRESH, 300, (False, ""), FRESH),
    ("silent: failure", SILENT, True, False, FRESH, 300, (False, "failure"), NotifyState(1)),
    (
        "keeps failing: no second alert",
        ALL,
        True,
        False,
        ALERTED,
        300,
        (False, "failure"),
        NotifyState(4, True, 0.0),
    ),
    (
        "recovers: one recovery",
        ERRORS,
        False,
        False,
        ALERTED,
        300,
        (True, "recovery"),
        NotifyState(0, False, NOW),
    ),
    (
        "recovery held back by the cooldown stays pending",
        ALL,
        False,
        False,
        NotifyState(3, True, 900.0),
        300,
        (False, "recovery"),
        NotifyState(3, True, 900.0),
    ),
    (
        "silent drops a pending recovery",
        SILENT,
        False,
        False,
        ALERTED,
        300,
        (False, "recovery"),
        NotifyState(0, False, 0.0),
    ),
    (
        "cooldown holds back a success",
        ALL,
        False,
        True,
        RECENT,
        300,
        (False, "significant"),
        RECENT,
    ),
    (
        "cooldown holds back a first failure (next failure retries)",
        ALL,
        True,
        False,
        RECENT,
        300,
        (False, "failure"),
        NotifyState(1, False, 900.0),
    ),
    (
        "cooldown over",
        ALL,
        False,
        False,
        NotifyState(last_sent=NOW - 300),
        300,
        (True, "success"),
        NotifyState(last_sent=NOW),
    ),
    (
        "cooldown 0 disables it",
        ALL,
        False,
        False,
        NotifyState(last_sent=NOW),
        0,
        (True, "success"),
        NotifyState(last_sent=NOW),
    ),
    (
        "an unannounced failure streak ends quietly",
        SIGNIFICANT,
        False,
        False,
        NotifyState(failures=2, last_sent=900.0),
        300,
        (False, ""),
        NotifyState(0, False, 900.0),
    ),
]


@pytest.mark.parametrize(
    ("level", "failed", "significant", "state", "cooldown", "expected", "new_state"),
    [d[1:] for d in DECISIONS],
    ids=[d[0] for d in DECISIONS],
)
def test_should_notify_table(
    level: NotificationLevel,
    failed: bool,
    significant: bool,
    state: NotifyState,
    cooldown: float,
    expected: tuple[bool, str],
    new_state: NotifyState,
) -> None:
    decision, after = should_notify(
        level, failed=failed, significant=significant, state=state, now=NOW, cooldown=cooldown
    )
    assert (decision.send, decision.kind) == expected
    assert after == new_state


def test_a_task_that_keeps_failing_notifies_once_then_on_recovery() -> None:
    state, sent = NotifyState(), []
    outcomes = [False] + [True] * 14 + [False, False]
    for i, failed in enumerate(outcomes):
        decision, state = should_notify(
            ERRORS, failed=failed, significant=False, state=state, now=i * 1800.0, cooldown=300
        )
        if decision.send:
            sent.append((i, decision.kind, decision.failures))
    assert sent == [(1, "failure", 0), (15, "recovery", 14)]


def test_held_back_alert_is_sent_by_the_next_failure_after_the_cooldown() -> None:
    state = NotifyState(last_sent=0.0)
    sent = []
    for t in (60.0, 120.0, 310.0, 400.0):  # failures every minute or so, cooldown 300
        decision, state = should_notify(
            ALL, failed=True, significant=False, state=state, now=t, cooldown=300
        )
        sent.append(decision.send)
    assert sent == [False, False, True, False]
    assert state == NotifyState(failures=4, alerted=True, last_sent=310.0)


def test_level_may_be_given_as_text() -> None:
    decision, _ = should_notify(
        "errors", failed=True, significant=False, state=FRESH, now=0, cooldown=0
    )
    assert decision.send


# ============================================================================== the message
def make_task(**overrides: Any) -> Task:
    base: dict[str, Any] = {
        "name": "Crypto Price Tracker",
        "schedule_type": ScheduleType.INTERVAL,
        "schedule_value": "30 minutes",
        "mcp_tool": "crypto:get_crypto_prices",
        "id": 7,
        "notification_level": ALL,
    }
    return Task(**(base | overrides))


def make_run(status: RunStatus = RunStatus.SUCCESS, **fields: Any) -> Run:
    return Run(task_id=7, run_time=utcnow(), status=status, **fields)


@pytest.mark.parametrize(
    ("run", "decision", "expected"),
    [
        (
            make_run(RunStatus.ERROR, error_message="CoinGecko rate limit (429)"),
            Decision(True, "failure", ""),
            ("Run failed: CoinGecko rate limit (429)", "error"),
        ),
        (
            make_run(RunStatus.TIMEOUT, error_message="no answer within 60 s"),
            Decision(True, "failure", ""),
            ("Run timed out: no answer within 60 s", "error"),
        ),
        (
            make_run(ai_summary="BTC $97,410."),
            Decision(True, "recovery", "", failures=14),
            ("Recovered after 14 failed runs. BTC $97,410.", "information"),
        ),
        (
            make_run(ai_summary="BTC $97,410."),
            Decision(True, "recovery", "", failures=1),
            ("Recovered after 1 failed run. BTC $97,410.", "information"),
        ),
        (
            make_run(
                ai_summary="BTC $93,800.", significance_reason="BTC price -6.2% since last run"
            ),
            Decision(True, "significant", ""),
            ("BTC price -6.2% since last run. BTC $93,800.", "warning"),
        ),
        (
            make_run(ai_summary="BTC $97,410."),
            Decision(True, "success", ""),
            ("BTC $97,410.", "information"),
        ),
        (
            make_run(raw_data='{"price": 1}'),
            Decision(True, "success", ""),
            ('{"price": 1}', "information"),
        ),
        (
            make_run(ai_summary="word " * 200),
            Decision(True, "success", ""),
            ("word " * 59 + "word…", "information"),
        ),
    ],
)
def test_message_for(run: Run, decision: Decision, expected: tuple[str, str]) -> None:
    title, body, severity = message_for(make_task(), run, decision)
    assert title == "Crypto Price Tracker"
    assert (body, severity) == expected


# ==================================================================== in-app fallback (no bus)
class Toasts:
    def __init__(self) -> None:
        self.shown: list[tuple[str, str, str]] = []
        self.threads: list[str] = []

    def __call__(self, title: str, body: str, severity: str) -> None:
        self.shown.append((title, body, severity))
        self.threads.append(threading.current_thread().name)


@pytest.fixture
def no_bus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    monkeypatch.delenv("DISPLAY", raising=False)


async def test_without_a_session_bus_it_falls_back_to_toasts(
    no_bus: None, caplog: pytest.LogCaptureFixture
) -> None:
    toasts = Toasts()
    notifier = Notifier(fallback=toasts, cooldown_seconds=0)
    await notifier.start()
    assert notifier.backend == "in-app (no DBus session)"
    assert not notifier.desktop_available
    with caplog.at_level(logging.INFO, logger="taskagent.core.notify"):
        decision = await notifier.notify_run(
            make_task(), make_run(RunStatus.ERROR, error_message="boom")
        )
    assert decision is not None and decision.kind == "failure"
    assert toasts.shown == [("Crypto Price Tracker", "Run failed: boom", "error")]
    assert any("Run failed: boom" in r.getMessage() for r in caplog.records)  # plus a log line
    await notifier.aclose()


async def test_without_ui_or_bus_it_logs_only(no_bus: None) -> None:
    notifier = Notifier()
    await notifier.start()
    assert notifier.backend == "log only (no DBus session)"
    await notifier.notify_run(make_task(), make_run(ai_summary="hi"))
    assert list(notifier.sent) == [(7, "success", "Crypto Price Tracker", "hi")]
    notifier.attach(fallback=Toasts(), on_open=lambda task_id: None)
    assert notifier.backend == "in-app (no DBus session)"


async def test_desktop_can_be_switched_off(notification_server: FakeNotificationServer) -> None:
    toasts = Toasts()
    notifier = Notifier(use_desktop=False, fallback=toasts)
    await notifier.start()
    assert notifier.backend == "in-app (desktop notifications switched off)"
    await notifier.notify_run(make_task(), make_run(ai_summary="hi"))
    assert toasts.shown and notification_server.received == []


async def test_levels_and_quiet_runs(no_bus: None) -> None:
    toasts = Toasts()
    notifier = Notifier(fallback=toasts, cooldown_seconds=0)
    await notifier.start()
    await notifier.notify_run(make_task(notification_level=SILENT), make_run(ai_summary="a"))
    await notifier.notify_run(
        make_task(notification_level=SIGNIFICANT), make_run(ai_summary="b", significant=False)
    )
    await notifier.notify_run(make_task(), make_run(RunStatus.SKIPPED, error_message="busy"))
    await notifier.notify_run(make_task(), make_run(RunStatus.RUNNING))
    assert toasts.shown == []
    await notifier.notify_run(
        make_task(notification_level=SIGNIFICANT),
        make_run(
            ai_summary="c", significant=True, significance_reason="BTC price -6.2% since last run"
        ),
    )
    assert toasts.shown == [
        ("Crypto Price Tracker", "BTC price -6.2% since last run. c", "warning")
    ]


async def test_notifier_errors_never_escape(no_bus: None, caplog: pytest.LogCaptureFixture) -> None:
    def broken(title: str, body: str, severity: str) -> None:
        raise RuntimeError("toast broke")

    notifier = Notifier(fallback=broken)
    await notifier.start()
    with caplog.at_level(logging.ERROR):
        decision = await notifier.notify_run(make_task(), make_run(ai_summary="x"))
    assert decision is not None and decision.send
    assert any("in-app notification failed" in r.getMessage() for r in caplog.records)


async def test_notify_from_a_worker_thread_runs_on_the_start_loop(no_bus: None) -> None:
    toasts = Toasts()
    notifier = Notifier(fallback=toasts, cooldown_seconds=0)
    await notifier.start()
    main_thread = threading.current_thread().name

    def worker() -> Any:
        return asyncio.run(notifier.notify_run(make_task(), make_run(ai_summary="from a worker")))

    decision = await asyncio.to_thread(worker)
    assert decision is not None and decision.send
    assert toasts.shown == [("Crypto Price Tracker", "from a worker", "information")]
    assert toasts.threads == [main_thread]


async def test_cooldown_comes_from_config(taskagent_home: Path) -> None:
    (taskagent_home / "config.toml").write_text(
        "[notifications]\ncooldown_seconds = 60\ndesktop = false\n", encoding="utf-8"
    )
    settings = load_settings(resolve_paths())
    assert settings.notifications_cooldown_seconds == 60
    assert settings.notifications_desktop is False
    (taskagent_home / "config.toml").unlink()
    assert load_settings(resolve_paths()).notifications_cooldown_seconds == 300


# ==================================================================== real DBus session bus
async def test_bus_without_notification_server_falls_back(session_bus: str) -> None:
    toasts = Toasts()
    notifier = Notifier(fallback=toasts)
    await notifier.start()
    assert notifier.backend.startswith("in-app (")
    assert "org.freedesktop.Notifications" in notifier.backend
    await notifier.notify_run(make_task(), make_run(ai_summary="hi"))
    assert toasts.shown == [("Crypto Price Tracker", "hi", "information")]
    await notifier.aclose()


class Calls:
    def __init__(self) -> None:
        self.opened: list[int] = []
        self.paused: list[int] = []
        self.event = asyncio.Event()

    def open(self, task_id: int) -> None:
        self.opened.append(task_id)
        self.event.set()

    async def pause(self, task_id: int) -> None:  # a coroutine, like TaskService.pause
        await asyncio.sleep(0)
        self.paused.append(task_id)
        self.event.set()

    async def wait(self) -> None:
        await asyncio.wait_for(self.event.wait(), HANG)
        self.event.clear()


async def test_desktop_notification_arrives_with_buttons_and_urgency(
    notification_server: FakeNotificationServer,
) -> None:
    calls = Calls()
    notifier = Notifier(on_open=calls.open, on_pause=calls.pause, cooldown_seconds=0)
    await notifier.start()
    assert notifier.backend == "desktop (DBus)"

    await notifier.notify_run(make_task(), make_run(RunStatus.ERROR, error_message="boom"))
    await notifier.notify_run(make_task(), make_run(ai_summary="BTC $97,410 (+2.1% 24h)."))
    failure, recovery = await notification_server.wait_for(2)

    assert failure.app_name == "taskagent"
    assert failure.title == "Crypto Price Tracker"
    assert failure.body == "Run failed: boom"
    assert failure.urgency == 2  # critical
    assert failure.action_labels == {"default": "", "open": "Open", "pause": "Pause task"}
    assert recovery.body == "Recovered after 1 failed run. BTC $97,410 (+2.1% 24h)."
    assert recovery.urgency == 1

    # The user presses "Pause task" on the first one, "Open" on the second.
    notification_server.press(failure.id, failure.key_for("Pause task"))
    await calls.wait()
    assert calls.paused == [7]
    notification_server.press(recovery.id, recovery.key_for("Open"))
    await calls.wait()
    assert calls.opened == [7]
    await notifier.aclose()


async def test_clicking_the_notification_opens_the_task(
    notification_server: FakeNotificationServer,
) -> None:
    calls = Calls()
    notifier = Notifier(on_open=calls.open)
    await notifier.start()
    await notifier.notify_run(make_task(id=11), make_run(ai_summary="x"))
    (got,) = await notification_server.wait_for(1)
    notification_server.press(got.id, "default")
    await calls.wait()
    assert calls.opened == [11]
    await notifier.aclose()


async def test_without_callbacks_there_are_no_buttons(
    notification_server: FakeNotificationServer,
) -> None:
    notifier = Notifier()  # e.g. the daemon: nothing to open
    await notifier.start()
    await notifier.notify_run(make_task(), make_run(ai_summary="x"))
    (got,) = await notification_server.wait_for(1)
    assert got.action_labels == {"default": ""}
    await notifier.aclose()


async def test_pause_button_pauses_the_task_in_the_database(
    notification_server: FakeNotificationServer, tmp_path: Path
) -> None:
    repo = await Repository.open(tmp_path / "taskagent.db")
    try:
        tasks = TaskService(repo)
        task = await tasks.create_task(
            name="BTC watch",
            schedule_type="interval",
            schedule_value="30 minutes",
            mcp_tool="get_crypto_prices",
        )
        notifier = Notifier(on_pause=tasks.pause)
        await notifier.start()
        await notifier.notify_run(task, make_run(RunStatus.ERROR, error_message="boom"))
        (got,) = await notification_server.wait_for(1)
        notification_server.press(got.id, got.key_for("Pause task"))

        async def paused() -> bool:
            stored = await repo.get_task(task.id or 0)
            return stored is not None and stored.paused

        await until(paused, what="the task is paused")
        await notifier.aclose()
    finally:
        await repo.close()


async def test_worker_thread_notifications_are_sent_from_the_main_loop(
    notification_server: FakeNotificationServer, caplog: pytest.LogCaptureFixture
) -> None:
    calls = Calls()
    notifier = Notifier(on_pause=calls.pause, cooldown_seconds=0)
    await notifier.start()

    def worker(i: int) -> Any:
        run = make_run(ai_summary=f"from worker {i}")
        return asyncio.run(notifier.notify_run(make_task(id=100 + i), run))

    with caplog.at_level(logging.WARNING, logger="desktop_notifier"):
        await asyncio.gather(*(asyncio.to_thread(worker, i) for i in range(3)))
    got = await notification_server.wait_for(3)
    assert sorted(n.body for n in got) == [f"from worker {i}" for i in range(3)]
    assert not [r for r in caplog.records if "different loop" in str(r.exc_info)]
    # Callbacks still work: the bus connection lives on the main loop.
    notification_server.press(got[0].id, got[0].key_for("Pause task"))
    await calls.wait()
    assert len(calls.paused) == 1
    await notifier.aclose()


async def test_service_that_goes_away_falls_back_to_toasts_and_is_tried_again(
    notification_server: FakeNotificationServer, session_bus: str
) -> None:
    toasts = Toasts()
    calls = Calls()
    clock = [0.0]
    notifier = Notifier(
        fallback=toasts, on_open=calls.open, cooldown_seconds=0, clock=lambda: clock[0]
    )
    await notifier.start()
    assert notifier.desktop_available
    notification_server.stop()  # the desktop's notification daemon dies
    await notifier.notify_run(make_task(), make_run(ai_summary="still told"))
    assert toasts.shown == [("Crypto Price Tracker", "still told", "information")]
    assert notifier.backend == "in-app (the notification service stopped answering)"

    clock[0] += 60  # soon after: straight to the toast, no desktop attempt
    await notifier.notify_run(make_task(), make_run(ai_summary="toast again"))
    assert len(toasts.shown) == 2

    restarted = FakeNotificationServer(session_bus).start()  # it comes back
    try:
        clock[0] += 300
        await notifier.notify_run(make_task(), make_run(ai_summary="desktop again"))
        (got,) = await restarted.wait_for(1)
        assert got.body == "desktop again"
        assert notifier.backend == "desktop (DBus)"
        assert len(toasts.shown) == 2
        restarted.press(got.id, got.key_for("Open"))
        await calls.wait()
        assert calls.opened == [7]
    finally:
        restarted.stop()
    await notifier.aclose()


# ================================================================================ pipeline
@pytest.fixture
async def flaky_pipeline(
    tmp_path: Path,
) -> AsyncIterator[tuple[RunPipeline, TaskService, dict[str, Any]]]:
    state: dict[str, Any] = {"fail": False}
    server = FastMCP("flaky")

    @server.tool(annotations={"readOnlyHint": True})  # honest: it only reads
    def check() -> dict[str, Any]:
        """Fails while state['fail'] is set."""
        if state["fail"]:
            raise ValueError("upstream is down")
        return {"ok": True, "value": 1}

    repo = await Repository.open(tmp_path / "taskagent.db")
    manager = McpManager(log_dir=tmp_path)
    manager.add_builtin("flaky", server)
    await manager.start()
    tasks = TaskService(repo, catalogue=manager)
    try:
        yield RunPipeline(repo, manager, events=tasks.events, catalogue=manager), tasks, state
    finally:
        await manager.close()
        await repo.close()


async def test_pipeline_notifies_failure_once_and_recovery(
    no_bus: None, flaky_pipeline: tuple[RunPipeline, TaskService, dict[str, Any]]
) -> None:
    executor, tasks, state = flaky_pipeline
    toasts = Toasts()
    notifier = Notifier(fallback=toasts, cooldown_seconds=0)
    await notifier.start()
    executor.notifier = notifier
    executor.summarizer = Summarizer(load_settings(resolve_paths()))
    task = await tasks.create_task(
        name="Flaky check",
        schedule_type="interval",
        schedule_value="1 minute",
        mcp_tool="check",
        notification_level="errors",
    )
    await executor.run(task)  # fine: level errors says nothing
    state["fail"] = True
    for _ in range(3):
        run = await executor.run(task)
        assert run.status is RunStatus.ERROR
    state["fail"] = False
    await executor.run(task)
    await executor.run(task)
    assert [(t, s) for t, _, s in toasts.shown] == [
        ("Flaky check", "error"),
        ("Flaky check", "information"),
    ]
    assert toasts.shown[0][1].startswith("Run failed: ")
    assert "upstream is down" in toasts.shown[0][1]
    assert toasts.shown[1][1].startswith("Recovered after 3 failed runs. 2 fields (ok=true")
