"""A database that cannot be used: every command and the daemon say what is wrong and what to
do in one line, exit non-zero, and leave the file as it was."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.daemon_proc import cli

pytestmark = pytest.mark.slow


def _garbage(db: Path) -> None:
    db.write_bytes(bytes(range(256)) * 16)


def _folder(db: Path) -> None:
    db.mkdir()


def _old_empty(db: Path) -> None:
    db.write_bytes(b"")
    os.utime(db, (1_000_000_000, 1_000_000_000))


def _fingerprint(db: Path) -> str:
    return "folder" if db.is_dir() else hashlib.sha256(db.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("damage", "says"),
    [
        (_garbage, "is damaged or not a taskagent database"),
        (_folder, "is a folder, not a file"),
        (_old_empty, "is an empty file (0 bytes)"),
    ],
)
@pytest.mark.parametrize("command", [("tasks", "list"), ("tasks", "status"), ("daemon",)])
def test_a_database_that_cannot_be_used_is_one_line_and_untouched(
    tmp_path: Path, damage: Callable[[Path], None], says: str, command: tuple[str, ...]
) -> None:
    db = tmp_path / "taskagent.db"
    damage(db)
    before = _fingerprint(db)
    done = cli(tmp_path, *command)
    assert done.returncode == 1, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr[-2000:]
    assert lines[0].startswith(f"taskagent: the database {db} {says}")
    assert _fingerprint(db) == before
