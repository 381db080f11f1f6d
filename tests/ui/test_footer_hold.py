"""The footer holds its rebuilds while the app's first screen loads, then shows the keys of
whatever has focus by then (once)."""

from __future__ import annotations

from typing import ClassVar

import pytest
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Static

import taskagent.widgets.footer as footer_module
from taskagent.widgets.footer import Footer


class _Pane(Static, can_focus=True):
    pass


class _Left(_Pane):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("x", "noop", "left key")]


class _Right(_Pane):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("y", "noop", "right key")]


class _Host(App[None]):
    def compose(self) -> ComposeResult:
        yield _Left("left", id="left")
        yield _Right("right", id="right")
        yield Footer()


def _keys(app: _Host) -> str:
    return " ".join(str(widget.render()) for widget in app.query_one(Footer).query("FooterKey"))


async def test_a_held_footer_rebuilds_once_released() -> None:
    app = _Host()
    async with app.run_test(size=(80, 10)) as pilot:
        app.query_one("#left").focus()
        await pilot.pause()
        assert "left key" in _keys(app)
        footer = app.query_one(Footer)
        footer.hold()
        app.query_one("#right").focus()
        await pilot.pause()
        await pilot.pause()
        assert "left key" in _keys(app) and "right key" not in _keys(app)  # held
        footer.release()
        await pilot.pause()
        await pilot.pause()
        assert "right key" in _keys(app) and "left key" not in _keys(app)


async def test_a_hold_ends_by_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(footer_module, "HOLD_SECONDS", 0.2)
    app = _Host()
    async with app.run_test(size=(80, 10)) as pilot:
        app.query_one("#left").focus()
        await pilot.pause()
        app.query_one(Footer).hold()
        app.query_one("#right").focus()
        await pilot.pause(0.5)
        await pilot.pause()
        assert "right key" in _keys(app)
