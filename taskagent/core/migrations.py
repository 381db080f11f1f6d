"""Numbered schema migrations for the taskagent SQLite database.

`MIGRATIONS[n - 1]` upgrades a database from `PRAGMA user_version = n - 1` to `n`. The list is
append-only: never edit a migration that has shipped, add a new one instead. The repository
applies them inside one `BEGIN IMMEDIATE` transaction and sets `user_version` in the same
transaction, so a crash or a second process never sees a half-migrated schema.

The seed's tables and column names (`tasks`, `task_history`) are kept exactly, so users can
query the file with the `sqlite3` shell; everything else is extra columns and tables.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

# Migration 1: the seed's schema plus the columns of models.Task / models.Run, settings.
# Notes:
#  * Timestamps are ISO 8601 text in UTC with an offset (models.to_iso), so text order is time
#    order and `run_time >= ?` comparisons work.
#  * AUTOINCREMENT: ids are shown to users (`taskagent tasks run 7`) and used as change/paging
#    cursors, so a deleted id is never handed out again.
#  * `trigger` is an SQLite keyword that is also allowed as a column name; we quote it anyway.
#  * ix_task_history_task covers (task_id, id) for paging and also status/duration_ms, so
#    per-task stats and counts are answered from the index without reading raw_data.
_MIGRATION_1 = """
CREATE TABLE tasks (
    id                     INTEGER PRIMARY KEY AUTOINCREMENT,
    name                   TEXT    NOT NULL,
    description            TEXT    NOT NULL DEFAULT '',
    schedule_type          TEXT    NOT NULL,
    schedule_value         TEXT    NOT NULL,
    mcp_tool               TEXT    NOT NULL,
    tool_args              TEXT    NOT NULL DEFAULT '{}',
    use_ai_summary         INTEGER NOT NULL DEFAULT 1 CHECK (use_ai_summary IN (0, 1)),
    notification_level     TEXT    NOT NULL DEFAULT 'all',
    enabled                INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_at             TEXT    NOT NULL,
    last_run               TEXT,
    next_run               TEXT,
    paused                 INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
    timezone               TEXT    NOT NULL DEFAULT 'UTC',
    significance_threshold REAL    NOT NULL DEFAULT 5.0,
    misfire_policy         TEXT    NOT NULL DEFAULT 'once',
    timeout_seconds        REAL    NOT NULL DEFAULT 60.0,
    updated_at             TEXT    NOT NULL
);

CREATE UNIQUE INDEX ux_tasks_name ON tasks (name COLLATE NOCASE);

CREATE TABLE task_history (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id             INTEGER NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    run_time            TEXT    NOT NULL,
    status              TEXT    NOT NULL,
    duration_ms         INTEGER,
    raw_data            TEXT,
    ai_summary          TEXT,
    error_message       TEXT,
    finished_at         TEXT,
    scheduled_time      TEXT,
    "trigger"           TEXT    NOT NULL DEFAULT 'schedule',
    summarizer          TEXT,
    significant         INTEGER CHECK (significant IN (0, 1)),
    significance_reason TEXT,
    attempts            INTEGER NOT NULL DEFAULT 1,
    prompt_tokens       INTEGER,
    response_tokens     INTEGER
);

CREATE INDEX ix_task_history_task ON task_history (task_id, id, status, duration_ms);
CREATE INDEX ix_task_history_status ON task_history (status, id);
CREATE INDEX ix_task_history_run_time ON task_history (run_time);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

# Migration 2: one scheduler per database. `scheduler_lease` holds at most one row: the process
# that runs the scheduler, kept alive by a heartbeat; `run_requests` is how other processes (the
# CLI, an attached app, the background MCP server) ask that process to run a task now.
_MIGRATION_2 = """
CREATE TABLE scheduler_lease (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    holder       TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    pid          INTEGER NOT NULL,
    host         TEXT    NOT NULL,
    started_at   TEXT    NOT NULL,
    heartbeat_at TEXT    NOT NULL
);
CREATE TABLE run_requests (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id      INTEGER NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    requested_at TEXT    NOT NULL,
    requested_by TEXT    NOT NULL,
    state        TEXT    NOT NULL DEFAULT 'pending',
    run_id       INTEGER,
    error        TEXT
);
CREATE INDEX ix_run_requests_state ON run_requests (state, id);
"""

