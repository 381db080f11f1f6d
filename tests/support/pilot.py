"""Small helpers for Pilot tests of the app."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


async def wait_until(pilot: Any, condition: Callable[[], bool], seconds: float = 30.0) -> None:
    """Let the app run until `condition()` holds (AssertionError after `seconds`, which only
    bounds a hang)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.05)


@dataclass(frozen=True)
class Shown:
    """One notification the app was asked to show."""

    title: str
    message: str
    severity: str


def notifications(app: Any) -> list[Shown]:
    """Every notification `app` is asked to show from now on, in order (Textual's `notify`
    still shows it). Call before `run_test`."""
    shown: list[Shown] = []
    show = app.notify

    def notify(message: str, *, title: str = "", severity: str = "information", **kw: Any) -> None:
        shown.append(Shown(title, message, severity))
        show(message, title=title, severity=severity, **kw)

    app.notify = notify
    return shown


def error_toasts(shown: list[Shown]) -> list[str]:
    """The error notifications among `shown` (title: message)."""
    return [f"{n.title}: {n.message}" for n in shown if n.severity == "error"]
