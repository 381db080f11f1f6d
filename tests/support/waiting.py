"""Waiting on a condition instead of sleeping for a guessed time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

HANG = 30.0  # seconds: only bounds a hang, it is no performance bound


async def until(
    condition: Callable[[], bool | Awaitable[bool]], within: float = HANG, what: str = ""
) -> None:
    """Poll `condition()` (plain or async) until it holds; AssertionError after `within` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        held = condition()
        if not isinstance(held, bool):
            held = await held
        if held:
            return
        if loop.time() > deadline:
            raise AssertionError(f"not met within {within} s: {what or condition}")
        await asyncio.sleep(0.01)
