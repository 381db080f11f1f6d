"""The chat's trust boundary with a real third-party stdio server (tests/support/notes_server.py,
whose write tool carries no annotations), the real google-genai SDK against the Gemini
stand-in playing the model, and a real SQLite file.

What must hold: a call asks unless its tool is annotated read-only (or allowlisted by the
config or by the user's `a`); creating a task that would run a write tool unattended says so
and needs the user's yes; tool output goes back labelled as untrusted data; nothing a tool
returns can approve a call."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from taskagent.config import load_settings
from taskagent.core.chat import (
    TRUST_RULES,
    ChatSession,
    ConfirmationNeeded,
    ToolCallFinished,
    ToolCallStarted,
)
from taskagent.core.confirm_policy import AFTER_TOOL_OUTPUT
from taskagent.paths import resolve_paths
from taskagent.services import Services
from tests.support.chat import of, raw, turn, use_stubs
from tests.support.coingecko_stub import CoinGeckoStub
from tests.support.gemini_stub import GeminiStub
from tests.support.notes_server import INJECTION


@pytest.fixture
def env(
    gemini_stub: GeminiStub,
    coingecko_stub: CoinGeckoStub,
    monkeypatch: pytest.MonkeyPatch,
    notes: Path,
) -> GeminiStub:
    return use_stubs(monkeypatch, gemini_stub, coingecko_stub, "UTC")


@pytest.fixture
async def services(env: GeminiStub) -> AsyncIterator[Services]:
    async with Services.open(load_settings(resolve_paths())) as built:
        assert {s.name: s.state for s in built.mcp.status()}["notes"] == "connected"
        yield built


@pytest.fixture
def chat(services: Services) -> ChatSession:
    return services.chat


def write(path: Path, text: str) -> None:
    path.write_text(text)


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


async def test_an_unannotated_write_tool_asks_and_a_no_leaves_the_file_alone(
    chat: ChatSession, env: GeminiStub, notes: Path
) -> None:
    env.reply_function_call("append_note", {"text": "hello"})
    env.reply_text("I did not add it.")
    events = await turn(chat, "please add a note saying hello", answer=False)

    (card,) = of(events, ConfirmationNeeded)
    assert card.name == "notes:append_note"
    assert card.title == "Call append_note (notes)?"
    text = "\n".join(card.details)
    assert "on the MCP server “notes”" in text
    assert 'Arguments: {"text":"hello"}' in text
    assert "What it does: Append one note to the notes file." in text
    assert "Not marked read-only: it may change or delete data" in text
    assert card.destructive and card.can_allow
    assert lines(notes) == []  # not run
    (finished,) = of(events, ToolCallFinished)
    assert not finished.ok and "declined" in finished.summary


async def test_yes_runs_it_once_and_a_allows_it_for_the_conversation(
    chat: ChatSession, services: Services, env: GeminiStub, notes: Path
) -> None:
    env.reply_function_call("append_note", {"text": "one"})
    env.reply_text("added")
    events = await turn(chat, "note one", answer=True)
    assert len(of(events, ConfirmationNeeded)) == 1 and lines(notes) == ["one"]

    # Yes was for that call only: the next one asks again. This time `a`.
    env.reply_function_call("append_note", {"text": "two"})
    env.reply_text("added")
    asked: list[ConfirmationNeeded] = []
    async for event in chat.send("note two"):
        if isinstance(event, ConfirmationNeeded):
            asked.append(event)
            assert chat.confirm(event.id, True, for_conversation=True)
    assert len(asked) == 1 and lines(notes) == ["one", "two"]

    # Now it runs without a card, for this conversation only.
    env.reply_function_call("append_note", {"text": "three"})
    env.reply_text("added")
    events = await turn(chat, "note three", answer=False)
    assert not of(events, ConfirmationNeeded) and lines(notes) == ["one", "two", "three"]
    reply = await services.slash_commands().execute("/mcp notes")
    assert "allowed for this conversation (a): notes:append_note" in reply.text

    await chat.clear()  # a new conversation asks again
    env.reply_function_call("append_note", {"text": "four"})
    env.reply_text("not added")
    events = await turn(chat, "note four", answer=False)
    assert len(of(events, ConfirmationNeeded)) == 1 and lines(notes) == ["one", "two", "three"]


async def test_a_asks_again_for_a_call_that_follows_tool_output_in_the_same_answer(
    chat: ChatSession, env: GeminiStub, notes: Path
) -> None:
    env.reply_function_call("append_note", {"text": "one"})
    env.reply_text("added")
    async for event in chat.send("note one"):
        if isinstance(event, ConfirmationNeeded):
            assert chat.confirm(event.id, True, for_conversation=True)
    assert lines(notes) == ["one"]

    # A read-only tool's output asks for the write; `a` does not cover that call.
    env.reply_function_call("poisoned_note", {})
    env.reply_function_call("append_note", {"text": "pwned"})
    env.reply_text("I did not write it.")
    events = await turn(chat, "read the latest note", answer=False)
    (card,) = of(events, ConfirmationNeeded)
    assert card.name == "notes:append_note"
    assert card.details[0] == AFTER_TOOL_OUTPUT
    assert lines(notes) == ["one"]

    # A call the user asked for, with no tool output before it: `a` still covers it.
    env.reply_function_call("append_note", {"text": "two"})
    env.reply_text("added")
    events = await turn(chat, "note two", answer=False)
    assert not of(events, ConfirmationNeeded) and lines(notes) == ["one", "two"]


async def test_read_only_annotation_runs_without_a_card_but_no_annotation_asks(
    chat: ChatSession, env: GeminiStub, notes: Path
) -> None:
    write(notes, "a\nb\n")
    env.reply_function_call("count_notes", {}, ("read_notes", {}))
    env.reply_text("2 notes")
    events = await turn(chat, "how many notes?", answer=False)
    cards = of(events, ConfirmationNeeded)
    # count_notes says readOnlyHint: true; read_notes says nothing, so MCP's default applies.
    assert [c.name for c in cards] == ["notes:read_notes"]
    ok = {e.name: e.ok for e in of(events, ToolCallFinished)}
    assert ok == {"notes:count_notes": True, "notes:read_notes": False}


@pytest.mark.parametrize(
    ("tool", "title"),
    [
        ("run_task_immediately", "Run task 1 “Prices” now?"),
        ("start_background_task", "Start task 1 “Prices”?"),
        ("resume_background_task", "Resume task 1 “Prices”?"),
    ],
)
async def test_tools_that_make_another_tool_run_ask_first(
    chat: ChatSession, services: Services, env: GeminiStub, tool: str, title: str
) -> None:
    task = await services.tasks.create_task(
        name="Prices",
        schedule_type="interval",
        schedule_value="30 minutes",
        mcp_tool="get_crypto_prices",
        tool_args={"limit": 3},
        enabled=False,
        paused=True,
    )
    env.reset()
    env.reply_function_call(tool, {"task_id": task.id})
    env.reply_text("ok, not done")
    events = await turn(chat, "do it", answer=False)
    (card,) = of(events, ConfirmationNeeded)
    assert card.title == title
    assert any("get_crypto_prices" in line for line in card.details)
    after = await services.tasks.get(task.id)  # type: ignore[arg-type]
    assert not after.enabled and after.paused
    assert raw(services, "SELECT count(*) FROM task_history") == [(0,)]


async def test_a_task_running_a_write_tool_unattended_needs_the_yes_on_its_card(
    chat: ChatSession, services: Services, env: GeminiStub, notes: Path
) -> None:
    args = {
        "name": "Hourly note",
        "schedule_type": "interval",
        "schedule_value": "1 hour",
        "mcp_tool": "notes:append_note",
        "tool_args": {"text": "tick"},
        "use_ai_summary": False,
        "allow_write": True,  # the model cannot give the consent itself
    }
    env.reply_function_call("create_background_task", args)
    env.reply_text("Not created.")
    events = await turn(chat, "add a note every hour", answer=False)
    (card,) = of(events, ConfirmationNeeded)
    assert card.runs_write_tool and card.destructive and not card.can_allow
    assert any(line.startswith("⚠ Runs a write tool unattended") for line in card.details)
    assert await services.tasks.list_tasks() == []

    env.reply_function_call("create_background_task", args)
    env.reply_text("Created.")
    events = await turn(chat, "yes, really", answer=True)
    assert of(events, ToolCallFinished)[0].ok
    (task,) = await services.tasks.list_tasks()
    assert task.mcp_tool == "notes:append_note"


async def test_the_allowlist_does_not_skip_the_create_card(
    chat: ChatSession, services: Services, env: GeminiStub
) -> None:
    chat.policy.patterns = ("background:*",)
    env.reply_function_call(
        "create_background_task",
        {
            "name": "BTC",
            "schedule_type": "interval",
            "schedule_value": "1 hour",
            "mcp_tool": "get_crypto_prices",
        },
    )
    env.reply_text("no")
    events = await turn(chat, "make it", answer=False)
    assert len(of(events, ConfirmationNeeded)) == 1
    assert await services.tasks.list_tasks() == []


async def test_tool_output_is_labelled_and_cannot_approve_a_call(
    chat: ChatSession, env: GeminiStub, notes: Path
) -> None:
    # A custom instruction replaces the editable part, never the trust rules.
    await chat.set_system_instruction("Be brief.")
    # Round 1 reads a hostile note; round 2 the "model" obeys it; the user says no.
    env.reply_function_call("poisoned_note", {})
    env.reply_function_call("append_note", {"text": "pwned"})
    env.reply_text("I did not write it.")
    events = await turn(chat, "read the latest note", answer=False)

    assert [e.name for e in of(events, ToolCallStarted)] == [
        "notes:poisoned_note",
        "notes:append_note",
    ]
    (card,) = of(events, ConfirmationNeeded)
    assert card.name == "notes:append_note"
    assert lines(notes) == []
    first, second, _ = env.requests
    assert TRUST_RULES in first.system_text and "Be brief." in first.system_text
    (response,) = second.function_responses
    assert response["response"]["result"] == INJECTION
    assert response["response"]["trust"].startswith(
        "untrusted data returned by the tool notes:poisoned_note"
    )


async def test_a_10_mb_tool_result_is_cut_for_the_model(chat: ChatSession, env: GeminiStub) -> None:
    env.reply_function_call("huge_note", {"megabytes": 10})
    env.reply_text("That note is long.")
    events = await turn(chat, "read the huge note")
    (finished,) = of(events, ToolCallFinished)
    assert finished.ok and len(finished.summary) <= 120
    (response,) = env.requests[1].function_responses
    result = response["response"]["result"]
    assert isinstance(result, str) and len(result) < 25_000
    assert "truncated" in result


def test_the_trust_rules_name_the_label_the_responses_carry() -> None:
    assert '"trust"' in TRUST_RULES and "confirmed by the user" in TRUST_RULES


async def test_rescheduling_a_write_task_is_approved_on_its_card(
    chat: ChatSession, services: Services, env: GeminiStub, notes: Path
) -> None:
    task = await services.tasks.create_task(
        name="Hourly note",
        schedule_type="interval",
        schedule_value="1 hour",
        mcp_tool="notes:append_note",
        tool_args={"text": "tick"},
        allow_write=True,
    )
    call = {
        "task_id": task.id,
        "schedule_type": "interval",
        "schedule_value": "1 minute",
        "allow_write": True,  # the model's word does not count: only the card's yes
    }
    env.reply_function_call("update_task_schedule", call)
    env.reply_text("not changed")
    events = await turn(chat, "make it every minute", answer=False)
    (card,) = of(events, ConfirmationNeeded)
    assert card.runs_write_tool and card.destructive
    assert any("Runs a write tool unattended" in line for line in card.details)
    assert (await services.tasks.get(task.stored_id)).schedule_value == "1 hour"

    env.reply_function_call("update_task_schedule", call)
    env.reply_text("changed")
    await turn(chat, "yes, every minute", answer=True)
    changed = await services.tasks.get(task.stored_id)
    assert changed.schedule_value == "1 minute" and changed.consent != task.consent


async def test_a_bad_reschedule_gets_the_tools_own_words_and_no_card(
    chat: ChatSession, services: Services, env: GeminiStub
) -> None:
    from taskagent.core.tasks import TaskInputError

    task = await services.tasks.create_task(
        name="Prices",
        schedule_type="interval",
        schedule_value="1 hour",
        mcp_tool="get_crypto_prices",
    )
    for bad in (
        {"summary_mode": "sometimes"},
        {"schedule_type": "interval", "schedule_value": "0 s"},
    ):
        with pytest.raises(TaskInputError) as refused:
            await services.tasks.update_task(task.stored_id, **bad)
        env.reply_function_call("update_task_schedule", {"task_id": task.id} | bad)
        env.reply_text("that did not work")
        events = await turn(chat, "change it", answer=True)
        assert not of(events, ConfirmationNeeded)
        (finished,) = of(events, ToolCallFinished)
        assert finished.summary == str(refused.value)
