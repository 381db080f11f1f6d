"""Where the settings come from: arguments, then the environment, then config.toml.

`Settings` is the declaration of `taskagent.settings_model` read through these sources;
`Origins` records which one gave each value, for `taskagent config show`.
"""

from __future__ import annotations

import tomllib
from typing import Any

from pydantic import ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from taskagent.core.channels import check_named
from taskagent.core.prices import DEFAULT_PRICES, Price
from taskagent.keys import BINDING_IDS, keymap_conflict
from taskagent.paths import Paths
from taskagent.settings_model import (
    ConfigError,
    SettingsFields,
    allowed,
    env_name,
    file_key,
    file_sections,
    name_shown,
    section_of,
    shown,
    suggest,
)


class Settings(SettingsFields, BaseSettings):
    """The settings in force, read by `taskagent.config.load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix="TASKAGENT_",
        frozen=True,
        extra="forbid",
        validate_by_name=True,
        env_parse_enums=False,
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments, then the environment, then paths.config_file (no .env, no secrets dir)."""
        sources: list[PydanticBaseSettingsSource] = [init_settings, Environment(settings_cls)]
        paths = (
            init_settings.init_kwargs.get("paths")
            if isinstance(init_settings, InitSettingsSource)
            else None
        )
        if isinstance(paths, Paths):
            sources.append(ConfigFile(settings_cls, paths))
        return (*sources, Origins(settings_cls, sources))


