"""Status tab: the core's status dict rendered (uptime, scheduler, next runs, last 24 h, success
rates, MCP servers, AI backend and today's AI spend, database) above the live run log."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Static

from taskagent import __version__
from taskagent.bridge import CoreStage, ExternalChange
from taskagent.core.ai_ledger import Usage
from taskagent.core.events import Event, RunFinished, TaskChanged
from taskagent.core.models import TaskStats, from_iso
from taskagent.core.status_report import delivery_words, spend_words
from taskagent.ui_host import UiHost, host_of
from taskagent.widgets.format import local, percent, relative, size
from taskagent.widgets.run_log import RunLog

if TYPE_CHECKING:
    from taskagent.services import Services

REFRESH_SECONDS = 5.0
MAX_RATE_ROWS = 15


def ai_spend_text(usage: dict[str, Any]) -> Text:
    """Today's Gemini spend from the status dict's `ai_usage`, with the budget if any."""
    spent, limits = spend_words(usage)
    text = Text(spent)
    if limits:
        text.append(f"; {limits}", style="dim")
        if (usage.get("budget") or {}).get("reached"):
            text.append(" — reached: summaries offline until midnight", style="yellow")
    return text


def _uptime(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d {hours}h {minutes}m"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {secs}s"


def scheduler_text(scheduler: dict[str, Any]) -> Text:
    """The engine's status: scheduling here, attached to a daemon (pid), or not started."""
    mode = scheduler.get("mode") or scheduler.get("state") or "unknown"
    holder = scheduler.get("lease_holder") or {}
    text = Text()
    if mode == "scheduler":
        text.append("running here", style="green")
        workers = scheduler.get("workers") or {}
        if workers:
            # Runs in flight / run slots (several per worker thread).
            text.append(f", runs {workers.get('busy', 0)}/{workers.get('total', 0)} busy")
        if "jobs" in scheduler:
            text.append(f", {scheduler['jobs']} jobs")
    elif mode == "attached":
        if holder and not holder.get("is_this_process"):
            text.append("attached", style="cyan")
            text.append(f" to {holder.get('kind', '?')} pid {holder.get('pid', '?')}")
            text.append(f" on {holder.get('host', '?')}", style="dim")
        else:
            text.append("waiting for the lease", style="yellow")
    elif mode in ("stopping", "standing-down"):
        text.append(mode.replace("-", " "), style="yellow")
    elif mode in ("stopped", "client"):
        text.append("not scheduling in this process", style="yellow")
        if holder and not holder.get("is_this_process"):
            text.append(f" ({holder.get('kind', '?')} pid {holder.get('pid', '?')} schedules)")
    else:
        text.append(str(mode))
    return text


def health_rows(status: dict[str, Any], now: Any) -> list[tuple[str, Text]]:
    """The heartbeat's age, the last run and the overdue tasks, when the status has them."""
    rows: list[tuple[str, Text]] = []
    holder = (status.get("scheduler") or {}).get("lease_holder") or {}
    if "heartbeat_age_seconds" in holder:
        live = (status.get("scheduler") or {}).get("scheduler_running", True)
        text = Text(f"{holder['heartbeat_age_seconds']:g} s ago")
        if not live:
            text.append(" — stale: run `taskagent doctor`", style="red")
        rows.append(("heartbeat", text))
    last = status.get("last_run")
    if last:
        moment = from_iso(last.get("at"))
        rows.append(("last run", Text(f"{relative(moment, now)} · {last.get('name', '?')}")))
    if "overdue" in status:
        overdue = status["overdue"]
        names = ", ".join(str(o.get("name")) for o in overdue[:5])
        rows.append(
            ("overdue", Text(f"{len(overdue)}: {names}", style="red") if overdue else Text("none"))
        )
    return rows


