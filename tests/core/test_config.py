from __future__ import annotations

from pathlib import Path

import pytest

from taskagent.config import (
    ConfigError,
    Settings,
    default_config_text,
    effective_config_text,
    load_settings,
    settings_doc,
)
from taskagent.keys import BINDING_IDS, keymap_conflict
from taskagent.paths import Paths, resolve_paths


def _paths(tmp_path: Path) -> Paths:
    return resolve_paths({"TASKAGENT_HOME": str(tmp_path)})


@pytest.fixture(autouse=True)
def no_setting_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the variables a test sets itself (conftest sets one for every test)."""
    import os

    for name in list(os.environ):
        if name.upper().startswith("TASKAGENT_") and name.upper() != "TASKAGENT_HOME":
            monkeypatch.delenv(name)


def test_home_puts_everything_in_one_folder(tmp_path: Path) -> None:
    paths = _paths(tmp_path)
    assert paths.config_file == tmp_path.resolve() / "config.toml"
    assert paths.db_file == tmp_path.resolve() / "taskagent.db"
    assert paths.mcp_file.parent == tmp_path.resolve()
    assert paths.log_dir.is_relative_to(tmp_path.resolve())


def test_without_home_uses_platform_dirs(tmp_path: Path) -> None:
    paths = resolve_paths({})
    assert paths.db_file.name == "taskagent.db"
    assert "taskagent" in str(paths.data_dir)


def test_defaults_without_a_file(tmp_path: Path) -> None:
    settings = load_settings(_paths(tmp_path))
    assert settings.scheduler_worker_threads == 4
    assert settings.ai_model == "gemini-2.5-flash"
    assert settings.ai_summary_temperature == 0.7
    assert settings.ai_summary_max_tokens == 150
    assert settings.notifications_default_level == "all"
    assert settings.history_retention_days == 90
    assert settings.timezone  # falls back to the machine's zone
    assert settings.has_ai_key is False
    assert all(source == "default" for source in settings.sources.values())


def test_file_then_env_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = _paths(tmp_path)
    paths.config_file.write_text(
        '[general]\ntimezone = "Europe/Berlin"\n[scheduler]\nworker_threads = 8\n'
        '[ai]\nmodel = "gemini-2.5-pro"\n'
    )
    monkeypatch.setenv("TASKAGENT_SCHEDULER_WORKER_THREADS", "2")
    settings = load_settings(paths)
    assert settings.timezone == "Europe/Berlin"
    assert settings.ai_model == "gemini-2.5-pro"
    assert settings.scheduler_worker_threads == 2
    assert settings.sources["scheduler_worker_threads"] == "$TASKAGENT_SCHEDULER_WORKER_THREADS"
    assert settings.sources["ai_model"] == str(paths.config_file)


def test_api_key_only_from_env_and_never_in_repr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "sekrit-123")
    settings = load_settings(_paths(tmp_path))
    assert settings.has_ai_key
    assert "sekrit-123" not in repr(settings)
    assert "sekrit-123" not in effective_config_text(settings)
    monkeypatch.delenv("GEMINI_API_KEY")
    monkeypatch.setenv("GOOGLE_API_KEY", "other")
    fallback = load_settings(_paths(tmp_path))
    assert fallback.gemini_api_key == "other"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            "[scheduler]\nworker_threads = 0\n",
            "[scheduler] worker_threads = 0: must be a whole number from 1 to 64",
        ),
        ("[scheduler]\nworker_threads = true\n", "worker_threads = True: must be a whole number"),
        ("[scheduler]\nworkers = 3\n", "unknown key 'workers' in [scheduler]"),
        ("[schedular]\n", "unknown section [schedular] (did you mean 'scheduler'?)"),
        ('[general]\ntimezone = "Mars/Olympus"\n', "must be an IANA time zone name"),
        (
            '[notifications]\ndefault_level = "loud"\n',
            "must be one of: all, errors, significant, alerts, silent",
        ),
        ("[ai]\nsummary_temperature = 5\n", "must be a number from 0 to 2"),
        ("[ai\nmodel = 1\n", "invalid TOML"),
        ("ai = 3\n", "'ai' must be a [section] table"),
    ],
)
def test_bad_file_names_file_key_and_rule(tmp_path: Path, content: str, expected: str) -> None:
    paths = _paths(tmp_path)
    paths.config_file.write_text(content)
    with pytest.raises(ConfigError) as info:
        load_settings(paths)
    assert str(paths.config_file) in str(info.value)
    assert expected in str(info.value)


def test_bad_file_value_is_reported_even_when_a_variable_overrides_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = _paths(tmp_path)
    paths.config_file.write_text("[history]\nretention_days = -1\n")
    monkeypatch.setenv("TASKAGENT_HISTORY_RETENTION_DAYS", "7")
    with pytest.raises(ConfigError, match=r"\[history\] retention_days = -1: must be a whole"):
        load_settings(paths)


def test_bad_env_var_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASKAGENT_HISTORY_RETENTION_DAYS", "soon")
    with pytest.raises(ConfigError, match=r"TASKAGENT_HISTORY_RETENTION_DAYS='soon'.*whole number"):
        load_settings(_paths(tmp_path))


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        (
            "TASKAGENT_NOTIFICATIONS_DEFAULT_LEVEL",
            "loud",
            "TASKAGENT_NOTIFICATIONS_DEFAULT_LEVEL='loud': must be one of: all, errors, "
            "significant, alerts, silent",
        ),
        ("TASKAGENT_NOTIFICATIONS_DESKTOP", "maybe", "DESKTOP='maybe': must be true or false"),
        ("TASKAGENT_AI_SUMMARY_TEMPERATURE", "hot", "='hot': must be a number from 0 to 2"),
        ("TASKAGENT_SCHEDULER_WORKER_THREADS", "2.5", "='2.5': must be a whole number from 1"),
        ("TASKAGENT_AI_MODEL", "two words", "='two words': must be a model name"),
        ("TASKAGENT_CHAT_ALWAYS_ALLOW", "notes", "'notes' is not a pattern: use server:tool"),
    ],
)
def test_bad_env_value_is_one_line_in_the_users_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as info:
        load_settings(_paths(tmp_path))
    message = str(info.value)
    assert message.startswith(f"config error in environment variable {variable}=")
    assert expected in message
    assert len(message.splitlines()) == 1
    for pydantic_words in ("validation error", "Input should", "pydantic", "type="):
        assert pydantic_words not in message


def test_env_values_are_converted_from_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable, value in {
        "TASKAGENT_NOTIFICATIONS_DEFAULT_LEVEL": " Errors ",
        "TASKAGENT_NOTIFICATIONS_DESKTOP": "off",
        "TASKAGENT_AI_SUMMARY_TEMPERATURE": "1.5",
        "TASKAGENT_HISTORY_RETENTION_DAYS": "0",
        "TASKAGENT_CHAT_ALWAYS_ALLOW": "notes:read_*, notes:list_*",
        "TASKAGENT_GEMINI_BASE_URL": "http://127.0.0.1:9",
    }.items():
        monkeypatch.setenv(variable, value)
    settings = load_settings(_paths(tmp_path))
    assert settings.notifications_default_level == "errors"
    assert settings.notifications_desktop is False
    assert settings.ai_summary_temperature == 1.5
    assert settings.history_retention_days == 0
    assert settings.chat_always_allow == ("notes:read_*", "notes:list_*")
    assert settings.gemini_base_url == "http://127.0.0.1:9"


def test_arguments_beat_environment_beat_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = _paths(tmp_path)
    paths.config_file.write_text("[scheduler]\nworker_threads = 8\nmax_retries = 5\n")
    monkeypatch.setenv("TASKAGENT_SCHEDULER_WORKER_THREADS", "2")
    monkeypatch.setenv("TASKAGENT_HISTORY_RETENTION_DAYS", "7")
    settings = load_settings(paths, scheduler_worker_threads=3)
    assert settings.scheduler_worker_threads == 3
    assert settings.history_retention_days == 7
    assert settings.scheduler_max_retries == 5
    assert settings.sources["scheduler_worker_threads"] == "argument"
    assert settings.sources["history_retention_days"] == "$TASKAGENT_HISTORY_RETENTION_DAYS"
    assert settings.sources["scheduler_max_retries"] == str(paths.config_file)
    with pytest.raises(ConfigError, match=r"^scheduler_worker_threads = 0: must be a whole number"):
        load_settings(paths, scheduler_worker_threads=0)


def test_docs_settings_table_is_the_generated_one() -> None:
    doc = Path(__file__).resolve().parents[2] / "docs" / "settings.md"
    assert doc.read_text(encoding="utf-8") == settings_doc(), (
        "docs/settings.md differs from the settings declaration in taskagent/settings_model.py; "
        "regenerate it with `.venv/bin/taskagent config doc > docs/settings.md`"
    )
    for name, field in Settings.model_fields.items():
        if field.description:
            assert field.description in settings_doc(), name


def test_default_config_text_loads_back_to_defaults(tmp_path: Path) -> None:
    paths = _paths(tmp_path)
    paths.config_file.write_text(default_config_text())
    settings = load_settings(paths)
    assert set(settings.sources.values()) == {str(paths.config_file)}
    for name in settings.sources:
        assert getattr(settings, name) == Settings.model_fields[name].default
        assert f"TASKAGENT_{name.upper()}" in default_config_text()


def test_keymap_table_is_passed_through_and_checked(tmp_path: Path) -> None:
    paths = _paths(tmp_path)
    paths.config_file.write_text('[keymap]\n"tasks.run" = "ctrl+r"\n')
    assert dict(load_settings(paths).keymap) == {"tasks.run": "ctrl+r"}
    paths.config_file.write_text('[keymap]\n"tasks.run" = 5\n')
    with pytest.raises(ConfigError, match=r"\[keymap\] tasks.run = 5: must be keys"):
        load_settings(paths)


def test_unknown_keymap_id_is_one_line_with_a_suggestion(tmp_path: Path) -> None:
    paths = _paths(tmp_path)
    paths.config_file.write_text('[keymap]\n"tasks.rnu" = "ctrl+r"\n')
    with pytest.raises(ConfigError) as info:
        load_settings(paths)
    message = str(info.value)
    assert str(paths.config_file) in message
    assert "unknown binding id 'tasks.rnu' in [keymap] (did you mean 'tasks.run'?)" in message
    assert len(message.splitlines()) == 1
    # nothing close: no guess, still the pointer to where the ids are listed
    paths.config_file.write_text('[keymap]\n"zzz" = "x"\n')
    with pytest.raises(ConfigError, match=r"unknown binding id 'zzz' in \[keymap\]; the help"):
        load_settings(paths)


def test_every_registered_binding_id_is_accepted(tmp_path: Path) -> None:
    paths = _paths(tmp_path)
    lines = [
        f'"{binding}" = "ctrl+f{i + 1}"' for i, binding in enumerate(BINDING_IDS)
    ]  # all different
    paths.config_file.write_text("[keymap]\n" + "\n".join(lines) + "\n")
    assert set(load_settings(paths).keymap) == set(BINDING_IDS)


@pytest.mark.parametrize(
    ("keymap", "both"),
    [
        ({"tab.history": "2"}, ("tab.history", "tab.tasks")),  # two app keys
        ({"tasks.run": "e"}, ("tasks.run", "tasks.edit")),  # in one tab
        ({"tasks.run": "3"}, ("tasks.run", "tab.history")),  # a tab's key over the app's
        ({"tab.chat": "f9", "tab.tasks": "f9"}, ("tab.tasks", "tab.chat")),
    ],
)
def test_a_key_bound_twice_is_refused_naming_both_ids(
    tmp_path: Path, keymap: dict[str, str], both: tuple[str, str]
) -> None:
    paths = _paths(tmp_path)
    table = "".join(f'"{binding}" = "{keys}"\n' for binding, keys in keymap.items())
    paths.config_file.write_text(f"[keymap]\n{table}")
    with pytest.raises(ConfigError) as info:
        load_settings(paths)
    message = str(info.value)
    assert len(message.splitlines()) == 1
    assert all(binding in message for binding in both), message


@pytest.mark.parametrize(
    "keymap",
    [
        {},
        {"history.chart": "r"},  # r is Tasks' "run now", on another tab
        {"tab.history": "9", "tasks.run": "3"},  # 3 is free once History moved
    ],
)
def test_keys_on_different_tabs_or_moved_away_are_no_conflict(keymap: dict[str, str]) -> None:
    assert keymap_conflict(keymap) is None
