"""The composition root: builds the core from settings and closes it again.

The core never imports `mcp_servers`; this module wires the two built-in servers (crypto and
background) into the MCP manager, so there is no import cycle. The built-in servers run
in-process (in-memory transport, about 1 ms a call); servers from mcp.json run over stdio/HTTP.

Opening is staged so the app is usable early (see `Services.open`):
1. the *base*: settings, the database, TaskService and the event bus. Cheap (no fastmcp), and
   all the Tasks/History tabs, the "while you were away" note and most slash commands need;
2. the agent: fastmcp, the built-in servers, the chat session (imports cost ~1-3 s on a small
   machine, so they run on a worker thread while the UI keeps painting);
3. `finish_start()`: the stdio/HTTP servers from mcp.json and the desktop-notification probe,
   which can take seconds each; the app starts its scheduler after them.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from taskagent.checked_files import CheckedFiles, DatabaseSettings
from taskagent.core.clock import SYSTEM_CLOCK, Clock
from taskagent.core.events import EventBus
from taskagent.core.models import to_iso
from taskagent.core.status_report import ai_overview, delivery_overview, task_overview
from taskagent.core.store import Repository
from taskagent.core.tasks import TaskService, ToolCatalogue
from taskagent.paths import Paths

if TYPE_CHECKING:
    from fastmcp import FastMCP

    from mcp_servers.coingecko import CoinGeckoClient
    from taskagent.config import Settings
    from taskagent.core.ai_ledger import AiLedger, Usage
    from taskagent.core.alerts.evaluator import AlertEvaluator
    from taskagent.core.budget import Budget
    from taskagent.core.chat import ChatSession
    from taskagent.core.cost_estimate import CostEstimator
    from taskagent.core.delivery import Deliverer, DeliveryConfig
    from taskagent.core.engine import Engine
    from taskagent.core.gemini_client import GeminiClient
    from taskagent.core.mcp import McpManager, ServerSpec
    from taskagent.core.notify import Notifier
    from taskagent.core.run_pipeline import RunPipeline
    from taskagent.core.slash import SlashCommands
    from taskagent.core.summary import Summarizer

# What stage 2 imports (fastmcp, the MCP SDK, the built-in servers, the chat): ~1-3 s.
HEAVY_MODULES = (
    "taskagent.core.mcp",
    "taskagent.core.chat",
    "taskagent.core.engine",
    "taskagent.core.run_pipeline",
    "mcp_servers.crypto_server",
    "mcp_servers.background_server",
)


# The one clock the composition root gives the core: wall time, monotonic time, sleeps and
# timeouts all come from it (tests build the core with a manual one instead).
CLOCK: Clock = SYSTEM_CLOCK
# The settings key under which the scheduler records its MCP servers' state at each heartbeat.
SERVERS_SEEN = "scheduler.mcp_servers"


def _pipeline(
    settings: Settings,
    repo: Repository,
    manager: McpManager,
    events: EventBus,
    summarizer: Summarizer,
    notifier: Notifier,
) -> RunPipeline:
    """The run path: the tool call, its analysis and summary, the row, alert rules and the
    notification."""
    from taskagent.core.alerts.evaluator import AlertEvaluator
    from taskagent.core.retry import RetryPolicy
    from taskagent.core.run_journal import RunJournal
    from taskagent.core.run_pipeline import RunPipeline

    return RunPipeline(
        repo,
        manager,
        events=events,
        summarizer=summarizer,
        notifier=notifier,
        retry=RetryPolicy(retries=settings.scheduler_max_retries),
        catalogue=manager,
        clock=CLOCK,
        journal=RunJournal.beside(settings.paths.db_file),
        after_record=AlertEvaluator(repo),
    )


def delivery_config(settings: Settings) -> DeliveryConfig:
    """`[notify]` for core/delivery.py."""
    from taskagent.core.delivery import DeliveryConfig

    return DeliveryConfig(
        channels=settings.notify_channels,
        fallback=settings.notify_fallback,
        quiet_hours=settings.notify_quiet_hours,
        digest=settings.notify_digest,
        named=dict(settings.notify_named),
        timezone=settings.timezone,
    )


def _notifier(
    stack: contextlib.AsyncExitStack,
    settings: Settings,
    desktop: bool,
    repo: Repository,
    tasks: TaskService,
) -> tuple[Notifier, Deliverer]:
    """The notifier (desktop, in-app) over the deliverer (channels, receipts, quiet hours)."""
    from taskagent.core.delivery import CLOSE_GRACE, Deliverer
    from taskagent.core.notify import Notifier

    notifier = Notifier(
        cooldown_seconds=settings.notifications_cooldown_seconds,
        use_desktop=settings.notifications_desktop and desktop,
        # "Pause task" on a notification pauses through the one place that validates.
        on_pause=tasks.pause,
        clock=CLOCK.monotonic,
    )
    stack.push_async_callback(notifier.aclose)
    deliverer = Deliverer(repo, CLOCK, delivery_config(settings))
    notifier.use_delivery(deliverer)
    stack.push_async_callback(deliverer.aclose, CLOSE_GRACE)
    return notifier, deliverer


def import_heavy() -> None:
    """Import the agent's heavy modules (start-up runs this on a worker thread)."""
    for name in HEAVY_MODULES:
        importlib.import_module(name)


