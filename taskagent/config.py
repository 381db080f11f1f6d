"""Loading the settings, and the texts made from their declaration.

`taskagent.settings_model` declares every setting once; from it come the one-line
message for a bad value, the commented default config.toml (`taskagent config init`), the
settings in force (`taskagent config show`) and the table of docs/settings.md
(`taskagent config doc`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from pydantic.fields import FieldInfo

from taskagent.core.channels import masked
from taskagent.core.prices import DEFAULT_PRICES, Price
from taskagent.paths import Paths
from taskagent.settings_model import (
    DEFAULT_PARALLEL_RUNS,
    ENVIRONMENT_ONLY,
    ConfigError,
    allowed,
    bounds,
    env_name,
    env_names,
    file_sections,
    machine_timezone,
    section_of,
    shown,
)
from taskagent.settings_sources import Settings

__all__ = [
    "DEFAULT_PARALLEL_RUNS",
    "ConfigError",
    "Settings",
    "default_config_text",
    "effective_config_text",
    "load_settings",
    "machine_timezone",
    "settings_doc",
]


def load_settings(paths: Paths, **overrides: Any) -> Settings:
    """The settings from the arguments, the environment, config.toml and the defaults, in that
    order; a bad value raises ConfigError with one line naming it as the user wrote it."""
    try:
        return Settings(paths=paths, **overrides)
    except ValidationError as exc:
        raise ConfigError(_one_line(exc, overrides)) from exc


def _one_line(exc: ValidationError, overrides: Mapping[str, Any]) -> str:
    """The message for a bad argument or environment variable (config.toml's own values are
    checked, and reported, by its source)."""
    error = exc.errors()[0]
    name = str(error["loc"][0]) if error["loc"] else ""
    field = Settings.model_fields.get(name)
    if field is None or section_of(field) is None:
        raise exc  # not a setting the user can write: a mistake in the calling code
    if name in overrides:
        return f"{name} = {shown(overrides[name])}: {allowed(field, error)}"
    written = {key.upper(): key for key in os.environ}
    for variable in env_names(name, field):
        if variable in written:
            value = os.environ[written[variable]]
            return (
                f"config error in environment variable {written[variable]}={shown(value)}: "
                f"{allowed(field, error)}"
            )
    raise exc


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _file_settings() -> list[tuple[str, str, str, FieldInfo]]:
    """(section, key, field name, field) of every config.toml setting, in declaration order."""
    return [
        (section, key, name, Settings.model_fields[name])
        for section, keys in file_sections(Settings).items()
        for key, name in keys.items()
    ]


def default_config_text() -> str:
    """A commented config.toml holding every setting at its default."""
    lines = [
        "# taskagent settings. Every key is optional; these are the defaults.",
        "# Each can also be set by an environment variable, shown after its description.",
        "# Secrets (GEMINI_API_KEY / GOOGLE_API_KEY) are read from the environment only.",
    ]
    current = None
    for section, key, name, field in _file_settings():
        if section != current:
            lines += ["", f"[{section}]"]
            current = section
        lines.append(f"# {field.description} (${env_name(name, field)})")
        lines.append(f"{key} = {_toml_value(field.default)}")
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
    current = None
    for section, key, name, _field in _file_settings():
        if section != current:
            lines += ([""] if lines else []) + [f"[{section}]"]
            current = section
        value = getattr(settings, name)
        if section == "notify":  # channel URLs hold secrets: never shown whole
            value = _masked(value)
        lines.append(f"{key} = {_toml_value(value)}  # from {settings.sources.get(name)}")
    if settings.notify_named:
        lines += ["", "[notify.named]"]
        lines += [f"{n} = {_toml_value(masked(url))}" for n, url in settings.notify_named.items()]
    lines.append("")
    lines += _price_lines(settings.ai_prices)
    return "\n".join(lines) + "\n"


def _masked(value: Any) -> Any:
    if isinstance(value, tuple):
        return tuple(masked(item) for item in value)
    return masked(value) if isinstance(value, str) and "://" in value else value


def _range(field: FieldInfo) -> str:
    low, high = bounds(field)
    return f" ({low:,} to {high:,})" if low is not None and high is not None else ""


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def settings_doc() -> str:
    """docs/settings.md, made from the declaration (`taskagent config doc > docs/settings.md`)."""
    lines = [
        "# Settings",
        "",
        "<!-- Generated from taskagent/settings_model.py by `taskagent config doc`; "
        "do not edit by hand. -->",
        "",
        "taskagent reads its settings from `config.toml` (`taskagent config path` shows where it "
        "is; `taskagent config init` writes one with every default) and from environment "
        "variables, which win over the file. `taskagent config show` prints the settings in "
        "force and where each came from. A bad value stops taskagent with one line naming the "
        "file or variable, the key and what is allowed.",
        "",
        "| setting | env var | default | meaning |",
        "| --- | --- | --- | --- |",
    ]
    for section, key, name, field in _file_settings():
        lines.append(
            f"| `[{section}] {key}` | `{env_name(name, field)}` | "
            f"`{_cell(_toml_value(field.default))}` | "
            f"{_cell(str(field.description))}{_range(field)} |"
        )
    for name, field in Settings.model_fields.items():
        if section_of(field) == ENVIRONMENT_ONLY:
            variables = " or ".join(f"`{variable}`" for variable in env_names(name, field))
            lines.append(f"| - | {variables} | none | {_cell(str(field.description))} |")
    lines += [
        "",
        'Two tables of `config.toml` have no variable: `[ai.prices."MODEL"]` with '
        "`input_per_million` and `output_per_million`, the estimated US dollars per million "
        "tokens of a Gemini model (over the built-in prices), and `[keymap]`, which binds a key "
        'to a binding id, e.g. `"tasks.run" = "ctrl+r"` (the help screen, `?`, lists the ids).',
    ]
    return "\n".join(lines) + "\n"
