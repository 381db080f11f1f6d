"""The worker pool: run slots spread over threads, several runs at once on one thread's loop,
waiting for a slot, closing."""

from __future__ import annotations

import asyncio
import sys
import threading

import pytest

from taskagent.core.worker_pool import NoFreeWorker, PoolClosing, WorkerPool


async def _nap(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return threading.current_thread().name


class Overlap:
    """Counts runs in flight at once, from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.now = 0
        self.peak = 0

    async def hold(self, until: int, limit: float = 30.0) -> str:
        """Stay in flight until `until` runs are (at most `limit` s: a hang guard)."""
        with self._lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        try:
            for _ in range(int(limit / 0.01)):
                if self.peak >= until:
                    break
                await asyncio.sleep(0.01)
            return threading.current_thread().name
        finally:
            with self._lock:
                self.now -= 1


async def test_each_thread_runs_several_runs_at_once() -> None:
    pool = WorkerPool(2, parallel=6)
    pool.start()
    try:
        overlap = Overlap()
        threads = await asyncio.gather(*(pool.run(lambda: overlap.hold(6)) for _ in range(6)))
        # Six runs in flight at once: one slot per run, not one run per thread at a time.
        assert overlap.peak == 6
        # Spread evenly over the two threads, none on the caller's.
        assert sorted(threads) == ["taskagent-worker-0"] * 3 + ["taskagent-worker-1"] * 3
        assert pool.busy == 0
    finally:
        await pool.shutdown(1)


async def test_a_run_waits_for_a_free_slot_at_most_its_limit() -> None:
    pool = WorkerPool(1, parallel=2)
    pool.start()
    try:
        busy = [asyncio.create_task(pool.run(lambda: _nap(1.0))) for _ in range(2)]
        await asyncio.sleep(0.1)
        assert pool.busy == 2
        with pytest.raises(NoFreeWorker):
            await pool.run(lambda: _nap(0), wait_limit=0.3)
        # A slot frees up when a run ends; a waiting run then starts.
        assert await pool.run(lambda: _nap(0), wait_limit=3) == "taskagent-worker-0"
        await asyncio.gather(*busy)
    finally:
        await pool.shutdown(1)


async def test_without_parallel_there_is_one_run_per_thread() -> None:
    pool = WorkerPool(2)
    pool.start()
    try:
        assert pool.parallel == 2
        overlap = Overlap()
        # Each run waits (0.3 s at most) for a third one in flight, which never comes.
        await asyncio.gather(*(pool.run(lambda: overlap.hold(3, limit=0.3)) for _ in range(4)))
        assert overlap.peak == 2  # two rounds of two
    finally:
        await pool.shutdown(1)


async def test_closing_answers_runs_waiting_for_a_slot() -> None:
    pool = WorkerPool(1, parallel=1)
    pool.start()
    running = asyncio.create_task(pool.run(lambda: _nap(0.5)))
    await asyncio.sleep(0.1)
    waiting = asyncio.create_task(pool.run(lambda: _nap(0)))
    await asyncio.sleep(0.1)
    pool.close()
    with pytest.raises(PoolClosing):
        await waiting
    assert await running == "taskagent-worker-0"  # a started run finishes
    assert await pool.shutdown(1) == 0


async def _loop_module() -> str:
    import uvloop

    loop = asyncio.get_running_loop()
    return "uvloop" if isinstance(loop, uvloop.Loop) else type(loop).__module__


async def test_workers_run_uvloop_when_installed_and_asyncio_when_told(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("uvloop")
    for setting, expected in (("", "uvloop"), ("asyncio", "asyncio")):
        monkeypatch.setenv("TASKAGENT_EVENT_LOOP", setting)
        pool = WorkerPool(1)
        pool.start()
        try:
            assert (await pool.run(_loop_module)).split(".")[0] == expected
        finally:
            await pool.shutdown(1)


async def _start_processes(count: int) -> list[int]:
    """Start `count` short-lived processes with pipes, as an MCP stdio client does."""
    codes = []
    for _ in range(count):
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "pass",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        await process.communicate()
        codes.append(process.returncode)
    return codes


async def test_workers_start_processes_at_the_same_time() -> None:
    """uvloop refuses a process start while a loop in another thread is starting one
    ("Racing with another loop to spawn a process"); every worker opening its stdio MCP
    session at once hit it. Every start must succeed."""
    pool = WorkerPool(4)
    pool.start()
    try:
        results = await asyncio.gather(
            *(pool.run(lambda: _start_processes(8)) for _ in range(4)), return_exceptions=True
        )
        assert results == [[0] * 8] * 4
    finally:
        await pool.shutdown(1)
