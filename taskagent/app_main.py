"""Start the full-screen app at once and let it open the core in the background.

The App is built before anything heavy is imported, the settings model included (its import
costs about as much as Textual's): it paints its first screen with the `[keymap]` as written,
then loads and validates the settings on a thread (a bad one ends the app with its one line,
like the CLI's), then enters
`Services.open(settings, on_base=..., defer=True)` on its loop. That opens the database first
and calls the app back (the Tasks and History tabs work from then on), imports fastmcp & co. on
a worker thread, and leaves mcp.json's servers and the notifier probe to the app, which starts
them (and then the scheduler) once the agent is up. The services are closed when the app exits.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

from taskagent.keys import keymap_before_validation
from taskagent.paths import Paths

if TYPE_CHECKING:
    from taskagent.config import Settings
    from taskagent.services import CoreBase, Services


class StagedFactory:
    """What `TaskAgentApp` calls (with `on_base`) to open the core in stages (it is an
    `app_factory.StagedServicesFactory`)."""

    def __init__(self, settings: Settings | Paths, *, settle_heap: bool = False) -> None:
        """`settings`, or the paths to load them from in `prepare()`."""
        self.settings = None if isinstance(settings, Paths) else settings
        self._paths = settings if isinstance(settings, Paths) else settings.paths
        self.settle_heap = settle_heap

    def prepare(self) -> Settings:
        """Load and validate the settings (blocking: the app calls it on a thread); raises
        ConfigError with the one line to show."""
        if self.settings is None:
            from taskagent.config import load_settings

            self.settings = load_settings(self._paths)
        return self.settings

    def __call__(
        self, on_base: Callable[[CoreBase], Awaitable[None] | None] | None = None
    ) -> AbstractAsyncContextManager[Services]:
        from taskagent.services import Services  # light: the heavy imports happen inside open

        return Services.open(self.prepare(), on_base=on_base, defer=True)

    def engine_started(self) -> None:
        """The app's start-up is done: the real program (`settle_heap`, set by run_app) has the
        garbage collector leave its start-up heap alone from now on (core/heap.py). Never in a
        test process: it would keep every app the tests start."""
        if self.settle_heap:
            from taskagent.core import heap

            heap.settle()


def services_factory(settings: Settings) -> StagedFactory:
    return StagedFactory(settings)


def run_app(paths: Paths) -> int:
    from taskagent.core.private_files import PrivateFileError

    try:
        paths.ensure()  # private folders of the user's own, before the screen takes over
    except PrivateFileError as exc:
        print(f"taskagent: {exc}", file=sys.stderr)
        return 1
    from taskagent.app import TaskAgentApp  # textual is imported only for the UI

    factory = StagedFactory(paths, settle_heap=True)
    keymap = keymap_before_validation(paths.config_file) or None
    app = TaskAgentApp(factory, keymap=keymap)
    app.run()
    from taskagent.core import child_processes

    child_processes.end_children()  # an MCP server whose close timed out
    if app.config_error is not None:
        print(f"taskagent: {app.config_error}", file=sys.stderr)
        return 1
    return app.return_code or 0
