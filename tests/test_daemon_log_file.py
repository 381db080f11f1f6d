"""The daemon's log file on a full disk: one line on stderr a minute, never Python's
"--- Logging error ---" traceback for every line it could not write."""

from __future__ import annotations

import errno
import logging
from pathlib import Path

import pytest

from taskagent.daemon import LogFileHandler


class FullDisk:
    def seek(self, offset: int, whence: int = 0) -> int:
        return 0

    def tell(self) -> int:
        return 0

    def write(self, text: str) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    def flush(self) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_is_one_line_not_a_flood(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    handler = LogFileHandler(tmp_path / "taskagent.log")
    handler.stream = FullDisk()  # type: ignore[assignment]
    log = logging.getLogger("test.fulldisk")
    log.propagate = False
    log.addHandler(handler)
    try:
        for n in range(200):
            log.warning("run %d finished", n)
    finally:
        log.removeHandler(handler)
    err = capsys.readouterr().err
    assert "Logging error" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert "cannot write the log file" in lines[0] and "No space left on device" in lines[0]
    assert handler.lost == 200


def test_the_log_and_its_rotated_copies_are_private(tmp_path: Path) -> None:
    import os
    import stat

    old = os.umask(0o022)
    try:
        handler = LogFileHandler(tmp_path / "taskagent.log")
        handler.maxBytes = 200  # rotate every few lines
        log = logging.getLogger("test.rotation")
        log.propagate = False
        log.addHandler(handler)
        try:
            for n in range(40):
                log.warning("run %d finished with a line long enough to rotate soon", n)
        finally:
            log.removeHandler(handler)
            handler.close()
    finally:
        os.umask(old)
    files = sorted(tmp_path.iterdir())
    assert [f.name for f in files] == [
        "taskagent.log",
        "taskagent.log.1",
        "taskagent.log.2",
        "taskagent.log.3",
    ]
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
