"""`taskagent daemon`: the core with no UI, for running 24/7 under systemd or launchd.

Logs to `<log dir>/taskagent.log`: one line per run, notification, notification button and
task change; libraries only at WARNING unless `--verbose`. stderr gets start, stop and warnings
(everything with `--verbose`). SIGTERM/SIGINT stop it cleanly: no new runs
start, running runs get a grace period to finish, the rest are recorded as `interrupted`.
A second daemon on the same database refuses to start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from taskagent.core import child_processes, heap, loops

# What a second daemon needs to refuse, and no more: the engine, the stop deadline and the
# services are imported once the lease check has let this one through.
from taskagent.core.lease import Lease, LeaseInfo, SchedulerBusy
from taskagent.core.private_files import PrivateLogFile
from taskagent.core.store import Repository

if TYPE_CHECKING:
    from taskagent.config import Settings
    from taskagent.paths import Paths
    from taskagent.services import Services

log = logging.getLogger("taskagent.daemon")
STOP_SLACK_SECONDS = 1.3  # past the grace, the stop deadline exits (the promise: grace + 2 s, with
# room for recording the runs and the process exit itself)


OUR_LOGGERS = ("taskagent", "mcp_servers")


class LogFileHandler(PrivateLogFile):
    """The daemon's log file (private, never written through a symbolic link; 5 MB, then
    rotated, 3 kept). A line it cannot write (a full disk) is told on stderr once a
    minute in one line, instead of Python's "--- Logging error ---" traceback for every one."""

    QUIET_SECONDS = 60.0

    def __init__(self, path: Path) -> None:
        super().__init__(path, max_bytes=5_000_000, backups=3)
        self._last_error: float | None = None
        self.lost = 0  # lines it could not write

    def handleError(self, record: logging.LogRecord) -> None:
        self.lost += 1
        now = time.monotonic()
        if self._last_error is not None and now - self._last_error < self.QUIET_SECONDS:
            return
        self._last_error = now
        problem = sys.exc_info()[1]
        with contextlib.suppress(Exception):
            print(
                f"taskagent daemon: cannot write the log file {self.baseFilename}: {problem} "
                f"({self.lost} line(s) lost so far)",
                file=sys.stderr,
                flush=True,
            )


class OursOrWarnings(logging.Filter):
    """taskagent's own INFO lines (runs, notifications, actions); from libraries (google_genai's
    "AFC is enabled", httpx's request lines, APScheduler's per-job lines) only warnings."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return True
        return record.name.split(".")[0] in OUR_LOGGERS


class NotActivity(logging.Filter):
    """Everything but the per-run / per-notification lines (taskagent.activity, notify)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return True
        return record.name not in ("taskagent.activity", "taskagent.core.notify")


def _setup_logging(settings: Settings, verbose: bool = False) -> None:
    settings.paths.ensure()  # private folders of the user's own, before the first line
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    file_handler = LogFileHandler(settings.paths.log_file)
    console = logging.StreamHandler(sys.stderr)
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for handler in (file_handler, console):
        handler.setFormatter(fmt)
        if not verbose:
            handler.addFilter(OursOrWarnings())
        root.addHandler(handler)
    if not verbose:
        # APScheduler logs two INFO lines per job it fires; the filter above would drop them,
        # but at hundreds of fires a second making the records costs more than the job.
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
        # A line per run is for the file; the console (journald under systemd, often a pipe
        # nobody reads, which would block the daemon once full) gets start, stop and warnings.
        console.addFilter(NotActivity())


