"""`Repository`: the one object the rest of taskagent uses to reach the database.

It is composed of one mixin per table group, all built on `Store` (core/store/connection.py:
one connection, the write path of core/store/writer.py, migrations, reads):

  TaskQueries      tasks.py      tasks, run-time bookkeeping
  RunQueries       runs.py       run history, the slot rule, retention, interrupted runs
  SettingsQueries  settings.py   settings
  LeaseQueries     lease.py      scheduler lease, run requests
  AiUsageQueries   ledger.py     the AI ledger

Row mapping (Task/Run to columns and back) is in rows.py, the errors in errors.py.
"""

from __future__ import annotations

from taskagent.core.store.lease import LeaseQueries
from taskagent.core.store.ledger import AiUsageQueries
from taskagent.core.store.runs import RunQueries
from taskagent.core.store.settings import SettingsQueries
from taskagent.core.store.tasks import TaskQueries


class Repository(TaskQueries, RunQueries, SettingsQueries, LeaseQueries, AiUsageQueries):
    """Async access to the taskagent database. Create with `await Repository.open(path)`."""
