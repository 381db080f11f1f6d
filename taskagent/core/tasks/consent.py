"""Consent bound to what runs: which tool a task may call unattended, and on what terms.

At save the task's tool reference is resolved to `server:tool` and stored with the consent it
was saved under:

* `read_only`: the server annotated the tool read-only then; no approval was needed, and its
  arguments and schedule may change freely while it stays so;
* `write`: the user approved this exact tool running unattended with these arguments on this
  schedule (`digest` covers the three). Changing any of them needs the approval again.

Before every run the same resolution is made again (`problem`): a tool that now resolves to
another server's tool, a read-only tool that lost its `readOnlyHint`, or a write task whose
tool, arguments or schedule no longer match the approval is not called; the run is an `error`
starting with NEEDS_APPROVAL, and approving again (`tasks edit ID --allow-write`, the form's
write switch, the chat's card) binds the consent to what the task is now.

A task saved before consent was stored (no binding) keeps running as it was saved and is bound
the next time it is saved.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Protocol

from taskagent.core.models import NEEDS_APPROVAL, Consent, ConsentKind, Schedule
from taskagent.core.tasks.inputs import ToolFacts


class Resolver(Protocol):
    """What a tool reference resolves to now (the MCP manager's catalogue)."""

    def resolve(self, ref: str) -> ToolFacts: ...


def digest(tool: str, args: dict[str, Any], schedule: Schedule) -> str:
    """A fingerprint of what a write approval covers (canonical JSON, so key order and spacing
    of the arguments do not matter)."""
    text = json.dumps(
        [tool, args, schedule.type.value, schedule.value, schedule.timezone],
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(text.encode()).hexdigest()


def covers(consent: Consent, tool: str, args: dict[str, Any], schedule: Schedule) -> bool:
    """Does a write approval cover this exact tool, arguments and schedule?"""
    return consent.kind is ConsentKind.WRITE and consent.digest == digest(tool, args, schedule)


def bind(info: ToolFacts, args: dict[str, Any], schedule: Schedule) -> Consent:
    """The consent a save gives (the caller has checked that a write tool is approved)."""
    if info.read_only is True:
        return Consent(info.ref, ConsentKind.READ_ONLY)
    return Consent(info.ref, ConsentKind.WRITE, digest(info.ref, args, schedule))


def problem(
    consent: Consent | None,
    ref: str,
    args: dict[str, Any],
    schedule: Schedule,
    catalogue: Resolver,
) -> str | None:
    """Why a run of a task bound by `consent` must not call `ref` now (None: it may).

    A tool that cannot be resolved now (its server is down, the name is gone) is not a consent
    problem: the call itself fails with that reason.
    """
    if consent is None:
        return None
    try:
        info = catalogue.resolve(ref)
    except Exception:
        return None
    if info.ref != consent.tool:
        return (
            f"{NEEDS_APPROVAL}'{ref}' now resolves to {info.ref}, not {consent.tool} as "
            "when the task was saved"
        )
    if consent.kind is ConsentKind.READ_ONLY:
        if info.read_only is True:
            return None
        return (
            f"{NEEDS_APPROVAL}{info.ref} is no longer marked read-only by its server, so it "
            "may change data"
        )
    if not covers(consent, info.ref, args, schedule):
        return (
            f"{NEEDS_APPROVAL}the arguments or schedule of this task that writes through "
            f"{info.ref} changed since they were approved"
        )
    return None