BUILTIN_CRYPTO = "crypto"
BUILTIN_BACKGROUND = "background"


def _route_library_logs(settings: Settings) -> None:
    """fastmcp logs through a RichHandler on stderr, which would scribble over the full-screen
    UI or a daemon's console; send it to our log file instead. Called once fastmcp is imported:
    importing it installs that handler (since start-up imports it late, routing before the
    import was undone, and every failed built-in tool call printed a line on the daemon's
    stderr)."""
    import fastmcp  # noqa: F401  (already imported by now; its import configures its logger)

    from taskagent.core.private_files import PrivateLogFile

    settings.paths.ensure()
    handler = PrivateLogFile(settings.paths.log_dir / "mcp-builtin.log")
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


def _broken(spec: ServerSpec) -> str | None:
    """Why an mcp.json entry cannot be used as written (core/mcp/mcp_json.BrokenServerSpec),
    None for a server to start."""
    problem = getattr(spec, "problem", None)
    return problem if isinstance(problem, str) else None


def _coingecko_client() -> CoinGeckoClient | None:
    """One CoinGecko client for the whole process (shared cache and rate limit). A bad
    TASKAGENT_COINGECKO_* value leaves it to the server, whose tools then name the variable."""
    from mcp_servers.coingecko import CoinGeckoClient, CoinGeckoError

    try:
        return CoinGeckoClient.from_env()
    except CoinGeckoError:
        return None


def _task_service(
    settings: Settings | DatabaseSettings,
    repo: Repository,
    events: EventBus,
    catalogue: ToolCatalogue | None = None,
) -> TaskService:
    """Without a `catalogue` (stage 1: no MCP servers yet) a task's tool is not checked against
    the servers; the agent's TaskService (stage 2) checks it against the MCP manager."""
    return TaskService(
        repo,
        default_timezone=settings.timezone,
        default_notification_level=settings.default_notification_level,
        default_timeout_seconds=settings.scheduler_task_timeout_seconds,
        default_summary_mode=settings.default_summary_mode,
        catalogue=catalogue,
        events=events,
        clock=CLOCK.now,
    )


