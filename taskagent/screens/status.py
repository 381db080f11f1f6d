"""Status tab: where things live and which settings are in force."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from taskagent import __version__


class StatusView(VerticalScroll):
    def compose(self) -> ComposeResult:
        yield Static(id="status-text")

    def on_mount(self) -> None:
        settings = self.app.services.settings  # type: ignore[attr-defined]
        paths = settings.paths
        ai = (
            f"Gemini ({settings.ai_model})"
            if settings.has_ai_key
            else "offline (no GEMINI_API_KEY)"
        )
        self.query_one(Static).update(
            "\n".join(
                [
                    f"taskagent {__version__}",
                    f"database : {paths.db_file}",
                    f"config   : {paths.config_file}",
                    f"logs     : {paths.log_dir}",
                    f"timezone : {settings.timezone}",
                    f"workers  : {settings.scheduler_worker_threads}",
                    f"AI       : {ai}",
                ]
            )
        )
