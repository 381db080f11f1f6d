"""Every slash command over real Services (temp SQLite, real MCP manager and engine), table-driven,
including bad arguments; the AI parts (/compress, /tokens) also with the Gemini stand-in."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from taskagent.config import load_settings
from taskagent.core.chat import ChatSession, ConfirmationNeeded
from taskagent.core.slash import COMMANDS, Reply, SlashCommands, help_text
from taskagent.paths import resolve_paths
from taskagent.services import Services
from tests.support.chat import open_chat
from tests.support.coingecko_stub import CoinGeckoStub
from tests.support.gemini_stub import GeminiStub


@pytest.fixture
async def services(
    coingecko_stub: CoinGeckoStub,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Services]:
    monkeypatch.setenv("TASKAGENT_COINGECKO_BASE_URL", coingecko_stub.base_url)
    monkeypatch.setenv("TASKAGENT_GENERAL_TIMEZONE", "UTC")
    async with Services.open(load_settings(resolve_paths())) as built:
        await built.tasks.create_task(
            name="Prices",
            schedule_type="interval",
            schedule_value="30 minutes",
            mcp_tool="get_crypto_prices",
            tool_args={"limit": 3},
        )
        yield built


@pytest.fixture
async def chat(services: Services) -> ChatSession:
    return await open_chat(services)  # no key in tests unless a test sets one


@pytest.fixture
def slash(services: Services, chat: ChatSession) -> SlashCommands:
    return services.slash_commands(chat)


def raw(services: Services, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(Path(services.repo.path)) as conn:
        return conn.execute(sql).fetchall()


OK: list[tuple[str, list[str], str | None]] = [
    ("/help", ["/tasks run <id>", "/compress", "/quit"], None),
    ("/tasks", ["/tasks list", "/tasks run <id>", "/tasks status"], "tasks_menu"),
    ("/tasks list", ["ID  Name    State   Schedule", "1  Prices  active  every 30 minutes"], None),
    ("/TASKS LIST", ["Prices"], None),
    ("/tasks add", ["opening the new-task form"], "open_task_form"),
    ("/tasks remove 1", ["Remove task 1 “Prices”? Its run history is kept."], "confirm"),
    ("/tasks start 1", ["enabled task 1 (Prices); next run "], None),
    ("/tasks stop 1", ["disabled task 1 (Prices)"], None),
    ("/tasks pause Prices", ["paused task 1 (Prices)"], None),
    ("/tasks resume 1", ["resumed task 1 (Prices)"], None),
    ("/tasks run 1", ["run #1 of task 1 (Prices): success in ", "summary: "], None),
    ("/tasks history 1", ["task 1 (Prices) has not run yet"], None),
    ("/tasks result 1", ["task 1 (Prices) has not run yet"], None),
    (
        "/tasks status",
        ["tasks: 1 (1 active, 0 paused, 0 disabled, 0 done)", "last 24 h: 0 runs"],
        None,
    ),
    ("/mcp", ["crypto", "background", "builtin", "connected", "/mcp <server>"], None),
    ("/mcp crypto", ["crypto (builtin, connected): 4 tool(s)", "  get_crypto_prices  "], None),
    ("/model", ["model: gemini-2.5-flash (others: gemini-2.5-flash-lite, gemini-2.5-pro"], None),
    ("/model gemini-2.5-pro", ["model set to gemini-2.5-pro"], None),
    ("/model my-model", ["model set to my-model (not one of the usual models"], None),
    ("/system", ["system instruction (default;", "You are taskagent's assistant"], None),
    ("/system Be terse, don't ramble.", ["system instruction set"], None),
    ("/system reset", ["system instruction reset to the default"], None),
    ("/settings", ["temperature  0.7", "max_tokens   8192", "top_p        model default"], None),
    ("/settings temperature 0.3", ["temperature set to 0.3"], None),
    ("/settings top-p 0.9", ["top_p set to 0.9"], None),
    ("/settings max_tokens default", ["max_tokens reset to its default: 8192"], None),
    ("/settings top_p default", ["top_p reset to its default: the model's default"], None),
    ("/tokens", ["this conversation: no tokens used yet", "task summaries: 0 + 0 = 0"], None),
    ("/clear", ["conversation cleared"], "clear"),
    ("/quit", ["bye"], "quit"),
]


@pytest.mark.parametrize(("line", "expected", "action"), OK, ids=[c[0] for c in OK])
async def test_commands(
    slash: SlashCommands, line: str, expected: list[str], action: str | None
) -> None:
    reply = await slash.execute(line)
    assert not reply.error, reply.text
    for text in expected:
        assert text in reply.text, reply.text
    assert reply.action == action


BAD: list[tuple[str, str, str | None]] = [
    ("/frobnicate", "unknown command /frobnicate; type /help for the list", None),
    ("/tasks frob 1", "unknown /tasks action 'frob' (use one of: list, add, ", "/tasks"),
    ("/tasks run", "/tasks run needs a task id", "/tasks run <id>"),
    ("/tasks run 1 2", "no task '1 2'", "/tasks run <id>"),
    ("/tasks run 99", "no task with id 99", "/tasks run <id>"),
    ("/tasks history nope", "no task 'nope'", "/tasks history <id>"),
    ("/tasks result 42", "no task with id 42", "/tasks result <id>"),
    ("/tasks remove", "/tasks remove needs a task id", "/tasks remove <id>"),
    ("/tasks remove 7 --yes", "no task with id 7", "/tasks remove <id>"),
    ("/tasks start 99", "no task with id 99", "/tasks start <id>"),
    ("/tasks stop", "/tasks stop needs a task id", "/tasks stop <id>"),
    ("/tasks pause 99", "no task with id 99", "/tasks pause <id>"),
    ("/tasks resume x y", "no task 'x y'", "/tasks resume <id>"),
    ("/tasks list all", "/tasks list takes no arguments", "/tasks list"),
    ("/tasks add now", "/tasks add takes no arguments", "/tasks add"),
    ("/tasks status 1", "/tasks status takes no arguments", "/tasks status"),
    ("/mcp nope", "no MCP server 'nope' (servers: crypto, background)", "/mcp [server]"),
    ("/mcp a b", "/mcp takes at most one server name", "/mcp [server]"),
    ("/model two words", "/model takes one model name", "/model [name]"),
    ("/settings temperature 5", "temperature must be from 0 to 2", "/settings [name value]"),
    ("/settings temperature hot", "temperature must be a number from 0 to 2", "/settings"),
    ("/settings max_tokens 1.5", "max_tokens must be a whole number", "/settings"),
    ("/settings warp 9", "unknown setting 'warp' (use temperature, max_tokens", "/settings"),
    ("/settings temperature", "/settings needs a name and a value", "/settings"),
    ("/tokens all", "/tokens takes no arguments", "/tokens"),
    ("/compress", "/compress needs the AI: set GEMINI_API_KEY (or GOOGLE_API_KEY)", None),
    ("/compress now", "/compress takes no arguments", "/compress"),
    ("/clear all", "/clear takes no arguments", "/clear"),
    ("/quit now", "/quit takes no arguments", "/quit"),
    ("tasks list", "slash commands start with '/': try /help", None),
]


@pytest.mark.parametrize(("line", "error", "usage"), BAD, ids=[c[0] for c in BAD])
async def test_bad_commands_are_one_line_with_the_usage(
    slash: SlashCommands, line: str, error: str, usage: str | None
) -> None:
    reply = await slash.execute(line)
    assert reply.error
    assert reply.action is None
    assert "\n" not in reply.text
    assert reply.text.startswith(error), reply.text
    if usage is not None:
        assert "(usage: /" in reply.text and usage in reply.text, reply.text


def test_the_commands_import_without_the_chat() -> None:
    """The first screen imports the slash commands; the chat (fastmcp, google-genai, ~1 s)
    comes only with a command that needs it."""
    code = (
        "import sys, taskagent.core.slash\n"
        "heavy = [m for m in ('taskagent.core.chat', 'fastmcp', 'google.genai') "
        "if m in sys.modules]\n"
        "sys.exit(str(heavy) if heavy else 0)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_help_lists_every_command_once() -> None:
    text = help_text()
    lines = text.splitlines()
    assert len(lines) == len(COMMANDS)
    for command in COMMANDS.values():
        assert sum(line.split("  ")[0].strip() == command.usage for line in lines) == 1
    for name in ("/tasks", "/mcp", "/model", "/system", "/settings", "/tokens", "/compress"):
        assert name in COMMANDS
    for sub in ("list", "add", "remove", "start", "stop", "pause", "resume", "run"):
        assert f"/tasks {sub}" in COMMANDS
    for sub in ("history", "result", "status"):
        assert f"/tasks {sub}" in COMMANDS


# ======================================================================= effects of commands
async def test_task_state_commands_change_the_database(
    slash: SlashCommands, services: Services
) -> None:
    await slash.execute("/tasks stop 1")
    assert raw(services, "SELECT enabled, paused FROM tasks") == [(0, 0)]
    await slash.execute("/tasks start 1")
    await slash.execute("/tasks pause 1")
    assert raw(services, "SELECT enabled, paused FROM tasks") == [(1, 1)]
    await slash.execute("/tasks resume 1")
    assert raw(services, "SELECT enabled, paused FROM tasks") == [(1, 0)]


async def test_remove_asks_then_removes(slash: SlashCommands, services: Services) -> None:
    ask = await slash.execute("/tasks remove 1")
    assert ask == Reply(
        "Remove task 1 “Prices”? Its run history is kept.",
        action="confirm",
        confirm_command="/tasks remove 1 --yes",
    )
    assert raw(services, "SELECT count(*) FROM tasks") == [(1,)]  # only asked
    done = await slash.execute(ask.confirm_command or "")
    assert done.text == "removed task 1 (Prices)" and not done.error
    assert raw(services, "SELECT count(*) FROM tasks") == [(0,)]


async def test_run_then_history_and_result(
    slash: SlashCommands,
    services: Services,
    coingecko_stub: CoinGeckoStub,
) -> None:
    run = await slash.execute("/tasks run 1")
    lines = run.text.splitlines()
    assert lines[0].startswith("run #1 of task 1 (Prices): success in ")
    assert lines[1].startswith("summary: ")
    assert coingecko_stub.count("/coins/markets") == 1
    await slash.execute("/tasks run Prices")
    history = (await slash.execute("/tasks history 1")).text.splitlines()
    assert history[0] == "last 2 run(s) of task 1 (Prices), newest first:"
    assert history[1].startswith("#2 ") and " success " in history[1]
    assert history[2].startswith("#1 ")
    result = (await slash.execute("/tasks result 1")).text
    assert result.startswith("latest result of task 1 (Prices): run #2 at ")
    assert "\nsummary (offline): " in result
    assert '\ndata: {"' in result and "bitcoin" in result
    status = (await slash.execute("/tasks status")).text
    assert "last 24 h: 2 runs, 2 ok, 0 failed" in status


async def test_a_failed_run_shows_its_error(
    slash: SlashCommands,
    coingecko_stub: CoinGeckoStub,
) -> None:
    coingecko_stub.respond(404, {"error": "coin not found"}, times=10, path="/coins/markets")
    text = (await slash.execute("/tasks run 1")).text
    assert text.startswith("run #1 of task 1 (Prices): error in ")
    assert "\nerror: " in text


async def test_chat_settings_persist(slash: SlashCommands, services: Services) -> None:
    await slash.execute("/model gemini-2.5-pro")
    await slash.execute("/settings temperature 0.3")
    await slash.execute("/system Be terse, don't ramble.")
    again = await ChatSession.open(
        repo=services.repo,
        mcp=services.mcp,
        tasks=services.tasks,
        gemini=lambda: services.summarizer.gemini,
    )
    assert again.model == "gemini-2.5-pro"
    assert again.setting("temperature") == 0.3
    assert again.system_instruction == "Be terse, don't ramble."
    shown = (await services.slash_commands(again).execute("/system")).text
    assert shown.startswith("system instruction (custom;")
    await slash.execute("/system reset")
    assert slash.chat is not None and slash.chat.custom_system is None


async def test_without_a_chat_session_chat_commands_say_so(services: Services) -> None:
    slash = SlashCommands(services.tasks, engine=services.engine, mcp=services.mcp)
    reply = await slash.execute("/model")
    assert reply.error and reply.text == "/model: the chat agent is not available here"
    assert not (await slash.execute("/tasks list")).error
    tokens = await slash.execute("/tokens")
    assert tokens.text.startswith("task summaries: ")


# ============================================================== with the AI: /tokens, /compress
@pytest.fixture
async def ai(
    services: Services,
    gemini_stub: GeminiStub,
) -> tuple[SlashCommands, GeminiStub]:
    from taskagent.core.gemini_client import GeminiClient

    client = GeminiClient("test-key", base_url=gemini_stub.base_url)
    chat = await ChatSession.open(
        repo=services.repo, mcp=services.mcp, tasks=services.tasks, gemini=client
    )
    return services.slash_commands(chat), gemini_stub


async def test_tokens_per_turn_and_task_summaries(
    ai: tuple[SlashCommands, GeminiStub], services: Services
) -> None:
    slash, stub = ai
    assert slash.chat is not None
    stub.reply_function_call("list_background_tasks", {})
    stub.reply_text("You have one task.", prompt_tokens=500, response_tokens=20)
    async for event in slash.chat.send("what tasks do I have?"):
        assert not isinstance(event, ConfirmationNeeded)
    stub.reply_text("Hi.", prompt_tokens=600, response_tokens=5, thoughts_tokens=10)
    async for _ in slash.chat.send("hello"):
        pass
    async with services.repo.write() as db:
        for p, r in ((120, 40), (80, 30)):
            await db.execute(
                "INSERT INTO task_history (task_id, run_time, status, prompt_tokens, "
                "response_tokens) VALUES (1, '2026-01-01T00:00:00.000+00:00', 'success', ?, ?)",
                (p, r),
            )
    stub.reply_count_tokens(640)
    reply = await slash.execute("/tokens")
    lines = reply.text.splitlines()
    assert reply.table
    assert lines[0] == "this conversation, tokens billed per turn:"
    # function_call_response() carries 412 + 19 + 72 thinking; the answer 500 + 20.
    assert lines[2].split() == ["1.", "what", "tasks", "do", "I", "have?", "912", "+", "111", "=", "1,023"]  # fmt: skip
    assert lines[3].split() == ["2.", "hello", "600", "+", "15", "=", "615"]
    assert lines[4].split() == ["all", "turns", "1,512", "+", "126", "=", "1,638"]
    assert lines[5] == "in context now: 640 tokens (the scale /compress reports)"
    assert lines[6] == "task summaries: 200 + 70 = 270 tokens over 2 AI-summarised run(s)"
    # Figures are never wrapped in the side pane (58 columns at 150 columns wide).
    assert max(len(line) for line in lines[:6]) <= 58


async def test_compress_reports_tokens_before_and_after(
    ai: tuple[SlashCommands, GeminiStub],
) -> None:
    slash, stub = ai
    assert slash.chat is not None
    for i in range(3):
        stub.reply_text(f"answer {i}")
        async for _ in slash.chat.send(f"question {i}"):
            pass
    stub.reply_count_tokens(900)
    stub.reply_text("Earlier: question 0.", prompt_tokens=150, response_tokens=12)
    stub.reply_count_tokens(300)
    reply = await slash.execute("/compress")
    assert not reply.error
    assert reply.text.startswith(
        "Compressed 1 older turn(s) into a summary: conversation 900 → 300 tokens"
    )
    assert "(the summary itself used 162)" in reply.text
    assert (await slash.execute("/compress")).text.startswith("nothing to compress")
    stub.reply_count_tokens(300)
    lines = (await slash.execute("/tokens")).text.splitlines()
    assert lines[2].startswith("  ✂ 1. question 0")  # compressed, marked
    assert lines[3].startswith("    2. question 1") and lines[4].startswith("    3. question 2")
    assert lines[5].startswith("    /compress summary")
    assert "✂ = replaced by the /compress summary" in lines[7]
    # the same scale as /compress's "900 → 300"
    assert lines[8] == "in context now: 300 tokens (the scale /compress reports)"


async def test_compress_error_is_one_line(ai: tuple[SlashCommands, GeminiStub]) -> None:
    slash, stub = ai
    assert slash.chat is not None
    for i in range(3):
        stub.reply_text(f"answer {i}")
        async for _ in slash.chat.send(f"question {i}"):
            pass
    stub.reply_count_tokens(900)
    stub.reply_error(429)
    reply = await slash.execute("/compress")
    assert reply.error and "\n" not in reply.text
    assert reply.text.startswith("Gemini quota exhausted (429 RESOURCE_EXHAUSTED)")


async def test_clear_forgets_the_conversation(ai: tuple[SlashCommands, GeminiStub]) -> None:
    slash, _ = ai
    assert slash.chat is not None
    async for _ in slash.chat.send("hello"):
        pass
    assert slash.chat.transcript()
    reply = await slash.execute("/clear")
    assert reply.action == "clear"
    assert slash.chat.transcript() == []
    assert (await slash.execute("/tokens")).text.startswith("this conversation: no tokens")


def test_a_pasted_megabyte_is_split_without_shlex() -> None:
    """shlex takes about a minute over a megabyte; a long line is split on white space."""
    from taskagent.core.slash.registry import SHLEX_LIMIT, split_line

    head, rest, words = split_line("/Model " + "m" * (1 << 20) + ' "two words"')
    # three words: the quotes did not group "two words", so shlex never saw the line
    assert head == "/model" and len(words) == 3 and rest.endswith('"two words"')
    assert split_line('/tasks add "BTC hourly"')[2] == ["add", "BTC hourly"]  # short: shlex
    assert SHLEX_LIMIT >= 1_000
