"""What receipts mean to the person: the mark of a notification that did not arrive, and the
severity a toast of a logged one gets."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Literal

from taskagent.core.store.delivery_queries import FAILED, SENT, UNKNOWN, Receipt

Severity = Literal["information", "warning", "error"]

UNDELIVERED_MARK = "✉✗"  # a notification that reached none of its ways on some channel
UNKNOWN_MARK = "✉?"  # one whose sending was cut off: whether it arrived is not known


def delivery_mark(receipts: Sequence[Receipt]) -> str:
    """The mark of a run whose notification did not arrive everywhere ("" when it did): a
    failed channel whose fallback did not deliver either, or an unknown one."""
    rescued = {r.fallback_of for r in receipts if r.fallback_of is not None and r.status == SENT}
    if any(r.status == FAILED and r.id not in rescued for r in receipts):
        return UNDELIVERED_MARK
    if any(r.status == UNKNOWN for r in receipts):
        return UNKNOWN_MARK
    return ""


def receipt_severity(kind: str) -> Severity:
    """The severity of a notification of this kind (receipts keep the kind)."""
    if kind == "failure":
        return "error"
    return "warning" if kind == "significant" else "information"


def delivery_marks(receipts: Sequence[Receipt]) -> dict[int, str]:
    """Run id -> its mark, for the runs with one."""
    by_run: dict[int, list[Receipt]] = defaultdict(list)
    for receipt in receipts:
        if receipt.run_id is not None:
            by_run[receipt.run_id].append(receipt)
    marks = {run_id: delivery_mark(group) for run_id, group in by_run.items()}
    return {run_id: mark for run_id, mark in marks.items() if mark}
