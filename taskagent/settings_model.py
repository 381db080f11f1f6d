"""The settings declaration: one field per setting, with its type, default, range and meaning.

A setting marked with a config.toml section lives in that `[section]` under its name without the
section prefix (`scheduler_worker_threads` is `[scheduler] worker_threads`), and in the variable
`TASKAGENT_<NAME>` (`TASKAGENT_SCHEDULER_WORKER_THREADS`). Secrets (API keys) come only from the
environment and are never written anywhere. `taskagent.settings_sources` reads the values;
nothing here does I/O at import.
"""

from __future__ import annotations

import contextlib
import difflib
import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from annotated_types import Ge, Le
from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    InstanceOf,
    Strict,
)
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails
from pydantic_settings import NoDecode

from taskagent.core.channels import check_channel_text
from taskagent.core.confirm_policy import parse_patterns
from taskagent.core.errors import TaskAgentError
from taskagent.core.models import NotificationLevel, SummaryMode
from taskagent.core.prices import DEFAULT_PRICES, Price
from taskagent.core.quiet_hours import check_digest_text, check_window_text
from taskagent.paths import Paths


class ConfigError(TaskAgentError):
    """A bad config file or environment variable; the message is shown to the user as is."""


@dataclass(frozen=True, slots=True)
class Section:
    """Marks a field as a setting: `[name]` in config.toml, or the environment only (None)."""

    name: str | None


GENERAL = Section("general")
SCHEDULER = Section("scheduler")
NOTIFICATIONS = Section("notifications")
NOTIFY = Section("notify")
AI = Section("ai")
CHAT = Section("chat")
HISTORY = Section("history")
HEALTH = Section("health")
ENVIRONMENT_ONLY = Section(None)


def _from_text(kind: type[int] | type[float]) -> Callable[[Any], Any]:
    """Environment values arrive as text: turn a number's text into the number; anything else
    is left for the strict type check to reject."""

    def convert(value: Any) -> Any:
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                return kind(value.strip())
        return value

    return convert


