"""AI cost under control, end to end: the real composition root (Services), the real engine and
run pipeline on a real SQLite file, the built-in crypto server against the CoinGecko stand-in
(its data does not change between runs), and the real google-genai SDK against the Gemini
stand-in, which counts the summary requests it gets."""

from __future__ import annotations

import json
import sqlite3

import pytest

from taskagent.core.chat import Notice
from taskagent.core.models import SummaryMode
from taskagent.core.serialize import run_to_dict
from taskagent.core.summary import offline_summary
from taskagent.core.summary.summarizer import NO_CHANGE_NOTE
from tests.support.ai_costs import SUMMARY, price_task, run_times, running
from tests.support.coingecko_stub import CoinGeckoStub
from tests.support.gemini_stub import GeminiStub

RUNS = 10


async def test_changes_mode_over_unchanged_data_asks_gemini_once(
    stubs: tuple[GeminiStub, CoinGeckoStub],
) -> None:
    gemini, _ = stubs
    async with running() as services:
        task = await price_task(services, summary_mode="changes")
        runs = await run_times(services, task, RUNS)
        stored = [await services.repo.get_run(r.id) for r in runs]
        per_task = (await services.ledger.by_task())[task.id]  # type: ignore[index]

    assert gemini.count(SUMMARY) == 1  # the issue allows two; the first run is the only one
    first, *later = stored
    assert first is not None and first.summarizer == "gemini-2.5-flash"
    assert first.summary_note is None
    for run in later:
        assert run is not None and run.summarizer == "offline"
        assert run.significant is False
        assert run.summary_note == NO_CHANGE_NOTE
        assert "unchanged since the last run" in (run.ai_summary or "")
    # The one request is in the ledger, with tokens and a cost from the default price table.
    assert per_task.calls == 1
    assert (per_task.prompt_tokens, per_task.response_tokens) == (
        first.prompt_tokens,
        first.response_tokens,
    )
    expected = (first.prompt_tokens * 0.30 + first.response_tokens * 2.50) / 1e6  # type: ignore[operator]
    assert per_task.cost_usd == pytest.approx(expected)


async def test_changes_mode_asks_again_when_the_data_moves(
    stubs: tuple[GeminiStub, CoinGeckoStub],
) -> None:
    gemini, _ = stubs
    async with running() as services:
        task = await price_task(services, summary_mode="changes", tool_args={"limit": 3})
        await run_times(services, task, 2)
        assert gemini.count(SUMMARY) == 1
        # A different set of coins is a significant change against the last successful run.
        await services.tasks.update_task(task.id, tool_args={"limit": 5})  # type: ignore[arg-type]
        (moved,) = await run_times(services, await services.tasks.get(task.id), 1)  # type: ignore[arg-type]
    assert moved.significant is True
    assert gemini.count(SUMMARY) == 2
    assert moved.summarizer == "gemini-2.5-flash" and moved.summary_note is None


async def test_always_mode_asks_gemini_once_per_run(
    stubs: tuple[GeminiStub, CoinGeckoStub],
) -> None:
    gemini, _ = stubs
    async with running() as services:
        task = await price_task(services, summary_mode="always")
        runs = await run_times(services, task, RUNS)
        today = await services.ledger.day_usage()
    assert gemini.count(SUMMARY) == RUNS
    assert all(r.summarizer == "gemini-2.5-flash" for r in runs)
    assert today.calls == RUNS
    assert today.tokens == sum((r.prompt_tokens or 0) + (r.response_tokens or 0) for r in runs)


async def test_off_mode_never_asks_gemini(stubs: tuple[GeminiStub, CoinGeckoStub]) -> None:
    gemini, _ = stubs
    async with running() as services:
        task = await price_task(services, summary_mode="off")
        runs = await run_times(services, task, 3)
    assert gemini.count() == 0
    assert all(r.summarizer == "offline" and r.summary_note is None for r in runs)


