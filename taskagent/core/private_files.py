"""Files and folders private to the user who runs taskagent.

The database holds the chat and every tool result, the logs hold summaries, the exports every
run: folders taskagent writes into are 0700 and its files 0600, whatever the umask (files and
folders from before are narrowed at start). A log or an export is never written through a
symbolic link (`O_NOFOLLOW`): a link placed there would have taskagent append to, or overwrite,
whatever file it points at. A folder owned by another user is refused: its owner could read
or replace what taskagent keeps there.

Standard library only: the entry point uses it before anything heavy is imported.
"""

from __future__ import annotations

import errno
import os
import stat
from io import TextIOWrapper
from logging.handlers import RotatingFileHandler
from pathlib import Path

from taskagent.core.errors import TaskAgentError

FOLDER_MODE = 0o700
FILE_MODE = 0o600
_OTHERS = 0o077  # the group's and everybody else's bits


class PrivateFileError(TaskAgentError):
    """A place taskagent would write is not private to the user (one line)."""


def _refuse_link(path: Path, what: str) -> PrivateFileError:
    return PrivateFileError(
        f"{path} is a symbolic link; taskagent does not write {what} through one "
        "(remove the link, then try again)"
    )


def check_owner(folder: Path, what: str = "data folder") -> None:
    """Refuse a folder (or file) another user owns, in one line."""
    try:
        owner = os.stat(folder).st_uid
    except FileNotFoundError:
        return
    if owner != os.geteuid():
        raise PrivateFileError(
            f"the {what} {folder} belongs to another user (uid {owner}); run taskagent as "
            "that user, or point TASKAGENT_HOME at a folder of your own"
        )


def tighten(path: Path, mode: int) -> None:
    """Narrow an existing file or folder of ours to `mode` when others have any access. Only
    bits are taken away: a file the user made read-only stays read-only (the store then says
    so in one line) rather than being made writable behind their back."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(info.st_mode) or info.st_uid != os.geteuid():
        return
    if info.st_mode & _OTHERS:
        os.chmod(path, stat.S_IMODE(info.st_mode) & mode)


def private_folder(folder: Path, what: str = "data folder", *, link_ok: bool = True) -> None:
    """Create `folder` (0700) or check it: the user's own, narrowed to 0700. `link_ok=False`
    refuses a folder that is a symbolic link (one that exports are written into)."""
    if not link_ok and folder.is_symlink():
        raise _refuse_link(folder, what)
    folder.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    check_owner(folder, what)
    tighten(folder, FOLDER_MODE)


def open_private(path: Path, *, append: bool, what: str) -> int:
    """A descriptor for writing `path`: created 0600, never through a symbolic link; an
    existing file is narrowed to 0600. `append` keeps its content, else it is truncated."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    flags |= os.O_APPEND if append else os.O_TRUNC
    try:
        fd = os.open(path, flags, FILE_MODE)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _refuse_link(path, what) from exc
        raise
    try:
        if os.fstat(fd).st_mode & _OTHERS:
            os.fchmod(fd, FILE_MODE)
    except OSError:
        os.close(fd)
        raise
    return fd


def write_private_text(path: Path, text: str, *, what: str) -> None:
    """Write `text` to `path` (UTF-8) as a private file; see `open_private`."""
    with os.fdopen(open_private(path, append=False, what=what), "w", encoding="utf-8") as out:
        out.write(text)


def create_private(path: Path) -> None:
    """Create `path` empty and private unless it exists (SQLite then gives its WAL and shared
    memory files the same mode as the database file)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE))
    except FileExistsError:
        return


class PrivateLogFile(RotatingFileHandler):
    """A log file written as a private file and never through a symbolic link; it and its
    rotated copies are 0600 (a rotation renames, so the copies keep the mode). With no
    `max_bytes` it never rotates. Opening it at a link raises PrivateFileError."""

    def __init__(self, path: Path, *, max_bytes: int = 0, backups: int = 0) -> None:
        for old in range(1, backups + 1):
            tighten(Path(f"{path}.{old}"), FILE_MODE)
        super().__init__(path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")

    def _open(self) -> TextIOWrapper:
        # logging's one hook for how a handler opens its file (also called after a rotation).
        fd = open_private(Path(self.baseFilename), append=True, what="its log")
        return os.fdopen(fd, "a", encoding=self.encoding, errors=self.errors)


__all__ = [
    "FILE_MODE",
    "FOLDER_MODE",
    "PrivateFileError",
    "PrivateLogFile",
    "check_owner",
    "create_private",
    "open_private",
    "private_folder",
    "tighten",
    "write_private_text",
]
