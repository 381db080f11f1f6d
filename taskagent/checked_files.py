"""Validations remembered by what they read, so the CLI's database-only commands (`tasks list`,
`add`, `status`, ...) need neither the settings model (pydantic-settings) nor fastmcp's mcp.json
models on every call.

- the settings: a full, validated load (`taskagent.config.load_settings`) is kept as the few
  values the database-only commands read (`DatabaseSettings`), under a fingerprint of
  everything it was made from: config.toml's content, the environment variables settings are
  read from (hashed: an API key is never written down), the machine's time zone and the code
  of the settings model. Any change there and the next command validates in full again.
- mcp.json: the digest of the file the last full check accepted; a changed file is checked
  in full again (a broken one is still reported by every command).

Both live in one file beside the database. A cache that cannot be read or written is ignored:
the command then validates in full, as it would without it.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from taskagent.core.models import NotificationLevel, SummaryMode
from taskagent.core.prices import Price
from taskagent.paths import Paths

if TYPE_CHECKING:
    from taskagent.config import Settings
    from taskagent.core.mcp import ToolInfo, ToolList

CACHE_NAME = "checked-files.json"
FORMAT = 1
# The settings' own code: a change to their rules or defaults makes every remembered load stale.
_SETTINGS_CODE = ("settings_model.py", "settings_sources.py", "config.py", "checked_files.py")
# Variables besides TASKAGENT_* the settings read (any case: pydantic-settings ignores it).
_OTHER_VARIABLES = frozenset({"GEMINI_API_KEY", "GOOGLE_API_KEY", "TZ"})
_ZONE_FILES = ("/etc/localtime", "/etc/timezone")
# The hints of a tool's annotations a task's checks read (read-only: no allow-write needed).
_HINTS = ("read_only_hint", "destructive_hint", "idempotent_hint", "open_world_hint")


@dataclass(frozen=True)
class DatabaseSettings:
    """The settings a database-only command reads (names as on `Settings`)."""

    paths: Paths
    timezone: str
    default_notification_level: NotificationLevel
    default_summary_mode: SummaryMode
    scheduler_task_timeout_seconds: float
    ai_model: str
    ai_daily_token_budget: int
    ai_daily_cost_budget: float
    has_ai_key: bool
    ai_prices: dict[str, Price] = field(default_factory=dict)
    # Where notifications go by default, for `tasks show` (channel URLs masked: no secret is
    # kept here; a command that sets a task's channels loads the settings in full).
    notify_channels: tuple[str, ...] = ()
    notify_quiet_hours: str = ""
    notify_digest: str = ""

    @classmethod
    def of(cls, settings: Settings) -> DatabaseSettings:
        from taskagent.core.channels import masked

        return cls(
            paths=settings.paths,
            timezone=settings.timezone,
            default_notification_level=settings.default_notification_level,
            default_summary_mode=settings.default_summary_mode,
            scheduler_task_timeout_seconds=float(settings.scheduler_task_timeout_seconds),
            ai_model=settings.ai_model,
            ai_daily_token_budget=int(settings.ai_daily_token_budget),
            ai_daily_cost_budget=float(settings.ai_daily_cost_budget),
            has_ai_key=settings.has_ai_key,
            ai_prices=dict(settings.ai_prices),
            notify_channels=tuple(masked(c) for c in settings.notify_channels),
            notify_quiet_hours=settings.notify_quiet_hours,
            notify_digest=settings.notify_digest,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "timezone": self.timezone,
            "default_notification_level": self.default_notification_level.value,
            "default_summary_mode": self.default_summary_mode.value,
            "scheduler_task_timeout_seconds": self.scheduler_task_timeout_seconds,
            "ai_model": self.ai_model,
            "ai_daily_token_budget": self.ai_daily_token_budget,
            "ai_daily_cost_budget": self.ai_daily_cost_budget,
            "has_ai_key": self.has_ai_key,
            "ai_prices": {
                model: [price.input_per_million, price.output_per_million]
                for model, price in self.ai_prices.items()
            },
            "notify_channels": list(self.notify_channels),
            "notify_quiet_hours": self.notify_quiet_hours,
            "notify_digest": self.notify_digest,
        }

    @classmethod
    def from_json(cls, paths: Paths, data: dict[str, Any]) -> DatabaseSettings:
        return cls(
            paths=paths,
            timezone=str(data["timezone"]),
            default_notification_level=NotificationLevel(data["default_notification_level"]),
            default_summary_mode=SummaryMode(data["default_summary_mode"]),
            scheduler_task_timeout_seconds=float(data["scheduler_task_timeout_seconds"]),
            ai_model=str(data["ai_model"]),
            ai_daily_token_budget=int(data["ai_daily_token_budget"]),
            ai_daily_cost_budget=float(data["ai_daily_cost_budget"]),
            has_ai_key=bool(data["has_ai_key"]),
            ai_prices={
                str(model): Price(float(pair[0]), float(pair[1]))
                for model, pair in data["ai_prices"].items()
            },
            notify_channels=tuple(str(c) for c in data.get("notify_channels", ())),
            notify_quiet_hours=str(data.get("notify_quiet_hours", "")),
            notify_digest=str(data.get("notify_digest", "")),
        )


def _stamp(path: Path | str) -> list[int] | None:
    """What tells one version of a (code, system) file from another without reading it."""
    try:
        found = os.stat(path)
    except OSError:
        return None
    return [found.st_mtime_ns, found.st_size, found.st_ino]


def _digest(path: Path) -> str | None:
    """A user's file by its content (a file rewritten within the file system's clock tick, at
    the same size, is still told apart); None when there is none."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None
    except OSError:
        return "unreadable"  # the full check reports why


