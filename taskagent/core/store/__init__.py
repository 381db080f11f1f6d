"""The taskagent database (SQLite via aiosqlite): `Repository` and its errors.

Layout: connection.py (open, pragmas, migrations, reads), writer.py (the write path: every
write transaction), rows.py (row mapping), one query module per table group
(task_queries.py, run_queries.py, settings_queries.py, lease_queries.py, ledger_queries.py)
and repository.py, which composes them.
"""

from taskagent.core.errors import TaskNotFound
from taskagent.core.store.errors import (
    DatabaseBusy,
    DatabaseUnusable,
    DuplicateTaskName,
    RepositoryError,
    RunAlreadyFinished,
    RunNotFound,
    SchemaError,
    SchemaTooNew,
)
from taskagent.core.store.repository import Repository
from taskagent.core.store.run_queries import SlotClaim

__all__ = [
    "DatabaseBusy",
    "DatabaseUnusable",
    "DuplicateTaskName",
    "Repository",
    "RepositoryError",
    "RunAlreadyFinished",
    "RunNotFound",
    "SchemaError",
    "SchemaTooNew",
    "SlotClaim",
    "TaskNotFound",
]
