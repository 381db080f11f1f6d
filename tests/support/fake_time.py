"""A manual monotonic clock for code that takes ``clock``/``sleep`` arguments."""

from __future__ import annotations

import asyncio


class FakeTime:
    """A manual monotonic clock; ``sleep`` advances it instead of waiting."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)  # still yield, like a real sleep

    def advance(self, seconds: float) -> None:
        self.now += seconds
