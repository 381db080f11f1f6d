"""Read-only queries and pure helpers the full-screen app needs (no UI imports).

- `away_summary`: what happened since the app was last open.
- `numeric_paths` / `numeric_series` / `default_chart_path`: numbers inside stored raw results,
  for the history chart.
- `runs_to_csv` / `runs_to_json`: the export formats (the field names of `run_to_dict`, and
  the task's name).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from taskagent.core.key_paths import KeyPathError, number_at, walk_numbers
from taskagent.core.models import Run, RunStatus
from taskagent.core.serialize import run_to_dict
from taskagent.core.significance import is_price_key
from taskagent.core.store import Repository

FAILED = [RunStatus.ERROR, RunStatus.TIMEOUT, RunStatus.INTERRUPTED]
SCAN_LIMIT = 500  # rows read to list significant changes; counts are exact
DULL_SUFFIXES = ("_rank", "_id", "_at", "_time", "_timestamp", "_count")


@dataclass(frozen=True, slots=True)
class AwaySummary:
    since: datetime
    runs: int
    errors: int
    significant: list[Run] = field(default_factory=list)
    failed: list[Run] = field(default_factory=list)
    names: dict[int, str] = field(default_factory=dict)  # task id -> name

    def name(self, task_id: int) -> str:
        return self.names.get(task_id) or f"task {task_id}"

    def text(self) -> str:
        lines = [
            f"While you were away (since {self.since.astimezone():%Y-%m-%d %H:%M}): "
            f"{self.runs} run{'s' * (self.runs != 1)}, {self.errors} error{'s' * (self.errors != 1)}, "
            f"{len(self.significant)} significant change{'s' * (len(self.significant) != 1)}."
        ]
        for run in self.significant[:5]:
            lines.append(
                f"  ! {self.name(run.task_id)}: {run.significance_reason or run.ai_summary or ''}"
            )
        for run in self.failed[:5]:
            lines.append(f"  ✗ {self.name(run.task_id)}: {run.error_message or run.status.value}")
        return "\n".join(lines)


async def away_summary(repo: Repository, *, since: datetime) -> AwaySummary:
    runs = await repo.count_runs(since=since)
    errors = await repo.count_runs(since=since, statuses=FAILED)
    recent = await repo.list_runs(since=since, limit=SCAN_LIMIT)
    return AwaySummary(
        since=since,
        runs=runs,
        errors=errors,
        significant=[r for r in recent if r.significant],
        failed=[r for r in recent if r.status in FAILED],
        names={t.id: t.name for t in await repo.list_tasks() if t.id is not None},
    )


def _decode(raw: str | None) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, TypeError):
        return None


def numeric_paths(raw: str | None, limit: int = 50) -> list[str]:
    """Key paths of the numbers in one raw result, e.g. 'bitcoin.usd' or '[0].current_price'."""
    paths: list[str] = []
    for path, _ in walk_numbers(_decode(raw)):
        paths.append(path)
        if len(paths) >= limit:
            break
    return paths


def _last_key(path: str) -> str:
    """'coins[0].price' -> 'price'; '[3]' -> ''."""
    return re.sub(r"\[\d+\]$", "", path.rsplit(".", 1)[-1])


def default_chart_path(paths: Sequence[str]) -> str:
    """The number worth charting first: the first price (`coins[0].price`, `bitcoin.usd`), else
    the first number that is not a rank, count, id or time (a flat line tells nothing)."""
    for path in paths:
        if is_price_key(_last_key(path)):
            return path
    for path in paths:
        key = _last_key(path).lower()
        if key and not (key in {"rank", "count", "id"} or key.endswith(DULL_SUFFIXES)):
            return path
    return paths[0] if paths else ""


def value_at(raw: str | None, path: str) -> float | None:
    """The number at `path` (core/key_paths.py: `coins[0].price`, `coins[id=bitcoin].price`)."""
    try:
        return number_at(_decode(raw), path)
    except KeyPathError:
        return None


@dataclass(frozen=True, slots=True)
class Point:
    run_id: int
    time: datetime
    value: float | None  # None: the run failed or had no number there
    ok: bool


def numeric_series(runs: Sequence[Run], path: str) -> list[Point]:
    """Oldest first: one point per finished run."""
    points = [
        Point(
            run_id=r.id or 0,
            time=r.run_time,
            value=value_at(r.raw_data, path) if r.status is RunStatus.SUCCESS else None,
            ok=r.status is RunStatus.SUCCESS,
        )
        for r in runs
        if r.status is not RunStatus.RUNNING
    ]
    return sorted(points, key=lambda p: p.run_id)


EXPORT_FIELDS = [
    "id",
    "task_id",
    "task_name",
    "run_time",
    "finished_at",
    "status",
    "duration_ms",
    "trigger",
    "ai_summary",
    "summarizer",
    "summary_note",
    "error_message",
    "significant",
    "significance_reason",
    "attempts",
    "data",
]


# A spreadsheet reads a cell starting with one of these as a formula (CSV injection). OWASP's
# advice: prefix such a cell with a single quote, so it is shown as text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A text cell made safe for spreadsheets; numbers, booleans and empty cells stay as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _named(run: Run, names: Mapping[int, str]) -> dict[str, Any]:
    """The run's row with its task's name (a removed task's: empty)."""
    return run_to_dict(run, task_name=names.get(run.task_id, "") if run.task_id else "")


def runs_to_csv(runs: Iterable[Run], names: Mapping[int, str]) -> str:
    """The runs as CSV, each with its task's name from `names` (task id -> name)."""
    out = io.StringIO()
    # extrasaction: a field added to run_to_dict later must not break the export.
    writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS, extrasaction="ignore")
    writer.writeheader()
    for run in runs:
        row = _named(run, names)
        row["data"] = run.raw_data
        writer.writerow({key: csv_cell(value) for key, value in row.items()})
    return out.getvalue()


def runs_to_json(runs: Iterable[Run], names: Mapping[int, str]) -> str:
    """The runs as JSON, each with its task's name from `names` (task id -> name)."""
    rows = [_named(r, names) for r in runs]
    return json.dumps(rows, ensure_ascii=False, indent=2)
