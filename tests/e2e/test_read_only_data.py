"""A database file, data folder or log folder this user cannot write: every command and the
daemon say so in one line with what to do, exit 1, and leave the database as it was.

Root may write anything, so as root the commands run as an unprivileged user (uid 65534) on a
copy it does not own; as any other user a plain chmod does the same."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.daemon_proc import cli, env

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX permissions"),
]
AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
NOBODY = 65534


SETPRIV = shutil.which("setpriv")


def _as_user(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`taskagent ARGS` as the unprivileged user (as root) or as ourselves. util-linux's
    setpriv drops root, or else subprocess does (`user=`)."""
    argv = [sys.executable, "-m", "taskagent", *args]
    drop: dict[str, object] = {}
    if AS_ROOT and SETPRIV:
        argv = [SETPRIV, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *argv]
    elif AS_ROOT:
        drop = {"user": NOBODY, "group": NOBODY, "extra_groups": []}
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        argv,
        env=env(home),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        **drop,
    )


def _give(path: Path) -> None:
    """Make `path` the user's own (as root: chown to it; otherwise it already is)."""
    if AS_ROOT:
        os.chown(path, NOBODY, NOBODY)


def _take(path: Path, mode: int) -> None:
    """Make `path` read-only for the user, who keeps owning it: drop the write bits."""
    os.chmod(path, mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


@pytest.fixture(scope="module")
def template() -> Iterator[Path]:
    """A real taskagent database with one task, made once."""
    with tempfile.TemporaryDirectory() as tmp:
        added = cli(
            Path(tmp),
            "tasks",
            "add",
            "t",
            "--every",
            "1 hour",
            "--tool",
            "background:list_background_tasks",
        )
        assert added.returncode == 0, added.stderr
        yield Path(tmp) / "taskagent.db"


@pytest.fixture
def home(template: Path) -> Iterator[Path]:
    """TASKAGENT_HOME (with `logs/`) holding a copy of the template, all the user's own,
    in a folder the user can reach (pytest's own temp folders are private to root)."""
    base = Path(tempfile.mkdtemp(prefix="taskagent-perm-"))
    os.chmod(base, 0o755)
    home = base / "home"
    (home / "logs").mkdir(parents=True)
    shutil.copyfile(template, home / "taskagent.db")
    for path in (home, home / "logs", home / "taskagent.db"):
        _give(path)
    if AS_ROOT:  # can we run as the user at all (a container may forbid it)?
        try:
            probe = _as_user(home, "--version")
            problem = "" if probe.returncode == 0 else probe.stderr.strip()[-200:]
        except OSError as exc:
            problem = str(exc)
        if problem:
            shutil.rmtree(base)
            pytest.skip(f"cannot run taskagent as uid {NOBODY}: {problem}")
    yield home
    for path in (home, home / "logs"):
        os.chmod(path, 0o755)
    shutil.rmtree(base)


def _read_only_file(home: Path) -> str:
    _take(home / "taskagent.db", 0o644)
    return f"taskagent: the database {home / 'taskagent.db'} is read-only for this user"


def _read_only_folder(home: Path) -> str:
    _take(home, 0o755)  # still the user's own (a folder of another user is refused as such)
    db = home / "taskagent.db"
    return f"taskagent: the database {db} is in a folder this user cannot write ({home})"


def _read_only_logs(home: Path) -> str:
    _take(home / "logs", 0o755)
    return f"taskagent: cannot write {home / 'logs'}{os.sep}"


def _snapshot(home: Path) -> tuple[str, list[str]]:
    digest = hashlib.sha256((home / "taskagent.db").read_bytes()).hexdigest()
    # checked-files.json is taskagent's cache of checked settings, not the user's data.
    return digest, sorted(p.name for p in home.iterdir() if p.name != "checked-files.json")


CASES: list[tuple[Callable[[Path], str], tuple[str, ...]]] = [
    *((_read_only_file, c) for c in (("tasks", "list"), ("tasks", "status"), ("daemon",))),
    *((_read_only_folder, c) for c in (("tasks", "list"), ("tasks", "status"), ("daemon",))),
    # The database-only commands write no log: the ones that start the agent meet the folder.
    *((_read_only_logs, c) for c in (("daemon",),)),
]


@pytest.mark.parametrize(
    ("damage", "command"), CASES, ids=[f"{d.__name__}-{'-'.join(c)}" for d, c in CASES]
)
def test_what_this_user_cannot_write_is_one_line_and_untouched(
    home: Path, damage: Callable[[Path], str], command: tuple[str, ...]
) -> None:
    says = damage(home)
    before = _snapshot(home)
    done = _as_user(home, *command)
    assert done.returncode == 1, done.stdout + done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr[-2000:]
    assert lines[0].startswith(says), lines[0]
    assert "permission" in lines[0]  # what to do
    assert _snapshot(home) == before
