"""The test echo server (echo_server.py), except that every start after the first one waits
SLOW_START_SECONDS before serving: a server whose first start (the catalogue's) is quick and
whose later ones (the worker sessions) are slow."""

from __future__ import annotations

import os
import runpy
import time
from pathlib import Path

marker = Path(os.environ["SLOW_START_MARKER"])
if marker.exists():
    time.sleep(float(os.environ.get("SLOW_START_SECONDS", "30")))
else:
    marker.write_text("started once\n")
runpy.run_path(str(Path(__file__).with_name("echo_server.py")), run_name="__main__")