def settings_fingerprint(paths: Paths) -> str:
    """A digest of everything a settings load reads (see the module's docstring)."""
    here = Path(__file__).parent
    variables = sorted(
        (name, value)
        for name, value in os.environ.items()
        if name.upper().startswith("TASKAGENT_") or name.upper() in _OTHER_VARIABLES
    )
    parts = {
        "format": FORMAT,
        "config": _digest(paths.config_file),
        "environment": variables,
        "zone": [os.path.realpath(_ZONE_FILES[0])] + [_stamp(f) for f in _ZONE_FILES],
        "code": [_stamp(here / name) for name in _SETTINGS_CODE],
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


class CheckedFiles:
    """The cache file beside the database."""

    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        self.file = paths.data_dir / CACHE_NAME

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) and data.get("format") == FORMAT else {}

    def _write(self, **changes: Any) -> None:
        data = self._read() | changes | {"format": FORMAT}
        temporary = self.file.with_name(f".{self.file.name}.{os.getpid()}")
        try:
            from taskagent.core.private_files import write_private_text

            self.paths.ensure()  # the user's own private folder (PrivateFileError if not)
            write_private_text(temporary, json.dumps(data), what="its checked-files cache")
            os.replace(temporary, self.file)
        except OSError:  # a read-only data folder: no cache, every command checks in full
            temporary.unlink(missing_ok=True)

    # ---- the settings -----------------------------------------------------------------------

    def settings(self) -> DatabaseSettings:
        """The remembered settings if nothing they were made from changed; else a full,
        validated load (ConfigError for a bad value), remembered for the next command."""
        fingerprint = settings_fingerprint(self.paths)
        kept = self._read().get("settings")
        if isinstance(kept, dict) and kept.get("fingerprint") == fingerprint:
            try:
                return DatabaseSettings.from_json(self.paths, kept["values"])
            except (KeyError, TypeError, ValueError, AttributeError):
                pass  # another version's shape: load in full
        from taskagent.config import load_settings

        settings = DatabaseSettings.of(load_settings(self.paths))
        self._write(settings={"fingerprint": fingerprint, "values": settings.to_json()})
        return settings

    # ---- mcp.json ---------------------------------------------------------------------------

    def _mcp_json_stamp(self) -> list[Any] | None:
        file = _digest(self.paths.mcp_file)
        rules = Path(__file__).parent / "core" / "mcp" / "mcp_json.py"
        return None if file is None else [file, _stamp(rules)]

    def mcp_json_checked(self) -> bool:
        """True when there is no mcp.json, or it is the file the last full check accepted
        (under the same rules)."""
        stamp = self._mcp_json_stamp()
        return stamp is None or self._read().get("mcp_json") == stamp

    def remember_mcp_json(self, servers: list[dict[str, Any]] | None = None) -> None:
        """mcp.json as it is now passed the full check; `servers`: its entries as `tasks
        status` lists them when no scheduler recorded its own (a broken one with the reason)."""
        self._write(mcp_json=self._mcp_json_stamp(), mcp_servers=servers or [])

    def mcp_servers(self) -> list[dict[str, Any]]:
        """mcp.json's entries as the last full check saw them (none when it changed since)."""
        if not self.mcp_json_checked():
            return []
        servers = self._read().get("mcp_servers", [])
        return servers if isinstance(servers, list) else []

    # ---- the tools ----------------------------------------------------------------------------

    def _tools_key(self) -> list[Any]:
        """What the tools listed depend on that can be seen without starting a server: mcp.json
        and the built-in servers' code. (A server of mcp.json may change its tools without
        either changing; the next full start lists them again, and a tool not in the list
        sends `tasks add` the full way.)"""
        from importlib.util import find_spec

        spec = find_spec("mcp_servers")
        folders = list(spec.submodule_search_locations or []) if spec is not None else []
        code = sorted(
            (str(path), _stamp(path)) for folder in folders for path in Path(folder).rglob("*.py")
        )
        return [FORMAT, _digest(self.paths.mcp_file), code]

    def remember_tools(self, tools: list[ToolInfo], kinds: dict[str, str]) -> None:
        """The tools a full start listed, with their servers' kinds."""
        listed = [
            {
                "server": tool.server,
                "name": tool.name,
                "input_schema": tool.input_schema,
                "hints": {hint: getattr(tool.annotations, hint, None) for hint in _HINTS},
            }
            for tool in tools
        ]
        self._write(tools={"key": self._tools_key(), "servers": kinds, "tools": listed})

    def tool_list(self) -> ToolList | None:
        """The tools the last full start listed, if mcp.json and the built-in servers' code
        are the same now; None otherwise."""
        kept = self._read().get("tools")
        if not isinstance(kept, dict) or kept.get("key") != json.loads(
            json.dumps(self._tools_key())
        ):
            return None
        from types import SimpleNamespace

        from taskagent.core.mcp import ToolInfo, ToolList

        try:
            tools = [
                ToolInfo(
                    server=str(item["server"]),
                    name=str(item["name"]),
                    description="",
                    input_schema=dict(item["input_schema"]),
                    output_schema=None,
                    annotations=SimpleNamespace(**item["hints"]),
                )
                for item in kept["tools"]
            ]
            return ToolList(tools, dict(kept["servers"]))
        except (KeyError, TypeError, ValueError):
            return None
