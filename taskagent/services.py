"""The composition root: builds the core from settings and closes it again.

The core never imports `mcp_servers`; this module wires the built-in servers into the MCP
manager, so there is no import cycle.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from taskagent.config import Settings
from taskagent.core.events import EventBus
from taskagent.core.repository import Repository
from taskagent.core.tasks import TaskService


@dataclass
class Services:
    settings: Settings
    repo: Repository
    tasks: TaskService
    events: EventBus

    @classmethod
    @asynccontextmanager
    async def open(cls, settings: Settings) -> AsyncIterator[Services]:
        settings.paths.ensure()
        events = EventBus()
        repo = await Repository.open(settings.paths.db_file)
        try:
            tasks = TaskService(
                repo,
                default_timezone=settings.timezone,
                default_notification_level=settings.default_notification_level,
                default_timeout_seconds=settings.scheduler_task_timeout_seconds,
                events=events,
            )
            yield cls(settings=settings, repo=repo, tasks=tasks, events=events)
        finally:
            await repo.close()
