"""One way to name a task, everywhere (the Tasks filter, History's task filter, slash commands,
the CLI, the chat's tools): its id, its exact name, or a part of its name that only it has.

- `matches`: the filter rule, a case-insensitive substring of the id or of the name;
- `pick`: the one task a reference means (the same rule, an id only whole), or TaskNotFound / AmbiguousTask (which lists the
  tasks it could mean).
"""

from __future__ import annotations

from collections.abc import Iterable

from taskagent.core.errors import AmbiguousTask, TaskNotFound
from taskagent.core.models import Task
from taskagent.core.tasks.inputs import looks_like_id


def matches(task: Task, text: str) -> bool:
    """True when `text` (case-insensitive, spaces at its ends ignored) is part of the task's
    id or name; an empty text matches every task."""
    needle = text.strip().casefold()
    return needle in str(task.id) or needle in task.name.casefold()


def pick(tasks: Iterable[Task], ref: int | str) -> Task:
    """The task `ref` names: an id, then an exact name (case-insensitive), then the one task
    whose name contains it (an id is never matched in part: `remove 1` must not find task 10).
    Raises TaskNotFound when none does, AmbiguousTask (listing
    them) when several do."""
    every = list(tasks)
    text = str(ref).strip()
    as_id = isinstance(ref, int) or looks_like_id(text)
    if as_id:
        by_id = [t for t in every if t.id == int(text)]
        if by_id:
            return by_id[0]
    exact = [t for t in every if t.name.casefold() == text.casefold()]
    if len(exact) == 1:
        return exact[0]
    needle = text.casefold()
    found = [t for t in every if needle in t.name.casefold()] if text else []
    if len(found) == 1:
        return found[0]
    if not found:
        raise TaskNotFound(int(text) if as_id else text)
    return _ambiguous(text, found)


def _ambiguous(text: str, found: list[Task]) -> Task:
    raise AmbiguousTask(text, [(t.stored_id, t.name) for t in found])
