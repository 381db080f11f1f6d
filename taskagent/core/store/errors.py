"""Errors the store raises on purpose (all `RepositoryError`, under `TaskAgentError`)."""

from __future__ import annotations

from pathlib import Path

from taskagent.core.errors import TaskAgentError

__all__ = [
    "DatabaseBusy",
    "DuplicateTaskName",
    "RepositoryError",
    "RunNotFound",
    "SchemaError",
    "SchemaTooNew",
]


class RepositoryError(TaskAgentError):
    """Base class for every error raised on purpose by the repository."""


class DuplicateTaskName(RepositoryError):
    """Another task already has this name (names are unique, ASCII case-insensitively)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"a task named {name!r} already exists (names ignore case)")
        self.name = name


class RunNotFound(RepositoryError, KeyError):
    """The history row does not exist (any more, e.g. pruned)."""

    def __init__(self, run_id: int | None) -> None:
        super().__init__(f"run {run_id} does not exist")
        self.run_id = run_id

    def __str__(self) -> str:
        return str(self.args[0])


class RunAlreadyFinished(RepositoryError):
    """A write meant to finish a run found its row finished already (another process took the
    lease over meanwhile and recorded it `interrupted`): a finished row is never rewritten."""

    def __init__(self, run_id: int, status: str) -> None:
        super().__init__(f"run {run_id} was already recorded as {status}")
        self.run_id = run_id
        self.status = status


class SchemaError(RepositoryError):
    """The file is not a taskagent database we can use."""


class SchemaTooNew(SchemaError):
    """The database was migrated by a newer taskagent than this one."""

    def __init__(self, path: Path, found: int, known: int) -> None:
        super().__init__(
            f"{path} has schema version {found}, but this taskagent only knows up to "
            f"version {known}; upgrade taskagent (or use another TASKAGENT_HOME)"
        )
        self.found = found
        self.known = known


class DatabaseBusy(RepositoryError):
    """Another process held the write lock for longer than the busy timeout."""

    transient = True


class DatabaseUnusable(SchemaError):
    """The database file cannot be opened, read or written; says what to do. The file is left
    as it is."""

    def __init__(self, path: Path, problem: str, fix: str) -> None:
        super().__init__(f"the database {path} {problem}: {fix}")
        self.path = path
