"""How the app is given its core: ready `Services` (tests), a factory it opens and closes, or a
staged factory (`app_main.StagedFactory`, what `taskagent` runs) that opens the core in stages.
Light on purpose: the app imports it before anything heavy."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from taskagent.config import Settings
    from taskagent.services import CoreBase, Services

ServicesFactory = Callable[[], AbstractAsyncContextManager["Services"]]


@runtime_checkable
class StagedServicesFactory(Protocol):
    """Calls `on_base` once the database is open (the first screen loads from it while the
    agent imports), and is told when the app's start-up is done (its scheduler started or it
    attached to a daemon's)."""

    def __call__(
        self, on_base: Callable[[CoreBase], Awaitable[None] | None] | None = None
    ) -> AbstractAsyncContextManager[Services]: ...

    def prepare(self) -> Settings:
        """Load and validate the settings, if not done yet (blocking; raises ConfigError)."""
        ...

    def engine_started(self) -> None: ...
