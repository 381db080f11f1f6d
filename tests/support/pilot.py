"""Small helpers for Pilot tests of the app."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


async def wait_until(pilot: Any, condition: Callable[[], bool], seconds: float = 15.0) -> None:
    """Let the app run until `condition()` holds (AssertionError after `seconds`)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.05)


def error_toasts(app: Any) -> list[str]:
    """The error notifications the app has shown (title: message)."""
    return [f"{n.title}: {n.message}" for n in list(app._notifications) if n.severity == "error"]
