"""The task form's arguments editor: JSON text where Tab and shift+Tab move to the next and
previous field, like everywhere else in the form, and a key of its own (shown in the footer
while it has the focus) indents."""

from __future__ import annotations

from typing import Any, ClassVar

from textual.binding import BindingType
from textual.widgets import TextArea

from taskagent.keys import ARGS_EDITOR, bindings


class ArgsEditor(TextArea):
    BINDINGS: ClassVar[list[BindingType]] = bindings(ARGS_EDITOR)

    def __init__(self, text: str = "", **kwargs: Any) -> None:
        super().__init__(text, show_line_numbers=False, tab_behavior="focus", **kwargs)
        self.indent_width = 2  # as the form writes JSON

    def action_indent(self) -> None:
        self.insert(" " * self.indent_width)
