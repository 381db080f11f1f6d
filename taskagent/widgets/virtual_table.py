"""A virtual table: only the visible rows are ever formatted or rendered.

Textual's DataTable measures every cell once (about 90 µs a row, so ~1 s for 10,000 rows, and
again after every clear + refill). This table holds just the ordered row keys; cells come from a
callback at render time, so filtering, sorting and refreshing 10,000 rows costs a list sort,
and a changed row is a repaint, not a rebuild.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Literal, TypeVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

Cell = str | Text
# The type of the row keys (e.g. a task's id); a table holds keys of one type.
K = TypeVar("K", bound=Hashable)
CellSource = Callable[[K], Sequence[Cell]]


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    width: int = 0  # 0: share the space left over by the fixed columns
    justify: Literal["left", "right"] = "left"
    min_width: int = 0  # may shrink to this when the table is narrow (0: never shrinks)


GAP = 1
MIN_FLEX = 10  # the least a flexible column gets before the table scrolls sideways


class VirtualTable(ScrollView, Generic[K], can_focus=True):
    """Rows are keys; `cells(key)` formats one row when it becomes visible."""

    DEFAULT_CSS = """
    VirtualTable { height: 1fr; background: $surface; }
    VirtualTable > .vtable--header { text-style: bold; background: $panel; color: $foreground; }
    VirtualTable > .vtable--cursor { background: $block-cursor-blurred-background; }
    VirtualTable:focus > .vtable--cursor {
        background: $block-cursor-background; color: $block-cursor-foreground;
        text-style: $block-cursor-text-style;
    }
    VirtualTable > .vtable--zebra { background: $surface-lighten-1; }
    VirtualTable > .vtable--empty { color: $text-muted; text-style: italic; }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "vtable--header",
        "vtable--cursor",
        "vtable--zebra",
        "vtable--empty",
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "jump(0)", "First", show=False),
        Binding("end", "jump(-1)", "Last", show=False),
        Binding("enter", "select", "Open", show=False),
    ]

    cursor: reactive[int] = reactive(0, always_update=True, repaint=False)

    class Highlighted(Message):
        def __init__(self, table: VirtualTable[Any], key: Hashable | None) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> VirtualTable[Any]:
            return self.table

    class Selected(Highlighted):
        pass

    class HeaderClicked(Message):
        def __init__(self, table: VirtualTable[Any], column: Column) -> None:
            super().__init__()
            self.table = table
            self.column = column

        @property
        def control(self) -> VirtualTable[Any]:
            return self.table

    class NearEnd(Message):
        """The cursor or the view came within a page of the last row (load more)."""

        def __init__(self, table: VirtualTable[Any]) -> None:
            super().__init__()
            self.table = table

        @property
        def control(self) -> VirtualTable[Any]:
            return self.table

    def __init__(
        self,
        columns: Sequence[Column],
        cells: CellSource[K],
        *,
        empty_text: str = "nothing to show",
        zebra: bool = True,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.columns = list(columns)
        self._cells = cells
        self._keys: list[K] = []
        self._index: dict[K, int] = {}
        self.empty_text = empty_text
        self.zebra = zebra
        self.sort_column: str | None = None
        self.sort_reverse = False
        self._widths_for: tuple[int, list[int]] = (-1, [])

    # ---- data --------------------------------------------------------------------------------

    @property
    def row_count(self) -> int:
        return len(self._keys)

    @property
    def keys(self) -> list[K]:
        return self._keys

    @property
    def cursor_key(self) -> K | None:
        if 0 <= self.cursor < len(self._keys):
            return self._keys[self.cursor]
        return None

    def set_keys(self, keys: Sequence[K], *, keep_cursor: bool = True) -> None:
        """Replace the rows; the cursor stays on the same key when it is still there."""
        current = self.cursor_key if keep_cursor else None
        self._keys = list(keys)
        self._index = {key: i for i, key in enumerate(self._keys)}
        self._update_size()
        fallback = min(self.cursor, len(self._keys) - 1)
        target = fallback if current is None else self._index.get(current, fallback)
        self.cursor = max(0, target)
        self.refresh()

    def append_keys(self, keys: Sequence[K]) -> None:
        for key in keys:
            if key not in self._index:
                self._index[key] = len(self._keys)
                self._keys.append(key)
        self._update_size()
        self.refresh()

    def index_of(self, key: K) -> int | None:
        return self._index.get(key)

    def refresh_key(self, key: K) -> None:
        """Repaint one row (its cells are read again)."""
        index = self._index.get(key)
        if index is None:
            return
        y = index - round(self.scroll_y) + 1
        if 1 <= y < self.size.height:
            self.refresh_line(y)

    def move_to(self, key: K) -> bool:
        index = self._index.get(key)
        if index is None:
            return False
        self.cursor = index
        return True

    # ---- geometry ----------------------------------------------------------------------------

    def _widths(self) -> list[int]:
        if self._widths_for[0] != self.size.width:
            self._widths_for = (self.size.width, self._fit(self.size.width))
        return self._widths_for[1]

    def _fit(self, total: int) -> list[int]:
        """Column widths for `total` cells: flexible columns share what is left; when that is
        less than MIN_FLEX each, the shrinkable columns give up space (the one with most to
        spare first) down to their min_width; only then does the table scroll sideways."""
        widths = [c.width for c in self.columns]
        flex = [i for i, c in enumerate(self.columns) if not c.width]
        room = total - GAP * (len(self.columns) - 1) - MIN_FLEX * len(flex)
        over = sum(widths) - room
        while over > 0:
            slack = [
                (widths[i] - c.min_width, i) for i, c in enumerate(self.columns) if c.min_width
            ]
            most, i = max(slack, default=(0, -1))
            if most <= 0:
                break
            widths[i] -= 1
            over -= 1
        if flex:
            spare = total - sum(widths) - GAP * (len(self.columns) - 1)
            share = max(MIN_FLEX, spare // len(flex))
            for i in flex:
                widths[i] = share
        return widths

    def _update_size(self) -> None:
        width = sum(self._widths()) + GAP * (len(self.columns) - 1)
        self.virtual_size = Size(width, len(self._keys) + 1)

    def on_resize(self, event: events.Resize) -> None:
        self._update_size()

    @property
    def _page(self) -> int:
        return max(1, self.size.height - 2)

    # ---- cursor ------------------------------------------------------------------------------

    def validate_cursor(self, value: int) -> int:
        return max(0, min(value, len(self._keys) - 1)) if self._keys else 0

    def watch_cursor(self, old: int, new: int) -> None:
        top = round(self.scroll_y)
        visible = max(1, self.size.height - 1)
        if new < top:
            self.scroll_to(y=new, animate=False, immediate=True)
        elif new >= top + visible:
            self.scroll_to(y=new - visible + 1, animate=False, immediate=True)
        self.refresh()
        self.post_message(self.Highlighted(self, self.cursor_key))
        if self._keys and new >= len(self._keys) - self._page:
            self.post_message(self.NearEnd(self))

    def action_cursor(self, delta: int) -> None:
        self.cursor += delta

    def action_page(self, delta: int) -> None:
        self.cursor += delta * self._page

    def action_jump(self, where: int) -> None:
        self.cursor = where if where >= 0 else len(self._keys) - 1

    def action_select(self) -> None:
        if self.cursor_key is not None:
            self.post_message(self.Selected(self, self.cursor_key))

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if self._keys and round(new_value) + self.size.height >= len(self._keys) - self._page:
            self.post_message(self.NearEnd(self))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        if offset.y == 0:
            x = offset.x + round(self.scroll_x)
            left = 0
            for column, width in zip(self.columns, self._widths(), strict=True):
                if left <= x < left + width + GAP:
                    self.post_message(self.HeaderClicked(self, column))
                    return
                left += width + GAP
            return
        index = round(self.scroll_y) + offset.y - 1
        if 0 <= index < len(self._keys):
            if index == self.cursor and event.chain >= 2:
                self.action_select()
            self.cursor = index

    # ---- rendering ---------------------------------------------------------------------------

    def _header_cells(self) -> list[Cell]:
        labels: list[Cell] = []
        for c in self.columns:
            mark = ""
            if c.key == self.sort_column:
                mark = " ▼" if self.sort_reverse else " ▲"
            labels.append(c.label + mark)
        return labels

    def _line(self, cells: Sequence[Cell], widths: list[int], style: Style) -> list[Segment]:
        segments: list[Segment] = []
        for i, (cell, width, column) in enumerate(zip(cells, widths, self.columns, strict=False)):
            if i:
                segments.append(Segment(" " * GAP, style))
            if isinstance(cell, Text):
                text = cell.copy()
                text.truncate(width, overflow="ellipsis")
                if column.justify == "right":
                    text.pad_left(width - text.cell_len)
                text.pad_right(width - text.cell_len)
                segments.extend(
                    Segment(s.text, style + s.style if s.style else style)
                    for s in text.render(self.app.console)
                    if s.text
                )
            else:
                value = str(cell)
                if cell_len(value) > width:
                    value = set_cell_size(value, max(0, width - 1)) + "…" if width else ""
                elif column.justify == "right":
                    value = value.rjust(width)
                segments.append(Segment(set_cell_size(value, width), style))
        return segments

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self.rich_style
        widths = self._widths()
        scroll_x = round(self.scroll_x)
        if y == 0:
            style = base + self.get_component_rich_style("vtable--header")
            segments = self._line(self._header_cells(), widths, style)
        else:
            index = round(self.scroll_y) + y - 1
            if not self._keys and y == 1:
                style = base + self.get_component_rich_style("vtable--empty")
                return Strip([Segment(set_cell_size(" " + self.empty_text, width), style)])
            if index >= len(self._keys):
                return Strip.blank(width, base)
            style = base
            if index == self.cursor:
                style = base + self.get_component_rich_style("vtable--cursor")
            elif self.zebra and index % 2:
                style = base + self.get_component_rich_style("vtable--zebra")
            try:
                cells = self._cells(self._keys[index])
            except KeyError:
                cells = ["?"] * len(self.columns)
            segments = self._line(cells, widths, style)
        strip = Strip(segments)
        return strip.crop_extend(scroll_x, scroll_x + width, style)
