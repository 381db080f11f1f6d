"""Textual's footer, rebuilt only when the keys it shows change, and once per burst of changes.

Textual's Footer rebuilds all its keys (~15-35 ms) after every binding change, even when the
keys on show stay the same. Around the first paint focus and mounted views changed the bindings
five times (the same chat keys each time), and pressing a tab key rebuilt the footer twice
with the same keys: all on the way to a usable Tasks tab. Here a burst of changes queues one
rebuild, which is skipped when the keys to show are the ones on show.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer as TextualFooter


class Footer(TextualFooter):
    _rebuild_queued = False
    _shown: tuple[object, ...] | None = None  # what the keys on show were built from

    def compose(self) -> ComposeResult:
        self._shown = self._to_show() if self._bindings_ready else None
        yield from super().compose()

    def _to_show(self) -> tuple[object, ...]:
        # Everything Textual's compose reads (the binding's node aside: the key acts the same).
        active = self.screen.active_bindings.items()
        keys = tuple((key, binding, enabled, tip) for key, (_, binding, enabled, tip) in active)
        return (self.show_command_palette, keys)

    def bindings_changed(self, screen: Screen[object]) -> None:
        # Textual 8's Footer.bindings_changed, but at most one rebuild queued at a time.
        self._bindings_ready = True
        if not screen.app.app_focus or self._rebuild_queued:
            return
        if self.is_attached and screen is self.screen:
            self._rebuild_queued = True
            self.call_after_refresh(self._rebuild)

    async def _rebuild(self) -> None:
        self._rebuild_queued = False  # changes from now on need another look
        if self._to_show() != self._shown:
            await self.recompose()
