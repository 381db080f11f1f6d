"""The path a user runs, under load: the built-in crypto tool against a local CoinGecko.

The same two measures as bench/sustained.py and bench/burst.py, through a real `taskagent
daemon` with summaries off, on two tools measured in the same run:

* ping   - the benches' stdio ping tool (bench/_fast_ping_server.py): our overhead alone;
* crypto - `crypto:get_crypto_prices` (top 10 in usd), the built-in server in memory with the
           shared CoinGecko client (cache, rate limit), answering from the tests' CoinGecko
           stand-in over HTTP on 127.0.0.1 (tests/support/coingecko_stub.py, recorded answers).

Sustained: N tasks "every 1 second" for T seconds (% of the due slots that ran, daemon CPU per
finished run). Burst: 1,000 one-shots due in the same second (p99 of start - due).
Targets on both paths: >= 95 % ran, <= 1.5 ms CPU per run, burst p99 <= 500 ms.

    python bench/user_path.py [ping|crypto ...]     default both
    PYSPY_OUT=/tmp/x.txt python bench/user_path.py crypto   profiles each measure's daemon
                                                           (the file is rewritten each time)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import burst, sustained
from bench._common import percentile_ms
from bench._daemon import PATHS, ToolPath

TASKS = 300
SECONDS = 10.0
BURST_TASKS = 1000
TARGET_SHARE = 0.95
TARGET_CPU_MS = 1.5
TARGET_P99_MS = 500.0


def measure(path: ToolPath) -> dict[str, float]:
    print(f"-- {path.label}: {TASKS} tasks every second")
    steady = sustained.measure_ours(TASKS, SECONDS, path)
    print(f"-- {path.label}: {BURST_TASKS} one-shots due at once")
    shot = burst.measure_ours(BURST_TASKS, path)
    ran_all = shot.by_status.get("success", 0) == BURST_TASKS
    return {
        "share": steady["ran"] / steady["expected"],
        "skipped": steady["skipped"] + steady["missed"] + steady["other"],
        "cpu_ms": steady["cpu_ms"],
        "busy": steady["busy"],
        "burst_p50": percentile_ms(shot.lags, 50) if shot.lags else float("inf"),
        "burst_p99": percentile_ms(shot.lags, 99) if ran_all else float("inf"),
        "burst_cpu_ms": shot.cpu_ms,
    }


def met(row: dict[str, float]) -> bool:
    return (
        row["share"] >= TARGET_SHARE
        and row["cpu_ms"] <= TARGET_CPU_MS
        and row["burst_p99"] <= TARGET_P99_MS
    )


def main() -> None:
    names = sys.argv[1:] or list(PATHS)
    unknown = [n for n in names if n not in PATHS]
    if unknown:
        raise SystemExit(f"unknown path {unknown[0]!r}; choose from {', '.join(PATHS)}")
    t0 = time.perf_counter()
    rows = {name: measure(PATHS[name]) for name in names}
    lines = [
        ("sustained: ran", "share", "{:.0%}"),
        ("sustained: skipped / missed / other", "skipped", "{:.0f}"),
        ("sustained: daemon CPU per run (ms)", "cpu_ms", "{:.2f}"),
        ("sustained: busy (share of one core)", "busy", "{:.0%}"),
        ("burst: lag p50 (ms)", "burst_p50", "{:.0f}"),
        ("burst: lag p99 (ms)", "burst_p99", "{:.0f}"),
        ("burst: daemon CPU per run (ms)", "burst_cpu_ms", "{:.2f}"),
    ]
    ratio = "crypto" in rows and "ping" in rows
    print(f"{TASKS} tasks every second for {SECONDS:g} s; {BURST_TASKS} one-shots due at once")
    header = f"{'':38}" + "".join(f"{PATHS[n].label:>20}" for n in rows)
    print(header + (f"{'crypto / ping':>15}" if ratio else ""))
    for label, key, fmt in lines:
        line = f"{label:38}" + "".join(f"{fmt.format(row[key]):>20}" for row in rows.values())
        if ratio and key != "skipped" and rows["ping"][key]:
            line += f"{rows['crypto'][key] / rows['ping'][key]:14.2f}x"
        print(line)
    for name, row in rows.items():
        print(
            f"target ({PATHS[name].label}): >= {TARGET_SHARE:.0%} ran, <= {TARGET_CPU_MS} ms CPU "
            f"per run, burst p99 <= {TARGET_P99_MS:.0f} ms: {'met' if met(row) else 'MISSED'}"
        )
    print(f"(bench took {time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
