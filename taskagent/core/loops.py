"""Which event loop the daemon's main thread and the worker threads run.

uvloop (libuv, in C) when it is installed and not switched off with
`TASKAGENT_EVENT_LOOP=asyncio`; the standard asyncio loop otherwise (Windows has no uvloop).
Why: a run hops between loops (scheduler -> worker -> writer) and its MCP call wakes the
worker's loop several times (pipe readable, reader and writer tasks); under load the daemon
spent about a quarter of its CPU in asyncio's own Python code. Measured with 250 tasks every
second through a real daemon: 3.0-3.4 ms of CPU per run with asyncio's loop, 2.8-2.9 ms with
uvloop (`make bench` prints the current figures). The Textual app keeps asyncio's loop for
its own thread; its worker threads use this one.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
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


def new_event_loop() -> asyncio.AbstractEventLoop:
    uvloop = _uvloop()
    return uvloop.new_event_loop() if uvloop is not None else asyncio.new_event_loop()


def run(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)` on the chosen loop."""
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(main)
