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

    def ensure(self) -> None:
        for folder in (self.config_dir, self.data_dir, self.log_dir):
            folder.mkdir(parents=True, exist_ok=True)


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