# Migration 3: the chat's conversation (core/chat/store.py). One row per google-genai `Content`
# (content_json is `Content.model_dump(mode="json")`, so thoughtSignature bytes round-trip as
# base64). role: user (typed text) | model | tool (functionResponse parts) | summary (the text
# /compress made of older turns). `turn` groups the rows of one user message and its tool
# rounds; token counts are the usage of the model request that produced a row. `/compress`
# sets in_context = 0 on the turns it summarised (they stay for /tokens); `/clear` deletes.
_MIGRATION_3 = """
CREATE TABLE chat_messages (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    session         TEXT    NOT NULL DEFAULT 'default',
    turn            INTEGER NOT NULL,
    role            TEXT    NOT NULL,
    content_json    TEXT    NOT NULL,
    created_at      TEXT    NOT NULL,
    prompt_tokens   INTEGER,
    response_tokens INTEGER,
    in_context      INTEGER NOT NULL DEFAULT 1 CHECK (in_context IN (0, 1))
);
CREATE INDEX ix_chat_messages_session ON chat_messages (session, in_context, id);
"""

# Migration 4: why a run's summary is not Gemini's (quota, bad key, outage...), so history
# shows it next to the offline summary that was used instead.
_MIGRATION_4 = """
ALTER TABLE task_history ADD COLUMN summary_note TEXT;
"""

# Migration 5: history outlives its task. Removing a task keeps its runs (no data is lost, and
# a run in flight when its task is removed still finishes and is recorded), so task_history has
# no foreign key to tasks. SQLite cannot drop a foreign key in place, so the table is rebuilt
# with the same columns and ids.
_MIGRATION_5 = """
CREATE TABLE task_history_v5 (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id             INTEGER NOT NULL,
    run_time            TEXT    NOT NULL,
    status              TEXT    NOT NULL,
    duration_ms         INTEGER,
    raw_data            TEXT,
    ai_summary          TEXT,
    error_message       TEXT,
    finished_at         TEXT,
    scheduled_time      TEXT,
    "trigger"           TEXT    NOT NULL DEFAULT 'schedule',
    summarizer          TEXT,
    significant         INTEGER CHECK (significant IN (0, 1)),
    significance_reason TEXT,
    attempts            INTEGER NOT NULL DEFAULT 1,
    prompt_tokens       INTEGER,
    response_tokens     INTEGER,
    summary_note        TEXT
);
INSERT INTO task_history_v5 (id, task_id, run_time, status, duration_ms, raw_data, ai_summary,
    error_message, finished_at, scheduled_time, "trigger", summarizer, significant,
    significance_reason, attempts, prompt_tokens, response_tokens, summary_note)
SELECT id, task_id, run_time, status, duration_ms, raw_data, ai_summary, error_message,
    finished_at, scheduled_time, "trigger", summarizer, significant, significance_reason,
    attempts, prompt_tokens, response_tokens, summary_note
FROM task_history;
DROP TABLE task_history;
ALTER TABLE task_history_v5 RENAME TO task_history;
CREATE INDEX ix_task_history_task ON task_history (task_id, id, status, duration_ms);
CREATE INDEX ix_task_history_status ON task_history (status, id);
CREATE INDEX ix_task_history_run_time ON task_history (run_time);
"""

