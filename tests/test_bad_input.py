"""Bad input, broadly: one table of wrong, oversized, deeply nested, mistyped, unknown and
hostile inputs through every door (the CLI, import files, config.toml, mcp.json, both MCP
servers in memory, taskagent's MCP server over stdio, slash commands; the task form has its
own table, FORM_CASES in tests/ui/test_trust_ui.py, run under Pilot).

Every row must be answered with exactly one line that names the problem in the words the user
typed (`--grace` on the command line, the field name in an import file or an MCP call), with
exit status 1 for the CLI, and must leave the database exactly as it was. Everything is real:
the CLI's `main()` on a temp TASKAGENT_HOME with a real SQLite file, the built-in MCP servers
through a fastmcp Client (in memory, and over stdio to `taskagent mcp serve background`), the
slash commands over real Services.
"""

from __future__ import annotations

import asyncio
import json
import os
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


TOO_BIG = "99999999999999999999"  # past SQLite's 64-bit INTEGER


def nested(depth: int) -> str:
    """Tool arguments `depth` levels deep (the object itself is the first)."""
    return '{"a": ' + "[" * (depth - 1) + "]" * (depth - 1) + "}"


DEEP_ARGS = nested(30_000)


class Special(str):
    """An import of something other than a file we write: /dev/zero, a FIFO, a folder, an
    11 MB file, a missing path."""


