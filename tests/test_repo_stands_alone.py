"""The repository stands alone: no tracked file refers to a path outside it.

A clone in an empty folder must pass `make test`, so nothing may read (or point a reader at)
``../something`` beyond the repository root, nor at the team notes that live beside our checkouts.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
# `../name` (one or more levels up), not preceded by another path character.
PARENT_REF = re.compile(r"(?<![\w./-])((?:\.\./)+)([A-Za-z_][\w.-]*)")
TEAM_NOTES = re.compile(r"\b(FACTS|SOURCES)\.md\b")


def tracked_text_files() -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True
    ).stdout
    files = []
    for name in out.decode().split("\0"):
        path = REPO_ROOT / name
        if name and path.is_file() and path.suffix not in {".lock"}:
            files.append(path)
    return files


def outside_refs(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return []
    found = []
    for lineno, line in enumerate(text.splitlines(), 1):
        for match in PARENT_REF.finditer(line):
            target = (path.parent / match.group(1) / match.group(2)).resolve()
            if not target.is_relative_to(REPO_ROOT):
                found.append(f"{path.relative_to(REPO_ROOT)}:{lineno}: {match.group(0)}")
        if TEAM_NOTES.search(line):
            found.append(f"{path.relative_to(REPO_ROOT)}:{lineno}: {TEAM_NOTES.search(line)[0]}")
    return found


def test_no_tracked_file_points_outside_the_repository() -> None:
    files = tracked_text_files()
    assert len(files) > 50  # the listing worked
    problems = [ref for path in files for ref in outside_refs(path)]
    assert problems == []


def test_the_check_catches_a_parent_reference(tmp_path: Path) -> None:
    inside = REPO_ROOT / "tests" / "support"
    probe = inside / "_probe_outside_ref.txt"
    up = "../" * 3  # built at run time, so this file itself holds no such reference
    probe.write_text(f"read {up}shared/fixtures\nfine: ../local_http.py\n", encoding="utf-8")
    try:
        assert len(outside_refs(probe)) == 1
    finally:
        probe.unlink()


def test_fixtures_are_inside_the_repository() -> None:
    from tests.support.fixtures import fixture_folder

    for api in ("coingecko", "gemini"):
        assert fixture_folder(api).is_relative_to(REPO_ROOT)