# Migration 6: every slot accounted for (core/slots.py). `misfire_grace_seconds`: a run later
# than its slot by at most this still runs (else the slot is `missed`). `done_at`: when a one-shot
# task's only slot was accounted for; it is never re-armed unless its time is edited.
# `slot_end`: the last slot a `missed` row covers (several missed slots in a row are one row,
# from `scheduled_time` to `slot_end`).
_MIGRATION_6 = """
ALTER TABLE tasks ADD COLUMN misfire_grace_seconds INTEGER NOT NULL DEFAULT 60;
ALTER TABLE tasks ADD COLUMN done_at TEXT;
ALTER TABLE task_history ADD COLUMN slot_end TEXT;
"""

# Migration 7: AI cost under control (core/ai_ledger.py, core/budget.py).
#  * `tasks.summary_mode`: always | changes | off. The seed's `use_ai_summary` keeps its meaning
#    (0 = off, 1 = always or changes); tasks that had it at 0 start as `off`.
#  * `ai_usage`: the ledger, one row per Gemini request that reported usage (run summaries and
#    chat turns): when (UTC ISO text, so text order is time order), what for (`kind` summary |
#    chat | compress, `task_id` for summaries), the model, prompt and response tokens (thinking
#    included), and the cost estimated from the price table in force at the time (NULL when
#    the model had no price). No foreign key: the spend of a removed task stays counted.
_MIGRATION_7 = """
ALTER TABLE tasks ADD COLUMN summary_mode TEXT NOT NULL DEFAULT 'always';
UPDATE tasks SET summary_mode = 'off' WHERE use_ai_summary = 0;
CREATE TABLE ai_usage (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    at              TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    task_id         INTEGER,
    model           TEXT    NOT NULL,
    prompt_tokens   INTEGER NOT NULL DEFAULT 0,
    response_tokens INTEGER NOT NULL DEFAULT 0,
    cost_usd        REAL
);
CREATE INDEX ix_ai_usage_at ON ai_usage (at);
CREATE INDEX ix_ai_usage_task ON ai_usage (task_id, at);
"""

# Migration 8: consent bound to what runs (core/tasks/consent.py). `consent_tool`: the task's
# tool resolved to "server:tool" at save; `consent_kind`: read_only | write; `consent_digest`:
# what a write approval covers (tool, arguments, schedule). NULL: saved before they existed.
_MIGRATION_8 = """
ALTER TABLE tasks ADD COLUMN consent_tool TEXT;
ALTER TABLE tasks ADD COLUMN consent_kind TEXT;
ALTER TABLE tasks ADD COLUMN consent_digest TEXT;
"""

# Migration 9: alert rules (core/alerts/).
#  * `alert_rules`: a task's rules in order, each its canonical text (unique per task) and its
#    state (`state`: JSON of the arming per trigger; the last value, firing, count and the last
#    run evaluated as columns, readable with sqlite3). Setting a task's rules keeps the state of
#    a rule whose text is unchanged.
#  * `alert_firings`: one row per rule that fired, on the run it fired on (History shows it).
#  * `alert_options`: per task, whether the % rule still decides significance beside the rules.
_MIGRATION_9 = """
CREATE TABLE alert_rules (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id       INTEGER NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    position      INTEGER NOT NULL,
    rule          TEXT    NOT NULL,
    state         TEXT    NOT NULL DEFAULT '{}',
    last_value    REAL,
    last_fired_at TEXT,
    fired_count   INTEGER NOT NULL DEFAULT 0,
    last_run_id   INTEGER,
    UNIQUE (task_id, rule)
);
CREATE TABLE alert_firings (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id  INTEGER NOT NULL REFERENCES task_history (id) ON DELETE CASCADE,
    task_id INTEGER NOT NULL,
    rule    TEXT    NOT NULL,
    at      TEXT    NOT NULL,
    value   REAL,
    level   REAL,
    reason  TEXT    NOT NULL
);
CREATE INDEX ix_alert_firings_run ON alert_firings (run_id);
CREATE INDEX ix_alert_firings_task ON alert_firings (task_id, at);
CREATE TABLE alert_options (
    task_id        INTEGER PRIMARY KEY REFERENCES tasks (id) ON DELETE CASCADE,
    keep_threshold INTEGER NOT NULL DEFAULT 0 CHECK (keep_threshold IN (0, 1))
);
"""

