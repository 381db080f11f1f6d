"""The composition root: builds the core from settings and closes it again.

The core never imports `mcp_servers`; this module wires the two built-in servers (crypto and
background) into the MCP manager, so there is no import cycle. The built-in servers run
in-process (in-memory transport, about 1 ms a call); servers from mcp.json run over stdio/HTTP.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastmcp import FastMCP

from taskagent.config import Settings
from taskagent.core.budget import Budget
from taskagent.core.chat import ChatSession
from taskagent.core.engine import Engine
from taskagent.core.events import EventBus
from taskagent.core.gemini import GeminiClient
from taskagent.core.ledger import AiLedger
from taskagent.core.mcp import McpManager, load_mcp_config
from taskagent.core.notify import Notifier
from taskagent.core.repository import Repository
from taskagent.core.retry import RetryPolicy
from taskagent.core.runs import RunExecutor
from taskagent.core.slash import SlashCommands
from taskagent.core.status import ai_overview, task_overview
from taskagent.core.summary import Summarizer
from taskagent.core.tasks import TaskService

if TYPE_CHECKING:
    from mcp_servers.coingecko import CoinGeckoClient

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


def _coingecko_client() -> CoinGeckoClient | None:
    """One CoinGecko client for the whole process (shared cache and rate limit). A bad
    TASKAGENT_COINGECKO_* value leaves it to the server, whose tools then name the variable."""
    from mcp_servers.coingecko import CoinGeckoClient, CoinGeckoError

    try:
        return CoinGeckoClient.from_env()
    except CoinGeckoError:
        return None


@dataclass
class Services:
    settings: Settings
    repo: Repository
    tasks: TaskService
    events: EventBus
    mcp: McpManager
    runner: RunExecutor
    background_server: FastMCP
    engine: Engine
    summarizer: Summarizer
    notifier: Notifier
    gemini: GeminiClient  # the process's one Gemini client (summaries and chat share it)
    chat: ChatSession
    ledger: AiLedger  # every Gemini request's tokens and estimated cost
    budget: Budget  # the daily AI budget (summaries and chat)

    def slash_commands(self) -> SlashCommands:
        return SlashCommands.from_services(self)

    async def status(self) -> dict[str, Any]:
        overview = await task_overview(self.repo)
        overview["scheduler"] = await self.engine.status()
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
        overview["ai"] = self.summarizer.status
        overview["ai_usage"] = await ai_overview(self.ledger, self.budget)
        overview["notifications"] = self.notifier.backend
        return overview

    @classmethod
    @asynccontextmanager
    async def open(
        cls, settings: Settings, *, kind: str = "app", desktop: bool = True
    ) -> AsyncIterator[Services]:
        """Build the core. The engine is created but not started: the app and the daemon call
        `services.engine.start()`, the CLI and the MCP server `start(schedule=False)`.
        `desktop=False` (the standalone MCP server) never probes for desktop notifications."""
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
        coingecko: CoinGeckoClient | None = None
        engine: Engine | None = None
        gemini = GeminiClient.from_settings(settings)
        notifier = Notifier(
            cooldown_seconds=settings.notifications_cooldown_seconds,
            use_desktop=settings.notifications_desktop and desktop,
        )
        ledger = AiLedger(repo, timezone=settings.timezone, prices=settings.ai_prices)
        budget = Budget(
            ledger,
            daily_tokens=settings.ai_daily_token_budget,
            daily_cost=settings.ai_daily_cost_budget,
            on_reached=notifier.notify_notice,
        )
        summarizer = Summarizer(settings, gemini=gemini, ledger=ledger, budget=budget)
        try:
            tasks = TaskService(
                repo,
                default_timezone=settings.timezone,
                default_notification_level=settings.default_notification_level,
                default_timeout_seconds=settings.scheduler_task_timeout_seconds,
                default_summary_mode=settings.default_summary_mode,
                catalogue=manager,
                events=events,
            )
            # "Pause task" on a notification pauses through the one place that validates.
            notifier.on_pause = tasks.pause
            await notifier.start()  # on this (the main) loop: the notifier binds to it
            runner = RunExecutor(
                repo,
                manager,
                events=events,
                summarizer=summarizer,
                notifier=notifier,
                retry=RetryPolicy(retries=settings.scheduler_max_retries),
            )
            coingecko = _coingecko_client()

            async def close_worker_loop() -> None:
                # Sessions and HTTP clients are per event loop; a worker closes its own.
                await manager.close_for_current_loop()
                if coingecko is not None:
                    await coingecko.aclose()

            engine = Engine(
                repo,
                runner,
                workers=settings.scheduler_worker_threads,
                kind=kind,
                events=events,
                on_worker_exit=close_worker_loop,
                retention_days=settings.history_retention_days,
                max_rows_per_task=settings.history_max_rows_per_task,
            )
            chat = await ChatSession.open(
                repo=repo,
                mcp=manager,
                tasks=tasks,
                gemini=gemini,
                timezone=settings.timezone,
                default_model=settings.ai_model,
                always_allow=settings.chat_always_allow,
                ledger=ledger,
                budget=budget,
            )
            services: Services
            background = create_background_server(tasks, engine.run_now, lambda: services.status())
            services = cls(
                settings=settings,
                repo=repo,
                tasks=tasks,
                events=events,
                mcp=manager,
                runner=runner,
                background_server=background,
                engine=engine,
                summarizer=summarizer,
                notifier=notifier,
                gemini=gemini,
                chat=chat,
                ledger=ledger,
                budget=budget,
            )
            manager.add_builtin(BUILTIN_CRYPTO, create_crypto_server(coingecko))
            manager.add_builtin(BUILTIN_BACKGROUND, background)
            manager.add_configured(user_servers)
            await manager.start()
            yield services
            chat.decline_all()  # a turn waiting for a confirmation must not hang the exit
            await engine.stop()
        finally:
            if (
                engine is not None and engine.mode != "stopped"
            ):  # left by an exception: still release the lease
                with contextlib.suppress(Exception):
                    await engine.stop(grace=0)
            await manager.close()
            await notifier.aclose()
            await gemini.aclose()
            if coingecko is not None:
                await coingecko.aclose()
            await repo.close()
