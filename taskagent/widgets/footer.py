"""Textual's footer, rebuilt once per burst of binding changes.

Textual's Footer rebuilds all its keys after every binding change. At start-up a burst of them
(focus, mounted views) comes around the first paint, and it rebuilt the footer five times in a
row: about a third of the work between the first paint and a usable Tasks tab. One rebuild
after the burst reads the same (latest) bindings.
"""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer as TextualFooter


class Footer(TextualFooter):
    _rebuild_queued = False

    def bindings_changed(self, screen: Screen[object]) -> None:
        # Textual 8's Footer.bindings_changed, but at most one recompose queued at a time.
        self._bindings_ready = True
        if not screen.app.app_focus or self._rebuild_queued:
            return
        if self.is_attached and screen is self.screen:
            self._rebuild_queued = True
            self.call_after_refresh(self.recompose)

    async def recompose(self) -> None:
        self._rebuild_queued = False  # changes from now on need another rebuild
        await super().recompose()