class StatusView(Vertical):
    DEFAULT_CSS = """
    StatusView #status-top { height: 2fr; }
    StatusView #status-left, StatusView #status-right { width: 1fr; padding: 0 1; }
    StatusView RunLog { height: 1fr; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.status: dict[str, Any] | None = None
        self.stats: dict[int, TaskStats] = {}
        self.names: dict[int, str] = {}
        self.spend: dict[int, Usage] = {}  # AI summary spend per task (all time)
        self._dirty = False

    @property
    def host(self) -> UiHost:
        return host_of(self)

    def compose(self) -> ComposeResult:
        with Horizontal(id="status-top"):
            with VerticalScroll(id="status-left"):
                yield Static("starting…", id="status-overview")
            with VerticalScroll(id="status-right"):
                yield Static("", id="status-tasks")
        yield RunLog(id="run-log")

    def on_mount(self) -> None:
        self.host.core_events.subscribe(self, self.on_core)
        self.set_interval(REFRESH_SECONDS, self.reload, name="status-refresh")
        self.set_interval(1.0, self._tick, name="status-tick")
        self.reload()

    def focus_main(self) -> None:
        self.query_one(RunLog).focus()

    def on_core(self, event: Event) -> None:
        if isinstance(event, RunFinished | TaskChanged | ExternalChange | CoreStage):
            self._dirty = True

    def _tick(self) -> None:
        if self._dirty:
            self._dirty = False
            self.reload()
        elif self.status is not None:
            self._render_overview()

    def reload(self) -> None:
        async def job(
            services: Services,
        ) -> tuple[dict[str, Any], dict[int, TaskStats], dict, dict[int, Usage]]:
            status = await services.status()
            stats = await services.tasks.stats()
            names = await services.tasks.names()
            # While the app is still starting (the database-only CoreBase) there is no spend
            # yet: it comes with the next reload.
            return status, stats, names, await services.spend_by_task()

        def done(
            result: tuple[dict[str, Any], dict[int, TaskStats], dict, dict[int, Usage]],
        ) -> None:
            self.status, self.stats, self.names, self.spend = result
            self._render_overview()
            self._render_tasks()

        self.host.call_core(
            job, done=done, node=self, group="status", exclusive=True, what="Status", early=True
        )

    def _render_overview(self) -> None:
        status = self.status or {}
        host = self.host
        now = host.clock()
        lines = Table.grid(padding=(0, 2))
        lines.add_column(style="bold")
        lines.add_column()
        lines.add_row("taskagent", __version__)
        lines.add_row("uptime", _uptime((now - host.started_at).total_seconds()))
        scheduler = status.get("scheduler", {}) if host.engine_started else {"mode": "starting…"}
        lines.add_row("scheduler", scheduler_text(scheduler))
        for name, text in health_rows(status, now):
            lines.add_row(name, text)
        tasks = status.get("tasks", {})
        lines.add_row(
            "tasks",
            f"{tasks.get('total', 0)} ({tasks.get('active', 0)} active, "
            f"{tasks.get('paused', 0)} paused, {tasks.get('disabled', 0)} disabled, "
            f"{tasks.get('done', 0)} done)",
        )
        day = status.get("last_24h", {})
        lines.add_row(
            "last 24 h",
            Text.assemble(
                f"{day.get('runs', 0)} runs, ",
                (f"{day.get('errors', 0)} errors", "red" if day.get("errors") else ""),
                f", {status.get('running_now', 0)} running now",
            ),
        )
        for item in status.get("needs_approval", []):
            lines.add_row(
                Text("approval", style="yellow"),
                Text(f"#{item['task_id']} {item['name']}: {item['reason']}", style="yellow"),
            )
        lines.add_row("AI", str(status.get("ai", "?")))
        if "ai_usage" in status:
            lines.add_row("AI today", ai_spend_text(status["ai_usage"]))
        if "notifications" in status:
            lines.add_row("notifications", str(status["notifications"]))
        if "deliveries" in status:
            deliveries = status["deliveries"]
            bad = deliveries.get("failed") or deliveries.get("unknown")
            lines.add_row(
                "deliveries", Text(delivery_words(deliveries), style="red" if bad else "")
            )
        database = status.get("database", {})
        if database:
            lines.add_row(
                "database", f"{database.get('path')} ({size(database.get('size_bytes', 0))})"
            )
        servers = Table(title="MCP servers", title_justify="left", expand=True, show_edge=False)
        servers.add_column("server")
        servers.add_column("state")
        servers.add_column("tools", justify="right")
        for server in status.get("mcp_servers", []):
            state = Text(
                server["state"], style="green" if server["state"] == "connected" else "red"
            )
            if server.get("error"):
                state.append(f" — {server['error']}", style="dim")
            servers.add_row(server["name"], state, str(server.get("tools", 0)))
        upcoming = Table(title="Next runs", title_justify="left", expand=True, show_edge=False)
        upcoming.add_column("when", no_wrap=True)
        upcoming.add_column("task")
        upcoming.add_column("schedule", style="dim")
        for item in status.get("next_runs", []):
            moment = from_iso(item.get("next_run"))
            upcoming.add_row(
                f"{relative(moment, now)} · {local(moment)[11:]}",
                item["name"],
                item.get("schedule", ""),
            )
        if not status:
            body: Any = Text("starting… (opening the database and the MCP servers)", style="dim")
        else:
            body = Group(lines, Text(""), servers, Text(""), upcoming)
        self.query_one("#status-overview", Static).update(body)

    def _render_tasks(self) -> None:
        rates = Table(
            title="Success rate per task", title_justify="left", expand=True, box=box.ROUNDED
        )
        rates.add_column("task")
        rates.add_column("runs", justify="right")
        rates.add_column("ok", justify="right")
        rates.add_column("avg", justify="right")
        ranked = sorted(
            (s for s in self.stats.values() if s.runs),
            key=lambda s: (s.success_rate if s.success_rate is not None else 2, -s.runs),
        )
        for stats in ranked[:MAX_RATE_ROWS]:
            rate = stats.success_rate
            style = "red" if rate is not None and rate < 0.9 else ""
            avg = "-" if stats.avg_duration_ms is None else f"{stats.avg_duration_ms:.0f} ms"
            rates.add_row(
                self.names.get(stats.task_id, str(stats.task_id)),
                str(stats.runs),
                Text(percent(rate), style=style),
                avg,
            )
        if len(ranked) > MAX_RATE_ROWS:
            rates.caption = f"worst {MAX_RATE_ROWS} of {len(ranked)} tasks with runs"
        if not ranked:
            rates.caption = "no runs yet"
        body: Any = rates
        if self.spend:
            spend = Table(
                title="AI summaries per task (all time)",
                title_justify="left",
                expand=True,
                show_edge=False,
            )
            spend.add_column("task")
            spend.add_column("requests", justify="right")
            spend.add_column("tokens", justify="right")
            spend.add_column("cost", justify="right")
            top = sorted(self.spend.items(), key=lambda item: -item[1].tokens)
            for task_id, used in top[:MAX_RATE_ROWS]:
                spend.add_row(
                    self.names.get(task_id, f"#{task_id} (removed)"),
                    str(used.calls),
                    f"{used.tokens:,}",
                    used.cost_words(),
                )
            body = Group(rates, Text(""), spend)
        self.query_one("#status-tasks", Static).update(body)
