"""The composition root: builds the core from settings and closes it again.

The core never imports `mcp_servers`; this module wires the two built-in servers (crypto and
background) into the MCP manager, so there is no import cycle. The built-in servers run
in-process (in-memory transport, about 1 ms a call); servers from mcp.json run over stdio/HTTP.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastmcp import FastMCP

from taskagent.config import Settings
from taskagent.core.events import EventBus
from taskagent.core.mcp import McpManager, load_mcp_config
from taskagent.core.repository import Repository
from taskagent.core.runs import RunExecutor
from taskagent.core.status import task_overview
from taskagent.core.tasks import TaskService

BUILTIN_CRYPTO = "crypto"
BUILTIN_BACKGROUND = "background"


def _route_library_logs(settings: Settings) -> None:
    """fastmcp logs through a RichHandler on stderr, which would scribble over the full-screen
    UI or a daemon's console; send it to our log file instead."""
    settings.paths.log_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(settings.paths.log_dir / "mcp-builtin.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    fastmcp_log = logging.getLogger("fastmcp")
    for old in list(fastmcp_log.handlers):
        fastmcp_log.removeHandler(old)
    fastmcp_log.addHandler(handler)
    fastmcp_log.propagate = False


def _child_env(settings: Settings) -> dict[str, str]:
    """What user stdio servers get on top of a safe base (the child env is not inherited)."""
    env = {"TASKAGENT_HOME": os.environ["TASKAGENT_HOME"]} if "TASKAGENT_HOME" in os.environ else {}
    return env


@dataclass
class Services:
    settings: Settings
    repo: Repository
    tasks: TaskService
    events: EventBus
    mcp: McpManager
    runner: RunExecutor
    background_server: FastMCP

    async def status(self) -> dict[str, Any]:
        overview = await task_overview(self.repo)
        overview["scheduler"] = {"state": "not running in this process"}
        overview["mcp_servers"] = [
            {
                "name": s.name,
                "kind": s.kind,
                "state": s.state,
                "error": s.error,
                "tools": s.tool_count,
            }
            for s in self.mcp.status()
        ]
        overview["ai"] = (
            f"gemini ({self.settings.ai_model})" if self.settings.has_ai_key else "offline"
        )
        return overview

    @classmethod
    @asynccontextmanager
    async def open(cls, settings: Settings) -> AsyncIterator[Services]:
        # Imported here so the core and the CLI's --help never pay for the servers' imports.
        from mcp_servers.background_server import create_server as create_background_server
        from mcp_servers.crypto_server import create_server as create_crypto_server

        settings.paths.ensure()
        _route_library_logs(settings)
        user_servers = load_mcp_config(settings.paths.mcp_file)  # bad file: McpConfigError
        events = EventBus()
        repo = await Repository.open(settings.paths.db_file)
        manager = McpManager(
            log_dir=settings.paths.log_dir,
            call_timeout=settings.scheduler_task_timeout_seconds,
            extra_env=_child_env(settings),
        )
        try:
            tasks = TaskService(
                repo,
                default_timezone=settings.timezone,
                default_notification_level=settings.default_notification_level,
                default_timeout_seconds=settings.scheduler_task_timeout_seconds,
                catalogue=manager,
                events=events,
            )
            runner = RunExecutor(repo, manager, events=events)
            services: Services
            background = create_background_server(tasks, runner, lambda: services.status())
            services = cls(
                settings=settings,
                repo=repo,
                tasks=tasks,
                events=events,
                mcp=manager,
                runner=runner,
                background_server=background,
            )
            manager.add_builtin(BUILTIN_CRYPTO, create_crypto_server())
            manager.add_builtin(BUILTIN_BACKGROUND, background)
            manager.add_configured(user_servers)
            await manager.start()
            yield services
        finally:
            await manager.close()
            await repo.close()
