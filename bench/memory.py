"""Daemon memory with 10,000 tasks: the RSS of a real `taskagent daemon` holding every task,
its job and its in-memory state, once it has scheduled them all.

Throwaway TASKAGENT_HOME, 10,000 daily tasks (spread over the day, so none runs during the
measurement) imported with the CLI. Printed beside it, measured in the same run: the same
daemon with no task (what the process costs by itself) and APScheduler alone holding 10,000
daily jobs (bench/_bare_scheduler.py). Target: <= 200 MB RSS.

    python bench/memory.py [TASKS]     default 10,000
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import _bare_scheduler
from bench._daemon import Daemon, prepare_home, task_spec

TASKS = 10_000
SETTLE = 3.0  # seconds after "daemon started" before reading RSS
TARGET_MB = 200.0


def daemon_rss(count: int) -> tuple[float, float]:
    """(RSS, peak RSS) in MB of a daemon with `count` daily tasks."""
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        specs = [
            task_spec(f"daily {i:05d}", "daily", f"{i % 24:02d}:{i % 60:02d}") for i in range(count)
        ]
        took = prepare_home(home, specs)
        if count:
            print(f"imported {count:,} tasks in {took:.1f} s")
        daemon = Daemon(home)
        try:
            t0 = time.perf_counter()
            daemon.wait_started()
            if count:
                print(f"the daemon scheduled them in {time.perf_counter() - t0:.1f} s")
            time.sleep(SETTLE)
            return daemon.memory_mb()
        finally:
            daemon.stop()


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else TASKS
    rss, peak = daemon_rss(count)
    empty, _ = daemon_rss(0)
    bare = _bare_scheduler.run("memory", str(count))["rss_mb"]
    print(f"{'resident memory (RSS)':44} {'MB':>8}")
    print(f"{f'ours: daemon with {count:,} tasks (peak)':44} {rss:8.0f}  ({peak:.0f})")
    print(f"{'ours: daemon with no task':44} {empty:8.0f}")
    print(f"{f'APScheduler alone with {count:,} jobs':44} {bare:8.0f}")
    print(f"per task: {(rss - empty) * 1024 / max(1, count):.1f} KB")
    print(f"target: <= {TARGET_MB:.0f} MB: {'met' if rss <= TARGET_MB else 'MISSED'}")


if __name__ == "__main__":
    main()
