"""The CLI's database-only commands, as real processes: they import nothing of the agent
(fastmcp, google-genai, textual) and, once a full load has validated the settings and mcp.json,
not the settings model either; anything those came from changes and they are checked again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

AGENT = ("fastmcp", "mcp", "google.genai", "textual", "jsonschema")
MODELS = ("pydantic", "pydantic_settings")
# `google.genai` is listed as "google.genai": the probe reports every module by its full name.
PROBE = """
import json, sys
from taskagent.__main__ import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def run_probe(home: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, set[str]]:
    """Run `taskagent ARGS` in a fresh interpreter; (exit status, top-level modules imported)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TASKAGENT_")}
    environ |= {"TASKAGENT_HOME": str(home), "TASKAGENT_GENERAL_TIMEZONE": "UTC"} | (env or {})
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    found = json.loads(done.stdout.strip().splitlines()[-1])
    return found["code"], set(found["modules"])


def cli(
    home: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TASKAGENT_")}
    environ |= {"TASKAGENT_HOME": str(home), "TASKAGENT_GENERAL_TIMEZONE": "UTC"} | (env or {})
    return subprocess.run(
        [sys.executable, "-m", "taskagent", *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    # A server that could not even start: nothing here may try to.
    (tmp_path / "mcp.json").write_text(
        json.dumps({"mcpServers": {"notes": {"command": "/nonexistent/server", "args": ["x"]}}})
    )
    return tmp_path


@pytest.mark.parametrize(
    "args",
    [
        ("tasks", "list", "--json"),
        ("tasks", "list"),
        ("tasks", "status", "--json"),
        ("tasks", "export"),
        ("tasks", "show", "nope"),  # exit 1, the same imports
    ],
)
def test_database_only_commands_import_nothing_of_the_agent(
    home: Path, args: tuple[str, ...]
) -> None:
    code, first = run_probe(home, "tasks", "list")
    assert code == 0
    # The first checks mcp.json in full (fastmcp's models), never the rest of the agent.
    assert not first & {"textual", "google.genai"}
    code, modules = run_probe(home, *args)
    assert code == (1 if "nope" in args else 0)
    assert not modules & set(AGENT + MODELS), modules & set(AGENT + MODELS)


def test_a_changed_config_or_environment_is_validated_again(home: Path) -> None:
    assert cli(home, "tasks", "list").returncode == 0
    (home / "config.toml").write_text('[general]\ntimezone = "Mars/Olympus"\n')
    bad = cli(home, "tasks", "list")
    assert bad.returncode == 1 and "Mars/Olympus" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    (home / "config.toml").write_text('[general]\ntimezone = "Europe/Berlin"\n')
    shown = cli(home, "tasks", "status", "--json", env={"TASKAGENT_AI_DAILY_TOKEN_BUDGET": "7"})
    assert shown.returncode == 0
    assert json.loads(shown.stdout)["ai_usage"]["budget"]["daily_token_budget"] == 7
    wrong = cli(home, "tasks", "list", env={"TASKAGENT_SCHEDULER_WORKER_THREADS": "lots"})
    assert wrong.returncode == 1 and "TASKAGENT_SCHEDULER_WORKER_THREADS" in wrong.stderr


def test_a_changed_mcp_json_is_checked_again(home: Path) -> None:
    assert cli(home, "tasks", "list").returncode == 0
    # (A bad entry is that server's problem; a bad file is every command's.)
    (home / "mcp.json").write_text('{"mcpServer": {"a": {"command": "x"}}}')
    bad = cli(home, "tasks", "list")
    assert bad.returncode == 1
    assert "mcpServer" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


def test_status_answers_from_the_database(home: Path) -> None:
    status = cli(home, "tasks", "status")
    assert status.returncode == 0, status.stderr
    assert "scheduler : not running" in status.stdout
    assert "tasks     : 0" in status.stdout


def test_add_checks_against_the_tools_the_last_full_start_listed(tmp_path: Path) -> None:
    add = ("tasks", "add", "--every", "1h", "--tool", "get_crypto_by_symbol", "--args")
    code, first = run_probe(tmp_path, *add[:2], "first", *add[2:], '{"symbol": "btc"}')
    assert code == 0 and "fastmcp" in first  # no tools listed yet: the full way, once
    code, second = run_probe(tmp_path, *add[:2], "second", *add[2:], '{"symbol": "eth"}')
    assert code == 0
    assert not second & set(AGENT[:-1] + MODELS), second & set(AGENT + MODELS)
    refused = cli(tmp_path, *add[:2], "third", *add[2:], '{"symbol": ""}')
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        "taskagent: invalid arguments for 'crypto:get_crypto_by_symbol': 'symbol' must not be "
        'empty (ticker, case-insensitive, e.g. "btc" or "ETH")'
    ]
    unknown = cli(tmp_path, "tasks", "add", "x", "--every", "1h", "--tool", "get_crypto_by_symbo")
    assert unknown.returncode == 1 and "did you mean" in unknown.stderr
    listed = json.loads(cli(tmp_path, "tasks", "list", "--json").stdout)
    assert [task["name"] for task in listed] == ["first", "second"]


def test_import_checks_against_the_tools_listed_and_goes_the_full_way_for_others(
    tmp_path: Path,
) -> None:
    assert cli(tmp_path, "tasks", "add", "seed", "--every", "1h", "--tool", "get_crypto_prices")
    entry = {
        "name": "eth",
        "schedule_type": "interval",
        "schedule_value": "1 hour",
        "mcp_tool": "get_crypto_by_symbol",
        "tool_args": {"symbol": "eth"},
    }
    (tmp_path / "ok.json").write_text(json.dumps({"version": 1, "tasks": [entry]}))
    code, modules = run_probe(tmp_path, "tasks", "import", str(tmp_path / "ok.json"))
    assert code == 0
    assert not modules & set(AGENT[:-1] + MODELS), modules & set(AGENT + MODELS)
    unknown = entry | {"name": "other", "mcp_tool": "no_such_tool"}
    (tmp_path / "bad.json").write_text(json.dumps({"version": 1, "tasks": [unknown]}))
    code, modules = run_probe(tmp_path, "tasks", "import", str(tmp_path / "bad.json"))
    assert code == 1 and "fastmcp" in modules  # asked the servers before saying no
    names = [task["name"] for task in json.loads(cli(tmp_path, "tasks", "list", "--json").stdout)]
    assert names == ["seed", "eth"]
