"""Where taskagent keeps its config, database and logs.

By default platformdirs' per-user folders; `TASKAGENT_HOME=<dir>` puts everything in one folder
(tests always set it, so nothing touches the real home).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

APP_NAME = "taskagent"


@dataclass(frozen=True, slots=True)
class Paths:
    config_dir: Path
    data_dir: Path
    log_dir: Path

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def mcp_file(self) -> Path:
        return self.config_dir / "mcp.json"

    @property
    def db_file(self) -> Path:
        return self.data_dir / "taskagent.db"

    @property
    def log_file(self) -> Path:
        return self.log_dir / "taskagent.log"

    @property
    def exports_dir(self) -> Path:
        return self.data_dir / "exports"

    def ensure(self) -> None:
        """Create the folders (0700) or check them: refuses, with one PrivateFileError line, a
        folder another user owns; narrows what earlier versions left readable to others (the
        folders, the database with its WAL files, the run journal, the exports folder; the
        logs are narrowed when opened)."""
        from taskagent.core.private_files import FILE_MODE, FOLDER_MODE, private_folder, tighten

        for folder in dict.fromkeys((self.config_dir, self.data_dir, self.log_dir)):
            private_folder(folder)
        db = str(self.db_file)
        for file in (db, f"{db}-wal", f"{db}-shm", self.data_dir / "unrecorded-runs.jsonl"):
            tighten(Path(file), FILE_MODE)
        if self.exports_dir.is_dir() and not self.exports_dir.is_symlink():
            tighten(self.exports_dir, FOLDER_MODE)


def resolve_paths(environ: Mapping[str, str] | None = None) -> Paths:
    env = os.environ if environ is None else environ
    home = env.get("TASKAGENT_HOME")
    if home:
        root = Path(home).expanduser().resolve()
        return Paths(config_dir=root, data_dir=root, log_dir=root / "logs")
    import platformdirs  # not needed with TASKAGENT_HOME (scripts, tests)

    return Paths(
        config_dir=Path(platformdirs.user_config_dir(APP_NAME)),
        data_dir=Path(platformdirs.user_data_dir(APP_NAME)),
        log_dir=Path(platformdirs.user_log_dir(APP_NAME)),
    )