async def test_token_budget_stops_requests_and_later_runs_say_so(
    stubs: tuple[GeminiStub, CoinGeckoStub], monkeypatch: pytest.MonkeyPatch
) -> None:
    gemini, _ = stubs
    monkeypatch.setenv("TASKAGENT_AI_DAILY_TOKEN_BUDGET", "200")
    async with running() as services:
        task = await price_task(services, summary_mode="always")
        runs = await run_times(services, task, 6)
        stored = [await services.repo.get_run(r.id) for r in runs]
        history = [run_to_dict(r) for r in await services.tasks.history(task.id)]  # type: ignore[arg-type]
        notices = [n for n in services.notifier.sent if n[1] == "notice"]
        status = await services.status()
        # The chat answers with one line and asks nothing; slash commands keep working.
        events = [e async for e in services.chat.send("how is bitcoin doing?")]
        tokens = await services.slash_commands().execute("/tokens")

    assert gemini.count(SUMMARY) <= 2  # one request spent more than 200 tokens
    assert gemini.count(SUMMARY) == 1
    spent, *later = stored
    assert spent is not None and spent.summarizer == "gemini-2.5-flash"
    for run in later:
        assert run is not None and run.summarizer == "offline"
        assert (run.summary_note or "").startswith("daily AI budget reached (")
        assert "of 200 tokens today" in (run.summary_note or "")
        assert run.ai_summary  # still a summary: the offline one
    # Shown where scripts read it (`taskagent tasks history --json` prints run_to_dict).
    assert history[0]["summary_note"].startswith("daily AI budget reached")
    # One notification, once (the day's later checks do not repeat it).
    assert len(notices) == 1 and notices[0][2] == "Daily AI budget reached"
    assert status["ai_usage"]["budget"]["reached"] is True
    assert status["ai_usage"]["budget"]["daily_token_budget"] == 200
    assert status["ai_usage"]["timezone"] == "Europe/Berlin"
    assert len(events) == 1 and isinstance(events[0], Notice)
    assert events[0].text.startswith("Daily AI budget reached (")
    assert "Europe/Berlin" in events[0].text and "Slash commands keep working" in events[0].text
    assert gemini.count() == 1  # the chat made no request
    assert not tokens.error and "daily budget:" in tokens.text


async def test_cost_budget_in_dollars(
    stubs: tuple[GeminiStub, CoinGeckoStub], monkeypatch: pytest.MonkeyPatch
) -> None:
    gemini, _ = stubs
    # One stand-in answer costs (786 * 0.30 + 229 * 2.50) / 1e6 = $0.0008083 on flash.
    monkeypatch.setenv("TASKAGENT_AI_DAILY_COST_BUDGET", "0.0015")
    async with running() as services:
        task = await price_task(services, summary_mode="always")
        runs = await run_times(services, task, 4)
    assert gemini.count(SUMMARY) == 2
    assert [r.summarizer for r in runs[2:]] == ["offline", "offline"]
    assert all("daily AI budget reached" in (r.summary_note or "") for r in runs[2:])


async def test_chat_turns_are_in_the_ledger(stubs: tuple[GeminiStub, CoinGeckoStub]) -> None:
    gemini, _ = stubs
    gemini.reply_text("Bitcoin is at $97,410.", prompt_tokens=300, response_tokens=40)
    async with running() as services:
        [e async for e in services.chat.send("how is bitcoin doing?")]
        chat = await services.ledger.day_usage(kind="chat")
        assert await services.ledger.by_task() == {}  # chat spend belongs to no task
    assert (chat.calls, chat.prompt_tokens, chat.response_tokens) == (1, 300, 40)
    assert chat.cost_usd == pytest.approx((300 * 0.30 + 40 * 2.50) / 1e6)


async def test_summary_mode_survives_a_restart_and_defaults_from_config(
    stubs: tuple[GeminiStub, CoinGeckoStub], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TASKAGENT_AI_SUMMARY_MODE", "changes")
    async with running() as services:
        default = await price_task(services)
        seed_off = await price_task(services, name="no AI", use_ai_summary=False)
    assert default.summary_mode is SummaryMode.CHANGES and default.use_ai_summary
    async with running() as services:
        again = await services.tasks.get(default.id)  # type: ignore[arg-type]
        off = await services.tasks.get(seed_off.id)  # type: ignore[arg-type]
        db = services.settings.paths.db_file
    assert again.ai_mode is SummaryMode.CHANGES
    assert off.ai_mode is SummaryMode.OFF
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT name, use_ai_summary, summary_mode FROM tasks ORDER BY id")
        assert rows.fetchall() == [("BTC watch", 1, "changes"), ("no AI", 0, "off")]


def test_offline_summary_of_unchanged_prices_says_so() -> None:
    data = json.loads(
        '{"vs_currency": "usd", "coins": [{"id": "bitcoin", "symbol": "btc", "price": 1.5}]}'
    )
    assert "unchanged since the last run" in offline_summary(data, data)


async def test_changes_mode_asks_gemini_when_an_alert_rule_fires(
    stubs: tuple[GeminiStub, CoinGeckoStub],
) -> None:
    """A firing is a significant change for the summary too (the rules run before it)."""
    gemini, _ = stubs
    async with running() as services:
        task = await price_task(services, summary_mode="changes")
        await run_times(services, task, 1)  # the first run: summarised
        await services.alerts.set_rules(task.stored_id, ["coins[0].price above 1"])
        (fired,) = await run_times(services, task, 1)  # the same data, but the rule fires
        stored = await services.repo.get_run(fired.id)
    assert gemini.count(SUMMARY) == 2
    assert stored is not None and stored.significant is True
    assert stored.summarizer == "gemini-2.5-flash"
    assert "above 1" in (stored.significance_reason or "")
