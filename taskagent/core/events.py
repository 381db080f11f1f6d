"""The core's events and a tiny synchronous bus.

Subscribers are plain callables run in the publisher's thread; a UI bridges them to its own
loop (Textual: `app.call_from_thread`/`post_message`). A failing subscriber is logged and never
breaks the publisher.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from taskagent.core.models import Run

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Event:
    pass


@dataclass(frozen=True, slots=True)
class TaskChanged(Event):
    task_id: int
    change: str  # created | updated | removed | enabled | disabled | paused | resumed


@dataclass(frozen=True, slots=True)
class RunStarted(Event):
    task_id: int
    run_id: int


@dataclass(frozen=True, slots=True)
class RunFinished(Event):
    task_id: int
    run_id: int
    status: str
    # The finished row when the publisher has it (listeners need not read it back).
    run: Run | None = field(default=None, compare=False, repr=False)
    # The task's name when the publisher has it (the activity log need not read the task).
    task_name: str | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class RunRetrying(Event):
    """A transient failure inside a run; it is tried again after `wait_seconds`."""

    task_id: int
    run_id: int
    attempt: int
    wait_seconds: float
    error: str


Subscriber = Callable[[Any], None]


class EventBus:
    def __init__(self) -> None:
        self._subscribers: list[tuple[type[Event], Subscriber]] = []
        self._lock = threading.Lock()

    def subscribe(self, kind: type[Event], callback: Subscriber) -> Callable[[], None]:
        """Call `callback(event)` for every event of `kind` (or a subclass); returns unsubscribe."""
        entry = (kind, callback)
        with self._lock:
            self._subscribers.append(entry)

        def unsubscribe() -> None:
            with self._lock:
                if entry in self._subscribers:
                    self._subscribers.remove(entry)

        return unsubscribe

    def publish(self, event: Event) -> None:
        with self._lock:
            targets = [cb for kind, cb in self._subscribers if isinstance(event, kind)]
        for callback in targets:
            try:
                callback(event)
            except Exception:
                log.exception("event subscriber %r failed on %r", callback, event)
