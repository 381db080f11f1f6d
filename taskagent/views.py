"""The tabs' views (Tasks, History, Status) in the app's `#views` switcher, mounted after the
first paint.

The first screen is the chat. The views' modules, widgets and CSS cost about as much again as
the bare Textual shell, so on a real start (the app opens its core from a factory) each view is
mounted after the first frame: Tasks at once (its data comes first), History and Status once
the first screen is loaded, any of them sooner when asked for (a key typed at once). Ready
Services (tests, other hosts) have no start-up to hide: the app composes every view at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from textual.widget import Widget
from textual.widgets import ContentSwitcher

if TYPE_CHECKING:
    from taskagent.app import TaskAgentApp

VIEWS = ("tasks", "history", "status")  # each tab but the chat


def new_view(name: str) -> Widget:
    """A tab's view; its module is imported on first use (the first paint does not need it)."""
    if name == "tasks":
        from taskagent.screens.tasks import TasksView

        return TasksView(id="view-tasks")
    if name == "history":
        from taskagent.screens.history import HistoryView

        return HistoryView(id="view-history")
    from taskagent.screens.status import StatusView

    return StatusView(id="view-status")


class ViewMounts:
    """Which views are mounted, mounting them on demand, and what waits for them."""

    def __init__(self, app: TaskAgentApp, *, composed: bool) -> None:
        """`composed`: the app composed every view itself (nothing to mount later)."""
        self.app = app
        self._mounted = {name: asyncio.Event() for name in VIEWS}
        self._pending: dict[str, list[Callable[[], None]]] = {}  # actions waiting for a view
        if composed:
            for mounted in self._mounted.values():
                mounted.set()

    def mounted(self, name: str) -> bool:
        return self._mounted[name].is_set()

    def when_mounted(self, name: str, action: Callable[[], None]) -> None:
        """`action` now, or once `name`'s view is mounted (mounting it if need be)."""
        if self.mounted(name):
            action()
            return
        pending = self._pending.setdefault(name, [])
        if not pending:
            # In the app's message loop: never wait there for a mount another task is doing
            # (that mount may need this very loop: a deadlock). The mounter runs `pending`.
            self.app.call_later(self.mount, name, wait=False)
        pending.append(action)

    async def mount(self, name: str, *, wait: bool = True) -> bool:
        """Mount `name`'s view unless it is (being) mounted; True once it is (or, `wait=False`,
        once it is being mounted), False if the app is closing (nothing to mount into)."""
        await asyncio.sleep(0)  # the core's start (a thread, queued just before) goes first
        switchers = self.app.query("#views").results(ContentSwitcher)
        switcher = next(iter(switchers), None)
        if switcher is None or not switcher.is_attached:
            return False
        if not self.app.query(f"#view-{name}"):
            view = new_view(name)
            view.display = False  # until its tab is shown
            await switcher.mount(view)
            self.app.steady_cursors(view)
            self._mounted[name].set()
            for action in self._pending.pop(name, []):
                action()
        if wait:
            await self._mounted[name].wait()
        return True

    async def mount_all(self, within: float) -> None:
        """Every view, waiting `within` seconds at most (the app may be closing meanwhile)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                for name in VIEWS:
                    await self.mount(name)
