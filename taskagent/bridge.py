"""Core events -> Textual.

The core's EventBus calls subscribers in the publisher's thread (the UI loop for "run now", a
runner worker thread for scheduled runs). The bridge turns each event into a `CoreEvent` message
posted to the app (`post_message` is thread-safe); the app republishes it on a Textual Signal
that views subscribe to. Changes made by *other processes* (daemon, MCP server, CLI) reach the UI
as `ExternalChange`, found by polling SQLite's `data_version`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from textual.message import Message
from textual.message_pump import MessagePump

from taskagent.core.events import Event, EventBus


@dataclass(frozen=True, slots=True)
class ExternalChange(Event):
    """Another process committed to the database; reload what is shown."""

    data_version: int


@dataclass(frozen=True, slots=True)
class CoreStage(Event):
    """The app's core reached a start-up stage: "agent" (chat, MCP) or "engine" (scheduler)."""

    stage: str


class CoreEvent(Message):
    """A core event, delivered on the UI thread."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event


class EventBridge:
    # Typed as what it needs (any app will do): something to post messages to.
    def __init__(self, app: MessagePump, bus: EventBus) -> None:
        self._app = app
        self._unsubscribe: Callable[[], None] | None = bus.subscribe(Event, self._forward)

    def _forward(self, event: Event) -> None:
        self._app.post_message(CoreEvent(event))

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
