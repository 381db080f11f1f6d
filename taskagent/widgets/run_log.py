"""The live run log: one line per run starting, retrying, finishing, failing, being skipped or
missed; newest at the bottom, bounded."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from rich.text import Text
from textual.widgets import RichLog

from taskagent.core.events import Event, RunFinished, RunRetrying, RunStarted
from taskagent.ui_host import UiHost, host_of
from taskagent.widgets.format import STATUS_MARKS, duration

if TYPE_CHECKING:
    from taskagent.core.models import Run, Task

MAX_LINES = 1000


class RunLookup(Protocol):
    """What a line needs of the core's TaskService: the task's name and the run's outcome."""

    async def find(self, task_id: int) -> Task | None: ...

    async def get_run(self, run_id: int) -> Run | None: ...


class RunLogCore(Protocol):
    """What the log uses of the core (the database-only one is enough)."""

    @property
    def tasks(self) -> RunLookup: ...


class RunLog(RichLog):
    DEFAULT_CSS = """
    RunLog { height: 1fr; border: round $primary-background; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_lines=MAX_LINES, wrap=False, markup=False, **kwargs)
        self.border_title = "Live run log"

    @property
    def host(self) -> UiHost:
        return host_of(self)

    def on_mount(self) -> None:
        self.host.core_events.subscribe(self, self.on_core)

    def on_core(self, event: Event) -> None:
        if not isinstance(event, RunStarted | RunFinished | RunRetrying):
            return

        async def job(core: RunLogCore) -> tuple[str, Run | None]:
            task = await core.tasks.find(event.task_id)
            run = await core.tasks.get_run(event.run_id)
            return (task.name if task else f"task {event.task_id}"), run

        def done(result: tuple[str, Run | None]) -> None:
            name, run = result
            self.add(event, name, run)

        self.host.call_core(job, done=done, node=self, what="Run log", early=True)

    def add(self, event: Event, name: str, run: Run | None) -> None:
        self.write(self.line(event, name, run))

    def line(self, event: Event, name: str, run: Run | None) -> Text:
        stamp = self.host.clock().astimezone().strftime("%H:%M:%S")
        line = Text(f"{stamp} ", style="dim")
        if isinstance(event, RunStarted):
            line.append("▶ ", style="cyan")
            line.append(f"{name} started (run #{event.run_id})")
        elif isinstance(event, RunRetrying):
            wait = f"{event.wait_seconds:.1f}".rstrip("0").rstrip(".")
            line.append("↻ ", style="yellow")
            line.append(
                f"retrying {name} (attempt {event.attempt + 1}) in {wait} s", style="yellow"
            )
            line.append(": " + _flat(event.error, 160), style="dim")
        elif isinstance(event, RunFinished) and event.status in SKIPPED:
            # Not a failure and not news: the scheduler did not run it (overlap, downtime).
            mark, style = SKIPPED[event.status]
            line.append(f"{mark} ", style=style)
            line.append(f"{name} {event.status}", style=style)
            reason = run.error_message if run is not None else None
            if reason:
                line.append(" — " + _flat(reason, 200), style="dim")
        elif isinstance(event, RunFinished):
            mark, style = STATUS_MARKS.get(event.status, ("?", ""))
            line.append(f"{mark} ", style=style)
            line.append(f"{name} {event.status}", style=style)
            if run is not None:
                line.append(f" in {duration(run.duration_ms)}", style="dim")
                if run.attempts > 1:
                    line.append(f" after {run.attempts} attempts", style="dim")
                detail = run.error_message or run.ai_summary
                if detail:
                    line.append(" — " + _flat(detail, 200))
        return line


SKIPPED = {"skipped": ("↷", "magenta"), "missed": ("⊘", "magenta")}


def _flat(text: str, limit: int) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
