"""Bad input, broadly: one table of wrong, oversized, mistyped, unknown and hostile inputs
through every door (the CLI, import files, config.toml, mcp.json, both MCP servers, slash
commands; the task form has its own table in tests/ui/test_bad_input_form.py).

Every row must be answered with exactly one line that names the problem, and must leave the
database exactly as it was. Everything is real: the CLI's `main()` on a temp TASKAGENT_HOME
with a real SQLite file, the built-in MCP servers through an in-memory fastmcp Client, the slash
commands over real Services.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client

from taskagent.__main__ import main
from taskagent.config import load_settings
from taskagent.paths import resolve_paths
from tests.support.coingecko_stub import CoinGeckoStub

MB = 1_000_000
HUGE = "x" * MB
GOOD = {
    "name": "new one",
    "schedule_type": "interval",
    "schedule_value": "1 hour",
    "mcp_tool": "get_crypto_prices",
}
TABLES = ("tasks", "task_history", "settings", "chat_messages", "run_requests")


@dataclass(frozen=True)
class Case:
    id: str
    door: str  # cli | import | config | mcpjson | background | crypto | slash
    given: Any  # argv, file content, (tool, args) or a command line
    expect: str  # must be in the one line


def add(*extra: str, name: str = "t1", tool: str = "get_crypto_prices") -> list[str]:
    return ["tasks", "add", name, "--every", "1h", "--tool", tool, *extra]


def entry(**fields: Any) -> str:
    return json.dumps({"version": 1, "tasks": [GOOD | fields]})


CASES: list[Case] = [
    # ---- CLI: taskagent tasks ... -----------------------------------------------------------
    Case("cli-name-1mb", "cli", add(name=HUGE), "name is longer than 100 characters"),
    Case(
        "cli-args-1mb",
        "cli",
        add("--args", json.dumps({"limit": 3, "pad": HUGE})),
        "unknown argument 'pad'",
    ),
    Case("cli-duplicate-name", "cli", add(name="EXISTS"), "a task named 'EXISTS' already exists"),
    Case("cli-name-control-char", "cli", add(name="bell\x07"), "must not contain control"),
    Case("cli-args-not-object", "cli", add("--args", "[1, 2]"), "tool_args must be a JSON object"),
    Case(
        "cli-args-wrong-type",
        "cli",
        add("--args", '{"limit": "ten"}'),
        "wrong type for 'limit': expected integer, got string",
    ),
    Case("cli-args-bad-json", "cli", add("--args", '{"limit": 3'), "tool_args is not valid JSON"),
    Case("cli-daemon-grace-negative", "cli", ["daemon", "--grace", "-5"], "must be 0 to 3600"),
    Case("cli-daemon-grace-huge", "cli", ["daemon", "--grace", "1e9"], "must be 0 to 3600"),
    Case(
        "cli-daily-25h",
        "cli",
        ["tasks", "add", "t", "--daily", "25:00", "--tool", "get_crypto_prices"],
        "'25:00' is not a valid time",
    ),
    Case("cli-timezone", "cli", add("--timezone", "Mars/Olympus"), "not a known time zone"),
    Case(
        "cli-write-tool",
        "cli",
        add("--args", '{"task_id": 1}', tool="background:pause_background_task"),
        "is not a read-only tool: the task would run it unattended and it may change data; "
        "add --allow-write",
    ),
    Case("cli-missing-tool", "cli", ["tasks", "add", "t", "--every", "1h"], "required: --tool"),
    Case("cli-notify-choice", "cli", add("--notify", "loud"), "invalid choice: 'loud'"),
    Case("cli-show-1mb-ref", "cli", ["tasks", "show", HUGE], "no task 'xxxxxxxx"),
    Case("cli-history-limit-0", "cli", ["tasks", "history", "1", "--limit", "0"], "limit must be"),
    Case("cli-run-timeout", "cli", ["tasks", "run", "1", "--timeout", "-1"], "more than 0 seconds"),
    Case("cli-unknown-task", "cli", ["tasks", "remove", "nope"], "no task 'nope'"),
    Case("cli-catch-up-within", "cli", add("--catch-up-within", "soon"), "catch-up window"),
    Case(
        "cli-catch-up-within-negative",
        "cli",
        add("--catch-up-within", "-5"),
        "catch-up window must be 0 (any age) to 365 days, not -5 seconds",
    ),
    # ---- import files (taskagent tasks import FILE) -----------------------------------------
    Case("import-not-utf8", "import", b"\xff\xfe\x00[]", "not UTF-8 text"),
    Case("import-unknown-field", "import", entry(colour="red"), "unknown field(s) colour"),
    Case(
        "import-duplicate-names",
        "import",
        json.dumps({"tasks": [GOOD, GOOD | {"name": "NEW ONE"}]}),
        "task #2 (NEW ONE): the name appears twice",
    ),
    Case("import-wrong-type", "import", entry(enabled="maybe"), "enabled must be true or false"),
    Case("import-args-1mb", "import", entry(tool_args={"limit": HUGE}), "wrong type for 'limit'"),
    Case("import-name-1mb", "import", entry(name=HUGE), "name is longer than 100"),
    Case("import-version", "import", '{"version": 2, "tasks": []}', "format version 2"),
    Case("import-not-a-list", "import", '{"tasks": 5}', "expected a 'tasks' list"),
    Case(
        "import-write-tool",
        "import",
        entry(mcp_tool="background:pause_background_task", tool_args={"task_id": 1}),
        "task #1 (new one): 'background:pause_background_task' is not a read-only tool",
    ),
    Case("import-bad-json", "import", '{"tasks": [', "not valid JSON"),
    # ---- config.toml ------------------------------------------------------------------------
    Case(
        "config-wrong-type",
        "config",
        '[scheduler]\nworker_threads = "lots"\n',
        "worker_threads = 'lots': must be a whole number from 1 to 64",
    ),
    Case("config-unknown-section", "config", "[bogus]\nx = 1\n", "unknown section [bogus]"),
    Case("config-unknown-key", "config", "[scheduler]\nfoo = 1\n", "unknown key 'foo'"),
    Case(
        "config-1mb-value",
        "config",
        f'[general]\ntimezone = "{HUGE}"\n',
        "(1,000,002 characters): must be an IANA time zone",
    ),
    Case(
        "config-allow-pattern",
        "config",
        '[chat]\nalways_allow = ["notes"]\n',
        "'notes' is not a pattern: use server:tool",
    ),
    Case("config-allow-type", "config", "[chat]\nalways_allow = 5\n", "must be a list of patterns"),
    Case(
        "config-control-key", "config", '"a\\nb" = 1\n', "unknown section ['a\\nb']"
    ),  # a key with a newline stays on one line
    Case("config-invalid-toml", "config", "x = [\n", "invalid TOML"),
    Case("config-ping-url", "config", '[health]\nping_url = "ftp://x"\n', "http:// or https://"),
    Case("config-ping-every", "config", '[health]\nping_every = "soon"\n', "must be a duration"),
    # ---- mcp.json ---------------------------------------------------------------------------
    Case("mcpjson-invalid", "mcpjson", "{", "invalid JSON at line 1"),
    Case(
        "mcpjson-colon-name",
        "mcpjson",
        '{"mcpServers": {"a:b": {"command": "x"}}}',
        "the name must not contain ':'",
    ),
    Case(
        "mcpjson-args-type",
        "mcpjson",
        '{"mcpServers": {"a": {"command": "x", "args": "y"}}}',
        "'args' must be a list of strings, got string",
    ),
    Case(
        "mcpjson-env-type",
        "mcpjson",
        '{"mcpServers": {"a": {"command": "x", "env": {"K": 1}}}}',
        "'env' value for 'K' must be a string",
    ),
    Case(
        "mcpjson-duplicate-name",
        "mcpjson",
        '{"mcpServers": {"crypto": {"command": "x"}}}',
        "'crypto' clashes with a built-in server",
    ),
    Case(
        "mcpjson-unknown-key",
        "mcpjson",
        '{"mcpServers": {"a": {"command": "x", "arg": ["y"]}}}',
        "unknown key 'arg' (did you mean 'args'?)",
    ),
    Case(
        "mcpjson-top-level-typo",
        "mcpjson",
        '{"mcpServer": {"a": {"command": "x"}}}',
        "unknown key 'mcpServer' (did you mean 'mcpServers'?)",
    ),
    Case(
        "mcpjson-url",
        "mcpjson",
        '{"mcpServers": {"a": {"url": "ftp://x"}}}',
        "must be an http:// or https:// URL",
    ),
    # ---- the background MCP server ----------------------------------------------------------
    Case(
        "bg-name-1mb",
        "background",
        ("create_background_task", GOOD | {"name": HUGE}),
        "name is longer than 100",
    ),
    Case(
        "bg-args-1mb",
        "background",
        ("create_background_task", GOOD | {"tool_args": HUGE}),
        "tool_args is not valid JSON",
    ),
    Case(
        "bg-wrong-type",
        "background",
        ("create_background_task", GOOD | {"name": 5}),
        "invalid arguments for 'create_background_task': wrong value for 'name'",
    ),
    Case(
        "bg-unknown-key",
        "background",
        ("create_background_task", GOOD | {"colour": "red"}),
        "unknown argument 'colour'",
    ),
    Case(
        "bg-missing",
        "background",
        ("create_background_task", {"name": "x"}),
        "missing required argument 'schedule_type'",
    ),
    Case(
        "bg-duplicate",
        "background",
        ("create_background_task", GOOD | {"name": "exists"}),
        "a task named 'exists' already exists",
    ),
    Case(
        "bg-control-chars",
        "background",
        ("create_background_task", GOOD | {"name": "red \x1b[31m"}),
        "name must not contain control characters",
    ),
    Case(
        "bg-write-tool",
        "background",
        (
            "create_background_task",
            GOOD | {"mcp_tool": "background:stop_background_task", "tool_args": {"task_id": 1}},
        ),
        "set allow_write to true only if the user agreed",
    ),
    Case(
        "bg-task-id-type",
        "background",
        ("start_background_task", {"task_id": "one"}),
        "wrong value for 'task_id'",
    ),
    Case(
        "bg-bad-cron",
        "background",
        (
            "update_task_schedule",
            {"task_id": 1, "schedule_type": "cron", "schedule_value": "61 * * * *"},
        ),
        "61 is out of range",
    ),
    Case(
        "bg-history-limit",
        "background",
        ("get_task_execution_history", {"task_id": 1, "limit": 0}),
        "limit must be between 1 and 1000",
    ),
    # ---- the crypto MCP server --------------------------------------------------------------
    Case(
        "crypto-limit-0",
        "crypto",
        ("get_crypto_prices", {"limit": 0}),
        "limit must be between 1 and 250",
    ),
    Case(
        "crypto-limit-type",
        "crypto",
        ("get_crypto_prices", {"limit": "lots"}),
        "wrong value for 'limit'",
    ),
    Case(
        "crypto-unknown-key",
        "crypto",
        ("get_crypto_prices", {"limit": 3, "sort": "up"}),
        "unknown argument 'sort'",
    ),
    Case(
        "crypto-symbol-1mb",
        "crypto",
        ("get_crypto_by_symbol", {"symbol": HUGE}),
        "symbol must be a ticker such as btc or eth",
    ),
    Case(
        "crypto-symbol-control",
        "crypto",
        ("get_crypto_by_symbol", {"symbol": "b\x00tc"}),
        "symbol must be a ticker",
    ),
    Case(
        "crypto-currency-1mb",
        "crypto",
        ("get_market_summary", {"vs_currency": HUGE}),
        "vs_currency must be a currency code",
    ),
    # ---- slash commands ---------------------------------------------------------------------
    Case("slash-no-id", "slash", "/tasks remove", "/tasks remove needs a task id"),
    Case("slash-unknown-task", "slash", "/tasks pause 99", "no task with id 99"),
    Case("slash-1mb-ref", "slash", f"/tasks history {HUGE}", "no task 'xxxx"),
    Case("slash-model-1mb", "slash", f"/model {'m' * MB}", "a model name is at most 100"),
    Case("slash-setting-range", "slash", "/settings temperature 9", "temperature must be from 0"),
    Case("slash-unknown", "slash", "/bogus", "unknown command /bogus"),
    Case("slash-system-1mb", "slash", f"/system {HUGE}", "longer than 20,000 characters"),
    Case("slash-extra-args", "slash", "/tasks list please", "/tasks list takes no arguments"),
]


def test_the_table_is_broad() -> None:
    doors = {c.door for c in CASES}
    assert doors == {"cli", "import", "config", "mcpjson", "background", "crypto", "slash"}
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)


# ============================================================================= the runner
def snapshot(home: Path) -> dict[str, list[tuple[Any, ...]]]:
    db = home / "taskagent.db"
    if not db.exists():
        return {}
    with sqlite3.connect(db) as conn:
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in TABLES}


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse
        code = exc.code
    err = capsys.readouterr().err
    assert code not in (0, None), f"accepted: {err!r}"
    return err


async def call_server(door: str, tool: str, args: dict[str, Any]) -> str:
    from mcp_servers.crypto_server import create_server
    from taskagent.services import Services

    async with Services.open(load_settings(resolve_paths()), kind="cli") as services:
        server = services.background_server if door == "background" else create_server()
        async with Client(server) as client:
            result = await client.call_tool(tool, args, raise_on_error=False)
    assert result.is_error, f"accepted: {result.data!r}"
    return "\n".join(getattr(block, "text", "") for block in result.content)


async def run_slash(line: str) -> str:
    from taskagent.services import Services

    async with Services.open(load_settings(resolve_paths()), kind="cli") as services:
        reply = await services.slash_commands().execute(line)
    assert reply.error, f"accepted: {reply.text[:200]!r}"
    return reply.text


def answer(case: Case, home: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """Feed one bad input through its door; the text the user gets back."""
    if case.door == "cli":
        return run_cli(case.given, capsys)
    if case.door == "import":
        path = home / "import.json"
        content = case.given if isinstance(case.given, bytes) else case.given.encode()
        path.write_bytes(content)
        return run_cli(["tasks", "import", str(path)], capsys)
    if case.door in ("config", "mcpjson"):
        path = home / ("config.toml" if case.door == "config" else "mcp.json")
        path.write_text(case.given, encoding="utf-8")
        try:
            return run_cli(["tasks", "list"], capsys)
        finally:
            path.unlink()
    if case.door in ("background", "crypto"):
        tool, args = case.given
        return asyncio.run(call_server(case.door, tool, args))
    if case.door == "slash":
        return asyncio.run(run_slash(case.given))
    raise AssertionError(f"unknown door {case.door}")


@pytest.fixture
def home(
    taskagent_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    coingecko_stub: CoinGeckoStub,
    capsys: pytest.CaptureFixture[str],
) -> Path:
    """A home with one task ("exists", id 1) and one finished run of it."""
    monkeypatch.setenv("TASKAGENT_GENERAL_TIMEZONE", "UTC")
    monkeypatch.setenv("TASKAGENT_COINGECKO_BASE_URL", coingecko_stub.base_url)
    assert main(["tasks", "add", "exists", "--every", "1h", "--tool", "get_crypto_prices",
                 "--args", '{"limit": 2}', "--no-summary"]) == 0  # fmt: skip
    assert main(["tasks", "run", "1"]) == 0
    capsys.readouterr()
    return taskagent_home


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_gets_one_line_and_changes_nothing(
    case: Case, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(home)
    assert before["tasks"] and before["task_history"]  # there is something to protect
    text = answer(case, home, capsys)

    lines = text.strip().splitlines()
    assert len(lines) == 1, f"not one line: {text[:500]!r}"
    line = lines[0]
    assert case.expect in line, line[:500]
    assert len(line) < 400, f"{len(line)} characters: {line[:200]!r}"
    assert "Traceback" not in text and "pydantic" not in text
    assert snapshot(home) == before


# ======================================================== a tool that answers 10 MB
NOTES_SERVER = Path(__file__).resolve().parent / "support" / "notes_server.py"


@pytest.mark.slow
def test_a_tool_returning_10_mb_is_stored_cut_and_reported_briefly(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (home / "mcp.json").write_text(
        json.dumps(
            {
                "mcpServers": {
                    "notes": {
                        "command": sys.executable,
                        "args": [str(NOTES_SERVER)],
                        "env": {"NOTES_FILE": str(home / "notes.txt")},
                    }
                }
            }
        )
    )
    added = main(
        [
            "tasks",
            "add",
            "big",
            "--every",
            "1h",
            "--tool",
            "notes:huge_note",
            "--args",
            '{"megabytes": 10}',
            "--no-summary",
        ]
    )
    assert added == 0
    capsys.readouterr()
    assert main(["tasks", "run", "big", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["status"] == "success"
    with sqlite3.connect(home / "taskagent.db") as conn:
        (stored,) = conn.execute(
            "SELECT raw_data, ai_summary FROM task_history WHERE task_id = 2"
        ).fetchall()
    raw, summary = stored
    assert 1_000_000 <= len(raw) < 1_100_000 and "cut" in raw[-100:]
    assert summary is None or len(summary) < 1_000
