"""Spending under a cap by default: a $1.00 daily cost budget unless set otherwise, a model
without a price counted at the highest known price (and shown as "unpriced", never "~$0"), and
the chat checking the budget before every request of a turn and before /compress. The real
composition root against the Gemini and CoinGecko stand-ins."""

from __future__ import annotations

from typing import Any

import pytest

from taskagent.config import effective_config_text, load_settings
from taskagent.core.chat import Notice
from taskagent.core.chat.chat_events import TurnFinished
from taskagent.core.chat.compress import CompressError
from taskagent.core.prices import DEFAULT_PRICES, cost_words, highest_price
from taskagent.paths import resolve_paths
from tests.core.test_ai_costs import SUMMARY, price_task, run_times, running, stubs
from tests.support.coingecko_stub import CoinGeckoStub
from tests.support.gemini_stub import GeminiStub

__all__ = ["stubs"]  # the fixture, shared with test_ai_costs


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
