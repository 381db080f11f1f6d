"""Settings: built-in defaults < config.toml < environment variables.

Every setting is declared once in `FIELDS` (section, key, default, validation, env var, help);
the default config file, the README table and the error messages are all derived from it.
Secrets (API keys) come only from the environment and are never written anywhere.
Nothing here does I/O at import time.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from taskagent.core.confirm_policy import parse_patterns
from taskagent.core.errors import TaskAgentError
from taskagent.core.models import NotificationLevel, SummaryMode
from taskagent.core.prices import DEFAULT_PRICES, Price
from taskagent.keys import BINDING_IDS
from taskagent.paths import Paths


class ConfigError(TaskAgentError):
    """A bad config file or environment variable; the message is shown to the user as is."""


# A validator takes the raw value and returns the clean one, or raises ValueError with
# the "what is allowed" part of the message.
Validator = Callable[[Any], Any]


def _int_range(low: int, high: int) -> Validator:
    def check(value: Any) -> int:
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"must be a whole number from {low} to {high}")
        return value

    return check


def _float_range(low: float, high: float) -> Validator:
    def check(value: Any) -> float:
        if isinstance(value, str):
            with contextlib.suppress(ValueError):  # left as text: the range check rejects it
                value = float(value)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not low <= value <= high
        ):
            raise ValueError(f"must be a number from {low:g} to {high:g}")
        return float(value)

    return check


def _choice(options: list[str]) -> Validator:
    def check(value: Any) -> str:
        if not isinstance(value, str) or value.strip().lower() not in options:
            raise ValueError(f"must be one of: {', '.join(options)}")
        return value.strip().lower()

    return check


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "on"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("false", "0", "no", "off"):
        return False
    raise ValueError("must be true or false")


def _timezone(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be an IANA time zone name such as Europe/Berlin, or empty")
    name = value.strip()
    if not name:
        return ""  # empty = the machine's zone, resolved later
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            "must be an IANA time zone name such as Europe/Berlin, or empty for the machine's"
        ) from exc
    return name


def _model_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or any(c.isspace() for c in value.strip()):
        raise ValueError("must be a model name such as gemini-2.5-flash")
    return value.strip()


@dataclass(frozen=True, slots=True)
class Field:
    section: str
    key: str
    default: Any
    validate: Validator
    help: str

    @property
    def env(self) -> str:
        return f"TASKAGENT_{self.section}_{self.key}".upper()

    @property
    def attr(self) -> str:
        return f"{self.section}_{self.key}"


# Runs at once over all worker threads (bench/burst.py measures what more or fewer cost).
DEFAULT_PARALLEL_RUNS = 32

FIELDS: tuple[Field, ...] = (
    Field(
        "general",
        "timezone",
        "",
        _timezone,
        "IANA time zone for new tasks and times shown; empty = the machine's",
    ),
    Field("scheduler", "worker_threads", 4, _int_range(1, 64), "threads that run tasks"),
    Field(
        "scheduler",
        "parallel_runs",
        DEFAULT_PARALLEL_RUNS,
        _int_range(1, 1024),
        "runs at once over all worker threads (a run mostly waits for its tool)",
    ),
    Field(
        "scheduler",
        "task_timeout_seconds",
        60.0,
        _float_range(1, 86400),
        "default time limit for one run",
    ),
    Field(
        "scheduler",
        "max_retries",
        2,
        _int_range(0, 10),
        "retries of a run after a transient failure (rate limit, timeout, lost connection)",
    ),
    Field(
        "notifications",
        "default_level",
        NotificationLevel.ALL.value,
        _choice([level.value for level in NotificationLevel]),
        "notification level for new tasks: all, errors, significant or silent",
    ),
    Field(
        "notifications",
        "cooldown_seconds",
        300,
        _int_range(0, 86400),
        "at most one notification per task in this many seconds; 0 = no cooldown",
    ),
    Field(
        "notifications",
        "desktop",
        True,
        _boolean,
        "desktop notifications when available; false = in-app toasts and the log only",
    ),
    Field("ai", "model", "gemini-2.5-flash", _model_name, "Gemini model for summaries and chat"),
    Field(
        "ai",
        "summary_temperature",
        0.7,
        _float_range(0, 2),
        "sampling temperature of summaries",
    ),
    Field(
        "ai",
        "summary_max_tokens",
        150,
        _int_range(16, 8192),
        "most output tokens one summary may use",
    ),
    Field(
        "chat",
        "always_allow",
        (),
        parse_patterns,
        "tools the chat may call without asking although they are not read-only: "
        'server:tool glob patterns, e.g. ["notes:read_*"] (env: comma-separated)',
    ),
    Field(
        "ai",
        "summary_mode",
        SummaryMode.ALWAYS.value,
        _choice([mode.value for mode in SummaryMode]),
        "AI summaries of new tasks: always, changes (first run and significant changes) or off",
    ),
    Field(
        "ai",
        "daily_token_budget",
        0,
        _int_range(0, 10**12),
        "Gemini tokens a day (summaries and chat); then summaries go offline and the chat waits; 0 = none",
    ),
    Field(
        "ai",
        "daily_cost_budget",
        0.0,
        _float_range(0, 1_000_000),
        "estimated US dollars of Gemini a day; then the same as the token budget; 0 = none",
    ),
    Field(
        "history",
        "retention_days",
        90,
        _int_range(0, 36500),
        "drop runs older than this many days; 0 keeps them forever",
    ),
    Field(
        "history",
        "max_rows_per_task",
        10000,
        _int_range(0, 10_000_000),
        "keep at most this many runs per task; 0 = no limit",
    ),
)

SECTIONS: dict[str, dict[str, Field]] = {}
for _f in FIELDS:
    SECTIONS.setdefault(_f.section, {})[_f.key] = _f


@dataclass(frozen=True, slots=True)
class Settings:
    paths: Paths
    general_timezone: str = ""
    scheduler_worker_threads: int = 4
    scheduler_parallel_runs: int = DEFAULT_PARALLEL_RUNS
    scheduler_task_timeout_seconds: float = 60.0
    scheduler_max_retries: int = 2
    notifications_default_level: str = NotificationLevel.ALL.value
    notifications_cooldown_seconds: int = 300
    notifications_desktop: bool = True
    ai_model: str = "gemini-2.5-flash"
    ai_summary_temperature: float = 0.7
    ai_summary_max_tokens: int = 150
    chat_always_allow: tuple[str, ...] = ()
    ai_summary_mode: str = SummaryMode.ALWAYS.value
    ai_daily_token_budget: int = 0
    ai_daily_cost_budget: float = 0.0
    # [ai.prices."model"]: dollars per million tokens, merged over core/prices.DEFAULT_PRICES.
    ai_prices: Mapping[str, Price] = field(default_factory=lambda: dict(DEFAULT_PRICES))
    history_retention_days: int = 90
    history_max_rows_per_task: int = 10000
    # From the environment only. Never stored, logged or shown.
    gemini_api_key: str | None = field(default=None, repr=False)
    gemini_base_url: str | None = None
    coingecko_base_url: str | None = None
    # [keymap]: binding id -> keys, e.g. {"tasks.run": "ctrl+r"} (Textual keymaps).
    keymap: Mapping[str, str] = field(default_factory=dict, compare=False)
    # Where each value came from ("default", the config file, or an env var), for `taskagent config`.
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def timezone(self) -> str:
        """The effective zone: the configured one, else the machine's, else UTC."""
        return self.general_timezone or machine_timezone()

    @property
    def default_notification_level(self) -> NotificationLevel:
        return NotificationLevel(self.notifications_default_level)

    @property
    def default_summary_mode(self) -> SummaryMode:
        return SummaryMode(self.ai_summary_mode)

    @property
    def has_ai_key(self) -> bool:
        return bool(self.gemini_api_key)


