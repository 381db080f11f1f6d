"""The contract between the app and its views and widgets.

`UiHost` is what a view may use of the app it runs in (TaskAgentApp implements it); anything
that would touch another view is a message posted up to the app instead (`AddTaskRequested`).
Views and widgets import this module, never taskagent.app, so they can be built and tested
without the app and the app can change without them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, TypeVar, cast

from textual.message import Message

if TYPE_CHECKING:
    from textual.dom import DOMNode
    from textual.signal import Signal
    from textual.worker import Worker

    from taskagent.config import Settings
    from taskagent.core.events import Event
    from taskagent.services import Services

T = TypeVar("T")
TABS = ("chat", "tasks", "history", "status")  # what `show_tab` takes


class UiHost(Protocol):
    """What views and widgets need from the app."""

    clock: Callable[[], datetime]
    core_events: Signal[Event]  # the core's events (and the app's own), on the UI loop
    services: Services | None  # the full core, None until it is open
    settings: Settings | None
    active_tab: str
    started_at: datetime

    @property
    def ready(self) -> bool:
        """The full core is open (not only the database)."""
        ...

    @property
    def engine_started(self) -> bool:
        """The scheduler runs here, or this app attached to a daemon (or start-up failed)."""
        ...

    @property
    def keymap(self) -> Mapping[str, str]:
        """The user's [keymap] in force: binding id -> keys (Textual's long key names)."""
        ...

    def call_core(
        self,
        job: Callable[[Services], Awaitable[T]],
        *,
        done: Callable[[T], None] | None = None,
        node: DOMNode | None = None,
        group: str = "core",
        exclusive: bool = False,
        what: str = "",
        early: bool = False,
    ) -> Worker[T | None]:
        """Run `job(services)` in a worker once the core is ready; errors are reported in one
        place and `done(result)` runs on the UI loop (see TaskAgentApp.call_core)."""
        ...

    def steady_cursors(self, root: DOMNode) -> None:
        """No blinking cursors under `root` when headless (tests, snapshots)."""
        ...

    def action_show_tab(self, tab: str) -> None: ...

    def action_help(self) -> None: ...

    def run_task_now(self, task_id: int) -> None: ...

    def show_history(self, task_id: int | None = None, since: datetime | None = None) -> None: ...


def host_of(node: DOMNode) -> UiHost:
    """The app `node` runs in, as its host."""
    return cast("UiHost", node.app)


class AddTaskRequested(Message):
    """Open the task form for a new task (e.g. the chat's /tasks add); the app handles it."""