class Toml(str):
    """Import file content written to a .toml file."""


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
        "--args is longer than 100,000 characters",
    ),
    Case("cli-duplicate-name", "cli", add(name="EXISTS"), "a task named 'EXISTS' already exists"),
    Case("cli-name-control-char", "cli", add(name="bell\x07"), "must not contain control"),
    Case("cli-args-not-object", "cli", add("--args", "[1, 2]"), "--args must be a JSON object"),
    Case(
        "cli-args-wrong-type",
        "cli",
        add("--args", '{"limit": "ten"}'),
        "wrong type for 'limit': expected integer, got string",
    ),
    Case("cli-args-bad-json", "cli", add("--args", '{"limit": 3'), "--args is not valid JSON"),
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
    Case("import-args-1mb", "import", entry(tool_args={"limit": HUGE}), "tool_args is longer than"),
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
        "tool_args is longer than 100,000 characters",
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
    # ---- ids past SQLite's 64-bit INTEGER, and ids that are not ASCII digits ---------------
    Case("cli-show-huge-id", "cli", ["tasks", "show", TOO_BIG], "no task"),
    Case("cli-run-huge-id", "cli", ["tasks", "run", TOO_BIG], "no task"),
    Case("cli-edit-huge-id", "cli", ["tasks", "edit", TOO_BIG, "--grace", "5"], "no task"),
    Case("cli-remove-huge-id", "cli", ["tasks", "remove", TOO_BIG], "no task"),
    Case("cli-history-huge-id", "cli", ["tasks", "history", TOO_BIG], "no task"),
    Case("cli-pause-2-63", "cli", ["tasks", "pause", str(2**63)], f"no task with id {2**63}"),
    Case("cli-show-5000-digits", "cli", ["tasks", "show", "1" * 5000], "(5,000 characters)"),
    Case("cli-show-superscript", "cli", ["tasks", "show", "\u00b2"], "no task '\u00b2'"),
    Case("slash-pause-huge-id", "slash", f"/tasks pause {TOO_BIG}", "no task"),
    Case("slash-history-2-63", "slash", f"/tasks history {2**63}", "no task"),
    Case("slash-remove-huge-id", "slash", f"/tasks remove {TOO_BIG}", "no task"),
    Case(
        "bg-start-huge-id",
        "background",
        ("start_background_task", {"task_id": 10**20}),
        "no task with id 100000000000000000000",
    ),
    Case(
        "bg-history-huge-id",
        "background",
        ("get_task_execution_history", {"task_id": 2**63}),
        "no task with id",
    ),
    Case(
        "bg-remove-negative-id",
        "background",
        ("remove_background_task", {"task_id": -1}),
        "no task with id -1",
    ),
    Case(
        "bg-run-huge-id",
        "background",
        ("run_task_immediately", {"task_id": 10**30}),
        "no task with id",
    ),
    Case(
        "bg-result-huge-id",
        "background",
        ("get_latest_task_result", {"task_id": 2**64}),
        "no task with id",
    ),
    # ---- tool arguments: nesting and size bounded --------------------------------------------
    Case("cli-args-30000-deep", "cli", add("--args", DEEP_ARGS), "--args nests more than 32"),
    Case("cli-args-33-deep", "cli", add("--args", nested(33)), "--args nests more than 32"),
    Case(
        "cli-edit-args-deep",
        "cli",
        ["tasks", "edit", "1", "--args", DEEP_ARGS],
        "--args nests more than 32",
    ),
    Case(
        "bg-args-deep-text",
        "background",
        ("create_background_task", GOOD | {"tool_args": DEEP_ARGS}),
        "tool_args nests more than 32",
    ),
    Case(
        "bg-args-deep-object",
        "background",
        ("create_background_task", GOOD | {"tool_args": json.loads(nested(40))}),
        "tool_args nests more than 32",
    ),
    Case(
        "bg-args-1mb-object",
        "background",
        ("create_background_task", GOOD | {"tool_args": {"limit": HUGE}}),
        "tool_args is longer than 100,000 characters",
    ),
    Case(
        "import-args-deep",
        "import",
        entry(tool_args=json.loads(nested(40))),
        "tool_args nests more than 32",
    ),
    # ---- the words the user typed -------------------------------------------------------------
    Case(
        "cli-add-grace-negative",
        "cli",
        add("--grace", "-5"),
        "--grace must be between 0 and 86400 seconds",
    ),
    Case("cli-add-grace-nan", "cli", add("--grace", "nan"), "--grace must be between 0"),
    Case(
        "cli-edit-grace-huge",
        "cli",
        ["tasks", "edit", "1", "--grace", "1e9"],
        "--grace must be between 0 and 86400",
    ),
    Case("cli-threshold-0", "cli", add("--threshold", "0"), "--threshold must be between 0.01"),
    Case("cli-threshold-inf", "cli", add("--threshold", "inf"), "--threshold must be between"),
    Case(
        "cli-description-1mb",
        "cli",
        add("--description", HUGE),
        "--description is longer than 2000 characters",
    ),
    Case(
        "cli-edit-name-number",
        "cli",
        ["tasks", "edit", "1", "--name", "42"],
        "name must not be a bare number",
    ),
    Case(
        "cli-history-limit-negative",
        "cli",
        ["tasks", "history", "1", "--limit", "-3"],
        "--limit must be at least 1",
    ),
    Case(
        "import-grace-negative",
        "import",
        entry(misfire_grace_seconds=-5),
        "task #1 (new one): misfire_grace_seconds must be between 0",
    ),
    # ---- command lines that cannot be read: one line, status 1 -----------------------------
    Case(
        "cli-unknown-option", "cli", ["tasks", "list", "--bogus"], "unrecognized arguments: --bogus"
    ),
    Case("cli-unknown-command", "cli", ["bogus"], "invalid choice: 'bogus'"),
    Case("cli-no-action", "cli", ["tasks"], "the following arguments are required: ACTION"),
    Case("cli-two-schedules", "cli", add("--daily", "09:00"), "not allowed with argument"),
    Case(
        "cli-limit-text",
        "cli",
        ["tasks", "history", "1", "--limit", "many"],
        "invalid int value: 'many'",
    ),
    Case(
        "cli-daemon-grace-text",
        "cli",
        ["daemon", "--grace", "soon"],
        "'soon' is not a number of seconds",
    ),
    Case("cli-mcp-serve-unknown", "cli", ["mcp", "serve", "crypto"], "invalid choice: 'crypto'"),
    Case(
        "cli-export-format", "cli", ["tasks", "export", "--format", "xml"], "invalid choice: 'xml'"
    ),
    Case("cli-notify-1mb-choice", "cli", add("--notify", HUGE), "invalid choice: 'xxxx"),
    Case(
        "cli-run-timeout-nan",
        "cli",
        ["tasks", "run", "1", "--timeout", "nan"],
        "more than 0 seconds",
    ),
    # ---- other task inputs ---------------------------------------------------------------------
    Case("cli-edit-nothing", "cli", ["tasks", "edit", "1"], "nothing to change"),
    Case(
        "cli-every-0",
        "cli",
        ["tasks", "add", "t", "--every", "0s", "--tool", "get_crypto_prices"],
        "interval must be at least 1 second",
    ),
    Case(
        "cli-cron-61",
        "cli",
        ["tasks", "add", "t", "--cron", "61 * * * *", "--tool", "get_crypto_prices"],
        "61 is out of range",
    ),
    Case(
        "cli-once-past",
        "cli",
        ["tasks", "add", "t", "--once", "2001-01-01T09:00", "--tool", "get_crypto_prices"],
        "is in the past",
    ),
    Case("cli-unknown-tool", "cli", add(tool="no_such_tool"), "unknown tool 'no_such_tool'"),
    Case(
        "cli-unknown-server", "cli", add(tool="nope:get_crypto_prices"), "unknown MCP server 'nope'"
    ),
    # ---- import: what is read, and entries missing fields ------------------------------------
    Case("import-dev-zero", "import", Special("/dev/zero"), "it is a device"),
    Case("import-fifo", "import", Special("fifo"), "it is a pipe (FIFO)"),
    Case("import-folder", "import", Special("folder"), "it is a folder"),
    Case("import-11mb", "import", Special("11mb"), "is more than the 10 MB an import reads"),
    Case("import-missing-file", "import", Special("missing"), "No such file or directory"),
    Case(
        "import-50000-deep",
        "import",
        '{"tasks": ' + "[" * 50_000 + "]" * 50_000 + "}",
        "nested too deeply",
    ),
    Case(
        "import-toml-deep",
        "import",
        Toml("a = " + "[" * 50_000 + "]" * 50_000),
        "nested too deeply",
    ),
    Case("import-toml-invalid", "import", Toml("x = ["), "not valid TOML"),
    Case(
        "import-missing-three",
        "import",
        json.dumps({"tasks": [{"name": "x"}]}),
        "task #1 (x): missing field(s) schedule_type, schedule_value, mcp_tool",
    ),
    Case(
        "import-missing-tool",
        "import",
        json.dumps({"tasks": [{k: v for k, v in GOOD.items() if k != "mcp_tool"}]}),
        "task #1 (new one): missing field(s) mcp_tool",
    ),
    Case("import-entry-number", "import", '{"tasks": [5]}', "task #1 must be a table/object"),
    # ---- config.toml ---------------------------------------------------------------------------
    Case("config-deep", "config", "a = " + "[" * 50_000 + "]" * 50_000 + "\n", "nested too deeply"),
    Case(
        "config-huge-int",
        "config",
        "[scheduler]\nworker_threads = 99999999999999999999\n",
        "must be a whole number from 1 to 64",
    ),
    # ---- mcp.json ----------------------------------------------------------------------------
    Case(
        "mcpjson-deep",
        "mcpjson",
        '{"mcpServers": ' + "[" * 50_000 + "]" * 50_000 + "}",
        "nested too deeply",
    ),
    Case("mcpjson-top-level-list", "mcpjson", "[]", "the top level must be a JSON object"),
    Case("mcpjson-servers-list", "mcpjson", '{"mcpServers": []}', "'mcpServers' must be an object"),
    Case(
        "mcpjson-entry-string",
        "mcpjson",
        '{"mcpServers": {"a": "npx"}}',
        "MCP server 'a' is not available: mcp.json: must be an object, got string",
    ),
    Case(
        "mcpjson-no-command",
        "mcpjson",
        '{"mcpServers": {"a": {"args": []}}}',
        "needs 'command' (a stdio server)",
    ),
    # ---- slash commands --------------------------------------------------------------------
    Case("slash-mcp-unknown", "slash", "/mcp nope", "no MCP server 'nope'"),
    Case("slash-mcp-two", "slash", "/mcp a b", "/mcp takes at most one server name"),
    Case(
        "slash-setting-huge",
        "slash",
        f"/settings temperature {TOO_BIG}",
        "temperature must be from 0",
    ),
    # ---- taskagent's MCP server over stdio (`taskagent mcp serve background`) ----------------
    Case(
        "stdio-huge-id",
        "stdio",
        ("start_background_task", {"task_id": 10**20}),
        "no task with id 100000000000000000000",
    ),
    Case(
        "stdio-args-deep",
        "stdio",
        ("create_background_task", GOOD | {"tool_args": DEEP_ARGS}),
        "tool_args nests more than 32",
    ),
    Case(
        "stdio-history-limit",
        "stdio",
        ("get_task_execution_history", {"task_id": 1, "limit": 0}),
        "limit must be between 1 and 1000",
    ),
    Case(
        "stdio-write-tool",
        "stdio",
        (
            "create_background_task",
            GOOD | {"mcp_tool": "background:stop_background_task", "tool_args": {"task_id": 1}},
        ),
        "set allow_write to true only if the user agreed",
    ),
]


