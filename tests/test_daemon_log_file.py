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
