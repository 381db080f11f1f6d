"""The checks of `taskagent doctor`, each from what it is given (files, rows, the time): no
settings object, no composition. Each returns `Check`s; the caller bounds them in time."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import stat
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from taskagent.core.health.report import Check, fail, ok, warn
from taskagent.core.lease import LEASE_TIMEOUT, LeaseInfo, process_alive
from taskagent.core.migrations import MIGRATIONS
from taskagent.core.models import Task, TaskState
from taskagent.core.slots import ON_TIME_SECONDS
from taskagent.core.store.connection import inspect_file
from taskagent.core.store.errors import SchemaError

# Free space where the database lives: below these a write may soon fail.
DISK_FAIL_BYTES = 50 * 1024 * 1024
DISK_WARN_BYTES = 500 * 1024 * 1024
# A task this long past its slot's grace has not been accounted for by a running scheduler
# (which accounts for a due slot within seconds).
OVERDUE_SLACK = timedelta(seconds=30)

START_DAEMON = "start it: `taskagent service install` (or run `taskagent daemon`)"


def age_words(seconds: float) -> str:
    """'42 s', '7 min', '3 h 5 min', '2 days'."""
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    minutes = int(seconds // 60)
    if minutes < 120:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{hours // 24} days"


# ------------------------------------------------------------------------------ database
def database(path: Path) -> Check:
    """`PRAGMA quick_check` and the schema version, read only. Blocking: run it on a thread."""
    if not path.exists():
        return warn(
            "database",
            f"{path} does not exist yet",
            "it is created by the first `taskagent` or `taskagent daemon`",
        )
    try:
        answer, version = inspect_file(path)
    except SchemaError as exc:  # the same one line every command gives
        return fail("database", str(exc))
    known = len(MIGRATIONS)
    if answer != "ok":
        first = answer.splitlines()[0]
        return fail(
            "database",
            f"{path} fails its integrity check ({first})",
            f"restore your backup, or try `sqlite3 {path} .recover`",
        )
    if version > known:
        return fail(
            "database",
            f"{path} has schema version {version}, this taskagent knows up to {known}",
            "upgrade taskagent (or use another TASKAGENT_HOME)",
        )
    if version < known:
        return warn(
            "database",
            f"{path} has schema version {version} of {known}",
            "it is migrated at the next start of taskagent",
        )
    return ok("database", f"{path}: integrity ok, schema version {version}")


# ----------------------------------------------------------------------------- scheduler
def scheduler(holder: LeaseInfo | None, now: datetime, *, enabled: int) -> Check:
    """Who holds the lease, how old its heartbeat is and whether its process is alive."""
    if holder is None:
        if not enabled:
            return ok("scheduler", "not running (no enabled tasks)")
        return fail(
            "scheduler", f"not running: {enabled} enabled task(s) will not run", START_DAEMON
        )
    age = (now - holder.heartbeat_at).total_seconds()
    alive = process_alive(holder)
    who = holder.describe()
    beat = f"last heartbeat {age_words(age)} ago"
    if alive is False:
        return fail(
            "scheduler",
            f"the {who} is gone ({beat}); nothing runs until a scheduler starts",
            START_DAEMON,
        )
    if age > LEASE_TIMEOUT.total_seconds():
        state = "alive but not beating (frozen?)" if alive else "on another machine"
        return fail(
            "scheduler",
            f"the {who} is stale: {beat}, {state}",
            f"restart it (`kill {holder.pid}`; the service restarts it) or see its log",
        )
    return ok("scheduler", f"the {who} runs it; {beat}")


def overdue_tasks(tasks: Sequence[Task], now: datetime) -> list[tuple[Task, float]]:
    """Enabled tasks whose first unaccounted slot (`next_run`) is past its grace: no row says
    what became of it, so no scheduler is accounting for it. (task, seconds late), latest
    first."""
    late: list[tuple[Task, float]] = []
    for task in tasks:
        if task.state is not TaskState.ACTIVE or task.next_run is None:
            continue
        grace = timedelta(seconds=max(task.misfire_grace_seconds, ON_TIME_SECONDS))
        if now > task.next_run + grace + OVERDUE_SLACK:
            late.append((task, (now - task.next_run).total_seconds()))
    return sorted(late, key=lambda item: -item[1])


def overdue(tasks: Sequence[Task], now: datetime) -> Check:
    late = overdue_tasks(tasks, now)
    if not late:
        return ok("overdue tasks", "none")
    shown = ", ".join(f"#{t.id} {t.name} ({age_words(s)} late)" for t, s in late[:5])
    more = f" and {len(late) - 5} more" if len(late) > 5 else ""
    return fail(
        "overdue tasks",
        f"{len(late)} task(s) past their run with no row for it: {shown}{more}",
        "check the scheduler line above; " + START_DAEMON,
    )


# ----------------------------------------------------------------------------- MCP servers
def servers(
    statuses: Sequence[tuple[str, str, str | None, int]], log_of: Mapping[str, Path]
) -> list[Check]:
    """One line per configured server from (name, state, error, tool count)."""
    lines: list[Check] = []
    for name, state, error, tools in statuses:
        label = f"mcp server {name}"
        if state == "connected":
            lines.append(ok(label, f"started, {tools} tool(s)"))
            continue
        where = f"; its log: {log_of[name]}" if name in log_of else ""
        lines.append(
            fail(
                label,
                f"did not start or list its tools: {error or state}",
                f'check "{name}" in mcp.json (command, args, url){where}',
            )
        )
    return lines


# ------------------------------------------------------------------------------------ AI
def gemini(has_key: bool, spent: str, *, limits: str | None, reached: bool) -> list[Check]:
    lines = [
        ok("gemini key", "set")
        if has_key
        else ok(
            "gemini key",
            "not set: summaries are written offline and the chat is off "
            "(set GEMINI_API_KEY where taskagent runs to turn them on)",
        )
    ]
    text = f"{spent}; {limits}" if limits else spent
    if reached:
        lines.append(
            warn(
                "ai budget",
                f"today's budget is reached ({text}): summaries are offline until midnight",
                "raise [ai] daily_token_budget / daily_cost_budget, or wait for midnight",
            )
        )
    else:
        lines.append(ok("ai budget", f"today: {text}" if limits else f"today: {spent}; no budget"))
    return lines


# ------------------------------------------------------------------------- disk and files
def disk(folder: Path) -> Check:
    try:
        free = shutil.disk_usage(folder).free
    except OSError as exc:
        return fail("disk", f"cannot read the free space of {folder}: {exc.strerror or exc}")
    text = f"{free / 1024**3:.1f} GB free where the database lives ({folder})"
    if free < DISK_FAIL_BYTES:
        return fail("disk", text, "free some space: runs cannot be recorded on a full disk")
    if free < DISK_WARN_BYTES:
        return warn("disk", text, "free some space before the database cannot grow")
    return ok("disk", text)


def _others_may_write(path: Path) -> bool:
    """World-writable (a group-writable file is common with per-user groups, umask 002)."""
    return bool(path.stat().st_mode & stat.S_IWOTH)


def permissions(folders: Sequence[Path], files: Sequence[Path], db_file: Path) -> Check:
    """Our folders and database writable by us; config files and the database not writable by
    others (mcp.json names the commands taskagent starts)."""
    problems: list[str] = []
    fixes: list[str] = []
    for path in (*folders, db_file):
        if path.exists() and not os.access(path, os.W_OK):
            problems.append(f"{path} is not writable by you")
            fixes.append(f"chmod u+w {path}")
    for path in (*files, db_file):
        if path.exists() and _others_may_write(path):
            problems.append(f"{path} is writable by others")
            fixes.append(f"chmod o-w {path}")
    if not problems:
        return ok("permissions", "data and config files are yours to write, and only yours")
    writable = any("not writable" in p for p in problems)
    make = fail if writable else warn
    return make("permissions", "; ".join(problems), "; ".join(fixes))


def last_receipt(db_file: Path, channel: str) -> tuple[str, str] | None:
    """The status and last error of the newest delivery to `channel` (as shown: a name or a
    masked URL), read-only; None when there is none or the database cannot be read."""
    if not db_file.exists():
        return None
    try:
        with contextlib.closing(
            sqlite3.connect(f"file:{db_file}?mode=ro", uri=True, timeout=2)
        ) as conn:
            row = conn.execute(
                "SELECT status, coalesce(last_error, '') FROM deliveries WHERE channel = ? "
                "ORDER BY id DESC LIMIT 1",
                (channel,),
            ).fetchone()
    except sqlite3.Error:
        return None
    return None if row is None else (str(row[0]), str(row[1]))
