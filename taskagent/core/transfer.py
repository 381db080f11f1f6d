"""Export and import all tasks as one JSON or TOML file, so a setup can live in version control.

Import is all-or-nothing: every entry is validated by TaskService first (with the same messages
as everywhere else, prefixed by the entry), and only then written, in one transaction, so a
failure while writing leaves no half import. An entry whose name matches an existing task
updates it, so importing the same file twice changes nothing.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from taskagent.core.models import SummaryMode, Task
from taskagent.core.tasks import (
    EDITABLE_FIELDS,
    TaskInputError,
    TaskService,
    WriteToolNotAllowed,
)

FORMAT_VERSION = 1
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


def dumps(tasks: list[Task], fmt: str) -> str:
    entries = [task_to_export(t) for t in tasks]
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


def loads(text: str, fmt: str, *, source: str) -> list[dict[str, Any]]:
    try:
        data = json.loads(text) if fmt == "json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise TaskInputError(f"{source}: not valid {fmt.upper()}: {exc}") from exc
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

    `allow_write`: the user's yes to new tasks (or tasks switching tool) whose tool is not
    read-only running unattended; an existing task keeping its tool needs none."""
    allowed = set(EXPORTED_FIELDS)
    seen: set[str] = set()
    existing = {t.name.casefold(): t for t in await service.list_tasks()}
    new: list[Task] = []
    changes: list[tuple[int, Callable[[Task], Task | None]]] = []
    for index, entry in enumerate(entries, 1):
        label = _entry_label(source, index, entry)
        unknown = sorted(set(entry) - allowed)
        if unknown:
            shown = ", ".join(_short(k) for k in unknown[:5])
            more = f" (+{len(unknown) - 5} more)" if len(unknown) > 5 else ""
            raise TaskInputError(f"{label}: unknown field(s) {shown}{more}")
        try:
            task = service.build_task(**entry, allow_write=True)  # the same checks as elsewhere
        except TypeError as exc:
            raise TaskInputError(f"{label}: {exc}") from exc
        except TaskInputError as exc:
            raise TaskInputError(f"{label}: {exc}", exc.field) from exc
        key = task.name.casefold()
        if key in seen:
            raise TaskInputError(f"{label}: the name appears twice in the file", "name")
        seen.add(key)
        current = existing.get(key)
        previous = current.mcp_tool if current is not None else None
        if not allow_write and service.needs_write_consent(task.mcp_tool, previous):
            raise WriteToolNotAllowed(task.mcp_tool).with_prefix(f"{label}: ")
        if current is None:
            new.append(task)
            continue
        edit = {k: v for k, v in entry.items() if k in EDITABLE_FIELDS}
        merge = service.merger(edit, consent=True)

        def change(
            now: Task, merge: Callable[[Task], Task] = merge, state: Task = task
        ) -> Task | None:
            return service.with_state(merge(now), enabled=state.enabled, paused=state.paused)

        try:
            change(current)  # every problem is reported before anything is written
        except TaskInputError as exc:
            raise TaskInputError(f"{label}: {exc}", exc.field) from exc
        assert current.id is not None  # a stored task
        changes.append((current.id, change))
    created, updated = await service.save_batch(new, changes)
    return len(created), len(updated)
