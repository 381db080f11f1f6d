"""The SQL of alert rules (`alert_rules`, `alert_firings`, `alert_options`), over the
repository's connection and write path."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from taskagent.core.alerts.evaluate import Firing, RuleState
from taskagent.core.alerts.grammar import Rule, parse_rule
from taskagent.core.models import from_iso, to_iso
from taskagent.core.store import Repository


@dataclass(frozen=True, slots=True)
class StoredRule:
    rule: Rule
    state: RuleState


@dataclass(frozen=True, slots=True)
class Verdict:
    """The run's significance as the rules decide it (written over the % rule's)."""

    significant: bool
    reason: str


def _state_of(row: Any) -> RuleState:
    try:
        extra = json.loads(row["state"] or "{}")
    except ValueError:
        extra = {}
    armed = tuple(a if a is None else bool(a) for a in extra.get("armed", []))
    return RuleState(
        armed=armed,
        last_value=row["last_value"],
        last_fired_at=from_iso(row["last_fired_at"]),
        fired=int(row["fired_count"] or 0),
        last_run_id=row["last_run_id"],
    )


def _state_values(state: RuleState) -> tuple[Any, ...]:
    return (
        json.dumps({"armed": list(state.armed)}),
        state.last_value,
        to_iso(state.last_fired_at),
        state.fired,
        state.last_run_id,
    )


def _when(text: str) -> datetime:
    moment = from_iso(text)
    assert moment is not None  # the column is NOT NULL
    return moment


_STATE_SET = "state = ?, last_value = ?, last_fired_at = ?, fired_count = ?, last_run_id = ?"


class AlertStore:
    def __init__(self, repo: Repository) -> None:
        self.repo = repo

    async def rules(self, task_id: int) -> list[StoredRule]:
        rows = await self.repo.fetchall(
            "SELECT rule, state, last_value, last_fired_at, fired_count, last_run_id "
            "FROM alert_rules WHERE task_id = ? ORDER BY position",
            (task_id,),
        )
        return [StoredRule(parse_rule(row["rule"]), _state_of(row)) for row in rows]

    async def rules_by_task(self) -> dict[int, list[str]]:
        rows = await self.repo.fetchall(
            "SELECT task_id, rule FROM alert_rules ORDER BY task_id, position"
        )
        out: dict[int, list[str]] = {}
        for row in rows:
            out.setdefault(int(row["task_id"]), []).append(str(row["rule"]))
        return out

    async def keep_threshold(self, task_id: int) -> bool:
        row = await self.repo.fetchone(
            "SELECT keep_threshold FROM alert_options WHERE task_id = ?", (task_id,)
        )
        return bool(row and row["keep_threshold"])

    async def set_rules(
        self,
        task_id: int,
        rules: Sequence[Rule],
        *,
        keep_threshold: bool | None = None,
        states: dict[str, RuleState] | None = None,
    ) -> None:
        """The task's rules become `rules` (in order). A rule whose text was there keeps its
        state; `states` (an import) gives the state of the others. `keep_threshold`: whether
        the % rule still decides significance too (None: unchanged)."""
        texts = [r.text for r in rules]
        given = states or {}
        async with self.repo.write() as db:
            marks = ", ".join("?" * len(texts))
            await db.execute(
                f"DELETE FROM alert_rules WHERE task_id = ? AND rule NOT IN ({marks})",
                (task_id, *texts),
            )
            for position, text in enumerate(texts):
                await db.execute(
                    "INSERT INTO alert_rules (task_id, position, rule) VALUES (?, ?, ?) "
                    "ON CONFLICT (task_id, rule) DO UPDATE SET position = excluded.position",
                    (task_id, position, text),
                )
                if text in given:
                    await db.execute(
                        f"UPDATE alert_rules SET {_STATE_SET} WHERE task_id = ? AND rule = ?",
                        (*_state_values(given[text]), task_id, text),
                    )
            if keep_threshold is not None:
                await db.execute(
                    "INSERT INTO alert_options (task_id, keep_threshold) VALUES (?, ?) "
                    "ON CONFLICT (task_id) DO UPDATE SET keep_threshold = excluded.keep_threshold",
                    (task_id, int(keep_threshold)),
                )

    async def commit(
        self,
        task_id: int,
        run_id: int,
        states: dict[str, RuleState],
        firings: Sequence[Firing],
        verdict: Verdict | None,
    ) -> None:
        """One evaluation in one transaction: the rules' new states, the firings and the run's
        significance."""
        async with self.repo.write() as db:
            for text, state in states.items():
                await db.execute(
                    f"UPDATE alert_rules SET {_STATE_SET} WHERE task_id = ? AND rule = ?",
                    (*_state_values(state), task_id, text),
                )
            await db.executemany(
                "INSERT INTO alert_firings (run_id, task_id, rule, at, value, level, reason) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (f.run_id, task_id, f.rule, to_iso(f.at), f.value, f.level, f.reason)
                    for f in firings
                ],
            )
            if verdict is not None:
                await db.execute(
                    "UPDATE task_history SET significant = ?, significance_reason = ? WHERE id = ?",
                    (int(verdict.significant), verdict.reason, run_id),
                )

    async def firings(
        self, *, task_id: int | None = None, run_ids: Iterable[int] | None = None
    ) -> list[Firing]:
        """Firings of a task and/or of some runs, oldest first."""
        where: list[str] = []
        params: list[Any] = []
        if task_id is not None:
            where.append("task_id = ?")
            params.append(task_id)
        if run_ids is not None:
            ids = sorted(set(run_ids))
            if not ids:
                return []
            where.append(f"run_id IN ({', '.join('?' * len(ids))})")
            params.extend(ids)
        sql = "SELECT run_id, rule, at, value, level, reason FROM alert_firings"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = await self.repo.fetchall(sql + " ORDER BY id", params)
        return [
            Firing(
                rule=row["rule"],
                run_id=int(row["run_id"]),
                at=_when(row["at"]),
                value=row["value"],
                reason=row["reason"],
                level=row["level"],
            )
            for row in rows
        ]
