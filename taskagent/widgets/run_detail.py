"""One run in detail: status, times, duration, summary (and which summariser), significance,
error, and the raw result as a folded, highlighted JSON tree."""

from __future__ import annotations

import json
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static, Tree

from taskagent.core.models import Run
from taskagent.widgets.format import duration, local, status_text

MAX_TREE_CHARS = 200_000  # bigger results are shown as text (a tree that size is slow to build)


class RunDetail(VerticalScroll):
    DEFAULT_CSS = """
    RunDetail { border-left: solid $primary-background; padding: 0 1; }
    RunDetail #run-meta { height: auto; }
    RunDetail #run-data { height: auto; max-height: 30; }
    RunDetail #run-raw { height: auto; }
    """

    def compose(self) -> ComposeResult:
        yield Static("select a run", id="run-meta")
        tree: Tree[Any] = Tree("data", id="run-data")
        tree.display = False
        yield tree
        yield Static("", id="run-raw")

    def show(self, run: Run | None, task_name: str = "") -> None:
        meta = self.query_one("#run-meta", Static)
        tree: Tree[Any] = self.query_one("#run-data", Tree)
        raw = self.query_one("#run-raw", Static)
        tree.clear()
        tree.display = False
        raw.update("")
        if run is None:
            meta.update("select a run")
            return
        text = _header(run, task_name)
        _append_outcome(text, run)
        meta.update(text)
        if run.raw_data:
            _show_data(tree, raw, run.raw_data)


def _header(run: Run, task_name: str) -> Text:
    """Which run, its status and trigger, and when it ran."""
    text = Text()
    text.append(f"run #{run.id}", style="bold")
    text.append(f"  task {run.task_id} {task_name}\n")
    text.append_text(status_text(run.status))
    text.append(f"   {run.trigger}")
    if run.attempts > 1:
        text.append(f", {run.attempts} attempts")
    text.append(f"\nstarted  {local(run.run_time, seconds=True)}\n")
    text.append(f"finished {local(run.finished_at, seconds=True)}\n")
    text.append(f"duration {duration(run.duration_ms)}\n")
    return text


def _append_outcome(text: Text, run: Run) -> None:
    """The error, the summary (and which summariser) and the significance, where there are."""
    if run.error_message:
        text.append("\nerror\n", style="bold red")
        text.append(run.error_message + "\n", style="red")
    if run.ai_summary:
        text.append(f"\nsummary ({run.summarizer or 'unknown'})\n", style="bold")
        text.append(run.ai_summary + "\n")
        if run.summary_note:
            text.append(run.summary_note + "\n", style="italic dim")
    if run.significant is not None:
        text.append("\nsignificant: ", style="bold")
        text.append("yes" if run.significant else "no", style="yellow" if run.significant else "")
        if run.significance_reason:
            text.append(f" — {run.significance_reason}")
        text.append("\n")


def _show_data(tree: Tree[Any], raw: Static, raw_data: str) -> None:
    """JSON objects and lists as a folded tree; anything else (or too big) as text."""
    data: Any
    try:
        data = json.loads(raw_data) if len(raw_data) <= MAX_TREE_CHARS else None
    except json.JSONDecodeError:
        data = None
    if isinstance(data, dict | list):
        tree.root.set_label("data")
        tree.add_json(data)
        tree.root.expand()
        for child in tree.root.children[:20]:
            if len(child.children) <= 10:
                child.expand()
        tree.display = True
    else:
        raw.update(Text(raw_data[:5000]))
