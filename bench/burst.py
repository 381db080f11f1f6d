"""1,000 tasks due in the same second: do all run, none missed, and how late do they start?

One-shot tasks imported with the CLI, then a real `taskagent daemon`
(default settings: 4 worker threads, 32 runs at once) calling the bench's stdio ping tool
(bench/_fast_ping_server.py). Eight warm-up one-shots run a few seconds before the burst, so
each worker has opened its session to the tool (a process spawn) as a daemon that has been up
for a while has.

Lag = run start (`run_time`) - the time it was due (`scheduled_time`), from the real history
table.

The yardstick, measured in the same run (bench/_bare_scheduler.py, a child process): APScheduler
alone dispatching the same 1,000 jobs to 4 threads with their own loops and a stdio session
each to the same tool, no database: (a) one call at a time per worker, (b) every call started
at once on its worker's loop. Target: all run, p99 <= 1.5 s.

    python bench/burst.py [TASKS]     default 1,000
    PYSPY_OUT=/tmp/x.txt python bench/burst.py   also profiles the daemon through the burst
"""

from __future__ import annotations

import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import _bare_scheduler
from bench._common import percentile_ms
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

TASKS = 1000
WARM_UPS = 8  # two per worker thread: every worker opens its session before the burst
LEAD_SECONDS = 25.0  # import + daemon start + warm-up fit in this before the burst is due
TARGET_P99_MS = 1500.0
PROFILE_SECONDS = 6


def _finished(home: Path) -> int:
    return query(home, "SELECT count(*) FROM task_history WHERE status != 'running'")[0][0]


@dataclass
class Burst:
    lags: list[float]  # seconds from due to start, of the runs that succeeded
    by_status: dict[str, int]
    drained: float  # seconds from due until every run had finished
    cpu_ms: float  # daemon CPU per run over the burst


def measure_ours(count: int, path: ToolPath = PING) -> Burst:
    with tempfile.TemporaryDirectory() as tmp, path.stand_in() as extra_env:
        home = Path(tmp)
        now = datetime.now(UTC).replace(microsecond=0)
        due = now + timedelta(seconds=LEAD_SECONDS)
        warm = due - timedelta(seconds=5)
        specs = [task_spec(f"warm {i}", "once", warm.isoformat(), path) for i in range(WARM_UPS)]
        specs += [task_spec(f"burst {i:04d}", "once", due.isoformat(), path) for i in range(count)]
        took = prepare_home(home, specs, path)
        print(
            f"imported {len(specs)} tasks calling {path.tool} in {took:.1f} s, "
            f"the burst due at {due:%H:%M:%S}"
        )
        daemon = Daemon(home, extra_env)
        try:
            daemon.wait_started()
            if datetime.now(UTC) > warm:
                raise SystemExit("the daemon started after the warm-up was due; raise LEAD")
            wait_for(lambda: _finished(home) >= WARM_UPS, LEAD_SECONDS, daemon)
            time.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds() - 0.5))
            profiler = profile(daemon.pid, PROFILE_SECONDS)
            user0, system0 = daemon.cpu_split()
            wait_for(lambda: _finished(home) >= len(specs), 120, daemon)
            user, system = (
                a - b for a, b in zip(daemon.cpu_split(), (user0, system0), strict=True)
            )
            cpu_ms = (user + system) * 1000 / count
            print(
                f"daemon CPU: {cpu_ms:.2f} ms per run of the burst "
                f"({system * 1000 / count:.2f} ms of it in the kernel)"
            )
            if profiler is not None:
                profiler.wait()
            drained = (datetime.now(UTC) - due).total_seconds()
            rows = query(
                home,
                "SELECT status, run_time, scheduled_time, duration_ms FROM task_history"
                " WHERE scheduled_time = ?",
                (due.isoformat(timespec="milliseconds"),),
            )
        finally:
            daemon.stop()
    by_status: dict[str, int] = {}
    for status, *_ in rows:
        by_status[status] = by_status.get(status, 0) + 1
    lags = [
        (datetime.fromisoformat(started) - datetime.fromisoformat(slot)).total_seconds()
        for status, started, slot, _ in rows
        if status == "success"
    ]
    calls = sorted(ms for status, *_, ms in rows if status == "success")
    if calls:
        print(f"tool call : p50 {calls[len(calls) // 2]} ms, max {calls[-1]} ms (duration_ms)")
    return Burst(lags, by_status, drained, cpu_ms)


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else TASKS
    t0 = time.perf_counter()
    burst = measure_ours(count)
    lags, by_status, drained = burst.lags, burst.by_status, burst.drained
    print(f"outcomes  : {by_status}; the burst finished at most {drained:.1f} s after due")
    all_ran = by_status.get("success", 0) == count and len(lags) == count
    print(f"all ran   : {all_ran}; missed: {by_status.get('missed', 0)}")
    rows = [("ours (daemon, database, history)", lags)]
    for label, extra in (
        ("APScheduler alone, one call per worker", ()),
        ("APScheduler alone, calls started at once", ("concurrent",)),
    ):
        rows.append((label, _bare_scheduler.run("burst", str(count), *extra)["lags"]))
    print(f"{'lag (start - due)':42} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for label, samples in rows:
        print(
            f"{label:42} {percentile_ms(samples, 50):8.0f} {percentile_ms(samples, 99):8.0f} "
            f"{max(samples) * 1000:8.0f}"
        )
    p99 = percentile_ms(lags, 99) if lags else float("inf")
    met = all_ran and p99 <= TARGET_P99_MS
    print(f"target    : all run, p99 <= {TARGET_P99_MS:.0f} ms: {'met' if met else 'MISSED'}")
    print(f"(bench took {time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