def test_the_table_is_broad() -> None:
    doors = {c.door for c in CASES}
    assert doors == {
        "cli",
        "import",
        "config",
        "mcpjson",
        "background",
        "crypto",
        "slash",
        "stdio",
    }
    assert len(CASES) >= 100
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
    assert code == 1, f"exit status {code}: {err[:300]!r}"
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


async def call_over_stdio(home: Path, tool: str, args: dict[str, Any]) -> str:
    """One call through a real MCP client session to `taskagent mcp serve background`."""
    from fastmcp.client.transports import StdioTransport

    env = {k: v for k, v in os.environ.items() if k.startswith(("TASKAGENT_", "PATH", "HOME"))}
    transport = StdioTransport(
        command=sys.executable,
        args=["-m", "taskagent", "mcp", "serve", "background"],
        env=env,
        log_file=home / "logs" / "stdio-server.log",  # its stderr (capsys has no file behind)
    )
    async with Client(transport) as client:
        result = await client.call_tool(tool, args, raise_on_error=False)
    assert result.is_error, f"accepted: {result.data!r}"
    return "\n".join(getattr(block, "text", "") for block in result.content)


def import_file(given: Any, home: Path) -> Path:
    """The path `tasks import` is given for an import case."""
    if isinstance(given, Special):
        if given == "fifo":
            os.mkfifo(home / "import.json")
        elif given == "folder":
            (home / "import.json").mkdir()
        elif given == "11mb":
            with (home / "import.json").open("wb") as file:
                file.truncate(11_000_000)
        elif given != "missing":
            return Path(given)
        return home / "import.json"
    path = home / ("import.toml" if isinstance(given, Toml) else "import.json")
    path.write_bytes(given if isinstance(given, bytes) else given.encode())
    return path


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
        return run_cli(["tasks", "import", str(import_file(case.given, home))], capsys)
    if case.door in ("config", "mcpjson"):
        path = home / ("config.toml" if case.door == "config" else "mcp.json")
        path.write_text(case.given, encoding="utf-8")
        # mcp.json: a command that uses a server (a bad entry fails that server alone).
        argv = ["tasks", "list"] if case.door == "config" else add(tool="a:anything")
        try:
            return run_cli(argv, capsys)
        finally:
            path.unlink()
    if case.door in ("background", "crypto"):
        tool, args = case.given
        return asyncio.run(call_server(case.door, tool, args))
    if case.door == "stdio":
        tool, args = case.given
        return asyncio.run(call_over_stdio(home, tool, args))
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


# ======================================================== the History tab's since / until
@pytest.mark.parametrize("text", ["99999999999d", "9" * 5000 + "w", "2026-13-45"])
def test_a_history_filter_too_far_back_is_a_value_error(text: str) -> None:
    """The tab answers a ValueError with one notice; anything else would be a crash."""
    from datetime import UTC, datetime

    from taskagent.screens.history_filters import parse_since, parse_until

    for parse in (parse_since, parse_until):
        with pytest.raises(ValueError, match=r"^.{1,200}$"):
            parse(text, datetime(2026, 6, 1, tzinfo=UTC))