@dataclass
class CoreBase:
    """Stage 1: what the first screen needs (no fastmcp). `Services` has the same attributes,
    so anything written against a CoreBase also takes the full Services."""

    # The CLI's database-only commands open it with the settings they read, remembered from
    # the last full load (taskagent/checked_files.py).
    settings: Settings | DatabaseSettings
    repo: Repository
    tasks: TaskService
    events: EventBus

    def slash_commands(self) -> SlashCommands:
        """Slash commands that need only the database (/tasks list, pause, history, ...); the
        others say the agent is not available yet."""
        from taskagent.core.slash import SlashCommands  # not for the CLI's commands

        return SlashCommands(self.tasks, repo=self.repo, timezone=self.settings.timezone)

    @property
    def alerts(self) -> AlertEvaluator:
        """Alert rules: the check at save, the backtest (the run pipeline has its own)."""
        from taskagent.core.alerts.evaluator import AlertEvaluator

        return AlertEvaluator(self.repo)

    @classmethod
    @asynccontextmanager
    async def open(
        cls, settings: Settings | DatabaseSettings, catalogue: ToolCatalogue | None = None
    ) -> AsyncIterator[CoreBase]:
        """Only stage 1: the database and TaskService, no agent, no MCP servers, no scheduler.
        The CLI's database-only commands (`tasks list`, `pause`, ...) use this: they answer in
        a fraction of the time a full start takes. A running daemon sees their changes through
        the database (its data_version watch). `catalogue`: the tools a task's tool and
        arguments are checked against (`tasks add`: the tools the last full start listed)."""
        settings.paths.ensure()
        check_mcp_json(settings.paths)
        events = EventBus()
        repo = await Repository.open(settings.paths.db_file, clock=CLOCK.now)
        try:
            yield cls(settings, repo, _task_service(settings, repo, events, catalogue), events)
        finally:
            await repo.close()

    async def status(self) -> dict[str, Any]:
        """The Status tab's dict while the agent is still loading."""
        overview = await task_overview(self.repo)
        overview["scheduler"] = {"mode": "starting…"}
        overview["ai"] = overview["notifications"] = "starting…"
        return overview

    async def spend_by_task(self) -> dict[int, Usage]:
        """The AI spend per task: none known until the agent (and its ledger) is up."""
        return {}

    async def recorded_status(self) -> dict[str, Any]:
        """The status as the database records it (`taskagent tasks status`): the counts, the
        scheduler from the lease its holder keeps (and whether that holder is alive), the AI
        spend and budget. No server is started for it."""
        from taskagent.core.ai_ledger import AiLedger
        from taskagent.core.budget import Budget
        from taskagent.core.lease import Lease

        settings = self.settings
        overview = await task_overview(self.repo)
        lease = Lease(self.repo, kind="cli", clock=CLOCK)
        holder = await lease.current()
        live = lease.is_live(holder)
        overview["scheduler"] = {
            "mode": "client",
            "scheduler_running": live,
            "lease_holder": None
            if holder is None or not live
            else {
                "kind": holder.kind,
                "pid": holder.pid,
                "host": holder.host,
                "since": to_iso(holder.started_at),
                "heartbeat": to_iso(holder.heartbeat_at),
                "heartbeat_age_seconds": round(
                    (CLOCK.now() - holder.heartbeat_at).total_seconds(), 1
                ),
            },
        }
        # The servers as the scheduler saw them at its last heartbeat; without a scheduler,
        # mcp.json's entries as its last check saw them (one that cannot be used: failed).
        overview["mcp_servers"] = (
            await self.repo.get_setting(SERVERS_SEEN, [])
            if live
            else CheckedFiles(settings.paths).mcp_servers()
        )
        ledger = AiLedger(
            self.repo, timezone=settings.timezone, prices=settings.ai_prices, clock=CLOCK.now
        )
        budget = Budget(
            ledger,
            daily_tokens=settings.ai_daily_token_budget,
            daily_cost=settings.ai_daily_cost_budget,
        )
        overview["ai"] = (
            f"Gemini ({settings.ai_model})"
            if settings.has_ai_key
            else "offline (no GEMINI_API_KEY)"
        )
        overview["ai_usage"] = await ai_overview(ledger, budget)
        overview["deliveries"] = await delivery_overview(
            self.repo, settings.notify_channels, settings.notify_quiet_hours, now=CLOCK.now()
        )
        return overview


def check_mcp_json(paths: Paths) -> None:
    """A broken mcp.json is reported by every command (McpConfigError), the database-only ones
    too. The full check imports fastmcp's models (about a second on a small machine), so a file
    it accepted is not checked again until it changes. Its entries are remembered with it: an
    entry that cannot be used shows as failed with the reason in `tasks status`."""
    checked = CheckedFiles(paths)
    if checked.mcp_json_checked():
        return
    from taskagent.core.mcp.mcp_json import check_server_name, load_mcp_config

    entries = load_mcp_config(paths.mcp_file)
    for name in entries:
        builtin = name in (BUILTIN_CRYPTO, BUILTIN_BACKGROUND)
        check_server_name(name, "builtin" if builtin else None)
    servers = []
    for name, spec in entries.items():
        problem = _broken(spec)
        state = "failed" if problem else "not started"
        servers.append(
            {"name": name, "kind": spec.kind, "state": state, "error": problem, "tools": 0}
        )
    checked.remember_mcp_json(servers)


