"""The installed entry point, run as a user would: a subprocess with its own TASKAGENT_HOME."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run(
    home: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TASKAGENT_")}
    environ |= {"TASKAGENT_HOME": str(home), "TASKAGENT_GENERAL_TIMEZONE": "UTC"} | (env or {})
    return subprocess.run(
        [sys.executable, "-m", "taskagent", *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