async def _finish_start_unless_stopped(services: Services, stop: asyncio.Event) -> bool:
    """`services.finish_start()`, abandoned when `stop` is set first; whether it finished."""
    opening = asyncio.ensure_future(services.finish_start())
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({opening, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not opening.done():
        opening.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await opening
        return False
    opening.result()  # a failure is raised as before
    return not stop.is_set()


async def _first_of(*events: asyncio.Event) -> None:
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def _daemon_running(paths: Paths) -> LeaseInfo | None:
    """Another live daemon on this database, read before anything slow starts (the settings
    model, the MCP servers, the agent's imports): a second daemon refuses at once. Two daemons
    starting in the same moment both get past this; the lease itself then lets one of them
    in (`SchedulerBusy` from the engine's start). No database yet: nobody runs, and nothing
    is created before the settings are checked."""
    if not paths.db_file.exists():
        return None
    async with await Repository.open(paths.db_file) as repo:
        lease = Lease(repo, kind="daemon")
        holder = await lease.current()
        if holder is not None and holder.kind == "daemon" and lease.is_live(holder):
            return holder
    return None


def refuse_if_running(paths: Paths) -> int | None:
    """When another live daemon holds this database's lease: say so on stderr and return the
    exit status (1); otherwise None, and this daemon may start."""
    running = asyncio.run(_daemon_running(paths))
    if running is None:
        return None
    print(f"taskagent daemon: {SchedulerBusy(running, str(paths.db_file))}", file=sys.stderr)
    return 1


def _start_pinger(settings: Settings, services: Services) -> asyncio.Task[None] | None:
    """`[health] ping_url` requested while this daemon holds the scheduler."""
    if not settings.health_ping_url:
        return None
    from taskagent.core.engine import EngineMode
    from taskagent.core.health.pinger import Pinger

    engine = services.engine

    def healthy() -> bool:
        return (
            engine.mode is EngineMode.SCHEDULER
            and engine.lease.beating()
            and not engine.fatal.is_set()
        )

    pinger = Pinger(
        settings.health_ping_url, settings.health_ping_seconds, healthy, clock=engine.clock
    )
    # Only the host: the rest of a ping URL is often its secret.
    host = settings.health_ping_url.split("//", 1)[-1].split("/", 1)[0]
    log.info("health ping to %s every %s", host, settings.health_ping_every)
    return asyncio.create_task(pinger.run_forever(), name="taskagent-health-ping")


async def _serve(settings: Settings, grace: float) -> int:
    from taskagent.core import stop_deadline
    from taskagent.core.activity import ActivityLog
    from taskagent.services import Services

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    async with Services.open(settings, kind="daemon", defer=True) as services:
        # mcp.json's servers and the notification probe may take seconds (a server that hangs
        # at start: up to its connect timeout); a stop meanwhile ends the daemon at once.
        if not await _finish_start_unless_stopped(services, stop):
            log.info("stopped before the scheduler started")
            return 0

        def stop_soon() -> None:
            stop.set()
            services.engine.cut_start_short()  # a stop during the start keeps its limit

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop_soon)
        activity = ActivityLog(services.repo, services.events).attach()  # a line per run
        try:
            await services.engine.start(exclusive=True)
        except SchedulerBusy as exc:
            activity.close()
            print(f"taskagent daemon: {exc}", file=sys.stderr)
            return 1
        tasks = await services.repo.list_tasks()
        log.info(
            "daemon started (pid %s) on %s: %d task(s), %d worker thread(s), up to %d runs at once, %s loops",
            services.engine.lease.holder_id.split(":")[1],
            settings.paths.db_file,
            len(tasks),
            settings.scheduler_worker_threads,
            services.engine.pool.parallel,
            loops.loop_name(),
        )
        heap.settle(collect_first=True)
        pinger = _start_pinger(settings, services)
        await _first_of(stop, services.engine.fatal)
        if pinger is not None:  # a stopping daemon is no longer healthy
            pinger.cancel()
        failed = services.engine.fatal_error
        log.info("stopping: letting running runs finish (up to %g s)", grace)
        engine = services.engine
        # The orderly stop is bounded by itself; this is the backstop: exit within grace + 2 s.
        deadline = stop_deadline.arm(
            grace + STOP_SLACK_SECONDS,
            db_path=services.repo.path,
            holder_id=engine.lease.holder_id,
            own_runs=engine.unfinished_run_ids,
            exit_code=0 if failed is None else 1,
            clock=engine.clock,
        )
        interrupted = await engine.stop(grace=grace)
        deadline.recorded.set()
        await activity.drain()  # the last runs' lines (bounded: 0.5 s)
        activity.close()
        log.info("stopped (%d run(s) interrupted)", interrupted)
    child_processes.end_children()  # a server whose close timed out (stuck in a call)
    deadline.done.set()  # the MCP servers and the database are closed too
    if failed is not None:  # the one line, and a status a service manager acts on
        print(f"taskagent daemon: {failed}", file=sys.stderr)
        return 1
    return 0


def run_daemon(settings: Settings, grace: float = 10.0, verbose: bool = False) -> int:
    """The daemon until it is stopped; its exit status. `refuse_if_running` comes first."""
    _setup_logging(settings, verbose)
    return loops.run(_serve(settings, grace))
