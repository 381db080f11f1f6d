"""The AI ledger, the price table and the daily budget, on a real SQLite file."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from taskagent.config import ConfigError, load_settings
from taskagent.core.ai_ledger import AiLedger
from taskagent.core.budget import Budget
from taskagent.core.prices import DEFAULT_PRICES, Price, estimate_cost, format_cost, price_for
from taskagent.core.store import Repository
from taskagent.paths import resolve_paths


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_prices_match_the_longest_name_and_estimate_dollars() -> None:
    assert price_for("gemini-2.5-flash-lite-001", DEFAULT_PRICES) == Price(0.10, 0.40)
    assert price_for("models/gemini-2.5-flash", DEFAULT_PRICES) == Price(0.30, 2.50)
    assert price_for("gemini-2.5-pro-preview", DEFAULT_PRICES) == Price(1.25, 10.00)
    assert price_for("gemma-3", DEFAULT_PRICES) is None
    assert estimate_cost("gemini-2.5-flash", 1_000_000, 1_000_000, DEFAULT_PRICES) == 2.80
    assert estimate_cost("gemma-3", 10, 10, DEFAULT_PRICES) is None
    assert [format_cost(v) for v in (None, 0, 0.00004, 0.0123, 3.5)] == [
        "-",
        "$0",
        "<$0.0001",
        "$0.0123",
        "$3.50",
    ]


async def test_the_day_follows_the_configured_time_zone(repo: Repository) -> None:
    # 23:30 UTC on 1 March is already 2 March in Tokyo (UTC+9).
    clock = Clock(datetime(2026, 3, 1, 23, 30, tzinfo=UTC))
    tokyo = AiLedger(repo, timezone="Asia/Tokyo", clock=clock)
    utc = AiLedger(repo, timezone="UTC", clock=clock)
    await tokyo.record("summary", "gemini-2.5-flash", 100, 20, task_id=1)
    clock.now += timedelta(hours=1)  # 00:30 UTC on 2 March, still 2 March in Tokyo
    await tokyo.record("chat", "gemini-2.5-flash", 1000, 200)
    assert tokyo.today() == date(2026, 3, 2)
    assert (await tokyo.day_usage()).calls == 2
    assert (await utc.day_usage()).calls == 1  # UTC's 2 March began between the two calls
    assert (await utc.day_usage(date(2026, 3, 1))).tokens == 120
    assert tokyo.next_reset() == datetime(2026, 3, 3, tzinfo=tokyo.zone)
    by_task = await tokyo.by_task()
    assert list(by_task) == [1] and by_task[1].cost_usd == pytest.approx(80e-6)
    days = await tokyo.recent_days(3)
    assert [(d.isoformat(), u.calls) for d, u in days] == [
        ("2026-03-02", 2),
        ("2026-03-01", 0),
        ("2026-02-28", 0),
    ]


async def test_a_model_without_a_price_counts_tokens_but_no_cost(repo: Repository) -> None:
    ledger = AiLedger(repo)
    assert await ledger.record("summary", "gemma-3", 500, 50) is None
    used = await ledger.day_usage()
    assert (used.tokens, used.cost_usd, used.unpriced_calls) == (550, 0.0, 1)


async def test_budget_is_announced_once_a_day_across_processes(repo: Repository) -> None:
    clock = Clock(datetime(2026, 3, 1, 20, 0, tzinfo=UTC))
    said: list[tuple[str, str]] = []
    ledger = AiLedger(repo, timezone="Europe/Berlin", clock=clock)
    # Two budgets over one database: what two processes (app and daemon) would each have.
    first = Budget(ledger, daily_tokens=1000, on_reached=lambda t, b: said.append((t, b)))
    second = Budget(ledger, daily_tokens=1000, on_reached=lambda t, b: said.append((t, b)))
    assert await first.check() is None
    await ledger.record("summary", "gemini-2.5-flash", 900, 100)
    state = await first.check()
    assert state is not None and state.reached
    assert await second.check() is not None
    assert await first.check() is not None
    assert len(said) == 1
    assert said[0][0] == "Daily AI budget reached"
    assert "1,000 of 1,000 tokens today" in said[0][1]
    assert "00:00 Europe/Berlin (in 3 h 0 min)" in said[0][1]  # 21:00 local now
    assert state.note.startswith("daily AI budget reached (1,000 of 1,000 tokens today)")
    # A new local day: the spend starts again, and a new announcement is due when reached.
    clock.now += timedelta(hours=4)
    assert await first.check() is None
    await ledger.record("summary", "gemini-2.5-flash", 2000, 0)
    assert await second.check() is not None
    assert len(said) == 2


async def test_no_budget_means_no_limit(repo: Repository) -> None:
    ledger = AiLedger(repo)
    await ledger.record("summary", "gemini-2.5-flash", 10**9, 10**9)
    assert await Budget(ledger).check() is None


def test_prices_and_budgets_from_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = resolve_paths()
    paths.config_file.parent.mkdir(parents=True, exist_ok=True)
    paths.config_file.write_text(
        '[ai]\nsummary_mode = "changes"\ndaily_cost_budget = 0.5\n'
        '[ai.prices."gemini-2.5-flash"]\ninput_per_million = 0.5\noutput_per_million = 3\n'
        '[ai.prices."my-model"]\ninput_per_million = 1\noutput_per_million = 2\n'
    )
    monkeypatch.setenv("TASKAGENT_AI_DAILY_TOKEN_BUDGET", "200")
    settings = load_settings(paths)
    assert settings.ai_summary_mode == "changes"
    assert (settings.ai_daily_token_budget, settings.ai_daily_cost_budget) == (200, 0.5)
    assert settings.ai_prices["gemini-2.5-flash"] == Price(0.5, 3.0)
    assert settings.ai_prices["my-model"] == Price(1.0, 2.0)
    assert settings.ai_prices["gemini-2.5-pro"] == DEFAULT_PRICES["gemini-2.5-pro"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[ai]\nsummary_mode = "sometimes"\n', "must be one of: always, changes, off"),
        ("[ai]\ndaily_token_budget = -5\n", "daily_token_budget = -5: must be a whole number"),
        ('[ai.prices."x"]\ninput_per_million = 1\n', "output_per_million is missing"),
        (
            '[ai.prices."x"]\ninput_per_milion = 1\noutput_per_million = 1\n',
            "did you mean 'input_per_million'",
        ),
        (
            '[ai.prices."x"]\ninput_per_million = "cheap"\noutput_per_million = 1\n',
            "input_per_million = 'cheap': must be a number",
        ),
        ("[ai]\nprices = 3\n", "prices must be tables"),
    ],
)
def test_bad_ai_settings_are_one_clear_message(text: str, message: str) -> None:
    paths = resolve_paths()
    paths.config_file.parent.mkdir(parents=True, exist_ok=True)
    paths.config_file.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_settings(paths)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_bad_budget_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASKAGENT_AI_DAILY_TOKEN_BUDGET", "lots")
    with pytest.raises(ConfigError, match="TASKAGENT_AI_DAILY_TOKEN_BUDGET='lots'"):
        load_settings(resolve_paths())
