"""Where the recorded API responses live: ``tests/fixtures/`` inside this repository.

``TASKAGENT_FIXTURES_DIR`` may point at another folder with the same layout (``coingecko/``,
``gemini/``), e.g. to try a fresh recording; by default nothing outside the repository is read.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
IN_REPO_FIXTURES = REPO_ROOT / "tests" / "fixtures"


def fixtures_root() -> Path:
    """The folder holding ``coingecko/`` and ``gemini/``."""
    override = os.environ.get("TASKAGENT_FIXTURES_DIR")
    return Path(override) if override else IN_REPO_FIXTURES


def fixture_folder(api: str) -> Path:
    """``<fixtures root>/<api>``; a missing folder is one clear error."""
    folder = fixtures_root() / api
    if not folder.is_dir():
        raise FileNotFoundError(f"{api} fixtures not found in {folder}")
    return folder
