"""Export and import all tasks as one JSON or TOML file, so a setup can live in version control.

Import is all-or-nothing: every entry is validated by TaskService first (with the same messages
as everywhere else, prefixed by the entry), and only then written, in one transaction, so a
failure while writing leaves no half import. An entry whose name matches an existing task
updates it, so importing the same file twice changes nothing.
"""

from __future__ import annotations

import json
import os
import stat
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from taskagent.core.alerts import transfer as alert_transfer
from taskagent.core.alerts.evaluate import RuleState
from taskagent.core.alerts.grammar import Rule
from taskagent.core.alerts.store import AlertStore
from taskagent.core.models import SummaryMode, Task
from taskagent.core.tasks import (
    EDITABLE_FIELDS,
    TaskInputError,
    TaskService,
    WriteToolNotAllowed,
)

FORMAT_VERSION = 1
MAX_IMPORT_BYTES = 10_000_000
# The fields an import entry cannot do without (the others have defaults).
REQUIRED_FIELDS = ("name", "schedule_type", "schedule_value", "mcp_tool")
# Everything a user can edit, plus the on/off state and whether a one-shot task has already
# had its run (`done`, so a finished one-shot is not armed again by an import); never ids,
# timestamps or run times.
EXPORTED_FIELDS = (*sorted(EDITABLE_FIELDS), "enabled", "paused", "done")


def task_to_export(task: Task) -> dict[str, Any]:
    values = {
        "name": task.name,
        "description": task.description,
        "schedule_type": task.schedule_type.value,
        "schedule_value": task.schedule_value,
        "timezone": task.timezone,
        "mcp_tool": task.mcp_tool,
        "tool_args": task.tool_args,
        "use_ai_summary": task.ai_mode is not SummaryMode.OFF,
        "summary_mode": task.ai_mode.value,
        "notification_level": task.notification_level.value,
        "enabled": task.enabled,
        "paused": task.paused,
        "significance_threshold": task.significance_threshold,
        "misfire_policy": task.misfire_policy.value,
        "timeout_seconds": task.timeout_seconds,
        "misfire_grace_seconds": task.misfire_grace_seconds,
        "catch_up_within_seconds": task.catch_up_within_seconds,
        "done": task.done_at is not None,
    }
    return {key: values[key] for key in EXPORTED_FIELDS}


# ---- TOML writing (tomllib only reads) ------------------------------------------------------


