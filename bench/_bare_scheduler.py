"""The yardstick for the load benches: APScheduler alone dispatching the same jobs to a pool of
threads, each with its own event loop and one persistent MCP client session, calling the same
ping tool. No database, no history, no slot accounting: the floor a scheduler of this shape
costs on this machine. Run as a child process; prints one JSON object.

    _bare_scheduler.py burst JOBS [concurrent]  all due in the same second (the daemon bench's
                                             stdio tool); `concurrent`: a worker starts each
                                             call at once instead of one call at a time
    _bare_scheduler.py sustained N SECONDS   N jobs every second (the daemon bench's stdio tool)
    _bare_scheduler.py memory JOBS           RSS with JOBS daily jobs
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from fastmcp import Client
from fastmcp.client.transports import StdioTransport

from bench._common import make_ping_server
from bench._daemon import FAST_PING_SERVER

WORKERS = 4  # the daemon's default worker_threads


class Worker:
    """One thread, one loop, one client; runs its queue's calls one at a time (like ours)."""

    def __init__(self, stdio: bool, on_done: Any, concurrent: bool = False) -> None:
        self.loop = asyncio.new_event_loop()
        self.stdio = stdio
        self.concurrent = concurrent
        self.on_done = on_done
        self.ready = threading.Event()
        self.queue: asyncio.Queue[float] | None = None
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._consume())

    async def _consume(self) -> None:
        self.queue = asyncio.Queue()
        if self.stdio:
            transport = StdioTransport(
                command=sys.executable,
                args=[str(FAST_PING_SERVER)],
                env={"PATH": os.environ["PATH"]},
            )
            client = Client(transport)
        else:
            client = Client(make_ping_server())
        async with client:
            self.ready.set()
            while True:
                due = await self.queue.get()
                if self.concurrent:
                    asyncio.get_running_loop().create_task(self._call(client, due))
                else:
                    await self._call(client, due)

    async def _call(self, client: Client, due: float) -> None:
        started = time.time()
        await client.call_tool("ping", {"tag": "x"})
        self.on_done(started - due, time.time())

    def submit(self, due: float) -> None:
        assert self.queue is not None
        self.loop.call_soon_threadsafe(self.queue.put_nowait, due)


class Bare:
    def __init__(self, stdio: bool, concurrent: bool = False) -> None:
        self.lags: list[float] = []
        self.finished: list[float] = []
        self._lock = threading.Lock()
        self.workers = [Worker(stdio, self._done, concurrent) for _ in range(WORKERS)]
        self._next = 0
        self.target = 0  # set `all_done` once this many calls finished
        self.all_done = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        for worker in self.workers:
            worker.ready.wait(60)
        self.scheduler = AsyncIOScheduler(
            timezone="UTC",
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )

    def _done(self, lag: float, at: float) -> None:
        with self._lock:
            self.lags.append(lag)
            self.finished.append(at)
            if len(self.lags) == self.target:
                self._loop.call_soon_threadsafe(self.all_done.set)

    async def fire(self, period: float, anchor: float) -> None:
        """The job: hand the call to the next worker (round robin), nothing else."""
        now = time.time()
        due = anchor + ((now - anchor) // period) * period if period else anchor
        self.workers[self._next % WORKERS].submit(due)
        self._next += 1


async def burst(jobs: int, concurrent: bool) -> dict[str, Any]:
    bare = Bare(stdio=True, concurrent=concurrent)
    due = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=3)
    for index in range(jobs):
        bare.scheduler.add_job(
            bare.fire, DateTrigger(due), args=[0, due.timestamp()], id=f"job-{index}"
        )
    bare.target = jobs
    bare.scheduler.start()
    await bare.all_done.wait()
    return {"lags": bare.lags}


async def sustained(count: int, seconds: float) -> dict[str, Any]:
    bare = Bare(stdio=True)
    anchor = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    for index in range(count):
        trigger = IntervalTrigger(seconds=1, start_date=anchor)
        bare.scheduler.add_job(
            bare.fire, trigger, args=[1.0, anchor.timestamp()], id=f"job-{index}"
        )
    bare.scheduler.start()
    await asyncio.sleep(max(0.0, anchor.timestamp() - time.time()) + 2.0)  # warm-up
    w0, cpu0 = time.time(), time.process_time()
    await asyncio.sleep(seconds)
    w1, cpu1 = time.time(), time.process_time()
    ran = sum(1 for at in bare.finished if w0 <= at < w1)
    bare.scheduler.shutdown(wait=False)
    return {"ran": ran, "expected": round(count * (w1 - w0)), "cpu": cpu1 - cpu0}


async def memory(jobs: int) -> dict[str, Any]:
    scheduler = AsyncIOScheduler(timezone="UTC")
    for index in range(jobs):
        trigger = CronTrigger(hour=index % 24, minute=index % 60, timezone="UTC")
        scheduler.add_job(asyncio.sleep, trigger, args=[0], id=f"job-{index}")
    scheduler.start()
    await asyncio.sleep(1)
    return {"rss_mb": await asyncio.to_thread(_rss_mb)}


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run(*args: str) -> dict[str, Any]:
    """Run this module as a child process and return what it printed."""
    done = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, timeout=300
    )
    if done.returncode != 0:
        raise SystemExit(f"the comparison failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    mode, *args = sys.argv[1:]
    if mode == "burst":
        result = asyncio.run(burst(int(args[0]), args[1:] == ["concurrent"]))
    elif mode == "sustained":
        result = asyncio.run(sustained(int(args[0]), float(args[1])))
    else:
        result = asyncio.run(memory(int(args[0])))
    print(json.dumps(result), flush=True)
    os._exit(0)  # worker threads and their sessions die with the process


if __name__ == "__main__":
    main()
