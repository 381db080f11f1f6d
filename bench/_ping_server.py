"""The benchmarks' trivial tool as a stdio server (the seed's way: one process per run)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import make_ping_server

if __name__ == "__main__":
    make_ping_server().run(show_banner=False)
