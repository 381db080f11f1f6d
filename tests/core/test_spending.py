"""Spending under a cap by default: a $1.00 daily cost budget unless set otherwise, a model
without a price counted at the highest known price (and shown as "unpriced", never "~$0"), and
the chat checking the budget before every request of a turn and before /compress. The real
composition root against the Gemini and CoinGecko stand-ins."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from taskagent.config import effective_config_text, load_settings
from taskagent.core import schedules
from taskagent.core.chat import Notice
from taskagent.core.chat.chat_events import ConfirmationNeeded, TurnFinished
from taskagent.core.chat.compress import CompressError
from taskagent.core.confirm_policy import CREATE_TASK_REF
from taskagent.core.cost_estimate import SummaryCost, daily_estimate, runs_per_day
from taskagent.core.models import SummaryMode
from taskagent.core.prices import DEFAULT_PRICES, cost_words, highest_price
from taskagent.paths import resolve_paths
from tests.support.ai_costs import SUMMARY, price_task, run_times, running
from tests.support.coingecko_stub import CoinGeckoStub
from tests.support.daemon_proc import cli
from tests.support.gemini_stub import GeminiStub


def test_the_default_daily_cost_budget_is_one_dollar(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TASKAGENT_AI_DAILY_COST_BUDGET", raising=False)
    settings = load_settings(resolve_paths())
    assert settings.ai_daily_cost_budget == 1.0
    assert "daily_cost_budget = 1.0" in effective_config_text(settings)
    monkeypatch.setenv("TASKAGENT_AI_DAILY_COST_BUDGET", "0")
    assert load_settings(resolve_paths()).ai_daily_cost_budget == 0  # 0 = none


def test_an_unpriced_model_is_shown_as_unpriced_never_as_zero() -> None:
    assert cost_words(0.0, 3, 3) == "unpriced"
    assert cost_words(0.0012, 4, 1) == "~$0.0012 + 1 unpriced"
    assert cost_words(0.0012, 4, 0) == "~$0.0012"
    top = highest_price(DEFAULT_PRICES)
    assert (top.input_per_million, top.output_per_million) == (1.25, 10.0)


async def test_a_model_without_a_price_stops_at_the_cost_budget(
    stubs: tuple[GeminiStub, CoinGeckoStub], monkeypatch: pytest.MonkeyPatch
) -> None:
    gemini, _ = stubs
    # One stand-in answer (786 prompt + 229 response tokens) at the highest default price
    # (pro: $1.25 / $10.00) counts $0.0033: past a $0.0015 budget after the first summary.
    monkeypatch.setenv("TASKAGENT_AI_MODEL", "gemini-2.0-flash")
    monkeypatch.setenv("TASKAGENT_AI_DAILY_COST_BUDGET", "0.0015")
    async with running() as services:
        task = await price_task(services, summary_mode="always")
        runs = await run_times(services, task, 4)
        status = await services.status()
        tokens = await services.slash_commands().execute("/tokens")
    assert gemini.count(SUMMARY) == 1
    assert [r.summarizer for r in runs[1:]] == ["offline"] * 3
    note = runs[1].summary_note or ""
    assert note.startswith("daily AI budget reached ($0.0033 of $0.0015 today")
    assert "unpriced request(s) counted at the highest price" in note
    assert status["ai_usage"]["budget"]["reached"] is True
    assert "unpriced" in tokens.text and "~$0 " not in tokens.text


async def test_a_looping_chat_turn_stops_when_the_budget_is_reached(
    stubs: tuple[GeminiStub, CoinGeckoStub], monkeypatch: pytest.MonkeyPatch
) -> None:
    gemini, _ = stubs
    # Each function-call answer of the stand-in uses 503 tokens: two requests pass 1,000.
    monkeypatch.setenv("TASKAGENT_AI_DAILY_TOKEN_BUDGET", "1000")
    gemini.reply_function_call("list_background_tasks", {}, times=8)
    async with running() as services:
        events: list[Any] = [e async for e in services.chat.send("list my tasks, again and again")]
        used = await services.ledger.day_usage(kind="chat")
        gemini.reply_text("fine")
        after = [e async for e in services.chat.send("and now?")]
    assert gemini.count() == 2  # not the 8 the model asked for
    assert used.calls == 2
    notices = [e for e in events if isinstance(e, Notice)]
    assert len(notices) == 1 and notices[0].text.startswith("Daily AI budget reached (")
    assert isinstance(events[-1], TurnFinished) and events[-1].rounds == 2
    # The next message is answered with the one line, no request.
    assert len(after) == 1 and isinstance(after[0], Notice)
    assert after[0].text.startswith("Daily AI budget reached")
    assert gemini.count() == 2


async def test_compress_checks_the_budget_first(
    stubs: tuple[GeminiStub, CoinGeckoStub], monkeypatch: pytest.MonkeyPatch
) -> None:
    gemini, _ = stubs
    monkeypatch.setenv("TASKAGENT_AI_DAILY_COST_BUDGET", "0.01")
    async with running() as services:
        await services.ledger.record("chat", "gemini-2.5-flash", 40_000, 0)  # $0.012
        with pytest.raises(CompressError) as raised:
            await services.chat.compress()
        slash = await services.slash_commands().execute("/compress")
    assert str(raised.value).startswith("Daily AI budget reached ($0.0120 of $0.0100 today)")
    assert "nothing was changed" in str(raised.value)
    assert slash.error and "Daily AI budget reached" in slash.text
    assert gemini.count() == 0


NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)  # a Thursday
FLASH_DEFAULT = (800 * 0.30 + 200 * 2.50) / 1e6  # the stated default summary on flash


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("interval", "30 minutes", 48.0),
        ("interval", "1 second", 86_400.0),
        ("daily", "09:00", 1.0),
        ("weekly", "Mon,Fri 09:00", 2 / 7),
        ("cron", "*/5 9-17 * * 1-5", 108 * 5 / 7),
        ("cron", "* * * * *", 1440.0),
        ("once", "2030-01-01T09:00", None),
    ],
)
def test_runs_a_day_from_the_schedule(kind: str, value: str, expected: float | None) -> None:
    schedule = schedules.parse_schedule(kind, value, "UTC", now=NOW)
    runs = runs_per_day(schedule, now=NOW)
    assert runs == (None if expected is None else pytest.approx(expected, rel=0.01))


def test_the_estimate_in_words() -> None:
    every_half_hour = schedules.parse_schedule("interval", "30 minutes", "UTC", now=NOW)
    default = SummaryCost("gemini-2.5-flash", FLASH_DEFAULT, 0)
    always = daily_estimate(every_half_hour, SummaryMode.ALWAYS, default, now=NOW)
    assert always.per_day == pytest.approx(48 * FLASH_DEFAULT)
    assert always.words() == (
        "~$0.0355 a day: 48 runs × ~$0.0007 a summary (default: 800 + 200 tokens)"
    )
    changes = daily_estimate(every_half_hour, SummaryMode.CHANGES, default, now=NOW)
    assert changes.words().startswith("up to ~$0.0355 a day if every run changes: ")
    off = daily_estimate(every_half_hour, SummaryMode.OFF, default, now=NOW)
    assert off.per_day == 0 and off.words() == "$0 (no AI summaries)"
    unpriced = SummaryCost("gemini-2.0-flash", None, 0)
    words = daily_estimate(every_half_hour, SummaryMode.ALWAYS, unpriced, now=NOW).words()
    assert words.startswith("unpriced: 48 AI summaries a day with gemini-2.0-flash")
    assert "$0" not in words


async def test_the_estimate_uses_the_ledger_average_for_the_mode_and_model(
    stubs: tuple[GeminiStub, CoinGeckoStub],
) -> None:
    async with running() as services:
        fresh = await price_task(services, summary_mode="always")
        before = await services.costs.estimate(fresh, now=NOW)
        await run_times(services, fresh, 2)  # the stand-in: 786 + 229 tokens a summary
        after = await services.costs.estimate(fresh, now=NOW)
        other = await price_task(services, name="quiet", summary_mode="changes")
        fallback = await services.costs.estimate(other, now=NOW)
    assert before.cost.samples == 0 and before.cost.per_summary == pytest.approx(FLASH_DEFAULT)
    per_summary = (786 * 0.30 + 229 * 2.50) / 1e6
    assert after.cost.samples == 2 and after.cost.per_summary == pytest.approx(per_summary)
    assert after.runs_per_day == 2  # every 12 hours
    assert "average of 2" in after.words()
    # no `changes` task has a summary yet: every task's average, shown as an upper bound
    assert fallback.cost.samples == 2 and fallback.words().startswith("up to ~$0.0016 a day")


async def test_the_chat_card_for_a_new_task_shows_its_cost(
    stubs: tuple[GeminiStub, CoinGeckoStub],
) -> None:
    args = {
        "name": "ETH every minute",
        "schedule_type": "interval",
        "schedule_value": "1 minute",
        "mcp_tool": "get_crypto_prices",
    }
    async with running() as services:
        card = await services.chat.confirmations.card("c1", CREATE_TASK_REF, args)
    assert isinstance(card, ConfirmationNeeded)
    (line,) = [d for d in card.details if d.startswith("AI cost: ")]
    assert (
        line == "AI cost: ~$1.07 a day: 1,440 runs × ~$0.0007 a summary (default: 800 + 200 tokens)"
    )


def test_tasks_add_and_edit_show_the_cost_a_day(tmp_path: Path) -> None:
    added = cli(tmp_path, "tasks", "add", "BTC", "--every", "30m", "--tool", "get_crypto_prices")
    assert added.returncode == 0, added.stderr
    assert "  AI cost  : ~$0.0355 a day: 48 runs × ~$0.0007 a summary" in added.stdout
    edited = cli(tmp_path, "tasks", "edit", "1", "--summary", "off")
    assert edited.returncode == 0, edited.stderr
    assert "  AI cost  : $0 (no AI summaries)" in edited.stdout
    as_json = cli(tmp_path, "tasks", "edit", "1", "--summary", "always", "--json")
    estimate = json.loads(as_json.stdout)["ai_cost_estimate"]
    assert estimate["runs_per_day"] == 48 and estimate["per_day_usd"] == pytest.approx(
        48 * FLASH_DEFAULT
    )