def _switch(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "on"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("false", "0", "no", "off"):
        return False
    if isinstance(value, bool):
        return value
    raise ValueError("must be true or false")


def _word(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


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


def _duration(value: Any) -> str:
    """A duration like `--every` takes ("30s", "5m"), kept as written."""
    from taskagent.core.schedules.common import ScheduleError
    from taskagent.core.schedules.parsing import duration_seconds

    if not isinstance(value, str):
        raise ValueError('must be a duration such as "30s" or "5m"')
    try:
        duration_seconds(value)
    except ScheduleError as exc:
        raise ValueError(f'must be a duration such as "30s" or "5m" ({exc})') from exc
    return value.strip()


def _ping_url(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be an http:// or https:// URL, or empty")
    url = value.strip()
    if url and not url.lower().startswith(("http://", "https://")):
        raise ValueError("must be an http:// or https:// URL, or empty")
    return url


def _channels(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [part for part in value.split(",") if part.strip()]
    if not isinstance(value, list | tuple):
        raise ValueError('must be a list of channels such as ["desktop", "ntfys://my-topic"]')
    return tuple(check_channel_text(item) for item in value)


def _optional_channel(value: Any) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        return ""
    return check_channel_text(value)


def _absent_if_empty(value: Any) -> Any:
    return None if value == "" else value


# Whole numbers and numbers are strict (true is not 1, 2.5 is not a whole number); their text
# from the environment is converted first. The ranges are the fields' ge/le.
WholeNumber = Annotated[int, Strict(), BeforeValidator(_from_text(int))]
Number = Annotated[float, Strict(), BeforeValidator(_from_text(float))]
Switch = Annotated[bool, BeforeValidator(_switch)]
TimeZoneName = Annotated[str, BeforeValidator(_timezone)]
ModelName = Annotated[str, BeforeValidator(_model_name)]
Duration = Annotated[str, BeforeValidator(_duration)]
PingUrl = Annotated[str, BeforeValidator(_ping_url)]
# A list in config.toml; one comma-separated string in the environment.
Patterns = Annotated[tuple[str, ...], NoDecode, BeforeValidator(parse_patterns)]
Text = Annotated[str | None, BeforeValidator(_absent_if_empty)]
# Channels: `desktop`, a name from [notify.named] or an Apprise URL (core/channels.py).
Channels = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_channels)]
OptionalChannel = Annotated[str, BeforeValidator(_optional_channel)]
Window = Annotated[str, BeforeValidator(check_window_text)]
DigestPeriod = Annotated[str, BeforeValidator(check_digest_text)]

# Runs at once over all worker threads (bench/burst.py measures what more or fewer cost).
DEFAULT_PARALLEL_RUNS = 32


class SettingsFields(BaseModel):
    """Every setting of taskagent. `settings_sources.Settings` reads them from their sources;
    this class checks values given to it directly (one source's values on their own)."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_by_name=True)

    paths: InstanceOf[Paths]

    general_timezone: Annotated[TimeZoneName, GENERAL] = Field(
        "", description="IANA time zone for new tasks and times shown; empty = the machine's"
    )
    scheduler_worker_threads: Annotated[WholeNumber, SCHEDULER] = Field(
        4, ge=1, le=64, description="threads that run tasks, each with its own event loop"
    )
    scheduler_parallel_runs: Annotated[WholeNumber, SCHEDULER] = Field(
        DEFAULT_PARALLEL_RUNS,
        ge=1,
        le=1024,
        description="runs at once over all worker threads (a run mostly waits for its tool); "
        "a run that finds none free within its timeout is skipped",
    )
    scheduler_task_timeout_seconds: Annotated[Number, SCHEDULER] = Field(
        60.0, ge=1, le=86400, description="default time limit for one run"
    )
    scheduler_max_retries: Annotated[WholeNumber, SCHEDULER] = Field(
        2,
        ge=0,
        le=10,
        description="retries of a run after a transient failure (rate limit, timeout, "
        "lost connection); only for read-only or idempotent tools, within the run's timeout",
    )
    notifications_default_level: Annotated[
        NotificationLevel, BeforeValidator(_word), NOTIFICATIONS
    ] = Field(
        NotificationLevel.ALL,
        description="notification level for new tasks: all, errors, significant, alerts or silent",
    )
    notifications_cooldown_seconds: Annotated[WholeNumber, NOTIFICATIONS] = Field(
        300,
        ge=0,
        le=86400,
        description="at most one notification per task in this many seconds; 0 = no cooldown",
    )
    notifications_desktop: Annotated[Switch, NOTIFICATIONS] = Field(
        True,
        description="desktop notifications when available; false = in-app toasts and the log only",
    )
    notify_channels: Annotated[Channels, NOTIFY] = Field(
        ("desktop",),
        description='where notifications go unless a task names its own: "desktop", a name '
        'from [notify.named] or an Apprise URL, e.g. ["desktop", "ntfys://my-topic"] '
        "(env: comma-separated)",
    )
    notify_fallback: Annotated[OptionalChannel, NOTIFY] = Field(
        "",
        description="the channel used when a channel still fails after its retries; empty = none",
    )
    notify_quiet_hours: Annotated[Window, NOTIFY] = Field(
        "",
        description='notifications are held in this daily window (e.g. "22:00-07:00", in the '
        "time zone of [general] timezone) and sent as one digest at its end; empty = none",
    )
    notify_digest: Annotated[DigestPeriod, NOTIFY] = Field(
        "",
        description='instead of a notification per run, one message per period, e.g. "daily '
        '08:00", "weekly Mon 08:00" or "every 6 hours" (a task\'s --digest wins); empty = none',
    )
    ai_model: Annotated[ModelName, AI] = Field(
        "gemini-2.5-flash", description="Gemini model for summaries and chat"
    )
    ai_summary_temperature: Annotated[Number, AI] = Field(
        0.7, ge=0, le=2, description="sampling temperature of summaries"
    )
    ai_summary_max_tokens: Annotated[WholeNumber, AI] = Field(
        150, ge=16, le=8192, description="most output tokens one summary may use"
    )
    ai_summary_mode: Annotated[SummaryMode, BeforeValidator(_word), AI] = Field(
        SummaryMode.ALWAYS,
        description="AI summaries of new tasks: always, changes (first run and significant "
        "changes) or off",
    )
    ai_daily_token_budget: Annotated[WholeNumber, AI] = Field(
        0,
        ge=0,
        le=10**12,
        description="Gemini tokens a day (summaries and chat); then summaries go offline and "
        "the chat waits; 0 = none",
    )
    ai_daily_cost_budget: Annotated[Number, AI] = Field(
        1.0,
        ge=0,
        le=1_000_000,
        description="estimated US dollars of Gemini a day (a model without a price counts at "
        "the highest known price); then the same as the token budget; 0 = none",
    )
    chat_always_allow: Annotated[Patterns, CHAT] = Field(
        (),
        description="tools the chat may call without asking although they are not read-only: "
        'server:tool glob patterns, e.g. ["notes:read_*"] (env: comma-separated)',
    )
    history_retention_days: Annotated[WholeNumber, HISTORY] = Field(
        90, ge=0, le=36500, description="drop runs older than this many days; 0 keeps them forever"
    )
    history_max_rows_per_task: Annotated[WholeNumber, HISTORY] = Field(
        10000, ge=0, le=10_000_000, description="keep at most this many runs per task; 0 = no limit"
    )
    health_ping_url: Annotated[PingUrl, HEALTH] = Field(
        "",
        description="a URL the daemon requests every ping_every while its scheduler is healthy "
        "(healthchecks.io, Uptime Kuma, ...), so an outside service notices when it stops; "
        "empty = none",
    )
    health_ping_every: Annotated[Duration, HEALTH] = Field(
        "5m", description='how often to request ping_url: a duration such as "30s" or "5m"'
    )

    gemini_api_key: Annotated[Text, ENVIRONMENT_ONLY] = Field(
        None,
        validation_alias=AliasChoices("GEMINI_API_KEY", "GOOGLE_API_KEY"),
        repr=False,
        description="Gemini API key for summaries and chat; without one both run offline",
    )
    gemini_base_url: Annotated[Text, ENVIRONMENT_ONLY] = Field(
        None, description="another address for the Gemini API, e.g. a proxy or a test stand-in"
    )
    coingecko_base_url: Annotated[Text, ENVIRONMENT_ONLY] = Field(
        None, description="another address for the CoinGecko API of the built-in crypto tool"
    )

    # [ai.prices."model"]: dollars per million tokens, merged over core/prices.DEFAULT_PRICES.
    ai_prices: Mapping[str, InstanceOf[Price]] = Field(default_factory=lambda: dict(DEFAULT_PRICES))
    # [notify.named]: channel name -> Apprise URL (or "desktop"), e.g. {"phone": "ntfys://x"}.
    notify_named: Mapping[str, str] = Field(default_factory=dict, repr=False)
    # [keymap]: binding id -> keys, e.g. {"tasks.run": "ctrl+r"} (Textual keymaps).
    keymap: Mapping[str, str] = Field(default_factory=dict)
    # Where each setting's value came from ("default", the config file, an env var), for
    # `taskagent config show`; filled in by the Origins source.
    sources: Mapping[str, str] = Field(default_factory=dict)

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
    def health_ping_seconds(self) -> float:
        from taskagent.core.schedules.parsing import duration_seconds

        return float(duration_seconds(self.health_ping_every))

    @property
    def has_ai_key(self) -> bool:
        return bool(self.gemini_api_key)


def section_of(field: FieldInfo) -> Section | None:
    """The field's Section marker; None for fields that are not settings."""
    return next((m for m in field.metadata if isinstance(m, Section)), None)


def file_key(name: str, section: Section) -> str:
    """A setting's key within its config.toml section."""
    return name.removeprefix(f"{section.name}_")


def env_name(name: str, field: FieldInfo) -> str:
    """The environment variable a setting is read from (the first one, if several)."""
    return env_names(name, field)[0]


def env_names(name: str, field: FieldInfo) -> list[str]:
    """Every environment variable a setting is read from, the first one first."""
    aliases = field.validation_alias
    if isinstance(aliases, AliasChoices):
        return [str(choice) for choice in aliases.choices]
    return [f"TASKAGENT_{name.upper()}"]


def file_sections(settings_cls: type[BaseModel]) -> dict[str, dict[str, str]]:
    """config.toml's layout: section -> key -> field name, in declaration order."""
    layout: dict[str, dict[str, str]] = {}
    for name, field in settings_cls.model_fields.items():
        section = section_of(field)
        if section is not None and section.name is not None:
            layout.setdefault(section.name, {})[file_key(name, section)] = name
    return layout


def allowed(field: FieldInfo, error: ErrorDetails) -> str:
    """What a setting allows, from its declaration (or its validator's own words), for the
    one-line message about a bad value."""
    if error["type"] == "value_error" and "error" in error.get("ctx", {}):
        return str(error["ctx"]["error"])
    low, high = bounds(field)
    kind = field.annotation
    if kind is int:
        return f"must be a whole number from {low} to {high}"
    if kind is float:
        return f"must be a number from {low:g} to {high:g}"
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return f"must be one of: {', '.join(str(member.value) for member in kind)}"
    return "is not a valid value"


def bounds(field: FieldInfo) -> tuple[Any, Any]:
    """A number setting's lowest and highest value (None where there is no bound)."""
    low = next((m.ge for m in field.metadata if isinstance(m, Ge)), None)
    high = next((m.le for m in field.metadata if isinstance(m, Le)), None)
    return low, high


def machine_timezone() -> str:
    try:
        import tzlocal  # imported lazily: only needed when no zone is configured

        name = tzlocal.get_localzone_name()
    except Exception:  # tzlocal raises several types on odd systems; UTC is a safe answer
        name = None
    return name or "UTC"


def shown(value: Any, limit: int = 80) -> str:
    """A value quoted in an error message: its repr, cut so a huge value stays one short line."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 1]}… ({len(text):,} characters)"


def name_shown(text: Any) -> str:
    """A section or key name in an error message: as is when short and printable, else quoted
    and cut (a name with a newline or a megabyte of text must not break the one-line message)."""
    name = str(text)
    return name if name.isprintable() and len(name) <= 60 else shown(name)


def suggest(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""