def _toml_key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else json.dumps(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        inner = ", ".join(f"{_toml_key(str(k))} = {_toml_value(v)}" for k, v in value.items())
        return "{" + inner + "}" if inner else "{}"
    if value is None:
        raise TaskInputError("TOML has no null; remove the key or use JSON export")
    raise TaskInputError(f"cannot write {type(value).__name__} to TOML")


def dumps(tasks: list[Task], fmt: str, extra: dict[int, dict[str, Any]] | None = None) -> str:
    """`extra`: more fields per task id (its alert rules and their state)."""
    entries = [task_to_export(t) | (extra or {}).get(t.stored_id, {}) for t in tasks]
    if fmt == "json":
        return (
            json.dumps({"version": FORMAT_VERSION, "tasks": entries}, indent=2, ensure_ascii=False)
            + "\n"
        )
    lines = ["# taskagent tasks (taskagent tasks import FILE)", f"version = {FORMAT_VERSION}"]
    for entry in entries:
        lines.append("")
        lines.append("[[tasks]]")
        lines.extend(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in entry.items())
    return "\n".join(lines) + "\n"


def _kind_of(mode: int) -> str:
    """What a file that is not a regular one is, in a few words."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def read_import_file(path: Path) -> str:
    """The text of a file to import: a regular file of at most MAX_IMPORT_BYTES, in UTF-8.
    Anything else (a folder, a device such as /dev/zero, a FIFO, a bigger file) is refused
    with one TaskInputError before a byte is read. Blocking: call it on a thread."""
    try:
        # O_NONBLOCK: opening a FIFO with no writer must not wait for one.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise TaskInputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise TaskInputError(f"cannot import {path}: it is {_kind_of(info.st_mode)}")
        if info.st_size > MAX_IMPORT_BYTES:
            raise TaskInputError(f"cannot import {path}: {_too_big(info.st_size)}")
        with os.fdopen(os.dup(fd), "rb") as file:
            data = file.read(MAX_IMPORT_BYTES + 1)  # a file that grew since: still bounded
    finally:
        os.close(fd)
    if len(data) > MAX_IMPORT_BYTES:
        raise TaskInputError(f"cannot import {path}: {_too_big(len(data))}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TaskInputError(
            f"cannot read {path}: not UTF-8 text (byte {data[exc.start]:#04x} at "
            f"position {exc.start})"
        ) from exc


def _too_big(size: int) -> str:
    return f"{size:,} bytes is more than the {MAX_IMPORT_BYTES // 1_000_000} MB an import reads"


def loads(text: str, fmt: str, *, source: str) -> list[dict[str, Any]]:
    try:
        data = json.loads(text) if fmt == "json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise TaskInputError(f"{source}: not valid {fmt.upper()}: {exc}") from exc
    except RecursionError:  # both decoders recurse per level of nesting
        raise TaskInputError(f"{source}: lists or tables nested too deeply") from None
    if isinstance(data, list):  # a bare list of tasks is fine too
        data = {"tasks": data}
    if not isinstance(data, dict) or not isinstance(data.get("tasks"), list):
        raise TaskInputError(f"{source}: expected a 'tasks' list")
    version = data.get("version", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        raise TaskInputError(
            f"{source}: format version {version} is not supported (use {FORMAT_VERSION})"
        )
    entries: list[dict[str, Any]] = data["tasks"]
    for index, entry in enumerate(entries, 1):
        if not isinstance(entry, dict):
            raise TaskInputError(f"{source}: task #{index} must be a table/object")
    return entries


def format_of(path: Path, explicit: str | None = None) -> str:
    if explicit:
        return explicit
    return "toml" if path.suffix.lower() == ".toml" else "json"


def _short(value: Any, limit: int = 40) -> str:
    """A name from the file for a message: one line, cut, quoted if it holds control chars."""
    text = str(value)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text if text.isprintable() else repr(text)


def _entry_label(source: str, index: int, entry: dict[str, Any]) -> str:
    return f"{source}: task #{index} ({_short(entry.get('name', 'no name'))})"


async def import_tasks(
    service: TaskService,
    entries: list[dict[str, Any]],
    *,
    source: str,
    allow_write: bool = False,
) -> tuple[int, int]:
    """Validate all entries, then create or update them in one transaction (all or nothing).
    Returns (created, updated).

    `allow_write`: the user's yes to tasks whose tool is not read-only running unattended:
    new ones, and existing ones whose tool, arguments or schedule the file changes (one that
    keeps them needs none, core/tasks/consent.py)."""
    allowed = set(EXPORTED_FIELDS) | set(alert_transfer.FIELDS)
    seen: set[str] = set()
    existing = {t.name.casefold(): t for t in await service.list_tasks()}
    new: list[Task] = []
    alert_sets: dict[str, tuple[list[Rule], dict[str, RuleState]]] = {}
    changes: list[tuple[int, Callable[[Task], Task | None]]] = []
    for index, entry in enumerate(entries, 1):
        label = _entry_label(source, index, entry)
        _check_fields(label, entry, allowed)
        missing = [field for field in REQUIRED_FIELDS if field not in entry]
        if missing:
            raise TaskInputError(f"{label}: missing field(s) {', '.join(missing)}")
        fields = {k: v for k, v in entry.items() if k not in alert_transfer.FIELDS}
        rules = alert_transfer.import_fields(entry, label)
        try:
            task = service.build_task(**fields, allow_write=True)  # the same checks as elsewhere
        except TaskInputError as exc:
            raise TaskInputError(f"{label}: {exc}", exc.field) from exc
        key = task.name.casefold()
        if key in seen:
            raise TaskInputError(f"{label}: the name appears twice in the file", "name")
        seen.add(key)
        if rules is not None:
            alert_sets[key] = rules
        current = existing.get(key)
        if current is None:
            if not allow_write and service.needs_write_consent(task.mcp_tool):
                raise WriteToolNotAllowed(task.mcp_tool).with_prefix(f"{label}: ")
            new.append(task)
            continue
        edit = {k: v for k, v in entry.items() if k in EDITABLE_FIELDS}
        # Changing the tool, arguments or schedule of a task that writes needs the same yes.
        merge = service.merger(edit, consent=allow_write)

        def change(
            now: Task, merge: Callable[[Task], Task] = merge, state: Task = task
        ) -> Task | None:
            return service.with_state(merge(now), enabled=state.enabled, paused=state.paused)

        try:
            change(current)  # every problem is reported before anything is written
        except WriteToolNotAllowed as exc:
            raise exc.with_prefix(f"{label}: ") from exc
        except TaskInputError as exc:
            raise TaskInputError(f"{label}: {exc}", exc.field) from exc
        assert current.id is not None  # a stored task
        changes.append((current.id, change))
    created, updated = await service.save_batch(new, changes)
    await _save_alert_sets(service, alert_sets)
    return len(created), len(updated)


def _check_fields(label: str, entry: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(entry) - allowed)
    if unknown:
        shown = ", ".join(_short(k) for k in unknown[:5])
        more = f" (+{len(unknown) - 5} more)" if len(unknown) > 5 else ""
        raise TaskInputError(f"{label}: unknown field(s) {shown}{more}")


async def _save_alert_sets(
    service: TaskService, alert_sets: dict[str, tuple[list[Rule], dict[str, RuleState]]]
) -> None:
    """The imported tasks' alert rules with their states (by name, after the tasks)."""
    if not alert_sets:
        return
    store = AlertStore(service.repo)
    for task in await service.list_tasks():
        found = alert_sets.get(task.name.casefold())
        if found is not None:
            await store.set_rules(task.stored_id, found[0], states=found[1])
