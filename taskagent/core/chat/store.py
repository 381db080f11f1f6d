"""ChatStore: everything the chat keeps in the database, and the only chat code with SQL.

The conversation is the `chat_messages` table (migration 3): one row per google-genai
`Content`, written when a turn ends. /compress marks the replaced rows `in_context = 0` (they
stay for /tokens) and adds one `summary` row. The model, instruction and generation settings
are per-session keys of the settings table (``chat.<session>.<name>``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from taskagent.core.chat.messages import (
    History,
    StoredMessage,
    TurnTokens,
    content_from_json,
    content_to_json,
    text_of,
)
from taskagent.core.chat.text import one_line

if TYPE_CHECKING:
    import aiosqlite

    from taskagent.core.store import Repository

log = logging.getLogger(__name__)

_INSERT = (
    "INSERT INTO chat_messages (session, turn, role, content_json, created_at, "
    "prompt_tokens, response_tokens) VALUES (?, ?, ?, ?, ?, ?, ?)"
)


class ChatStore:
    """One session's conversation and settings, through the Repository's connection (reads)
    and its write path (one transaction per change)."""

    def __init__(self, repo: Repository, session: str) -> None:
        self.repo = repo
        self.session = session

    # ------------------------------------------------------------------- settings
    def _key(self, name: str) -> str:
        return f"chat.{self.session}.{name}"

    async def get_setting(self, name: str, default: Any) -> Any:
        return await self.repo.get_setting(self._key(name), default)

    async def set_setting(self, name: str, value: Any) -> None:
        await self.repo.set_setting(self._key(name), value)

    async def delete_setting(self, name: str) -> None:
        await self.repo.delete_setting(self._key(name))

    # ---------------------------------------------------------------- conversation
    async def load(self) -> History:
        """The conversation in context (unreadable rows are skipped) and the last turn."""
        rows = await self.repo.fetchall(
            "SELECT id, turn, role, content_json, prompt_tokens, response_tokens "
            "FROM chat_messages WHERE session = ? AND in_context = 1 ORDER BY id",
            (self.session,),
        )
        history = History()
        for row in rows:
            try:
                content = content_from_json(row[3])
            except ValueError:
                log.warning("chat message %s is unreadable; skipped", row[0])
                continue
            msg = StoredMessage(row[1], row[2], content, row[4], row[5], row[0])
            if msg.role == "summary":
                history.summary = msg
            else:
                history.context.append(msg)
        last = await self.repo.fetchone(
            "SELECT MAX(turn) FROM chat_messages WHERE session = ?", (self.session,)
        )
        history.last_turn = int(last[0] or 0)
        return history

    async def _insert(self, db: aiosqlite.Connection, message: StoredMessage, now: str) -> None:
        cursor = await db.execute(
            _INSERT,
            (
                self.session,
                message.turn,
                message.role,
                content_to_json(message.content),
                now,
                message.prompt_tokens,
                message.response_tokens,
            ),
        )
        message.id = cursor.lastrowid
        await cursor.close()

    async def append(self, messages: Sequence[StoredMessage], now: str) -> None:
        """Write the messages of a turn (in one transaction); each gets its row id."""
        async with self.repo.write() as db:
            for message in messages:
                await self._insert(db, message, now)

    async def replace_with_summary(
        self, replaced: Iterable[int], summary: StoredMessage, now: str
    ) -> None:
        """/compress: take the rows `replaced` out of the context and add `summary`."""
        async with self.repo.write() as db:
            await db.executemany(
                "UPDATE chat_messages SET in_context = 0 WHERE id = ?", [(i,) for i in replaced]
            )
            await self._insert(db, summary, now)

    async def clear(self) -> None:
        """Delete the whole conversation (settings stay)."""
        async with self.repo.write() as db:
            await db.execute("DELETE FROM chat_messages WHERE session = ?", (self.session,))

    # ---------------------------------------------------------------------- tokens
    async def token_usage(self) -> list[TurnTokens]:
        """Prompt/response tokens per turn (compressed turns included), labelled with the
        user's message or "/compress"."""
        rows = await self.repo.fetchall(
            "SELECT turn, role, content_json, prompt_tokens, response_tokens "
            "FROM chat_messages WHERE session = ? ORDER BY id",
            (self.session,),
        )
        turns: dict[int, list[Any]] = {}
        for turn, role, content_json, prompt, response in rows:
            entry = turns.setdefault(turn, ["", 0, 0])
            if role == "summary":
                entry[0] = "/compress"
            elif role == "user" and not entry[0]:
                try:
                    entry[0] = one_line(text_of(content_from_json(content_json)), 40)
                except ValueError:
                    entry[0] = "?"
            entry[1] += prompt or 0
            entry[2] += response or 0
        return [TurnTokens(t, e[0], e[1], e[2]) for t, e in sorted(turns.items())]

    async def compressed_turns(self) -> set[int]:
        """Turns /compress replaced by its summary (kept in the database, not sent any more)."""
        rows = await self.repo.fetchall(
            "SELECT DISTINCT turn FROM chat_messages "
            "WHERE session = ? AND in_context = 0 AND role != 'summary'",
            (self.session,),
        )
        return {int(row[0]) for row in rows}
