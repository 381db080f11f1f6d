"""The chat turns "tell me when BTC crosses 100k" into an alert rule: the model's call (played
by the Gemini stand-in) carries the rule, the card shows it in words, the task is saved with
it; the instruction and the tool schema teach the grammar."""

from __future__ import annotations

from taskagent.core.chat import ChatSession, ConfirmationNeeded, ToolCallFinished
from taskagent.services import Services
from tests.support.chat import of, turn
from tests.support.gemini_stub import GeminiStub


async def test_the_chat_creates_a_rule_from_a_plain_sentence(
    chat: ChatSession, services: Services, env: GeminiStub
) -> None:
    env.reply_function_call(
        "create_background_task",
        {
            "name": "BTC 100k",
            "schedule_type": "interval",
            "schedule_value": "15 minutes",
            "mcp_tool": "get_crypto_by_symbol",
            "tool_args": {"symbol": "btc"},
            "summary_mode": "changes",
            "alerts": ["price crosses above 100k"],
        },
    )
    env.reply_stream(["I will tell you when Bitcoin crosses $100,000."])

    events = await turn(chat, "tell me when BTC crosses 100k")

    card = of(events, ConfirmationNeeded)[0]
    assert (
        "Alert: notify once when price crosses above 100,000 (again only after it went back "
        "0.5% past it)"
    ) in card.details
    assert of(events, ToolCallFinished)[0].ok
    task = (await services.tasks.list_tasks())[0]
    assert [s.rule.text for s in await services.alerts.rules_of(task.stored_id)] == [
        "price crosses above 100,000"
    ]
    first = env.requests[0]
    assert "crosses [above|below] N" in first.system_text
    assert "ask one short question instead of guessing" in first.system_text
    declared = {d["name"]: d for d in first.function_declarations}
    schema = declared["create_background_task"]["parameters_json_schema"]
    assert "alerts" in schema["properties"]
    assert "set_task_alerts" in declared


async def test_a_bad_rule_goes_back_to_the_model_not_to_the_user(
    chat: ChatSession, services: Services, env: GeminiStub
) -> None:
    env.reply_function_call(
        "create_background_task",
        {
            "name": "BTC",
            "schedule_type": "interval",
            "schedule_value": "1 hour",
            "mcp_tool": "get_crypto_by_symbol",
            "tool_args": {"symbol": "btc"},
            "alerts": ["bitcoin goes to the moon"],
        },
    )
    env.reply_stream(["Which level should I watch?"])
    events = await turn(chat, "tell me when bitcoin moons")
    assert of(events, ConfirmationNeeded) == []
    assert await services.tasks.list_tasks() == []
    second = env.requests[1]
    assert "is not a condition" in str(second.body["contents"][-1])