# Called with the CoreBase; may return an awaitable the heavy imports wait for.
BaseCallback = Callable[[CoreBase], Awaitable[None] | None]


@dataclass
class Services:
    settings: Settings
    repo: Repository
    tasks: TaskService
    events: EventBus
    mcp: McpManager
    pipeline: RunPipeline
    background_server: FastMCP
    engine: Engine
    summarizer: Summarizer
    notifier: Notifier
    gemini: GeminiClient  # the process's one Gemini client (summaries and chat share it)
    chat: ChatSession
    ledger: AiLedger  # every Gemini request's tokens and estimated cost
    budget: Budget  # the daily AI budget (summaries and chat)
    # mcp.json's servers, connected by finish_start() (empty once it ran)
    pending_servers: Mapping[str, ServerSpec] = field(default_factory=dict)
    started: bool = False
    deliverer: Deliverer | None = None  # channels, receipts, retries, quiet hours
    _servers_recorded: list[dict[str, Any]] | None = None  # what record_servers last wrote

    # Set once finish_start() has connected (or given up on) mcp.json's servers.
    servers_started: asyncio.Event = field(default_factory=asyncio.Event)
    _connecting: tuple[str, ...] = ()

    def servers_starting(self) -> list[str]:
        """The names of mcp.json's servers not connected yet (before and during
        finish_start); a chat message waits for them, so the model gets their tools. An entry
        that cannot be used as written is not waited for."""
        if self.servers_started.is_set():
            return []
        usable = [n for n, spec in self.pending_servers.items() if not _broken(spec)]
        return list(dict.fromkeys([*self._connecting, *usable]))

    async def wait_for_servers(self, timeout: float) -> bool:  # noqa: ASYNC109
        """Wait up to `timeout` seconds for mcp.json's servers; False if they are still
        starting by then."""
        try:
            async with asyncio.timeout(timeout):
                await self.servers_started.wait()
        except TimeoutError:
            return False
        return True

    @property
    def alerts(self) -> AlertEvaluator:
        """Alert rules: the check at save, the backtest (the run pipeline has its own)."""
        from taskagent.core.alerts.evaluator import AlertEvaluator

        return AlertEvaluator(self.repo)

    @property
    def costs(self) -> CostEstimator:
        """A task's estimated AI cost a day (the summary model's prices and the ledger)."""
        from taskagent.core.cost_estimate import CostEstimator

        return CostEstimator(self.ledger, self.settings.ai_model)

    def slash_commands(self, chat: ChatSession | None = None) -> SlashCommands:
        """Every slash command over this core; `chat` replaces the app's chat session."""
        from taskagent.core.slash import SlashCommands

        return SlashCommands(
            self.tasks,
            engine=self.engine,
            mcp=self.mcp,
            repo=self.repo,
            chat=chat if chat is not None else self.chat,
            status=self.status,
            timezone=self.settings.timezone,
            ledger=self.ledger,
            budget=self.budget,
        )

    async def finish_start(self) -> None:
        """Stage 3: connect mcp.json's servers and probe the desktop-notification service
        (each may take seconds; neither is needed for the first screen). Idempotent."""
        if self.started:
            return
        self.started = True
        pending, self.pending_servers = self.pending_servers, {}
        self._connecting = tuple(n for n, spec in pending.items() if not _broken(spec))

        async def servers() -> None:
            try:
                if pending:
                    self.mcp.add_configured(pending)
                    await self.mcp.refresh()
            finally:
                self._connecting = ()
                self.servers_started.set()

        # On this (the main) loop: the notifier binds to it.
        await asyncio.gather(servers(), self.notifier.start())
        if self.deliverer is not None:
            await self.deliverer.start()
        await self._remember_tools()

    async def _remember_tools(self) -> None:
        """The tools listed now, for the CLI's `tasks add` to check a task against without
        starting the servers (taskagent/checked_files.py)."""
        tools = await self.mcp.list_tools()
        kinds = {server.name: server.kind for server in self.mcp.status()}
        checked = CheckedFiles(self.settings.paths)
        await asyncio.to_thread(checked.remember_tools, tools, dict(kinds))

    def server_states(self) -> list[dict[str, Any]]:
        """Each MCP server: its state, error and tool count (mcp.json's entries not started
        yet too: "starting", or "failed" with the reason for one that cannot be used)."""
        states: list[dict[str, Any]] = [
            {
                "name": s.name,
                "kind": s.kind,
                "state": s.state,
                "error": s.error,
                "tools": s.tool_count,
            }
            for s in self.mcp.status()
        ]
        for name, spec in self.pending_servers.items():
            problem = _broken(spec)
            state = "failed" if problem else "starting"
            states.append(
                {"name": name, "kind": spec.kind, "state": state, "error": problem, "tools": 0}
            )
        return states

    async def record_servers(self) -> None:
        """The scheduler's servers as it sees them, for `taskagent tasks status` in another
        process (written only when they change)."""
        states = self.server_states()
        if states != self._servers_recorded:  # no write at all while nothing changes
            await self.repo.set_setting(SERVERS_SEEN, states)
            self._servers_recorded = states

    async def status(self) -> dict[str, Any]:
        overview = await task_overview(self.repo)
        overview["scheduler"] = await self.engine.status()
        overview["mcp_servers"] = self.server_states()
        overview["ai"] = self.summarizer.status
        overview["ai_usage"] = await ai_overview(self.ledger, self.budget)
        overview["notifications"] = self.notifier.backend
        overview["deliveries"] = await delivery_overview(
            self.repo,
            self.settings.notify_channels,
            self.settings.notify_quiet_hours,
            now=CLOCK.now(),
        )
        return overview

    async def spend_by_task(self) -> dict[int, Usage]:
        """The AI summaries' spend per task, all time (the Status tab)."""
        return await self.ledger.by_task()

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        settings: Settings,
        *,
        kind: str = "app",
        desktop: bool = True,
        on_base: BaseCallback | None = None,
        defer: bool = False,
    ) -> AsyncIterator[Services]:
        """Build the core. The engine is created but not started: the app and the daemon call
        `services.engine.start()`, the CLI and the MCP server `start(schedule=False)`.
        `desktop=False` (the standalone MCP server) never probes for desktop notifications.

        `on_base` is called with the CoreBase as soon as the database is open, before the
        heavy imports (which then run on a worker thread). `defer=True` leaves mcp.json's
        servers and the notification probe to `finish_start()` (the app calls it once its
        first screen works); otherwise they are done before this yields.

        Everything opened is registered on one exit stack as soon as it is open, so a failure
        half-way (a bad mcp.json, a server name clash, ...) closes what was opened so far, in
        reverse order, and the database last.
        """
        settings.paths.ensure()
        events = EventBus()
        async with contextlib.AsyncExitStack() as stack:
            repo = await Repository.open(settings.paths.db_file, clock=CLOCK.now)
            stack.push_async_callback(repo.close)
            tasks = _task_service(settings, repo, events)
            if on_base is not None:
                shown = on_base(CoreBase(settings, repo, tasks, events))
                if shown is not None:
                    await shown  # the first screen's queries go before the heavy imports
                await asyncio.to_thread(import_heavy)  # the UI loop keeps painting
            services = await cls._open_agent(stack, settings, kind, desktop, repo, events)
            if not defer:
                await services.finish_start()
            yield services
            services.chat.decline_all()  # a turn waiting for a confirmation must not hang the exit
            await services.engine.stop()

    @classmethod
    async def _open_agent(
        cls,
        stack: contextlib.AsyncExitStack,
        settings: Settings,
        kind: str,
        desktop: bool,
        repo: Repository,
        events: EventBus,
    ) -> Services:
        """Stage 2: the MCP manager with the built-in servers, the run pipeline, engine and chat.
        What needs closing goes on `stack` as soon as it exists."""
        from mcp_servers.background_server import create_server as create_background_server
        from mcp_servers.crypto_server import create_server as create_crypto_server
        from taskagent.core.ai_ledger import AiLedger
        from taskagent.core.budget import Budget
        from taskagent.core.chat import ChatSession
        from taskagent.core.digest import summary_writer
        from taskagent.core.engine import Engine
        from taskagent.core.gemini_client import GeminiClient
        from taskagent.core.history_pruner import HistoryPruner
        from taskagent.core.mcp import McpManager, load_mcp_config
        from taskagent.core.summary import Summarizer

        _route_library_logs(settings)
        user_servers = load_mcp_config(settings.paths.mcp_file)  # bad file: McpConfigError
        manager = McpManager(
            log_dir=settings.paths.log_dir,
            call_timeout=settings.scheduler_task_timeout_seconds,
            extra_env=_child_env(settings),
        )
        tasks = _task_service(settings, repo, events, catalogue=manager)
        gemini = GeminiClient.from_settings(settings)
        stack.push_async_callback(gemini.aclose)
        notifier, deliverer = _notifier(stack, settings, desktop, repo, tasks)
        ledger = AiLedger(
            repo, timezone=settings.timezone, prices=settings.ai_prices, clock=CLOCK.now
        )
        budget = Budget(
            ledger,
            daily_tokens=settings.ai_daily_token_budget,
            daily_cost=settings.ai_daily_cost_budget,
            on_reached=notifier.notify_notice,
        )
        summarizer = Summarizer(settings, gemini=gemini, ledger=ledger, budget=budget)
        deliverer.writer = summary_writer(summarizer, settings.timezone)  # digests' words
        pipeline = _pipeline(settings, repo, manager, events, summarizer, notifier)
        coingecko = _coingecko_client()
        if coingecko is not None:
            stack.push_async_callback(coingecko.aclose)

        async def close_worker_loop() -> None:
            # Sessions and HTTP clients are per event loop; a worker closes its own.
            await manager.close_for_current_loop()
            if coingecko is not None:
                await coingecko.aclose()

        engine = Engine(
            repo,
            pipeline,
            workers=settings.scheduler_worker_threads,
            parallel_runs=settings.scheduler_parallel_runs,
            kind=kind,
            events=events,
            on_worker_exit=close_worker_loop,
            open_sessions=manager.warm_up,
            on_beat=lambda: services.record_servers(),
            pruner=HistoryPruner(
                repo,
                pipeline.baselines,
                retention_days=settings.history_retention_days,
                max_rows_per_task=settings.history_max_rows_per_task,
                clock=CLOCK,
            ),
            clock=CLOCK,
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
        background = create_background_server(
            tasks, engine.run_now, lambda: services.status(), named_channels=settings.notify_named
        )
        services = cls(
            settings=settings,
            repo=repo,
            tasks=tasks,
            events=events,
            mcp=manager,
            pipeline=pipeline,
            background_server=background,
            engine=engine,
            summarizer=summarizer,
            notifier=notifier,
            gemini=gemini,
            chat=chat,
            ledger=ledger,
            budget=budget,
            pending_servers=user_servers,
            deliverer=deliverer,
        )
        manager.add_builtin(BUILTIN_CRYPTO, create_crypto_server(coingecko))
        manager.add_builtin(BUILTIN_BACKGROUND, background)
        # A bad name in mcp.json is a config error now, not after the first screen.
        taken = {server.name for server in manager.status()}
        manager.add_configured(
            {n: spec for n, spec in user_servers.items() if n in taken or ":" in n or not n.strip()}
        )
        stack.push_async_callback(manager.close)  # its sessions open from start() on
        await manager.start()  # the built-in servers: in memory, milliseconds

        async def stop_engine_left_running() -> None:
            # The caller starts the engine; an exception may leave it running: still release
            # the lease. Registered last, so it runs first (before the sessions close).
            if engine.mode != "stopped":
                with contextlib.suppress(Exception):
                    await engine.stop(grace=0)

        stack.push_async_callback(stop_engine_left_running)
        return services