# Migration 10: catch-up freshness: missed slots older than this many seconds get no catch-up (0: any age).
_MIGRATION_10 = """
ALTER TABLE tasks ADD COLUMN catch_up_within_seconds INTEGER NOT NULL DEFAULT 0;
"""

# Migration 11: delivery you can trust (core/delivery.py).
#  * `task_delivery`: a task's own channels (a JSON list as written: `desktop`, a name from
#    [notify.named] or an Apprise URL; empty = the [notify] channels), whether its
#    notifications are urgent (they go through quiet hours), and its own quiet hours (NULL =
#    the [notify] window, '' = none) and its digest period ("daily 08:00": one message per
#    period instead of one per run; NULL = [notify] digest, '' = none).
#  * `deliveries`: the receipt of one notification on one channel: queued, sending, sent,
#    failed, held (quiet hours), digested (sent inside a digest), unknown (the process ended
#    while it was sending). `channel` is what is shown (a name, `desktop` or a masked URL);
#    `target` what is sent to (the channel as written). `fallback_of`: the receipt this one is
#    the fallback of. `hold_until`: when a held notification's window ends (UTC ISO text).
#    `via`: how a `desktop` delivery was shown (desktop, in-app, log; `app` once an attached
#    app showed a daemon's log-only notification as a toast).
_MIGRATION_11 = """
CREATE TABLE task_delivery (
    task_id     INTEGER PRIMARY KEY REFERENCES tasks (id) ON DELETE CASCADE,
    channels    TEXT    NOT NULL DEFAULT '[]',
    urgent      INTEGER NOT NULL DEFAULT 0 CHECK (urgent IN (0, 1)),
    quiet_hours TEXT,
    digest      TEXT
);
CREATE TABLE deliveries (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id      INTEGER,
    task_id     INTEGER,
    channel     TEXT    NOT NULL,
    target      TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    kind        TEXT    NOT NULL DEFAULT '',
    urgent      INTEGER NOT NULL DEFAULT 0,
    title       TEXT    NOT NULL DEFAULT '',
    body        TEXT    NOT NULL DEFAULT '',
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL,
    hold_until  TEXT,
    fallback_of INTEGER,
    via         TEXT
);
CREATE INDEX ix_deliveries_run ON deliveries (run_id);
CREATE INDEX ix_deliveries_status ON deliveries (status, hold_until);
CREATE INDEX ix_deliveries_updated ON deliveries (updated_at);
"""

MIGRATIONS: tuple[str, ...] = (
    _MIGRATION_1,
    _MIGRATION_2,
    _MIGRATION_3,
    _MIGRATION_4,
    _MIGRATION_5,
    _MIGRATION_6,
    _MIGRATION_7,
    _MIGRATION_8,
    _MIGRATION_9,
    _MIGRATION_10,
    _MIGRATION_11,
)
"""Schema scripts; the schema version after applying `MIGRATIONS[:n]` is `n`."""

SCHEMA_VERSION: int = len(MIGRATIONS)


def split_statements(script: str) -> Iterator[str]:
    """Yield the complete SQL statements of `script`, one at a time.

    `sqlite3.Cursor.executescript` COMMITs any open transaction first, which would break the
    single-transaction migration, so statements are run one by one instead.
    `sqlite3.complete_statement` knows about string literals, comments and trigger bodies.
    """
    buffer: list[str] = []
    for line in script.splitlines(keepends=True):
        buffer.append(line)
        candidate = "".join(buffer)
        if sqlite3.complete_statement(candidate):
            statement = candidate.strip()
            if statement.rstrip(";").strip():
                yield statement
            buffer.clear()
    rest = "".join(buffer).strip()
    if rest and not all(line.strip().startswith("--") for line in rest.splitlines()):
        raise ValueError(f"incomplete SQL statement at end of migration: {rest[:80]!r}")
