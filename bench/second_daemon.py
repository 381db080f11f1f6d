"""How fast a second `taskagent daemon` on the same database refuses to start.

A first daemon runs on a throwaway TASKAGENT_HOME (one task, the stdio ping server in mcp.json,
so the refusal would be slow if it started any server first). Then, interleaved, RUNS times
each: a second `python -m taskagent daemon` (it must exit 1 with the "already runs" line),
`python -m taskagent --version` (the interpreter plus our entry point), and
`python -c 'import taskagent'` (the interpreter alone, nearly). Prints the medians and the
refusal as a multiple of each yardstick. Target: the refusal within 1 s.

    python bench/second_daemon.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._daemon import Daemon, env, prepare_home, task_spec

RUNS = 7
TARGET_S = 1.0
REFUSAL = "already runs the scheduler"


def _timed(home: Path, argv: list[str], expect_code: int, expect_err: str = "") -> float:
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *argv],
        env=env(home),
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    took = time.perf_counter() - t0
    if done.returncode != expect_code or expect_err not in done.stderr:
        raise SystemExit(f"{argv}: exit {done.returncode}: {done.stderr[-2000:]}")
    return took


def main() -> None:
    commands = {
        "second daemon refuses": (["-m", "taskagent", "daemon"], 1, REFUSAL),
        "taskagent --version": (["-m", "taskagent", "--version"], 0, ""),
        "python -c 'import taskagent'": (["-c", "import taskagent"], 0, ""),
    }
    samples: dict[str, list[float]] = {name: [] for name in commands}
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        prepare_home(home, [task_spec("tick", "interval", "1 minute")])
        daemon = Daemon(home)
        try:
            daemon.wait_started()
            for argv, code, err in commands.values():  # warm the bytecode caches
                _timed(home, argv, code, err)
            for _ in range(RUNS):
                for name, (argv, code, err) in commands.items():
                    samples[name].append(_timed(home, argv, code, err))
        finally:
            daemon.stop()
    medians = {name: statistics.median(values) for name, values in samples.items()}
    refusal = medians["second daemon refuses"]
    print(f"{'median of ' + str(RUNS):36} {'ms':>8} {'refusal is':>12}")
    for name, median in medians.items():
        print(f"{name:36} {median * 1000:8.0f} {refusal / median:11.1f}x")
    verdict = "met" if refusal <= TARGET_S else "missed"
    print(f"target: the second daemon refuses within {TARGET_S:g} s: {verdict}")


if __name__ == "__main__":
    main()
