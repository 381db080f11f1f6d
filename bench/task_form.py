"""How soon the task form is there after `a`: the real app (headless, 120x40, real core on a
throwaway home), `a` pressed on the Tasks tab, until the form has painted its fields, and
until its tool list has loaded; against a one-line modal (the delete question's screen) pushed
in the same app, in the same run, interleaved.

Target: the form within 200 ms of `a`. Prints medians of RUNS (default 10).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 10
TARGET_MS = 200.0


async def until(_pilot: object, condition: Callable[[], bool]) -> None:
    """Let the app run until `condition()` holds (not Pilot's pause: it waits for every job
    the screen started, the form's tool list among them)."""
    while not condition():  # noqa: ASYNC110 (a screen's state, no event to wait on)
        await asyncio.sleep(0.001)


def laid_out(screen: object, selector: str) -> Callable[[], bool]:
    """The widget is on the screen with a size: it has been laid out and painted."""

    def check() -> bool:
        found = screen.query(selector)  # type: ignore[attr-defined]
        return bool(found) and found.first().region.width > 0

    return check


async def measure() -> dict[str, list[float]]:
    from taskagent.app import TaskAgentApp
    from taskagent.config import load_settings
    from taskagent.paths import resolve_paths
    from taskagent.screens.confirm import ConfirmScreen
    from taskagent.screens.task_form import TaskFormScreen
    from taskagent.services import Services

    samples: dict[str, list[float]] = {
        "one-line modal": [],
        "form pushed": [],
        "form painted": [],
        "tools": [],
    }
    async with Services.open(load_settings(resolve_paths())) as services:
        app = TaskAgentApp(services, schedule=False)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("f4")
            await pilot.pause(0.5)
            for _ in range(RUNS):
                start = time.perf_counter()
                app.push_screen(ConfirmScreen("Delete task 1?"))
                await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
                await until(pilot, laid_out(app.screen, "#confirm-ok"))
                samples["one-line modal"].append(time.perf_counter() - start)
                await pilot.press("escape")
                await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))

                start = time.perf_counter()
                app.simulate_key("a")  # not pilot.press: that waits for the form's tool list
                await until(pilot, lambda: isinstance(app.screen, TaskFormScreen))
                samples["form pushed"].append(time.perf_counter() - start)
                form = app.screen
                await until(pilot, laid_out(form, "#save"))  # the last field, the buttons
                samples["form painted"].append(time.perf_counter() - start)
                await until(pilot, lambda form=form: bool(form.tools))  # type: ignore[attr-defined,misc]
                samples["tools"].append(time.perf_counter() - start)
                await pilot.press("escape")
                await until(pilot, lambda: not isinstance(app.screen, TaskFormScreen))
    return samples


def main() -> int:
    os.environ["TASKAGENT_HOME"] = tempfile.mkdtemp(prefix="taskagent-bench-form-")
    os.environ.setdefault("TASKAGENT_GENERAL_TIMEZONE", "UTC")
    samples = asyncio.run(measure())
    yard = statistics.median(samples["one-line modal"]) * 1000
    for name, values in samples.items():
        ms = statistics.median(values) * 1000
        verdict = {"form painted": "met" if ms <= TARGET_MS else "missed"}.get(name, "")
        print(f"{name:<16} {ms:>6.0f} ms  {ms / yard:>5.1f}x  {verdict}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{RUNS} runs each, load average {load:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
