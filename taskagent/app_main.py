"""Start the full-screen app at once and let it open the core in the background.

The App is built before anything heavy is imported: it paints its first screen, then enters
`Services.open(settings, on_base=..., defer=True)` on its loop. That opens the database first
and calls the app back (the Tasks and History tabs work from then on), imports fastmcp & co. on
a worker thread, and leaves mcp.json's servers and the notifier probe to the app, which starts
them (and then the scheduler) once the agent is up. The services are closed when the app exits.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

from taskagent.config import Settings

if TYPE_CHECKING:
    from taskagent.services import CoreBase, Services


class StagedFactory:
    """What `TaskAgentApp` calls (with `on_base`) to open the core in stages (it is an
    `app_factory.StagedServicesFactory`)."""

    def __init__(self, settings: Settings, *, settle_heap: bool = False) -> None:
        self.settings = settings
        self.settle_heap = settle_heap

    def __call__(
        self, on_base: Callable[[CoreBase], Awaitable[None] | None] | None = None
    ) -> AbstractAsyncContextManager[Services]:
        from taskagent.services import Services  # light: the heavy imports happen inside open

        return Services.open(self.settings, on_base=on_base, defer=True)

    def engine_started(self) -> None:
        """The app's start-up is done: the real program (`settle_heap`, set by run_app) has the
        garbage collector leave its start-up heap alone from now on (core/heap.py). Never in a
        test process: it would keep every app the tests start."""
        if self.settle_heap:
            from taskagent.core import heap

            heap.settle()


def services_factory(settings: Settings) -> StagedFactory:
    return StagedFactory(settings)


def run_app(settings: Settings, keymap: dict[str, str] | None = None) -> int:
    from taskagent.app import TaskAgentApp  # textual is imported only for the UI

    factory = StagedFactory(settings, settle_heap=True)
    app = TaskAgentApp(factory, keymap=keymap, settings=settings)
    app.run()
    return app.return_code or 0
