"""The `settings` table: JSON values under text keys."""

from __future__ import annotations

import json
from typing import Any

from taskagent.core.store.connection import Store

_UPSERT = (
    "INSERT INTO settings (key, value) VALUES (?, ?) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)


class SettingsQueries(Store):
    """Key/value settings shared by every process on the database."""

    async def get_setting(self, key: str, default: Any = None) -> Any:
        row = await self._fetchone("SELECT value FROM settings WHERE key = ?", (key,))
        return default if row is None else json.loads(row[0])

    async def set_setting(self, key: str, value: Any) -> None:
        """Store a JSON-serialisable value under `key` (insert or replace)."""
        text = json.dumps(value)
        async with self._write() as db:
            await db.execute(_UPSERT, (key, text))

    async def set_setting_if_changed(self, key: str, value: Any) -> bool:
        """Compare-and-set: store `value` unless `key` already holds it, in one transaction.
        True when this call changed it (e.g. the first process to announce something today)."""
        async with self._write() as db:
            rows = list(
                await db.execute_fetchall("SELECT value FROM settings WHERE key = ?", (key,))
            )
            if rows and json.loads(rows[0][0]) == value:
                return False
            await db.execute(_UPSERT, (key, json.dumps(value)))
        return True

    async def delete_setting(self, key: str) -> bool:
        async with self._write() as db:
            cursor = await db.execute("DELETE FROM settings WHERE key = ?", (key,))
            deleted = cursor.rowcount > 0
            await cursor.close()
        return deleted
