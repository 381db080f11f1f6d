"""Textual's footer, rebuilt only when the keys it shows change, and once per burst of changes.

Textual's Footer rebuilds all its keys (~15-35 ms) after every binding change, even when the
keys on show stay the same. Around the first paint, focus and mounted views change the
bindings five times (the same chat keys each time), and pressing a tab key changes them twice
with the same keys: all on the way to a usable Tasks tab. Here a burst of changes queues one
rebuild, which is skipped when the keys to show are the ones on show.

While the app's first screen loads (`hold()` until `release()`, or `HOLD_SECONDS` at most) the
rebuilds wait: a rebuild mounts a row of keys and lays the screen out again (~50-90 ms of the UI
thread), and a key pressed at the first paint (F2: Tasks) would put that between the launch
and a usable Tasks tab. One rebuild follows, with the keys of whatever is shown then.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer as TextualFooter

HOLD_SECONDS = 3.0


class Footer(TextualFooter):
    _rebuild_queued = False
    _held = False
    _shown: tuple[object, ...] | None = None  # what the keys on show were built from

    def hold(self) -> None:
        """Rebuild nothing until `release()` (or HOLD_SECONDS, whatever comes first)."""
        self._held = True
        self.set_timer(HOLD_SECONDS, self.release)

    def release(self) -> None:
        if self._held:
            self._held = False
            if self._rebuild_queued:  # on this widget's own queue (compose binds to it)
                self.call_later(self._rebuild)

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
            if not self._held:
                self.call_after_refresh(self._rebuild)

    async def _rebuild(self) -> None:
        self._rebuild_queued = False  # changes from now on need another look
        if self._to_show() != self._shown:
            await self.recompose()
