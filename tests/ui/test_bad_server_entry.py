"""One bad `mcp.json` entry in the real app (its staged start, as `taskagent` opens it): the app
starts, the Status tab and `/mcp` show that server failed with the reason, no start-up error
or toast, and the other server's tools work (a task on it is created and runs)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from taskagent.app import TaskAgentApp
from taskagent.app_main import services_factory
from taskagent.screens.status import StatusView
from tests.support.pilot import error_toasts, notifications
from tests.support.ui import SIZE, chat_text, say, text_of, wait_for

NOTES_SERVER = Path(__file__).resolve().parents[1] / "support" / "notes_server.py"
REASON = "mcp.json: 'args' must be a list of strings, got string"


async def test_a_bad_entry_is_that_servers_problem_in_the_app(
    taskagent_home: Path, request: Any
) -> None:
    good = {
        "command": sys.executable,
        "args": [str(NOTES_SERVER)],
        "env": {"NOTES_FILE": str(taskagent_home / "notes.txt")},
    }
    broken = {"command": "python3", "args": "not-a-list"}
    (taskagent_home / "mcp.json").write_text(
        json.dumps({"mcpServers": {"x": broken, "good": good}})
    )
    settings = request.getfixturevalue("settings")
    app = TaskAgentApp(services_factory(settings), settings=settings)
    shown = notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.engine_started)
        assert app.ready and app.services is not None
        services = app.services

        await say(pilot, "/mcp")
        await wait_for(pilot, lambda: "/mcp <server> lists" in chat_text(app))
        listing = chat_text(app)
        assert f"error: {REASON}" in listing and "failed" in listing

        await pilot.press("escape", "4")
        status = app.query_one(StatusView)
        overview = lambda: text_of(status.query_one("#status-overview"))  # noqa: E731
        await wait_for(pilot, lambda: REASON in " ".join(overview().split()))
        servers = {s["name"]: s for s in (status.status or {})["mcp_servers"]}
        assert (servers["x"]["state"], servers["x"]["error"]) == ("failed", REASON)
        assert servers["good"]["state"] == "connected"

        task = await services.tasks.create_task(
            name="count", schedule_type="interval", schedule_value="1 hour",
            mcp_tool="good:count_notes",
        )  # fmt: skip
        run = await services.engine.run_now(task.stored_id, wait_seconds=60)
        assert run.status.value == "success", run.error_message
        assert "could not start its core" not in chat_text(app)
    assert error_toasts(shown) == []
