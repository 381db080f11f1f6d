"""The watchdog: `taskagent doctor --watch` run by a timer, outside the scheduler's process.

A failing check notifies once; while it keeps failing, later runs stay quiet; when it passes
again, one "recovered" message follows. What was notified is kept in a small JSON state file
(the watchdog is a new process every time). A check missing from a run (it could not be made,
e.g. the scheduler's line without a readable database) neither notifies nor recovers.

Notifications go through `send(title, body, severity)`: the composition root passes the
notifier's `notify_notice`, so the watchdog reaches every way the notifier delivers.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from taskagent.core.clock import SYSTEM_CLOCK, Clock
from taskagent.core.health.report import Check, Level
from taskagent.core.models import to_iso

log = logging.getLogger(__name__)

Severity = Literal["information", "warning", "error"]
Send = Callable[[str, str, Severity], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Sent:
    """One notification the watchdog sent: about a new problem, or a recovery."""

    name: str
    kind: Literal["problem", "recovered"]
    title: str
    body: str


class Watchdog:
    def __init__(self, state_file: Path, send: Send, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.state_file = state_file
        self.send = send
        self.clock = clock

    def open_problems(self) -> dict[str, dict[str, Any]]:
        """The problems notified and not yet recovered: name -> {since, message}."""
        try:
            data = json.loads(self.state_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("watchdog state %s unreadable (%s); starting afresh", self.state_file, exc)
            return {}
        problems = data.get("problems") if isinstance(data, dict) else None
        return dict(problems) if isinstance(problems, dict) else {}

    def _save(self, problems: dict[str, dict[str, Any]]) -> None:
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.state_file.with_name(self.state_file.name + ".tmp")
        temporary.write_text(json.dumps({"problems": problems}, indent=2), encoding="utf-8")
        os.replace(temporary, self.state_file)

    async def observe(self, checks: Sequence[Check]) -> list[Sent]:
        """Notify what is new among the failures and what recovered; returns what was sent."""
        problems = self.open_problems()
        seen = {check.name: check for check in checks}
        sent: list[Sent] = []
        for check in checks:
            if check.level is Level.FAIL and check.name not in problems:
                note = self._problem(check)
                if await self._deliver(note, "error"):
                    problems[check.name] = {
                        "since": to_iso(self.clock.now()),
                        "message": check.message,
                    }
                    sent.append(note)
        for name in list(problems):
            now_seen = seen.get(name)
            if now_seen is None or now_seen.level is Level.FAIL:
                continue
            note = self._recovered(now_seen, problems[name])
            if await self._deliver(note, "information"):
                del problems[name]
                sent.append(note)
        self._save(problems)
        return sent

    @staticmethod
    def _problem(check: Check) -> Sent:
        body = check.message + (f"\nFix: {check.fix}" if check.fix else "")
        return Sent(check.name, "problem", f"taskagent: {check.name} failing", body)

    @staticmethod
    def _recovered(check: Check, was: dict[str, Any]) -> Sent:
        since = was.get("since")
        body = f"{check.message} (failing since {since})" if since else check.message
        return Sent(check.name, "recovered", f"taskagent: {check.name} recovered", body)

    async def _deliver(self, note: Sent, severity: Severity) -> bool:
        try:
            await self.send(note.title, note.body, severity)
        except Exception as exc:  # kept open: the next run tries again
            log.warning("watchdog notification %r failed: %s", note.title, exc)
            return False
        log.info("watchdog: %s: %s", note.title, note.body.splitlines()[0])
        return True
