"""Alert rules on the run path: a real SQLite file, a real in-memory MCP server whose value
follows a script, the run pipeline with the evaluator the composition root gives it, the
manual clock. Live evaluation against the backtest, restarts, History, the AI ledger."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastmcp import FastMCP

from taskagent.core.alerts import AlertEvaluator, RuleError
from taskagent.core.mcp import McpManager
from taskagent.core.models import Run, Task
from taskagent.core.notify import Notifier
from taskagent.core.run_pipeline import RunPipeline
from taskagent.core.store import Repository
from taskagent.core.tasks import TaskService
from tests.support.fake_clock import FakeClock

SCRIPT = [99000, 101000, 100200, 99900, 101000, 98000, 102000]


def scripted_server(values: list[Any]) -> FastMCP:
    server = FastMCP("s")
    left = list(values)

    @server.tool(annotations={"readOnlyHint": True})
    async def quote() -> dict[str, Any]:
        """The next value of the script (the last one again when it runs out)."""
        value = left.pop(0) if len(left) > 1 else left[0]
        if value == "boom":
            raise ValueError("the source is down")
        return {"symbol": "BTC", "price": value}

    return server


@dataclass
class Core:
    repo: Repository
    manager: McpManager
    tasks: TaskService
    pipeline: RunPipeline
    alerts: AlertEvaluator
    clock: FakeClock

    async def close(self) -> None:
        await self.manager.close()
        await self.repo.close()


async def open_core(
    db: Path, logs: Path, clock: FakeClock, values: list[Any], notifier: Notifier | None = None
) -> Core:
    repo = await Repository.open(db, clock=clock.now)
    manager = McpManager(log_dir=logs)
    manager.add_builtin("s", scripted_server(values))
    await manager.start()
    tasks = TaskService(repo, catalogue=manager, clock=clock.now)
    alerts = AlertEvaluator(repo)
    pipeline = RunPipeline(
        repo,
        manager,
        events=tasks.events,
        catalogue=manager,
        clock=clock,
        after_record=alerts,
        notifier=notifier,
    )
    return Core(repo, manager, tasks, pipeline, alerts, clock)


@pytest.fixture
async def core(tmp_path: Path) -> AsyncIterator[Core]:
    built = await open_core(tmp_path / "t.db", tmp_path, FakeClock(), SCRIPT)
    yield built
    await built.close()


async def new_task(core: Core) -> Task:
    return await core.tasks.create_task(
        name="btc", schedule_type="interval", schedule_value="1 hour", mcp_tool="s:quote"
    )


async def run_hourly(core: Core, task: Task, times: int) -> list[Run]:
    runs = []
    for _ in range(times):
        runs.append(await core.pipeline.run(task))
        await core.clock.advance(3600)
    return runs


async def test_the_script_fires_twice_and_history_names_the_rule(core: Core) -> None:
    task = await new_task(core)
    await core.alerts.set_rules(task.stored_id, ["price crosses above 100k"])
    runs = await run_hourly(core, task, len(SCRIPT))
    fired = [r for r in runs if r.significant]
    assert [r.id for r in fired] == [runs[1].id, runs[6].id]
    assert fired[0].significance_reason == "BTC price crossed above 100,000 (101,000)"
    # the row says the same (History, `tasks history --json`), and the firing is kept
    stored = await core.repo.get_run(runs[1].stored_id)
    assert stored is not None and stored.significant
    assert stored.significance_reason == fired[0].significance_reason
    firings = await core.alerts.store.firings(task_id=task.stored_id)
    assert [(f.run_id, f.value) for f in firings] == [(runs[1].id, 101000), (runs[6].id, 102000)]
    quiet = await core.repo.get_run(runs[2].stored_id)
    assert quiet is not None and quiet.significant is False
    assert quiet.significance_reason == "no alert rule fired"


async def test_replay_of_stored_history_equals_live_evaluation(core: Core) -> None:
    task = await new_task(core)
    rules = [
        "price crosses above 100k",
        "price crosses 100k rearm 1%",
        "price moves 2% within 3h",
        "price new low within 1 day",
        "price below 99,000",
    ]
    await core.alerts.set_rules(task.stored_id, rules)
    await run_hourly(core, task, len(SCRIPT))
    live = await core.alerts.store.firings(task_id=task.stored_id)
    stored = [s.rule for s in await core.alerts.rules_of(task.stored_id)]
    tests = await core.alerts.backtest(task.stored_id, stored)
    replayed = [f for b in tests for f in b.firings]

    def run_by_run(firings: Any) -> list[tuple[Any, ...]]:
        return sorted((f.run_id, f.rule, f.value, f.reason, f.at) for f in firings)

    assert run_by_run(replayed) == run_by_run(live)
    assert len(live) >= 6
    assert {f.rule for f in live} == {r.text for r in stored}  # every kind fired at least once
    assert all(b.runs == len(SCRIPT) for b in tests)


async def test_state_survives_a_restart_after_the_first_firing(tmp_path: Path) -> None:
    clock = FakeClock()
    first = await open_core(tmp_path / "t.db", tmp_path, clock, SCRIPT[:2])
    task = await new_task(first)
    await first.alerts.set_rules(task.stored_id, ["price crosses above 100k"])
    before = await run_hourly(first, task, 2)
    assert before[1].significant
    await first.close()
    # a new process on the same file, the script goes on where it was
    second = await open_core(tmp_path / "t.db", tmp_path, clock, SCRIPT[2:])
    try:
        task = await second.tasks.get(task.stored_id)
        after = await run_hourly(second, task, len(SCRIPT) - 2)
        assert [r.significant for r in after] == [False, False, False, False, True]
        firings = await second.alerts.store.firings(task_id=task.stored_id)
        assert len(firings) == 2
    finally:
        await second.close()


async def test_a_failed_run_changes_nothing(tmp_path: Path) -> None:
    core = await open_core(tmp_path / "t.db", tmp_path, FakeClock(), [99000, "boom", 101000])
    try:
        task = await new_task(core)
        await core.alerts.set_rules(task.stored_id, ["price crosses above 100k"])
        runs = await run_hourly(core, task, 3)
        assert [r.status.value for r in runs] == ["success", "error", "success"]
        assert runs[1].significant is None
        assert runs[2].significant is True
    finally:
        await core.close()


async def test_rules_at_save_are_checked_against_the_last_result(core: Core) -> None:
    task = await new_task(core)
    # no result yet: nothing to check against, the rule is kept
    await core.alerts.set_rules(task.stored_id, ["cost above 5"])
    await core.pipeline.run(task)
    with pytest.raises(RuleError, match=r"no number at 'cost'; it has: price"):
        await core.alerts.set_rules(task.stored_id, ["price above 1", "cost above 5"])
    kept = [s.rule.text for s in await core.alerts.rules_of(task.stored_id)]
    assert kept == ["cost above 5"]  # nothing changed


async def test_editing_the_rules_keeps_the_state_of_the_rules_that_stay(core: Core) -> None:
    task = await new_task(core)
    await core.alerts.set_rules(task.stored_id, ["price crosses above 100k"])
    await run_hourly(core, task, 2)  # fired: disarmed
    await core.alerts.set_rules(task.stored_id, ["price above 1m", "price crosses above 100k"])
    await core.tasks.update_task(task.stored_id, description="edited")
    states = {s.rule.text: s.state for s in await core.alerts.rules_of(task.stored_id)}
    assert states["price crosses above 100,000"].fired == 1
    assert states["price crosses above 100,000"].armed == (False,)
    assert states["price above 1,000,000"].fired == 0


async def test_the_evaluator_makes_no_ai_request(core: Core, tmp_path: Path) -> None:
    task = await new_task(core)
    rules = ["price crosses above 100k", "price moves 1% within 1d"]
    await core.alerts.set_rules(task.stored_id, rules)
    await run_hourly(core, task, len(SCRIPT))
    stored = [s.rule for s in await core.alerts.rules_of(task.stored_id)]
    assert sum(len(b.firings) for b in await core.alerts.backtest(task.stored_id, stored)) > 0
    with sqlite3.connect(tmp_path / "t.db") as db:
        assert db.execute("SELECT count(*) FROM ai_usage").fetchone() == (0,)


async def test_with_keep_threshold_the_percent_rule_still_speaks(core: Core) -> None:
    task = await new_task(core)
    await core.alerts.set_rules(task.stored_id, ["price above 1m"], keep_threshold=True)
    runs = await run_hourly(core, task, 2)
    assert runs[1].significance_reason is not None
    assert "alert" not in runs[1].significance_reason


async def test_rules_and_their_state_survive_an_export_and_an_import(
    core: Core, tmp_path: Path
) -> None:
    from taskagent.core import transfer
    from taskagent.core.alerts import transfer as alert_transfer

    task = await new_task(core)
    await core.alerts.set_rules(task.stored_id, ["price crosses above 100k"])
    await run_hourly(core, task, 2)  # fired at 101,000: waiting to re-arm
    extra = {
        task.stored_id: alert_transfer.export_fields(await core.alerts.rules_of(task.stored_id))
    }
    for fmt in ("json", "toml"):
        text = transfer.dumps([task], fmt, extra)
        other = await open_core(tmp_path / f"{fmt}.db", tmp_path, FakeClock(), [100500])
        try:
            entries = transfer.loads(text, fmt, source=f"x.{fmt}")
            assert await transfer.import_tasks(other.tasks, entries, source="x") == (1, 0)
            moved = (await other.tasks.list_tasks())[0]
            (stored,) = await other.alerts.rules_of(moved.stored_id)
            assert stored.rule.text == "price crosses above 100,000"
            assert stored.state.armed == (False,) and stored.state.fired == 1
            # still above the level: the imported rule does not fire for the same crossing
            assert (await other.pipeline.run(moved)).significant is False
        finally:
            await other.close()


async def test_an_import_with_a_bad_rule_changes_nothing(core: Core) -> None:
    from taskagent.core import transfer

    entries = transfer.loads(
        '{"tasks": [{"name": "x", "schedule_type": "interval", "schedule_value": "1 hour",'
        ' "mcp_tool": "s:quote", "alerts": ["price above"]}]}',
        "json",
        source="f.json",
    )
    with pytest.raises(RuleError, match=r"f.json: task #1 \(x\): alert 'price above'"):
        await transfer.import_tasks(core.tasks, entries, source="f.json")
    assert await core.tasks.list_tasks() == []


async def test_level_alerts_notifies_the_firings_only_and_says_which_rule(tmp_path: Path) -> None:
    shown: list[tuple[str, str, str]] = []
    notifier = Notifier(
        use_desktop=False, fallback=lambda *told: shown.append(told), cooldown_seconds=0
    )
    core = await open_core(tmp_path / "t.db", tmp_path, FakeClock(), SCRIPT, notifier)
    try:
        task = await core.tasks.create_task(
            name="btc",
            schedule_type="interval",
            schedule_value="1 hour",
            mcp_tool="s:quote",
            notification_level="alerts",
        )
        await core.alerts.set_rules(task.stored_id, ["price crosses above 100k"])
        await run_hourly(core, task, len(SCRIPT))
        assert [(title, body.split(".")[0]) for title, body, _ in shown] == [
            ("btc", "BTC price crossed above 100,000 (101,000)"),
            ("btc", "BTC price crossed above 100,000 (102,000)"),
        ]
    finally:
        await core.close()


async def test_every_firing_notifies_whatever_the_cooldown(tmp_path: Path) -> None:
    """The cooldown keeps a task that notifies on every change quiet; a firing is an edge
    (once per crossing) and always goes out."""
    shown: list[tuple[str, str, str]] = []
    notifier = Notifier(
        use_desktop=False, fallback=lambda *told: shown.append(told), cooldown_seconds=86_400
    )
    core = await open_core(tmp_path / "t.db", tmp_path, FakeClock(), SCRIPT, notifier)
    try:
        task = await core.tasks.create_task(
            name="btc",
            schedule_type="interval",
            schedule_value="1 hour",
            mcp_tool="s:quote",
            notification_level="alerts",
        )
        await core.alerts.set_rules(task.stored_id, ["price crosses above 100k"])
        await run_hourly(core, task, len(SCRIPT))
        assert len(shown) == 2  # both crossings, a few hours (and real milliseconds) apart
    finally:
        await core.close()


async def test_a_rule_marked_urgent_notifies_through_quiet_hours(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from taskagent.core.alerts.grammar import parse_rule
    from taskagent.core.delivery import Deliverer, DeliveryConfig
    from tests.support.webhook_receiver import webhook_receiver

    rule = parse_rule("price crosses above 100k rearm 1% urgent")
    assert rule.urgent and rule.text == "price crosses above 100,000 rearm 1% urgent"
    assert parse_rule(rule.text) == rule
    # 22:30 in Berlin: inside a 22:00-07:00 window, all night long for these runs.
    clock = FakeClock(datetime(2026, 1, 5, 21, 30, tzinfo=UTC))
    with webhook_receiver() as receiver:
        notifier = Notifier(use_desktop=False, cooldown_seconds=0)
        core = await open_core(tmp_path / "t.db", tmp_path, clock, [99_000, 101_000] * 2, notifier)
        config = DeliveryConfig(
            channels=(receiver.url(),), quiet_hours="22:00-07:00", timezone="Europe/Berlin"
        )
        deliverer = Deliverer(core.repo, clock, config)
        notifier.use_delivery(deliverer)
        try:
            urgent, plain = [
                await core.tasks.create_task(
                    name=name,
                    schedule_type="interval",
                    schedule_value="1 hour",
                    mcp_tool="s:quote",
                    notification_level="alerts",  # only the firings notify
                )
                for name in ("btc", "eth")
            ]
            await core.alerts.set_rules(urgent.stored_id, [rule.text])
            await core.alerts.set_rules(plain.stored_id, ["price crosses above 100k"])
            for task in (urgent, plain):
                for _ in range(2):
                    await core.pipeline.run(task)
            await clock.drive(deliverer.idle())
        finally:
            await notifier.aclose()
            await core.close()
    assert [m["title"] for m in receiver.accepted] == ["btc"]  # the urgent rule's firing
    held = await _held(tmp_path / "t.db")
    assert held == ["eth"], held  # the other firing waits for the end of the window


async def _held(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [t for (t,) in conn.execute("SELECT title FROM deliveries WHERE status = 'held'")]
