"""ChatSession against the real google-genai SDK and a local Gemini stand-in playing the model's
turns, over real Services: a temp SQLite file, the real MCP manager with the built-in crypto
server (talking to the CoinGecko stand-in) and background server. The seed's examples end to
end, and the confirmation cards. (Rounds, history, errors and /compress: test_chat_turns.py.)"""

from __future__ import annotations

from typing import Any

import pytest

from taskagent.core.chat import (
    ChatEvent,
    ChatSession,
    ConfirmationNeeded,
    ToolCallFinished,
    ToolCallStarted,
    TurnFailed,
    TurnFinished,
)
from taskagent.core.models import NotificationLevel
from taskagent.services import Services
from tests.support.chat import (
    SIGNATURE,
    make_task,
    of,
    raw,
    turn,
)
from tests.support.gemini_stub import GeminiStub
from tests.support.waiting import HANG, until


# =============================================================== the seed's examples, end to end
async def test_create_bitcoin_task_from_natural_language(
    chat: ChatSession, services: Services, env: GeminiStub
) -> None:
    args = {
        "name": "BTC hourly",
        "schedule_type": "interval",
        "schedule_value": "1 hour",
        "mcp_tool": "get_crypto_by_symbol",
        "tool_args": {"symbol": "btc"},
        "use_ai_summary": True,
    }
    env.reply_function_call("create_background_task", args)
    env.reply_stream(["Done: ", "BTC hourly checks Bitcoin every hour."])

    events = await turn(
        chat,
        "Create a background task that checks Bitcoin price every hour and gives me an AI summary",
    )

    kinds = [type(e).__name__ for e in events]
    assert kinds == [
        "ToolCallStarted",
        "ConfirmationNeeded",
        "ToolCallFinished",
        "TextDelta",
        "TextDelta",
        "TurnFinished",
    ]
    card = of(events, ConfirmationNeeded)[0]
    assert card.title == "Create task “BTC hourly”?"
    assert card.name == "background:create_background_task"
    assert "Schedule: every hour (Europe/Berlin)" in card.details
    assert 'Calls get_crypto_by_symbol with {"symbol":"btc"}' in card.details
    assert "AI summary: yes" in card.details
    assert len(card.next_runs) == 3
    gaps = {
        (b - a).total_seconds() for a, b in zip(card.next_runs, card.next_runs[1:], strict=False)
    }
    assert gaps == {3600.0}
    assert not card.destructive
    done = of(events, ToolCallFinished)[0]
    assert done.ok and done.summary.startswith("created task 1 “BTC hourly”: every hour")
    assert of(events, TurnFinished)[0].text == "Done: BTC hourly checks Bitcoin every hour."

    # The task is in the real database, written by the real background server tool.
    rows = raw(
        services,
        "SELECT name, schedule_type, schedule_value, mcp_tool, tool_args, use_ai_summary, "
        "notification_level, timezone FROM tasks",
    )
    assert rows == [
        (
            "BTC hourly",
            "interval",
            "1 hour",
            "get_crypto_by_symbol",
            '{"symbol": "btc"}',
            1,
            "all",
            "Europe/Berlin",
        )
    ]

    # Request 1: streamed, with every MCP tool declared and the instruction's context.
    first, second = env.requests
    assert first.streaming and first.model == "gemini-2.5-flash"
    declared = {d["name"]: d for d in first.function_declarations}
    assert {"create_background_task", "get_crypto_by_symbol", "get_trending_crypto"} <= set(
        declared
    )
    assert declared["get_crypto_by_symbol"]["parameters_json_schema"]["required"] == ["symbol"]
    assert "Europe/Berlin" in first.system_text and "Now: " in first.system_text
    assert "- create_background_task [background]:" in first.system_text
    # Request 2: the model's call sent back unchanged, then the tool's result.
    contents = second.body["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    assert contents[1]["parts"][0]["thoughtSignature"] == SIGNATURE
    assert contents[1]["parts"][0]["functionCall"]["args"] == args
    (response,) = second.function_responses
    assert response["name"] == "create_background_task"
    assert response["response"]["result"]["id"] == 1
    assert len(response["response"]["result"]["next_runs"]) == 3


async def test_trending_every_two_hours_silent(
    chat: ChatSession, services: Services, env: GeminiStub
) -> None:
    env.reply_function_call(
        "create_background_task",
        {
            "name": "Trending coins",
            "schedule_type": "interval",
            "schedule_value": "2 hours",
            "mcp_tool": "get_trending_crypto",
            "use_ai_summary": False,
            "notification_level": "silent",
        },
    )
    env.reply_text("Created: trending coins every 2 hours, saved to history only.")
    events = await turn(
        chat, "Monitor trending cryptocurrencies every 2 hours, save to history but don't notify me"
    )
    card = of(events, ConfirmationNeeded)[0]
    assert "Notifications: never (saved to history only)" in card.details
    assert "Schedule: every 2 hours (Europe/Berlin)" in card.details
    (task,) = await services.tasks.list_tasks()
    assert task.notification_level is NotificationLevel.SILENT
    assert task.mcp_tool == "get_trending_crypto" and task.schedule_value == "2 hours"
    assert of(events, TurnFinished)[0].text.startswith("Created: trending coins")


async def test_what_did_my_tasks_find_today_answers_from_history(
    chat: ChatSession, services: Services, env: GeminiStub
) -> None:
    task = await services.tasks.create_task(
        name="BTC hourly",
        schedule_type="interval",
        schedule_value="1 hour",
        mcp_tool="get_crypto_by_symbol",
        tool_args={"symbol": "btc"},
        use_ai_summary=False,
    )
    run = await services.engine.run_now(task.id)  # type: ignore[arg-type]
    assert run.status.value == "success"
    env.reset()
    # Round 1: list the tasks; round 2: two calls at once (history + latest result).
    env.reply_function_call("list_background_tasks", {})
    env.reply_function_call(
        "get_task_execution_history",
        {"task_id": 1, "limit": 5},
        ("get_latest_task_result", {"task_id": 1}),
    )
    env.reply_stream(["Today BTC hourly ran once: ", "Bitcoin was at $76,700."])
    events = await turn(chat, "what did my tasks find today?", answer=False)

    assert not of(events, ConfirmationNeeded)  # reads run without asking
    started = [e.name for e in of(events, ToolCallStarted)]
    assert started == [
        "background:list_background_tasks",
        "background:get_task_execution_history",
        "background:get_latest_task_result",
    ]
    assert all(e.ok for e in of(events, ToolCallFinished))
    assert len(env.requests) == 3
    history, latest = env.requests[2].function_responses[-2:]
    assert history["response"]["result"]["runs"][0]["status"] == "success"
    assert latest["response"]["result"]["data"]["symbol"].lower() == "btc"
    assert latest["response"]["result"]["data"]["price"] > 0
    # The parallel calls went back in one user turn, after the model turn that made them.
    contents = env.requests[2].body["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user", "model", "user"]
    assert [list(p) for p in contents[-1]["parts"]] == [["functionResponse"]] * 2
    assert of(events, TurnFinished)[0].text.endswith("$76,700.")


# =============================================================================== confirmation
async def test_declined_remove_is_not_run_and_the_model_is_told(
    chat: ChatSession, services: Services, env: GeminiStub
) -> None:
    task_id = await make_task(services)
    env.reply_function_call("remove_background_task", {"task_id": task_id})
    env.reply_text("OK, I left it alone.")
    events = await turn(chat, "delete the prices task", answer=False)

    card = of(events, ConfirmationNeeded)[0]
    assert card.title == f"Remove task {task_id} “Prices”?"
    assert card.destructive
    # The card tells the truth: removing a task keeps its history (see the approved case).
    assert "its run history is kept" in " ".join(card.details)
    assert "deleted for good" not in " ".join(card.details)
    finished = of(events, ToolCallFinished)[0]
    assert not finished.ok and "declined" in finished.summary
    assert await services.tasks.get(task_id)  # still there
    (response,) = env.requests[1].function_responses
    assert response["name"] == "remove_background_task"
    assert "declined" in response["response"]["error"]
    assert "result" not in response["response"]


async def test_approved_remove_runs(chat: ChatSession, services: Services, env: GeminiStub) -> None:
    task_id = await make_task(services)
    run = await services.engine.run_now(task_id)
    env.reset()  # the run's summary asked the stand-in too
    env.reply_function_call("remove_background_task", {"task_id": task_id})
    env.reply_text("Removed.")
    events = await turn(chat, "delete the prices task", answer=True)
    assert of(events, ToolCallFinished)[0].ok
    assert await services.tasks.list_tasks() == []
    # As the card said: the run history is still there.
    assert raw(services, f"SELECT id FROM task_history WHERE task_id = {task_id}") == [(run.id,)]
    assert (
        env.requests[1]
        .function_responses[0]["response"]["result"]["message"]
        .startswith("removed task")
    )


@pytest.mark.parametrize(
    ("tool", "args", "title"),
    [
        ("stop_background_task", {}, "Stop task 1 “Prices”?"),
        ("pause_background_task", {}, "Pause task 1 “Prices”?"),
        (
            "update_task_schedule",
            {"schedule_type": "daily", "schedule_value": "09:00"},
            "Change the schedule of task 1 “Prices”?",
        ),
    ],
)
async def test_changing_tools_ask_first(
    chat: ChatSession,
    services: Services,
    env: GeminiStub,
    tool: str,
    args: dict[str, Any],
    title: str,
) -> None:
    await make_task(services)
    env.reply_function_call(tool, {"task_id": 1, **args})
    env.reply_text("ok")
    events = await turn(chat, "do it", answer=False)
    card = of(events, ConfirmationNeeded)[0]
    assert card.title == title
    task = await services.tasks.get(1)
    assert task.enabled and not task.paused and task.schedule_value == "30 minutes"
    if tool == "update_task_schedule":
        assert "New: every day at 09:00 (Europe/Berlin)" in card.details
        assert [r.hour for r in card.next_runs] == [9, 9, 9]


async def test_confirmation_answer_can_come_later_from_another_task(
    chat: ChatSession, services: Services, env: GeminiStub
) -> None:
    """The UI answers from a button handler while the turn waits."""
    import asyncio

    await make_task(services)
    env.reply_function_call("stop_background_task", {"task_id": 1})
    env.reply_text("Stopped.")
    events: list[ChatEvent] = []

    async def consume() -> None:
        async for event in chat.send("stop it"):
            events.append(event)

    consumer = asyncio.create_task(consume())
    await until(lambda: chat.waiting_for is not None, what="the confirmation card")
    card = chat.waiting_for
    assert card is not None and chat.busy
    # A second message while waiting is refused in one line.
    busy = [e async for e in chat.send("hello?")]
    assert busy == [TurnFailed("The agent is still answering the previous message.", "busy")]
    assert chat.confirm(card.id, True)
    assert not chat.confirm(card.id, True)  # answered already
    await asyncio.wait_for(consumer, HANG)
    assert not (await services.tasks.get(1)).enabled
    assert of(events, TurnFinished)


async def test_invalid_task_goes_back_to_the_model_without_a_card(
    chat: ChatSession, services: Services, env: GeminiStub
) -> None:
    env.reply_function_call(
        "create_background_task",
        {
            "name": "Bad",
            "schedule_type": "interval",
            "schedule_value": "every fortnight",
            "mcp_tool": "get_crypto_prices",
        },
    )
    env.reply_function_call(
        "create_background_task",
        {
            "name": "Bad",
            "schedule_type": "interval",
            "schedule_value": "14 days",
            "mcp_tool": "get_crypto_pricez",
        },
    )
    env.reply_text("Sorry, I could not create it.")
    events = await turn(chat, "make a task", answer=True)
    assert not of(events, ConfirmationNeeded)
    first, second = of(events, ToolCallFinished)
    assert not first.ok and not second.ok
    error1 = env.requests[1].function_responses[-1]["response"]["error"]
    assert "'fortnight' is not a time unit" in error1
    error2 = env.requests[2].function_responses[-1]["response"]["error"]
    assert "get_crypto_pricez" in error2 and "get_crypto_prices" in error2  # did you mean
    assert await services.tasks.list_tasks() == []


async def test_two_changes_in_one_round_are_confirmed_one_by_one(
    chat: ChatSession, services: Services, env: GeminiStub
) -> None:
    await make_task(services)
    await services.tasks.create_task(
        name="Other",
        schedule_type="daily",
        schedule_value="08:00",
        mcp_tool="get_market_summary",
    )
    env.reply_function_call(
        "pause_background_task", {"task_id": 1}, ("remove_background_task", {"task_id": 2})
    )
    env.reply_text("Paused 1; kept 2.")
    answers = iter([True, False])
    events = await turn(chat, "pause 1 and delete 2", answer=lambda card: next(answers))
    titles = [c.title for c in of(events, ConfirmationNeeded)]
    assert titles == ["Pause task 1 “Prices”?", "Remove task 2 “Other”?"]
    assert (await services.tasks.get(1)).paused
    assert await services.tasks.get(2)
    first, second = env.requests[1].function_responses
    assert "result" in first["response"] and "declined" in second["response"]["error"]


async def test_summary_mode_change_asks_first_and_the_model_is_told_the_modes(
    chat: ChatSession, services: Services, env: GeminiStub
) -> None:
    await make_task(services)
    env.reply_function_call("update_task_schedule", {"task_id": 1, "summary_mode": "changes"})
    env.reply_text("Done: AI summaries only when the price moves.")
    events = await turn(chat, "only summarise when bitcoin moves", answer=True)
    card = of(events, ConfirmationNeeded)[0]
    assert card.title == "Change the AI summaries of task 1 “Prices”?"
    assert "AI summary: yes → on the first run and significant changes only" in card.details
    assert of(events, ToolCallFinished)[0].ok
    task = await services.tasks.get(1)
    assert task.summary_mode.value == "changes" and task.schedule_value == "30 minutes"
    instruction = env.requests[0].system_text
    assert "summary_mode" in instruction and "tell me when Bitcoin moves" in instruction


async def test_a_catch_up_window_change_asks_first_and_is_saved(
    chat: ChatSession, services: Services, env: GeminiStub
) -> None:
    await make_task(services)
    env.reply_function_call("update_task_schedule", {"task_id": 1, "catch_up_within": "2h"})
    env.reply_text("Done: no stale catch-up runs.")
    events = await turn(chat, "don't catch up runs older than 2 hours", answer=True)
    card = of(events, ConfirmationNeeded)[0]
    assert card.title == "Change the settings of task 1 “Prices”?"
    assert "Catch-up of missed runs: whatever their age → within 2 h" in card.details
    assert of(events, ToolCallFinished)[0].ok
    assert (await services.tasks.get(1)).catch_up_within_seconds == 7200
