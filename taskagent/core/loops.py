"""Which event loop the daemon's main thread and the worker threads run.

uvloop (libuv, in C) when it is installed and not switched off with
`TASKAGENT_EVENT_LOOP=asyncio`; the standard asyncio loop otherwise (Windows has no uvloop).
Why: a run's MCP call wakes the worker's loop several times (pipe readable, reader and writer
tasks), and under load a large share of the daemon's CPU is the loop's own code, which uvloop
runs in C (`make bench` shows what it buys). The Textual app keeps asyncio's loop for its own
thread; its worker threads use this one.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
OPT_OUT = "TASKAGENT_EVENT_LOOP"


def _uvloop() -> Any | None:
    if os.environ.get(OPT_OUT, "").strip().lower() == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop


def loop_name() -> str:
    """What new loops will be, "uvloop" or "asyncio" (for the log)."""
    return "uvloop" if _uvloop() is not None else "asyncio"


# uvloop refuses to start a process while a loop in another thread is starting one
# ("RuntimeError: Racing with another loop to spawn a process."): it raises before anything
# is spawned, so waiting a moment and trying again is safe. Worker threads open their stdio
# MCP sessions at once at every daemon start (the warm-up), so the race is common.
_SPAWN_RACE = "Racing with another loop to spawn a process"
_SPAWN_TRIES = 50


async def _spawn(start: Callable[[], Awaitable[T]]) -> T:
    for attempt in range(1, _SPAWN_TRIES + 1):
        try:
            return await start()
        except RuntimeError as exc:
            if _SPAWN_RACE not in str(exc) or attempt == _SPAWN_TRIES:
                raise
        # Another thread is between fork and exec (about a millisecond): let it finish.
        await asyncio.sleep(random.uniform(0.001, 0.005) * min(attempt, 10))
    raise AssertionError("unreachable")


def _uvloop_class(uvloop: Any) -> type[asyncio.AbstractEventLoop]:
    global _LOOP_CLASS
    if _LOOP_CLASS is None:

        class Loop(uvloop.Loop):  # type: ignore[misc]
            """uvloop's loop, with process starts that wait out another loop's."""

            async def subprocess_exec(self, *args: Any, **kwargs: Any) -> Any:
                return await _spawn(lambda: super(Loop, self).subprocess_exec(*args, **kwargs))

            async def subprocess_shell(self, *args: Any, **kwargs: Any) -> Any:
                return await _spawn(lambda: super(Loop, self).subprocess_shell(*args, **kwargs))

        _LOOP_CLASS = Loop
    return _LOOP_CLASS


_LOOP_CLASS: type[asyncio.AbstractEventLoop] | None = None


def new_event_loop() -> asyncio.AbstractEventLoop:
    uvloop = _uvloop()
    return _uvloop_class(uvloop)() if uvloop is not None else asyncio.new_event_loop()


def run(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)` on the chosen loop."""
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(main)
