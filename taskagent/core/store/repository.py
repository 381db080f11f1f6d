"""`Repository`: the one object the rest of taskagent uses to reach the database.

It is composed of one mixin per table group, all built on `Store` (core/store/connection.py:
one connection, the write path of core/store/writer.py, migrations, reads):

  TaskQueries      tasks.py      tasks, run-time bookkeeping
  RunQueries       runs.py       run history, the slot rule, retention, interrupted runs
  SettingsQueries  settings.py   settings
  LeaseQueries     lease.py      scheduler lease, run requests
  AiUsageQueries   ledger.py     the AI ledger
  DeliveryQueries  delivery_queries.py  a task's channels, delivery receipts

Row mapping (Task/Run to columns and back) is in rows.py, the errors in errors.py.
"""

from __future__ import annotations

from taskagent.core.store.delivery_queries import DeliveryQueries
from taskagent.core.store.lease_queries import LeaseQueries
from taskagent.core.store.ledger_queries import AiUsageQueries
from taskagent.core.store.run_queries import RunQueries
from taskagent.core.store.settings_queries import SettingsQueries
from taskagent.core.store.task_queries import TaskQueries


class Repository(
    TaskQueries, RunQueries, SettingsQueries, LeaseQueries, AiUsageQueries, DeliveryQueries
):
    """Async access to the taskagent database. Create with `await Repository.open(path)`."""
