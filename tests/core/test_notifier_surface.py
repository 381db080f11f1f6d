"""desktop-notifier has no way to close the DBus connection it opens, so core/notify.py closes
it through private attributes (`DesktopNotifier._backend`, the DBus backend's `bus` and
`interface`). The version is pinned for that; this test fails when the pin and the installed
version part, or when those attributes are gone."""

from __future__ import annotations

import inspect
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest

PINNED = "6.2.0"
ROOT = Path(__file__).resolve().parents[2]


def test_the_pin_matches_what_is_installed() -> None:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert f"desktop-notifier=={PINNED}" in deps
    assert version("desktop-notifier") == PINNED, (
        "desktop-notifier changed: check core/notify.py `_disconnect` against its new version"
    )


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the DBus backend is Linux's")
def test_the_private_attributes_notify_closes_exist() -> None:
    from desktop_notifier import DesktopNotifier
    from desktop_notifier.backends.dbus import DBusDesktopNotifier
    from desktop_notifier.main import get_backend_class

    assert get_backend_class() is DBusDesktopNotifier
    notifier = DesktopNotifier(app_name="taskagent-test")
    backend = notifier._backend
    assert isinstance(backend, DBusDesktopNotifier)
    assert hasattr(backend, "interface")
    # `bus` exists once the backend has connected (its first request); where it is set:
    assert "self.bus = " in inspect.getsource(DBusDesktopNotifier)
