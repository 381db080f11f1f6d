"""The installed entry point, run as a user would: a subprocess with its own TASKAGENT_HOME."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from taskagent import __version__
from tests.support.cli import run


def test_version_and_help_without_ui(tmp_path: Path) -> None:
    version = run(tmp_path, "--version")
    assert version.returncode == 0
    assert version.stdout.strip() == f"taskagent {__version__}"
    helped = run(tmp_path, "--help")
    assert helped.returncode == 0
    assert "tasks" in helped.stdout and "config" in helped.stdout
    # Neither may create files or open a terminal UI.
    assert not (tmp_path / "taskagent.db").exists()


def test_help_does_not_import_textual(tmp_path: Path) -> None:
    code = "import sys\nfrom taskagent.__main__ import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\nsys.exit('textual' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0


def test_bad_config_is_one_message_without_traceback(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("[scheduler]\nworker_threads = 'lots'\n")
    result = run(tmp_path, "tasks", "list")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert str(tmp_path / "config.toml") in result.stderr
    assert "worker_threads" in result.stderr and "whole number from 1 to 64" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_config_path_and_init(tmp_path: Path) -> None:
    paths = run(tmp_path, "config", "path")
    assert str(tmp_path / "taskagent.db") in paths.stdout
    assert run(tmp_path, "config", "init").returncode == 0
    assert "[scheduler]" in (tmp_path / "config.toml").read_text()
    again = run(tmp_path, "config", "init")
    assert again.returncode == 1 and "--force" in again.stderr
    shown = run(tmp_path, "config", "show", env={"GEMINI_API_KEY": "topsecret"})
    assert "worker_threads = 4" in shown.stdout and "topsecret" not in shown.stdout


def test_tasks_add_list_show_pause_remove(tmp_path: Path) -> None:
    added = run(
        tmp_path,
        "tasks",
        "add",
        "BTC watch",
        "--every",
        "1 hour",
        "--tool",
        "get_crypto_by_symbol",
        "--args",
        '{"symbol": "btc"}',
        "--notify",
        "significant",
        "--json",
    )
    assert added.returncode == 0, added.stderr
    task = json.loads(added.stdout)
    assert task["id"] == 1
    assert task["schedule"] == "every hour"
    assert task["tool_args"] == {"symbol": "btc"}
    assert task["notification_level"] == "significant"

    listed = json.loads(run(tmp_path, "tasks", "list", "--json").stdout)
    assert [t["name"] for t in listed] == ["BTC watch"]
    assert "BTC watch" in run(tmp_path, "tasks", "list").stdout

    paused = run(tmp_path, "tasks", "pause", "1")
    assert paused.returncode == 0 and "paused task 1" in paused.stdout
    assert (
        json.loads(run(tmp_path, "tasks", "show", "BTC watch", "--json").stdout)["state"]
        == "paused"
    )

    # The stored row uses the seed's column names, readable with plain sqlite3.
    with sqlite3.connect(tmp_path / "taskagent.db") as db:
        row = db.execute(
            "SELECT name, schedule_type, schedule_value, mcp_tool, tool_args, "
            "notification_level, enabled FROM tasks"
        ).fetchone()
    assert row == (
        "BTC watch",
        "interval",
        "1 hour",
        "get_crypto_by_symbol",
        '{"symbol": "btc"}',
        "significant",
        1,
    )

    assert run(tmp_path, "tasks", "remove", "1").returncode == 0
    assert json.loads(run(tmp_path, "tasks", "list", "--json").stdout) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--daily", "25:00"], "'25:00' is not a valid time (use HH:MM, 00:00-23:59)"),
        (["--weekly", "Funday 09:00"], "'Funday' is not a day (use Monday..Sunday or Mon..Sun)"),
        (["--every", "0 seconds"], "interval must be at least 1 second"),
        (["--every", "5 minutes", "--args", "{bad"], "--args is not valid JSON"),
    ],
)
def test_bad_task_input_exits_1_with_the_message(
    tmp_path: Path, args: list[str], message: str
) -> None:
    result = run(tmp_path, "tasks", "add", "x", "--tool", "get_crypto_prices", *args)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert json.loads(run(tmp_path, "tasks", "list", "--json").stdout) == []


def test_unknown_task_id(tmp_path: Path) -> None:
    result = run(tmp_path, "tasks", "pause", "99")
    assert result.returncode == 1 and "no task with id 99" in result.stderr


def test_export_import_round_trip_and_all_or_nothing(tmp_path: Path) -> None:
    source, target = tmp_path / "a", tmp_path / "b"
    for name, flag, value in (
        ("prices", "--every", "30 minutes"),
        ("morning", "--cron", "0 9 * * 1-5"),
    ):
        added = run(
            source,
            "tasks",
            "add",
            name,
            flag,
            value,
            "--tool",
            "get_crypto_prices",
            "--args",
            '{"limit": 3}',
        )
        assert added.returncode == 0, added.stderr
    assert run(source, "tasks", "pause", "prices").returncode == 0
    for fmt in ("json", "toml"):
        export = tmp_path / f"tasks.{fmt}"
        assert run(source, "tasks", "export", str(export)).returncode == 0
        imported = run(target, "tasks", "import", str(export), "--json")
        assert imported.returncode == 0, imported.stderr
        counts = json.loads(imported.stdout)
        # The second import (other format) finds the same names: updates, no duplicates.
        assert counts == (
            {"created": 2, "updated": 0} if fmt == "json" else {"created": 0, "updated": 2}
        )
    tasks = {t["name"]: t for t in json.loads(run(target, "tasks", "list", "--json").stdout)}
    assert set(tasks) == {"prices", "morning"}
    assert tasks["prices"]["state"] == "paused"
    assert tasks["morning"]["schedule_value"] == "0 9 * * 1-5"
    assert tasks["morning"]["tool_args"] == {"limit": 3}

    # One bad entry: nothing at all is written, and the message names the entry.
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "tasks": [
                    {
                        "name": "fine",
                        "schedule_type": "daily",
                        "schedule_value": "08:00",
                        "mcp_tool": "get_market_summary",
                    },
                    {
                        "name": "broken",
                        "schedule_type": "daily",
                        "schedule_value": "25:00",
                        "mcp_tool": "get_market_summary",
                    },
                ]
            }
        )
    )
    fresh = tmp_path / "c"
    result = run(fresh, "tasks", "import", str(bad))
    assert result.returncode == 1
    assert "task #2 (broken)" in result.stderr and "'25:00' is not a valid time" in result.stderr
    assert json.loads(run(fresh, "tasks", "list", "--json").stdout) == []


def test_run_without_a_scheduler_runs_inline_and_records_history(tmp_path: Path) -> None:
    assert (
        run(
            tmp_path, "tasks", "add", "self", "--every", "1h", "--tool", "list_background_tasks"
        ).returncode
        == 0
    )
    ran = run(tmp_path, "tasks", "run", "self", "--json")
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout)
    assert result["status"] == "success" and result["data"]["count"] == 1
    history = json.loads(run(tmp_path, "tasks", "history", "1", "--json").stdout)
    assert [h["status"] for h in history] == ["success"]
    failing = run(tmp_path, "tasks", "run", "99")
    assert failing.returncode == 1 and "no task with id 99" in failing.stderr


def test_summary_mode_on_add_edit_show_and_status(tmp_path: Path) -> None:
    added = run(
        tmp_path,
        *("tasks", "add", "BTC moves", "--every", "1 hour", "--tool", "get_crypto_prices"),
        *("--summary", "changes", "--json"),
    )
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["summary_mode"] == "changes"
    quiet = run(
        tmp_path,
        *("tasks", "add", "quiet", "--daily", "09:00", "--tool", "get_crypto_prices"),
        *("--no-summary", "--json"),
    )
    assert (
        json.loads(quiet.stdout)["summary_mode"],
        json.loads(quiet.stdout)["use_ai_summary"],
    ) == (
        "off",
        False,
    )

    edited = run(tmp_path, "tasks", "edit", "1", "--summary", "always", "--every", "2 hours")
    assert edited.returncode == 0, edited.stderr
    assert "updated task 1" in edited.stdout
    shown = run(tmp_path, "tasks", "show", "1")
    assert "summary  : always: AI summary of every run" in shown.stdout
    assert "AI total : no AI requests" in shown.stdout
    data = json.loads(run(tmp_path, "tasks", "show", "1", "--json").stdout)
    assert (data["summary_mode"], data["schedule_value"]) == ("always", "2 hours")
    assert data["ai_usage"]["total"]["tokens"] == 0

    renamed = run(tmp_path, "tasks", "edit", "BTC moves", "--name", "BTC", "--no-summary", "--json")
    assert json.loads(renamed.stdout)["name"] == "BTC"
    assert json.loads(renamed.stdout)["summary_mode"] == "off"

    nothing = run(tmp_path, "tasks", "edit", "1")
    assert nothing.returncode == 1 and "nothing to change" in nothing.stderr
    bad = run(tmp_path, "tasks", "edit", "1", "--summary", "sometimes")
    assert bad.returncode == 1 and "invalid choice: 'sometimes'" in bad.stderr
    clash = run(tmp_path, "tasks", "edit", "1", "--summary", "always", "--no-summary")
    assert clash.returncode == 1 and "not allowed with argument" in clash.stderr
    missing = run(tmp_path, "tasks", "edit", "7", "--summary", "off")
    assert missing.returncode == 1 and "no task with id 7" in missing.stderr
    assert json.loads(run(tmp_path, "tasks", "show", "1", "--json").stdout)["name"] == "BTC"

    status = run(
        tmp_path, "tasks", "status", "--json", env={"TASKAGENT_AI_DAILY_TOKEN_BUDGET": "5000"}
    )
    usage = json.loads(status.stdout)["ai_usage"]
    assert usage["today"]["tokens"] == 0 and usage["timezone"] == "UTC"
    assert usage["budget"] == usage["budget"] | {"daily_token_budget": 5000, "reached": False}
    text = run(tmp_path, "tasks", "status", env={"TASKAGENT_AI_DAILY_TOKEN_BUDGET": "5000"})
    assert "ai today  : 0 tokens, ~$0 in 0 request(s)" in text.stdout
    assert "budget 5,000 tokens / $1.00 a day" in text.stdout  # the default cost budget too


@pytest.mark.parametrize(
    ("tool", "arguments", "message"),
    [
        ("get_crypto_by_symbol", '{"symbol": ""}', "'symbol' must not be empty"),
        ("get_crypto_by_symbol", '{"symbol": "b t c"}', "invalid value for 'symbol': 'b t c'"),
        ("get_crypto_prices", '{"limit": 0}', "'limit' must be >= 1, got 0"),
        ("get_crypto_prices", '{"vs_currency": "us dollar"}', "invalid value for 'vs_currency'"),
    ],
)
def test_add_refuses_arguments_the_tool_schema_refuses(
    tmp_path: Path, tool: str, arguments: str, message: str
) -> None:
    """A task whose every run would fail on its arguments is not saved: one line, exit 1."""
    result = run(
        tmp_path, "tasks", "add", "x", "--every", "1h", "--tool", tool, "--args", arguments
    )
    assert result.returncode == 1
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert json.loads(run(tmp_path, "tasks", "list", "--json").stdout) == []


def test_a_key_bound_twice_is_refused_at_start(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('[keymap]\n"tab.history" = "2"\n')
    result = run(tmp_path, "tasks", "list")
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert "tab.history" in result.stderr and "tab.tasks" in result.stderr


def test_the_naming_table_through_the_cli(tmp_path: Path) -> None:
    from tests.support.naming_table import NAMES, TABLE, task_fields

    export = {"version": 1, "tasks": [task_fields(name) for name in NAMES]}
    (tmp_path / "tasks.json").write_text(json.dumps(export))
    assert run(tmp_path, "tasks", "import", str(tmp_path / "tasks.json")).returncode == 0
    for ref, expected in TABLE:
        shown = run(tmp_path, "tasks", "show", ref, "--json")
        if isinstance(expected, int):
            assert shown.returncode == 0, (ref, shown.stderr)
            assert json.loads(shown.stdout)["id"] == expected, ref
        else:
            assert shown.returncode == 1, ref
            assert shown.stderr.strip() == f"taskagent: {expected}", ref
    # a name with spaces is one argument; history's JSON names the task of every run
    history = run(tmp_path, "tasks", "history", "watch", "--json")
    assert history.returncode == 0 and json.loads(history.stdout) == []


def test_the_parser_of_one_command_parses_as_the_whole_one() -> None:
    """`tasks ACTION` builds only that action's parser: the same actions, the same result."""
    from taskagent.cli import TASK_ACTIONS, build_parser

    whole = build_parser()
    (commands,) = whole._subparsers._group_actions  # type: ignore[union-attr]
    (actions,) = commands.choices["tasks"]._subparsers._group_actions  # type: ignore[union-attr]
    assert sorted(actions.choices) == sorted(TASK_ACTIONS)
    for argv in (
        ["tasks", "list", "--json"],
        ["tasks", "add", "x", "--every", "1h", "--tool", "t", "--args", "{}", "--no-summary"],
        ["tasks", "edit", "3", "--name", "y", "--disabled"],
        ["tasks", "history", "BTC watch", "--limit", "5"],
        ["config", "path"],
    ):
        assert build_parser(argv).parse_args(argv) == whole.parse_args(argv), argv