class Environment(EnvSettingsSource):
    """Environment variables, for the fields marked as settings only."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        if section_of(field) is None:
            return None, field_name, False
        return super().get_field_value(field, field_name)


class ConfigFile(InitSettingsSource):
    """config.toml: its `[section] key = value` settings, `[keymap]` and `[ai.prices."model"]`.

    The whole file is checked here, with messages naming what the user wrote, even the values
    an environment variable overrides: a mistake in the file shows when it is made.
    """

    def __init__(self, settings_cls: type[BaseSettings], paths: Paths) -> None:
        self.path = path = paths.config_file
        try:
            raw = TomlConfigSettingsSource(settings_cls, toml_file=path).toml_data
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config error in {path}: invalid TOML: {exc}") from exc
        except RecursionError:  # the decoder recurses per level of nesting
            raise ConfigError(
                f"config error in {path}: invalid TOML: arrays or tables nested too deeply"
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config error in {path}: cannot read the file ({exc})") from exc
        values = self._settings(file_sections(settings_cls), raw)
        try:  # the file's values alone, by the fields' types (no source is read here)
            SettingsFields.model_validate({"paths": paths, **values})
        except ValidationError as exc:
            error = exc.errors()[0]
            name = str(error["loc"][0])
            field = settings_cls.model_fields[name]
            section = section_of(field)
            key = file_key(name, section) if section is not None else name
            # A channel's value may hold a secret: its message shows it masked instead.
            value = "" if name.startswith("notify_") else f" = {shown(values.get(name))}"
            raise self._error(
                f"[{section.name if section else ''}] {key}{value}: {allowed(field, error)}"
            ) from exc
        super().__init__(settings_cls, values)

    def _error(self, text: str) -> ConfigError:
        return ConfigError(f"config error in {self.path}: {text}")

    def _settings(self, layout: dict[str, dict[str, str]], raw: dict[str, Any]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for section, table in raw.items():
            if section == "keymap":
                values["keymap"] = self._keymap(table)
                continue
            if section not in layout:
                raise self._error(
                    f"unknown section [{name_shown(section)}]{suggest(section, list(layout))}; "
                    f"allowed: {', '.join(layout)}"
                )
            if not isinstance(table, dict):
                raise self._error(f"'{name_shown(section)}' must be a [section] table")
            for key, value in table.items():
                if section == "ai" and key == "prices":
                    values["ai_prices"] = self._prices(value)
                    continue
                if section == "notify" and key == "named":
                    values["notify_named"] = self._named(value)
                    continue
                keys = layout[section]
                if key not in keys:
                    raise self._error(
                        f"unknown key '{name_shown(key)}' in [{section}]{suggest(key, list(keys))}; "
                        f"allowed: {', '.join(keys)}"
                    )
                values[keys[key]] = value
        return values

    def _keymap(self, table: Any) -> dict[str, str]:
        if not isinstance(table, dict):
            raise self._error("'keymap' must be a [keymap] table")
        for binding, keys in table.items():
            if binding not in BINDING_IDS:
                raise self._error(
                    f"unknown binding id '{name_shown(binding)}' in [keymap]"
                    f"{suggest(str(binding), list(BINDING_IDS))}; the help screen (?) lists every id"
                )
            if not isinstance(keys, str) or not keys.strip():
                raise self._error(
                    f"[keymap] {name_shown(binding)} = {shown(keys)}: must be keys such as "
                    '"ctrl+r" or "f5,ctrl+r"'
                )
        keymap = {str(k): v.strip() for k, v in table.items()}
        conflict = keymap_conflict(keymap)
        if conflict is not None:
            raise self._error(conflict)
        return keymap

    def _named(self, table: Any) -> dict[str, str]:
        if not isinstance(table, dict):
            raise self._error(
                '[notify] named must be a table like [notify.named] phone = "ntfys://x"'
            )
        try:
            return check_named(table)
        except ValueError as exc:
            raise self._error(str(exc)) from exc

    def _prices(self, table: Any) -> dict[str, Price]:
        """[ai.prices."model"] tables over the defaults; one message naming the bad entry."""
        prices = dict(DEFAULT_PRICES)
        if not isinstance(table, dict):
            raise self._error('[ai] prices must be tables like [ai.prices."gemini-2.5-flash"]')
        for model, entry in table.items():
            where = f'[ai.prices."{model}"]'
            if not isinstance(entry, dict):
                raise self._error(f"{where} must be a table with {' and '.join(PRICE_KEYS)}")
            unknown = sorted(set(entry) - set(PRICE_KEYS))
            if unknown:
                raise self._error(
                    f"{where}: unknown key '{unknown[0]}'{suggest(unknown[0], list(PRICE_KEYS))}; "
                    f"allowed: {', '.join(PRICE_KEYS)}"
                )
            missing = [key for key in PRICE_KEYS if key not in entry]
            if missing:
                raise self._error(
                    f"{where}: {missing[0]} is missing (US dollars per million tokens)"
                )
            for key in PRICE_KEYS:
                value = entry[key]
                if (
                    isinstance(value, bool)
                    or not isinstance(value, int | float)
                    or not 0 <= value <= 10_000
                ):
                    raise self._error(
                        f"{where} {key} = {value!r}: must be a number from 0 to 10000"
                    )
            prices[str(model).strip().lower()] = Price(
                float(entry["input_per_million"]), float(entry["output_per_million"])
            )
        return prices


PRICE_KEYS = ("input_per_million", "output_per_million")


class Origins(PydanticBaseSettingsSource):
    """Where each setting's value came from, read from what the other sources found; it sets
    the `sources` field only (and so comes last, below every real source)."""

    def __init__(
        self, settings_cls: type[BaseSettings], sources: list[PydanticBaseSettingsSource]
    ) -> None:
        super().__init__(settings_cls)
        self.sources = sources

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        found = self.settings_sources_data
        origins: dict[str, str] = {}
        for name, field in self.settings_cls.model_fields.items():
            section = section_of(field)
            if section is None or section.name is None:
                continue
            origins[name] = "default"
            for source in self.sources:
                if name in found.get(type(source).__name__, {}):
                    origins[name] = describe_source(source, name, field)
                    break
        return {"sources": origins}


def describe_source(source: PydanticBaseSettingsSource, name: str, field: FieldInfo) -> str:
    if isinstance(source, ConfigFile):
        return str(source.path)
    if isinstance(source, Environment):
        return f"${env_name(name, field)}"
    return "argument"
