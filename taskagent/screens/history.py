"""History tab: runs newest first, loaded a page at a time with keyset paging (so a million
rows open as fast as ten), filtered by task, status and a since / until date; the selected run's
detail; a chart of one number over the task's runs (the key path is cycled with `c` or typed;
the paths of the task's alert rules first, with their levels and the runs where they fired);
export of the loaded runs to CSV or JSON."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label, Select, Static

from taskagent.bridge import ExternalChange
from taskagent.core.alerts.grammar import LEVEL_KINDS, LIST_KINDS, Rule
from taskagent.core.events import Event, RunFinished, RunStarted, TaskChanged
from taskagent.core.models import Run, RunStatus, Task
from taskagent.core.receipts import delivery_marks
from taskagent.core.ui_queries import default_chart_path, numeric_paths, numeric_series
from taskagent.keys import HISTORY, bindings
from taskagent.screens.history_filters import STATUS_FILTERS, parse_since, parse_until
from taskagent.ui_host import UiHost, host_of
from taskagent.widgets.chart import SeriesChart
from taskagent.widgets.format import duration, local, status_text
from taskagent.widgets.run_detail import RunDetail
from taskagent.widgets.virtual_table import Cell, Column, VirtualTable

if TYPE_CHECKING:
    from taskagent.services import Services

# what a reload brings: runs, their count, task names, the chart's runs, the task's alert
# rules, delivery marks by run id
Loaded = tuple[list[Run], int, dict[int, str], list[Run], list[Rule], dict[int, str]]
PAGE = 200
CHART_RUNS = 300
COLUMNS = [
    Column("id", "Run", 8, "right"),
    Column("task", "Task", 14),
    Column("time", "Started", 16),
    Column("status", "Status", 11),
    Column("duration", "Took", 7, "right"),
    Column("text", "Summary / error"),
]


class HistoryView(Vertical):
    DEFAULT_CSS = """
    HistoryView #history-filters { height: 3; }
    HistoryView #history-task { width: 22; }
    HistoryView #history-status { width: 22; }
    HistoryView #history-since, HistoryView #history-until { width: 26; }
    HistoryView #history-count { width: 1fr; padding: 1 1 0 1; color: $text-muted; }
    HistoryView #history-main { height: 1fr; }
    HistoryView #run-detail { width: 40%; }
    HistoryView #chart-area { height: auto; border-top: solid $primary-background; }
    HistoryView #chart-bar { height: 1; padding: 0 1; }
    HistoryView #chart-bar Label { color: $text-muted; padding-right: 1; }
    HistoryView #history-chart-path {
        width: 40; height: 1; border: none; padding: 0 1; background: $boost;
    }
    HistoryView #history-chart-path:focus { background: $primary-background; }
    HistoryView #chart-paths { width: 1fr; padding-left: 2; color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = bindings(HISTORY)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.runs: dict[int, Run] = {}
        self.task_names: dict[int, str] = {}
        self.task_id: int | None = None
        self.statuses: list[RunStatus] | None = None
        self.since: datetime | None = None
        self.until: datetime | None = None
        self.total = 0
        self.exhausted = False
        self.loading_more = False
        self.series_paths: list[str] = []
        self.chart_path = ""  # the key path charted (cycled with c, or typed)
        self.chart_runs: list[Run] = []
        self.chart_rules: list[Rule] = []  # the charted task's alert rules
        self.charted_task: int | None = None
        self.marks: dict[int, str] = {}  # run id -> its notification did not arrive everywhere

    @property
    def host(self) -> UiHost:
        return host_of(self)

    def compose(self) -> ComposeResult:
        with Horizontal(id="history-filters"):
            yield Input(placeholder="task: id or name", id="history-task")
            yield Select(
                [(k, k) for k in STATUS_FILTERS],
                value="all",
                allow_blank=False,
                id="history-status",
            )
            yield Input(
                placeholder="since: 24h, 7d",
                id="history-since",
                tooltip="Runs from: 30m, 24h, 7d ago, or a date 2026-01-31 / 2026-01-31T09:00",
            )
            yield Input(
                placeholder="until: a date",
                id="history-until",
                tooltip="Runs up to: a date 2026-01-31 (the whole day), 2026-01-31T12:00, or 2h ago",
            )
            yield Static("", id="history-count")
        with Horizontal(id="history-main"):
            yield VirtualTable(COLUMNS, self.cells, id="history-table", empty_text="starting…")
            yield RunDetail(id="run-detail")
        with Vertical(id="chart-area") as area:
            area.display = False
            with Horizontal(id="chart-bar"):
                yield Label("chart")
                yield Input(placeholder="key path, e.g. bitcoin.usd", id="history-chart-path")
                yield Static("", id="chart-paths")
            yield SeriesChart(id="history-chart")

    @property
    def table(self) -> VirtualTable[int]:
        return self.query_one("#history-table", VirtualTable)

    def on_mount(self) -> None:
        self.host.core_events.subscribe(self, self.on_core)
        self.reload()

    def focus_main(self) -> None:
        self.table.focus()

    def on_resize(self) -> None:
        # A taller chart when there is room: a quarter of the tab, 3 to 10 rows of bars.
        self.query_one(SeriesChart).set_rows(max(3, min(10, self.size.height // 4)))

    # ---- filters -----------------------------------------------------------------------------

    def show(self, *, task_id: int | None = None, since: datetime | None = None) -> None:
        """Open with filters set from elsewhere (the Tasks tab's h, the "since" summary)."""
        self.task_id = task_id
        self.since = since
        self.until = None
        self.query_one("#history-task", Input).value = "" if task_id is None else str(task_id)
        self.query_one("#history-since", Input).value = (
            "" if since is None else local(since, seconds=True)
        )
        self.query_one("#history-until", Input).value = ""
        self.reload()

    @on(Input.Submitted, "#history-task")
    def task_filter(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            self.task_id = None
            self.reload()
            self.table.focus()
            return

        async def job(services: Services) -> Task:
            return await services.tasks.get(text)

        def done(task: Task) -> None:
            self.task_id = task.id
            self.reload()
            self.table.focus()

        self.host.call_core(job, done=done, node=self, what="Task filter", early=True)

    @on(Select.Changed, "#history-status")
    def status_filter(self, event: Select.Changed) -> None:
        self.statuses = STATUS_FILTERS.get(str(event.value))
        self.reload()

    @on(Input.Submitted, "#history-since, #history-until")
    def date_filter(self, event: Input.Submitted) -> None:
        until = event.input.id == "history-until"
        parse = parse_until if until else parse_since
        try:
            moment = parse(event.value, self.host.clock())
        except ValueError:
            self.app.notify(
                f"'{event.value}' is not a time: use 24h, 7d, 2026-01-31 or 2026-01-31T12:00",
                severity="error",
                title="Until" if until else "Since",
                markup=False,
            )
            return
        if until:
            self.until = moment
        else:
            self.since = moment
        self.reload()
        self.table.focus()

    def action_focus_filter(self, widget_id: str) -> None:
        self.query_one(f"#{widget_id}").focus()

    def action_clear_filters(self) -> None:
        """Esc: in a filter, clears only that filter; elsewhere, all of them."""
        focused = self.app.focused
        which = focused.id if focused is not None else None
        if which in ("history-task", "history-since", "history-until"):
            self.query_one(f"#{which}", Input).value = ""
            if which == "history-task":
                self.task_id = None
            elif which == "history-since":
                self.since = None
            else:
                self.until = None
            self.reload()
        elif which == "history-status" or (
            focused is not None and "history-status" in {a.id for a in focused.ancestors}
        ):
            self.query_one("#history-status", Select).value = "all"
        else:
            self.query_one("#history-status", Select).value = "all"
            self.show()
        self.table.focus()

    def _filters(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "statuses": self.statuses,
            "since": self.since,
            "until": self.until,
        }

    # ---- loading -----------------------------------------------------------------------------

    def reload(self) -> None:
        filters = self._filters()

        async def job(services: Services) -> Loaded:
            runs = await services.tasks.runs(**filters, limit=PAGE)
            total = await services.tasks.count_runs(**filters)
            names = await services.tasks.names()
            chart: list[Run] = []
            rules: list[Rule] = []
            if filters["task_id"] is not None:  # the same time range as the table
                chart = await services.tasks.runs(
                    task_id=filters["task_id"],
                    since=filters["since"],
                    until=filters["until"],
                    limit=CHART_RUNS,
                )
                rules = [s.rule for s in await services.alerts.rules_of(filters["task_id"])]
            await services.alerts.mark_fired([*runs, *chart])
            receipts = await services.repo.receipts_of_runs([r.stored_id for r in runs])
            return runs, total, names, chart, rules, delivery_marks(receipts)

        self.host.call_core(
            job,
            done=self._loaded,
            node=self,
            group="history-load",
            exclusive=True,
            what="History",
            early=True,
        )

    def _loaded(self, result: Loaded) -> None:
        runs, total, names, chart, self.chart_rules, marks = result
        self.marks = marks
        self.task_names = names
        self.runs = {r.id: r for r in runs if r.id is not None}
        self.total = total
        self.exhausted = len(runs) < PAGE
        self.table.empty_text = "no runs" + (
            " match these filters" if any(self._filters().values()) else " yet"
        )
        self.table.set_keys([r.stored_id for r in runs], keep_cursor=False)
        self._update_count()
        self._show_detail()
        self.chart_runs = chart
        # Another task: its own default key; the same task again (filters re-applied): the
        # key the user chose stays.
        self._plot(reset=self.task_id != self.charted_task)
        self.charted_task = self.task_id

    def _update_count(self) -> None:
        where = []
        if self.task_id is not None:
            where.append(f"task {self.task_id} {self.task_names.get(self.task_id, '')}".strip())
        if self.since is not None:
            where.append(f"since {local(self.since)}")
        if self.until is not None:
            where.append(f"until {local(self.until)}")
        label = f"{self.total:,} run{'s' * (self.total != 1)}"
        if len(self.runs) < self.total:
            label += f" ({len(self.runs):,} loaded)"
        self.query_one("#history-count", Static).update(
            label + (" · " + ", ".join(where) if where else "")
        )

    @on(VirtualTable.NearEnd, "#history-table")
    def load_more(self) -> None:
        if self.exhausted or self.loading_more or not self.runs:
            return
        self.loading_more = True
        filters = self._filters()
        oldest = min(self.runs)

        async def job(services: Services) -> list[Run]:
            runs = await services.tasks.runs(**filters, before_id=oldest, limit=PAGE)
            await services.alerts.mark_fired(runs)
            return runs

        def done(runs: list[Run]) -> None:
            self.loading_more = False
            self.exhausted = len(runs) < PAGE
            for run in runs:
                if run.id is not None:
                    self.runs[run.id] = run
            self.table.append_keys([r.stored_id for r in runs])
            self._update_count()

        self.host.call_core(
            job, done=done, node=self, group="history-more", what="History", early=True
        )

    def on_core(self, event: Event) -> None:
        if isinstance(event, ExternalChange | TaskChanged):
            self.reload()
        elif isinstance(event, RunStarted | RunFinished):
            if self.task_id is not None and event.task_id != self.task_id:
                return
            self._fetch_run(event.run_id)

    def _fetch_run(self, run_id: int) -> None:
        async def job(services: Services) -> Run | None:
            run = await services.tasks.get_run(run_id)
            if run is not None:
                await services.alerts.mark_fired([run])
            return run

        def done(run: Run | None) -> None:
            if run is None or run.id is None:
                return
            if self.statuses is not None and run.status not in self.statuses:
                if run.id in self.runs:  # it no longer matches (running -> finished)
                    self.reload()
                return
            known = run.id in self.runs
            self.runs[run.id] = run
            if known:
                self.table.refresh_key(run.id)
                if self.table.cursor_key == run.id:
                    self._show_detail()
            else:
                self.total += 1
                # On the newest run (the user did not move down): follow to the new one.
                follow = self.table.cursor == 0
                keys = sorted(self.runs, reverse=True)
                self.table.set_keys(keys, keep_cursor=not follow)
                if follow:
                    self._show_detail()
                self._update_count()
            if self.task_id is not None and run.task_id == self.task_id and self.until is None:
                self.chart_runs = [r for r in self.chart_runs if r.id != run.id] + [run]
                self._plot()

        self.host.call_core(
            job, done=done, node=self, group=f"run-{run_id}", what="History", early=True
        )

    # ---- rendering ---------------------------------------------------------------------------

    def cells(self, key: int) -> list[Cell]:
        run = self.runs[key]
        text = run.error_message or run.ai_summary or ""
        if not text and run.raw_data:
            text = run.raw_data[:200]
        if run.alerts_fired:  # an alert rule fired on this run: say which first
            text = "▲ " + "; ".join(run.alerts_fired) + " · " + text
            style = "bold yellow"
        else:
            style = "red" if run.status.failed else ""
        summary = Text(" ".join(text.split()), style=style)
        if key in self.marks:  # its notification did not arrive everywhere
            summary = Text.assemble((f"{self.marks[key]} ", "red"), summary)
        return [
            str(run.id),
            self.task_names.get(run.task_id, str(run.task_id)),
            local(run.run_time),
            status_text(run.status),
            duration(run.duration_ms),
            summary,
        ]

    @on(VirtualTable.Highlighted, "#history-table")
    def highlighted(self) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        key = self.table.cursor_key
        run = self.runs.get(key) if key is not None else None
        name = self.task_names.get(run.task_id, "") if run else ""
        self.query_one(RunDetail).show(run, name)

    def _plot(self, reset: bool = False) -> None:
        area = self.query_one("#chart-area")
        if self.task_id is None or not self.chart_runs:
            area.display = False
            return
        if reset or not self.series_paths:
            latest = next((r for r in self.chart_runs if r.status is RunStatus.SUCCESS), None)
            rule_paths = [r.path for r in self.chart_rules if r.kind not in LIST_KINDS]
            found = numeric_paths(latest.raw_data) if latest else []
            # the paths the task's alert rules watch come first (and are charted first)
            self.series_paths = list(dict.fromkeys([*rule_paths, *found]))
            if reset or not self.chart_path:
                self.chart_path = default_chart_path(self.series_paths)
        area.display = True
        path = self.chart_path
        path_input = self.query_one("#history-chart-path", Input)
        if not path_input.has_focus:
            path_input.value = path
        count = len(self.series_paths)
        self.query_one("#chart-paths", Static).update(
            f"{count} numeric key{'s' * (count != 1)} in the latest result · c next · k type one"
            if count
            else "no numbers in the latest result"
        )
        points = numeric_series(self.chart_runs, path) if path else []
        levels = [
            r.level
            for r in self.chart_rules
            if r.path == path and r.kind in LEVEL_KINDS and r.level is not None
        ]
        marked = frozenset(r.stored_id for r in self.chart_runs if r.alerts_fired)
        self.query_one(SeriesChart).plot(
            points, path or "no numeric value", levels=levels, marked=marked
        )

    def action_next_series(self) -> None:
        if not self.series_paths:
            self.app.notify("pick a task (t) to chart its numbers", timeout=3)
            return
        try:
            index = self.series_paths.index(self.chart_path) + 1
        except ValueError:
            index = 0
        self.chart_path = self.series_paths[index % len(self.series_paths)]
        self._plot()

    def action_chart_path(self) -> None:
        if not self.query_one("#chart-area").display:
            self.app.notify("pick a task (t) to chart its numbers", timeout=3)
            return
        self.query_one("#history-chart-path", Input).focus()

    @on(Input.Submitted, "#history-chart-path")
    def chart_path_typed(self, event: Input.Submitted) -> None:
        """A key path typed by the user: 'bitcoin.usd', '[0].current_price' ('$.' optional)."""
        path = event.value.strip().removeprefix("$").removeprefix(".")
        if not path:
            path = default_chart_path(self.series_paths)
        self.chart_path = path
        points = numeric_series(self.chart_runs, path) if path else []
        if path and not any(p.value is not None for p in points):
            hint = ", ".join(self.series_paths[:4]) or "none found"
            self.app.notify(
                f"no numbers at '{path}' in this task's runs; keys with numbers: {hint}",
                title="Chart",
                severity="warning",
                timeout=6,
                markup=False,
            )
        self.table.focus()
        self._plot()

    # ---- export ------------------------------------------------------------------------------

    def action_export(self) -> None:
        self.export("csv")

    def action_export_json(self) -> None:
        self.export("json")

    def export(self, kind: str) -> None:
        from taskagent.core.ui_queries import runs_to_csv, runs_to_json

        runs = [self.runs[k] for k in self.table.keys if k in self.runs]
        stamp = self.host.clock().strftime("%Y%m%d-%H%M%S")

        async def job(services: Services) -> str:
            import asyncio

            from taskagent.core.private_files import private_folder, write_private_text

            folder = services.settings.paths.exports_dir
            path = folder / f"history-{stamp}.{kind}"
            names = dict(self.task_names)
            text = runs_to_csv(runs, names) if kind == "csv" else runs_to_json(runs, names)

            def write() -> None:  # private, and never through a symbolic link
                private_folder(folder, "exports folder", link_ok=False)
                write_private_text(path, text, what="an export")

            await asyncio.to_thread(write)
            return str(path)

        self.host.call_core(
            job,
            done=lambda path: self.app.notify(f"{len(runs)} runs → {path}", title="Exported"),
            node=self,
            what="Export",
            early=True,
        )
