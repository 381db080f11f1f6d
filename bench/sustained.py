"""N tasks "every 1 second" through a real `taskagent daemon` for T seconds: do they all run?

A throwaway TASKAGENT_HOME; the ping tool as a stdio MCP server (the daemon keeps one session
per worker); the tasks imported with the CLI, then the daemon started. After a warm-up, a window
of T seconds is measured:

* expected - slots due in the window (N x T);
* ran      - slots whose run succeeded; skipped / missed / other - the rest, from the history;
* CPU/run  - the daemon process's CPU time over the window (all its threads, /proc, not the
             tool's processes) divided by the runs that finished in it;
* RSS      - the daemon's resident memory at the end (and its peak).

The yardstick, in the same run (bench/_bare_scheduler.py): APScheduler alone, N jobs every
second dispatched to 4 threads with their own loops and a stdio session each to the same tool;
no database. Target: >= 95 % of the expected runs, no `skipped` caused by our own
slowness, <= 2.5 ms CPU per run.

    python bench/sustained.py [N [T]]     defaults 300 tasks, 10 s
    PYSPY_OUT=/tmp/x.txt python bench/sustained.py   also profiles the daemon over the window
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import _bare_scheduler
from bench._daemon import (
    PING,
    Daemon,
    ToolPath,
    prepare_home,
    profile,
    query,
    task_spec,
    wait_for,
)

TASKS = 300
SECONDS = 10.0
WARM_UP = 3.0  # seconds of runs before the window: sessions open, caches fill
TARGET_SHARE = 0.95
TARGET_CPU_MS = 2.5


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds")


def _outcomes(home: Path, w0: float, w1: float) -> dict[str, int]:
    """Slots due in [w0, w1) by outcome; a `missed` row stands for every slot it covers."""
    counts: dict[str, int] = {}
    rows = query(
        home,
        "SELECT status, scheduled_time, slot_end FROM task_history "
        "WHERE scheduled_time >= ? AND scheduled_time < ?",
        (_iso(w0), _iso(w1)),
    )
    for status, first, last in rows:
        slots = 1
        if status == "missed" and last:
            span = datetime.fromisoformat(last) - datetime.fromisoformat(first)
            slots = round(span.total_seconds()) + 1
        counts[status] = counts.get(status, 0) + slots
    return counts


def _successes(home: Path) -> int:
    return query(home, "SELECT count(*) FROM task_history WHERE status = 'success'")[0][0]


def _finished_in(home: Path, w0: float, w1: float) -> int:
    """Runs (not skipped/missed bookkeeping rows) that finished in [w0, w1)."""
    return query(
        home,
        "SELECT count(*) FROM task_history WHERE finished_at >= ? AND finished_at < ? "
        "AND status NOT IN ('skipped', 'missed')",
        (_iso(w0), _iso(w1)),
    )[0][0]


def measure_ours(count: int, seconds: float, path: ToolPath = PING) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp, path.stand_in() as extra_env:
        home = Path(tmp)
        specs = [task_spec(f"tick {i:04d}", "interval", "1 second", path) for i in range(count)]
        took = prepare_home(home, specs, path)
        print(f"imported {count} tasks calling {path.tool} in {took:.1f} s; starting the daemon")
        daemon = Daemon(home, extra_env)
        try:
            daemon.wait_started()
            # Each worker opens its session to the tool on its first run (a process spawn).
            wait_for(lambda: _successes(home) >= count, 120, daemon)
            time.sleep(WARM_UP)
            profiler = profile(daemon.pid, seconds)
            w0, cpu0 = time.time(), daemon.cpu_seconds()
            time.sleep(seconds)
            w1, cpu1 = time.time(), daemon.cpu_seconds()
            rss, peak = daemon.memory_mb()
            time.sleep(2.0)  # the window's last slots finish
            if profiler is not None:
                profiler.wait()
            outcomes = _outcomes(home, w0, w1)
            finished = _finished_in(home, w0, w1)
        finally:
            daemon.stop()
    return {
        "expected": count * (w1 - w0),
        "ran": outcomes.get("success", 0),
        "skipped": outcomes.get("skipped", 0),
        "missed": outcomes.get("missed", 0),
        "other": sum(v for k, v in outcomes.items() if k not in ("success", "skipped", "missed")),
        "cpu_ms": (cpu1 - cpu0) * 1000 / max(1, finished),
        "busy": (cpu1 - cpu0) / (w1 - w0),
        "rss": rss,
        "peak": peak,
    }


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else TASKS
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else SECONDS
    ours = measure_ours(count, seconds)
    bare = _bare_scheduler.run("sustained", str(count), str(seconds))
    share = ours["ran"] / ours["expected"]
    bare_share = bare["ran"] / bare["expected"]
    bare_cpu = bare["cpu"] * 1000 / max(1, bare["ran"])
    print(f"{count} tasks every second, {seconds:g} s window")
    print(f"{'':34} {'ours':>14} {'APScheduler alone':>18}")
    print(f"{'expected runs':34} {ours['expected']:14.0f} {bare['expected']:18.0f}")
    print(f"{'ran':34} {ours['ran']:8.0f} ({share:4.0%}) {bare['ran']:12.0f} ({bare_share:4.0%})")
    print(
        f"{'skipped / missed / other':34} {ours['skipped']:.0f} / {ours['missed']:.0f} / ", end=""
    )
    print(f"{ours['other']:.0f}")
    print(f"{'CPU per run':34} {ours['cpu_ms']:11.2f} ms {bare_cpu:15.2f} ms")
    print(f"{'process busy (share of one core)':34} {ours['busy']:14.0%}")
    print(f"{'RSS at the end (peak)':34} {ours['rss']:8.0f} MB ({ours['peak']:.0f})")
    met = share >= TARGET_SHARE and ours["skipped"] == 0 and ours["cpu_ms"] <= TARGET_CPU_MS
    print(
        f"target: >= {TARGET_SHARE:.0%} ran, none skipped, <= {TARGET_CPU_MS} ms CPU per run: "
        f"{'met' if met else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
