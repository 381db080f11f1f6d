"""`taskagent daemon`: the core with no UI, for running 24/7 under systemd or launchd.

Logs to `<log dir>/taskagent.log` and stderr. SIGTERM/SIGINT stop it cleanly: no new runs
start, running runs get a grace period to finish, the rest are recorded as `interrupted`.
A second daemon on the same database refuses to start.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from logging.handlers import RotatingFileHandler

from taskagent.config import Settings
from taskagent.core import stop_deadline
from taskagent.core.engine import SchedulerBusy

log = logging.getLogger("taskagent.daemon")
STOP_SLACK_SECONDS = 1.8  # past the grace, the stop deadline exits (the promise: grace + 2 s)


def _setup_logging(settings: Settings) -> None:
    settings.paths.log_dir.mkdir(parents=True, exist_ok=True)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    file_handler = RotatingFileHandler(
        settings.paths.log_file, maxBytes=5_000_000, backupCount=3, encoding="utf-8"
    )
    file_handler.setFormatter(fmt)
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(fmt)
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    root.addHandler(file_handler)
    root.addHandler(console)
    # APScheduler logs every job execution at INFO: noise for a 24/7 log.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


async def _serve(settings: Settings, grace: float) -> int:
    from taskagent.services import Services

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    async with Services.open(settings, kind="daemon") as services:
        try:
            await services.engine.start(exclusive=True)
        except SchedulerBusy as exc:
            print(f"taskagent daemon: {exc}", file=sys.stderr)
            return 1
        tasks = await services.repo.list_tasks()
        log.info(
            "daemon started (pid %s) on %s: %d task(s), %d worker thread(s)",
            services.engine.lease.holder_id.split(":")[1],
            settings.paths.db_file,
            len(tasks),
            settings.scheduler_worker_threads,
        )
        await stop.wait()
        log.info("stopping: letting running runs finish (up to %g s)", grace)
        engine = services.engine
        # The orderly stop is bounded by itself; this is the backstop: exit within grace + 2 s.
        deadline = stop_deadline.arm(
            grace + STOP_SLACK_SECONDS,
            db_path=services.repo.path,
            holder_id=engine.lease.holder_id,
            own_runs=engine.unfinished_run_ids,
        )
        interrupted = await engine.stop(grace=grace)
        deadline.recorded.set()
        log.info("stopped (%d run(s) interrupted)", interrupted)
    deadline.done.set()  # the MCP servers and the database are closed too
    return 0


def run_daemon(settings: Settings, grace: float = 10.0) -> int:
    _setup_logging(settings)
    return asyncio.run(_serve(settings, grace))