def machine_timezone() -> str:
    try:
        import tzlocal  # imported lazily: only needed when no zone is configured

        name = tzlocal.get_localzone_name()
    except Exception:  # tzlocal raises several types on odd systems; UTC is a safe answer
        name = None
    return name or "UTC"


def _shown(value: Any, limit: int = 80) -> str:
    """A value quoted in an error message: its repr, cut so a huge value stays one short line."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 1]}… ({len(text):,} characters)"


def _name(text: Any) -> str:
    """A section or key name in an error message: as is when short and printable, else quoted
    and cut (a name with a newline or a megabyte of text must not break the one-line message)."""
    name = str(text)
    return name if name.isprintable() and len(name) <= 60 else _shown(name)


def _suggest(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _read_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config error in {path}: cannot read the file ({exc})") from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config error in {path}: invalid TOML: {exc}") from exc


def _read_keymap(path: Path, table: Any) -> dict[str, str]:
    if not isinstance(table, dict):
        raise ConfigError(f"config error in {path}: 'keymap' must be a [keymap] table")
    for binding, keys in table.items():
        if binding not in BINDING_IDS:
            raise ConfigError(
                f"config error in {path}: unknown binding id '{_name(binding)}' in [keymap]"
                f"{_suggest(str(binding), list(BINDING_IDS))}; the help screen (?) lists every id"
            )
        if not isinstance(keys, str) or not keys.strip():
            raise ConfigError(
                f"config error in {path}: [keymap] {_name(binding)} = {_shown(keys)}: must be keys such as "
                '"ctrl+r" or "f5,ctrl+r"'
            )
    return {str(k): v.strip() for k, v in table.items()}


PRICE_KEYS = ("input_per_million", "output_per_million")


def _read_prices(path: Path, table: Any) -> dict[str, Price]:
    """[ai.prices."model"] tables over the defaults; one message naming the bad entry."""
    prices = dict(DEFAULT_PRICES)
    if not isinstance(table, dict):
        raise ConfigError(
            f'config error in {path}: [ai] prices must be tables like [ai.prices."gemini-2.5-flash"]'
        )
    for model, entry in table.items():
        where = f'config error in {path}: [ai.prices."{model}"]'
        if not isinstance(entry, dict):
            raise ConfigError(f"{where} must be a table with {' and '.join(PRICE_KEYS)}")
        unknown = sorted(set(entry) - set(PRICE_KEYS))
        if unknown:
            raise ConfigError(
                f"{where}: unknown key '{unknown[0]}'{_suggest(unknown[0], list(PRICE_KEYS))}; "
                f"allowed: {', '.join(PRICE_KEYS)}"
            )
        missing = [key for key in PRICE_KEYS if key not in entry]
        if missing:
            raise ConfigError(f"{where}: {missing[0]} is missing (US dollars per million tokens)")
        values: list[float] = []
        for key in PRICE_KEYS:
            try:
                values.append(_float_range(0, 10_000)(entry[key]))
            except ValueError as exc:
                raise ConfigError(f"{where} {key} = {entry[key]!r}: {exc}") from exc
        prices[str(model).strip().lower()] = Price(values[0], values[1])
    return prices


def load_settings(paths: Paths, environ: Mapping[str, str] | None = None) -> Settings:
    """Read config.toml and the environment; raise ConfigError with one clear message."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {f.attr: f.default for f in FIELDS}
    sources: dict[str, str] = {f.attr: "default" for f in FIELDS}

    raw = _read_file(paths.config_file)
    keymap: dict[str, str] = {}
    prices = dict(DEFAULT_PRICES)
    for section, table in raw.items():
        if section == "keymap":
            keymap = _read_keymap(paths.config_file, table)
            continue
        if section not in SECTIONS:
            raise ConfigError(
                f"config error in {paths.config_file}: unknown section [{_name(section)}]"
                f"{_suggest(section, list(SECTIONS))}; allowed: {', '.join(SECTIONS)}"
            )
        if not isinstance(table, dict):
            raise ConfigError(
                f"config error in {paths.config_file}: '{_name(section)}' must be a [section] table"
            )
        for key, value in table.items():
            if section == "ai" and key == "prices":
                prices = _read_prices(paths.config_file, value)
                continue
            spec = SECTIONS[section].get(key)
            if spec is None:
                allowed = ", ".join(SECTIONS[section])
                raise ConfigError(
                    f"config error in {paths.config_file}: unknown key '{_name(key)}' in [{section}]"
                    f"{_suggest(key, list(SECTIONS[section]))}; allowed: {allowed}"
                )
            try:
                values[spec.attr] = spec.validate(value)
            except ValueError as exc:
                raise ConfigError(
                    f"config error in {paths.config_file}: [{section}] {key} = {_shown(value)}: "
                    f"{exc}"
                ) from exc
            sources[spec.attr] = str(paths.config_file)

    for spec in FIELDS:
        if spec.env in env:
            try:
                values[spec.attr] = spec.validate(env[spec.env])
            except ValueError as exc:
                raise ConfigError(
                    f"config error in environment variable {spec.env}={_shown(env[spec.env])}: "
                    f"{exc}"
                ) from exc
            sources[spec.attr] = f"${spec.env}"

    return Settings(
        paths=paths,
        keymap=keymap,
        ai_prices=prices,
        gemini_api_key=env.get("GEMINI_API_KEY") or env.get("GOOGLE_API_KEY") or None,
        gemini_base_url=env.get("TASKAGENT_GEMINI_BASE_URL") or None,
        coingecko_base_url=env.get("TASKAGENT_COINGECKO_BASE_URL") or None,
        sources=sources,
        **values,
    )


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def default_config_text() -> str:
    """A commented config.toml holding every setting at its default."""
    lines = [
        "# taskagent settings. Every key is optional; these are the defaults.",
        "# Each can also be set by an environment variable, shown after its description.",
        "# Secrets (GEMINI_API_KEY / GOOGLE_API_KEY) are read from the environment only.",
    ]
    for section, fields in SECTIONS.items():
        lines.append("")
        lines.append(f"[{section}]")
        for spec in fields.values():
            lines.append(f"# {spec.help} (${spec.env})")
            lines.append(f"{spec.key} = {_toml_value(spec.default)}")
    lines += ["", "# Estimated Gemini prices, US dollars per million tokens (see the README)."]
    lines += _price_lines(DEFAULT_PRICES)
    return "\n".join(lines) + "\n"


def _price_lines(prices: Mapping[str, Price]) -> list[str]:
    lines: list[str] = []
    for model, price in sorted(prices.items()):
        lines += [
            f'[ai.prices."{model}"]',
            f"input_per_million = {price.input_per_million!r}",
            f"output_per_million = {price.output_per_million!r}",
        ]
    return lines


def effective_config_text(settings: Settings) -> str:
    """The settings in force, as TOML, with where each value came from."""
    lines: list[str] = []
    for section, fields in SECTIONS.items():
        if lines:
            lines.append("")
        lines.append(f"[{section}]")
        for spec in fields.values():
            value = getattr(settings, spec.attr)
            lines.append(
                f"{spec.key} = {_toml_value(value)}  # from {settings.sources.get(spec.attr)}"
            )
    lines.append("")
    lines += _price_lines(settings.ai_prices)
    return "\n".join(lines) + "\n"
