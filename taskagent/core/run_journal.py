"""Finished runs whose outcome the database would not take (busy for too long, or full), kept
in a small file beside it until it does: a tool's result is never lost to the database.

One JSON line per run (its id and its row's values), appended and synced to disk before the
run counts as recorded. `RunPipeline` writes them back at the next chance: after its next
successful write, and when a process becomes the scheduler (before it sweeps unfinished rows,
so a run kept here gets its true outcome, not `interrupted`).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from taskagent.core.models import Run
from taskagent.core.store.rows import run_from_row, run_values

log = logging.getLogger(__name__)

FILE_NAME = "unrecorded-runs.jsonl"


class RunJournal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._pending = path.exists()  # what a previous process could not write

    @classmethod
    def beside(cls, db_file: Path) -> RunJournal:
        return cls(db_file.with_name(FILE_NAME))

    @property
    def has_pending(self) -> bool:
        return self._pending

    def keep(self, run: Run) -> None:
        """Append the run, synced to disk (the file is private to the user)."""
        line = json.dumps({"id": run.stored_id, **run_values(run)}, ensure_ascii=False)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
        try:
            os.write(fd, (line + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        self._pending = True

    def pending(self) -> list[Run]:
        """The runs kept so far, oldest first; an unreadable line is logged and skipped."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            self._pending = False
            return []
        runs = []
        for number, line in enumerate(text.splitlines(), start=1):
            try:
                runs.append(run_from_row(json.loads(line)))
            except (ValueError, TypeError, KeyError) as exc:
                log.warning("%s line %d cannot be read (%s); skipped", self.path, number, exc)
        return runs

    def forget(self, run_ids: set[int]) -> None:
        """Drop these runs (written, or settled otherwise); the file goes when empty."""
        left = [run for run in self.pending() if run.id not in run_ids]
        if not left:
            self.path.unlink(missing_ok=True)
            self._pending = False
            return
        temporary = self.path.with_suffix(".tmp")
        temporary.unlink(missing_ok=True)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            for run in left:
                handle.write(json.dumps({"id": run.stored_id, **run_values(run)}) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(self.path)
