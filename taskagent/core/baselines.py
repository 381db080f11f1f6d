"""Each task's last successful result, kept in memory for the significance test.

Reading the previous successful run back for every run would add a database read to every
run. The baseline of a task is read from the database once,
the first time the task runs in this process, and then replaced by every success this process
records. Only the process that runs tasks records their runs (the lease holder; a CLI's inline
"run now" happens only when no scheduler is live), so the copy stays true; the engine forgets
everything when it becomes the scheduler again or history retention deleted rows.

Used on the main loop (core/run_pipeline.py `finish`); one run of a task at a time (RunOwner).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from taskagent.core.models import RunStatus

if TYPE_CHECKING:
    from taskagent.core.store import Repository

# A result larger than this is not kept (it is read back when needed): 10,000 tasks with huge
# results must not fill the memory.
MAX_KEPT_CHARS = 256_000


@dataclass(frozen=True, slots=True)
class Baseline:
    """The previous successful run's stored `raw_data` (None for a row that has none)."""

    raw: str | None


class Baselines:
    def __init__(self, repo: Repository, *, max_kept_chars: int = MAX_KEPT_CHARS) -> None:
        self.repo = repo
        self.max_kept_chars = max_kept_chars
        # task id -> its baseline; None: the task has no successful run yet.
        self._known: dict[int, Baseline | None] = {}
        self.loads = 0  # database reads so far (tests, diagnostics)

    async def previous(self, task_id: int) -> Baseline | None:
        """The task's last successful result, or None if it never succeeded."""
        try:
            return self._known[task_id]
        except KeyError:
            pass
        self.loads += 1
        run = await self.repo.latest_run(task_id, statuses=[RunStatus.SUCCESS])
        baseline = None if run is None else Baseline(run.raw_data)
        self._keep(task_id, baseline)
        return baseline

    async def prime(self) -> None:
        """Learn in one query which tasks never succeeded, so that their first runs (1,000
        one-shots due at once, say) need no read each."""
        for task_id in await self.repo.tasks_without_success():
            self._known.setdefault(task_id, None)

    def record(self, task_id: int, raw: str | None) -> None:
        """A success of the task was just recorded: it is the next run's baseline."""
        self._keep(task_id, Baseline(raw))

    def forget(self, task_id: int | None = None) -> None:
        """Read this task's (or every task's) baseline from the database next time."""
        if task_id is None:
            self._known.clear()
        else:
            self._known.pop(task_id, None)

    def _keep(self, task_id: int, baseline: Baseline | None) -> None:
        if baseline is not None and len(baseline.raw or "") > self.max_kept_chars:
            self._known.pop(task_id, None)
        else:
            self._known[task_id] = baseline

    def __len__(self) -> int:
        return len(self._known)
