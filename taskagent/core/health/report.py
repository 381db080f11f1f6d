"""One check's result (ok, warn or fail, with the fix), the exit status of a set of them, and
their text and JSON forms."""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from taskagent.core.clock import SYSTEM_CLOCK, Clock


class Level(enum.StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


EXIT_CODES = {Level.OK: 0, Level.WARN: 1, Level.FAIL: 2}


@dataclass(frozen=True, slots=True)
class Check:
    """One line of `taskagent doctor`. `name` also names the problem for the watchdog (one
    notification per name until it clears)."""

    name: str
    level: Level
    message: str
    fix: str = ""

    def line(self) -> str:
        text = f"{self.level.value:<4}  {self.name}: {self.message}"
        return f"{text}; fix: {self.fix}" if self.fix else text

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "level": self.level.value,
            "message": self.message,
            "fix": self.fix or None,
        }


def ok(name: str, message: str) -> Check:
    return Check(name, Level.OK, message)


def warn(name: str, message: str, fix: str = "") -> Check:
    return Check(name, Level.WARN, message, fix)


def fail(name: str, message: str, fix: str = "") -> Check:
    return Check(name, Level.FAIL, message, fix)


def worst(checks: Iterable[Check]) -> Level:
    levels = {check.level for check in checks}
    for level in (Level.FAIL, Level.WARN):
        if level in levels:
            return level
    return Level.OK


def exit_code(checks: Iterable[Check]) -> int:
    """0 when every check is ok, 1 with warnings, 2 with a failure."""
    return EXIT_CODES[worst(checks)]


def to_json(checks: Sequence[Check]) -> dict[str, Any]:
    level = worst(checks)
    return {
        "status": level.value,
        "exit_code": EXIT_CODES[level],
        "checks": [check.to_dict() for check in checks],
    }


# A check: a coroutine giving one or more results.
Probe = Callable[[], Awaitable[list[Check]]]


async def bounded(
    name: str, probe: Probe, seconds: float, *, clock: Clock = SYSTEM_CLOCK
) -> list[Check]:
    """Run one probe within `seconds`; one that takes longer, or raises, is a failure line
    instead (doctor never hangs, and one broken check never hides the others)."""
    try:
        async with clock.timeout(seconds):
            return await probe()
    except TimeoutError:
        return [fail(name, f"did not answer within {seconds:g} s")]
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        return [fail(name, f"could not be checked: {exc}")]
