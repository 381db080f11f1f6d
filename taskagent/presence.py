"""When did the user last *leave* the app? That moment starts "while you were away".

Kept as a settings key (`ui.last_seen`, an ISO time), written when the app quits, when the
terminal loses focus, and every `SAVE_EVERY` while it is focused (so a crash or a closed
terminal loses at most that much). Not written at start-up: the previous start is the wrong
moment (the user may have watched the runs after it live). No UI imports: the app drives it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from taskagent.core.models import from_iso, to_iso

if TYPE_CHECKING:  # the app imports this before its first paint; the database comes after
    from taskagent.core.store import Repository

LAST_SEEN_KEY = "ui.last_seen"
OLD_KEY = "ui.last_open"  # written at start-up by earlier versions: used when nothing newer
SAVE_EVERY = timedelta(seconds=30)


class Presence:
    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.clock = clock
        self.saved_at: datetime | None = None

    async def last_left(self, repo: Repository) -> datetime | None:
        """When the user was last seen (before this start), or None the first time."""
        stored = await repo.get_setting(LAST_SEEN_KEY)
        if stored is None:
            stored = await repo.get_setting(OLD_KEY)
        return from_iso(stored)

    async def save(self, repo: Repository) -> None:
        """The user is here now (or leaves now)."""
        now = self.clock()
        await repo.set_setting(LAST_SEEN_KEY, to_iso(now))
        self.saved_at = now

    async def tick(self, repo: Repository, *, focused: bool) -> None:
        """Called every second or so: while the app is focused the user counts as present."""
        if not focused:
            return
        if self.saved_at is None or self.clock() - self.saved_at >= SAVE_EVERY:
            await self.save(repo)
