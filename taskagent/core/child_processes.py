"""The processes this one started end with it.

MCP servers over stdio run in sessions of their own (the MCP SDK starts them with
`start_new_session`, and closing a client ends the server's whole process group). A server that
is not closed, because closing it timed out (a server stuck in a blocking call) or because the
stop deadline exits the process at once, would outlive taskagent with parent 1, one set more
per restart. `end_children()` ends every child still there: SIGTERM to its process group,
SIGKILL after a bound.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
from pathlib import Path

log = logging.getLogger(__name__)

KILL_AFTER_SECONDS = 1.0


def child_pids() -> list[int]:
    """Live (not zombie) children of this process."""
    me = os.getpid()
    proc = Path("/proc")
    if proc.is_dir():
        found = []
        for entry in proc.iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z" and int(fields[1]) == me:
                found.append(int(entry.name))
        return found
    try:  # macOS and other systems without /proc
        listing = subprocess.run(
            ["ps", "-axo", "pid=,ppid=,stat="], capture_output=True, text=True, timeout=5
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    rows = (line.split() for line in listing.splitlines())
    return [int(r[0]) for r in rows if len(r) >= 3 and int(r[1]) == me and "Z" not in r[2]]


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        # A child that leads its own group (an MCP server) takes its group with it; never our
        # own group.
        if os.getpgid(pid) == pid and pid != os.getpgrp():
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)


def end_children(kill_after: float = KILL_AFTER_SECONDS) -> int:
    """End every child still running; returns how many there were."""
    children = child_pids()
    if not children:
        return 0
    log.warning("ending %d process(es) taskagent started that are still running", len(children))
    for pid in children:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + kill_after
    while time.monotonic() < deadline:
        left = set(children) & set(child_pids())
        if not left:
            return len(children)
        time.sleep(0.05)
    for pid in set(children) & set(child_pids()):
        _signal(pid, signal.SIGKILL)
    return len(children)
