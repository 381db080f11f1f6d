"""A small bar chart of one number over a task's runs, drawn with block characters.

One column per run (oldest left); failed runs are a red ✗ on the baseline so you can see at a
glance when and how often a task broke. An alert rule's level is a dotted yellow line, and the
runs where a rule fired are marked ▲ below their bars.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Text
from textual.widgets import Static

from taskagent.core.ui_queries import Point

BLOCKS = " ▁▂▃▄▅▆▇█"


def _fmt(value: float) -> str:
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


class _Bars:
    def __init__(
        self,
        points: Sequence[Point],
        title: str,
        rows: int,
        levels: Sequence[float] = (),
        marked: frozenset[int] = frozenset(),
    ) -> None:
        self.points = points
        self.title = title
        self.rows = rows
        self.levels = levels
        self.marked = marked

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        values = [p.value for p in self.points if p.value is not None]
        label_width = 12
        width = max(1, options.max_width - label_width - 1)
        shown = list(self.points)[-width:]
        if not values:
            yield Text(f"{self.title}: no numbers to chart yet", style="dim")
            return
        low, high = min(values + list(self.levels)), max(values + list(self.levels))
        span = (high - low) or 1.0
        levels = self.rows * 8
        heights = [
            None if p.value is None else max(1, round((p.value - low) / span * (levels - 1)) + 1)
            for p in shown
        ]
        # an alert rule's level: the row it falls in, drawn where the bars leave room
        level_rows = {
            max(1, min(self.rows, int((v - low) / span * self.rows) + 1)) for v in self.levels
        }
        head = f"{self.title}  last {len(shown)} runs  latest {_fmt(values[-1])}"
        if self.levels:
            head += "  level " + ", ".join(_fmt(v) for v in self.levels)
        yield Text(head, style="bold")
        for row in range(self.rows, 0, -1):
            label = _fmt(high) if row == self.rows else (_fmt(low) if row == 1 else "")
            line = Text(label.rjust(label_width) + " ")
            for point, height in zip(shown, heights, strict=True):
                if height is None:
                    line.append("✗" if row == 1 else " ", style="bold red")
                    continue
                fill = height - (row - 1) * 8
                char = BLOCKS[max(0, min(8, fill))]
                if fill <= 0 and row in level_rows:
                    line.append("╌", style="yellow")
                    continue
                line.append(char, style="green" if point.ok else "red")
            yield line
        if any(p.run_id in self.marked for p in shown):
            marks = Text(" " * label_width + " ")
            for point in shown:
                marks.append("▲" if point.run_id in self.marked else " ", style="bold yellow")
            yield marks


class SeriesChart(Static):
    DEFAULT_CSS = """
    SeriesChart { height: auto; max-height: 12; padding: 0 1; }
    """

    def __init__(
        self,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__("", name=name, id=id, classes=classes, disabled=disabled)
        self.rows = 4
        self._plotted: tuple[Sequence[Point], str, tuple[float, ...], frozenset[int]] | None = None

    @property
    def points(self) -> Sequence[Point]:
        """The points drawn now (none before the first plot)."""
        return self._plotted[0] if self._plotted is not None else ()

    def plot(
        self,
        points: Sequence[Point],
        title: str,
        *,
        levels: Sequence[float] = (),
        marked: frozenset[int] = frozenset(),
    ) -> None:
        """`levels`: alert rule levels drawn across the chart; `marked`: run ids where an
        alert rule fired (a ▲ under their bar)."""
        self._plotted = (points, title, tuple(levels), marked)
        self.update(_Bars(points, title, self.rows, levels, marked))

    def set_rows(self, rows: int) -> None:
        """Rows of bars (the chart is one line taller, for its title)."""
        if rows != self.rows:
            self.rows = rows
            if self._plotted is not None:
                points, title, levels, marked = self._plotted
                self.plot(points, title, levels=levels, marked=marked)
