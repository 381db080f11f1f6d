"""A real, private DBus session bus with a fake `org.freedesktop.Notifications` server on it.

The desktop-notifier tests use the real library over a real bus: `private_session_bus` starts
`dbus-daemon --session --print-address --nofork` (skipped with a clear reason when the binary is
missing; the `session_bus` fixture in tests/core/conftest.py points `DBUS_SESSION_BUS_ADDRESS`
at it); `FakeNotificationServer` serves the freedesktop notification interface on that bus with
dbus-fast (in its own thread and event loop), records every `Notify` call and can emit
`ActionInvoked` / `NotificationClosed` like a desktop would when the user presses a button.

The daemon gets empty XDG data dirs, so no real notification daemon on the developer's machine
can be auto-activated by it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import pytest
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusInt32, DBusSignature, DBusStr, DBusUInt32
from dbus_fast.service import ServiceInterface, method, signal
from dbus_fast.signature import Variant

DBusStrList = Annotated[list[str], DBusSignature("as")]
DBusHints = Annotated[dict[str, Variant], DBusSignature("a{sv}")]
DBusServerInfo = Annotated[list[str], DBusSignature("ssss")]
DBusActionSignal = Annotated[list[Any], DBusSignature("us")]
DBusClosedSignal = Annotated[list[Any], DBusSignature("uu")]

BUS_NAME = "org.freedesktop.Notifications"
OBJECT_PATH = "/org/freedesktop/Notifications"


def dbus_daemon_binary() -> str | None:
    found = shutil.which("dbus-daemon")
    if found:
        return found
    return "/usr/bin/dbus-daemon" if os.path.exists("/usr/bin/dbus-daemon") else None


@dataclass(frozen=True)
class ReceivedNotification:
    """One `Notify` call as the server received it."""

    id: int
    app_name: str
    replaces_id: int
    icon: str
    title: str  # "summary" in the freedesktop spec
    body: str
    actions: list[str]  # flat [key, label, key, label, ...]
    hints: dict[str, Any]
    timeout: int

    @property
    def action_labels(self) -> dict[str, str]:
        """{action key: button label}; "default" is the click on the notification itself."""
        return dict(zip(self.actions[::2], self.actions[1::2], strict=False))

    @property
    def urgency(self) -> int | None:
        """0 low, 1 normal, 2 critical."""
        return self.hints.get("urgency")

    def key_for(self, label: str) -> str:
        for key, text in self.action_labels.items():
            if text == label:
                return key
        raise KeyError(f"no button {label!r} in {self.action_labels}")


class _Interface(ServiceInterface):
    def __init__(self, owner: FakeNotificationServer) -> None:
        super().__init__(BUS_NAME)
        self.owner = owner

    @method()
    def Notify(
        self,
        app_name: DBusStr,
        replaces_id: DBusUInt32,
        app_icon: DBusStr,
        summary: DBusStr,
        body: DBusStr,
        actions: DBusStrList,
        hints: DBusHints,
        expire_timeout: DBusInt32,
    ) -> DBusUInt32:
        return self.owner._record(
            app_name, replaces_id, app_icon, summary, body, actions, hints, expire_timeout
        )

    @method()
    def GetCapabilities(self) -> DBusStrList:
        return list(self.owner.capabilities)

    @method()
    def GetServerInformation(self) -> DBusServerInfo:
        return ["FakeNotifyd", "taskagent-tests", "1.0", "1.2"]

    @method()
    def CloseNotification(self, id: DBusUInt32):  # type: ignore[no-untyped-def]
        self.owner.closed_by_client.append(id)

    @signal()
    def ActionInvoked(self, id: int, action_key: str) -> DBusActionSignal:
        return [id, action_key]

    @signal()
    def NotificationClosed(self, id: int, reason: int) -> DBusClosedSignal:
        return [id, reason]


class FakeNotificationServer:
    """`org.freedesktop.Notifications` on the given bus, served from its own thread."""

    def __init__(
        self, address: str, *, capabilities: tuple[str, ...] = ("actions", "body")
    ) -> None:
        self.address = address
        self.capabilities = capabilities
        self.received: list[ReceivedNotification] = []
        self.closed_by_client: list[int] = []
        self._lock = threading.Lock()
        self._next_id = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._bus: MessageBus | None = None
        self._iface: _Interface | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    # ---- lifecycle -------------------------------------------------------------------------
    def start(self) -> FakeNotificationServer:
        self._thread = threading.Thread(target=self._serve, name="fake-notifyd", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the fake notification server did not start")
        if self._error is not None:
            raise RuntimeError(f"the fake notification server failed: {self._error!r}")
        return self

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)

        async def connect() -> None:
            bus = await MessageBus(bus_address=self.address).connect()
            iface = _Interface(self)
            bus.export(OBJECT_PATH, iface)
            await bus.request_name(BUS_NAME)
            self._bus, self._iface = bus, iface

        try:
            loop.run_until_complete(connect())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    def stop(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed() and loop.is_running():

            async def close() -> None:
                if self._bus is not None:
                    self._bus.disconnect()
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(self._bus.wait_for_disconnect(), 2)

            try:
                asyncio.run_coroutine_threadsafe(close(), loop).result(5)
            finally:
                loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(5)

    # ---- what arrived ----------------------------------------------------------------------
    def _record(self, *args: Any) -> int:
        app_name, replaces_id, icon, summary, body, actions, hints, timeout = args
        with self._lock:
            self._next_id += 1
            self.received.append(
                ReceivedNotification(
                    id=self._next_id,
                    app_name=app_name,
                    replaces_id=replaces_id,
                    icon=icon,
                    title=summary,
                    body=body,
                    actions=list(actions),
                    hints={k: v.value if isinstance(v, Variant) else v for k, v in hints.items()},
                    timeout=timeout,
                )
            )
            return self._next_id

    @property
    def last(self) -> ReceivedNotification:
        with self._lock:
            assert self.received, "no notification arrived"
            return self.received[-1]

    async def wait_for(self, count: int = 1, within: float = 30.0) -> list[ReceivedNotification]:
        """Wait (without blocking the caller's loop) until `count` notifications arrived."""
        deadline = time.monotonic() + within
        while True:
            with self._lock:
                if len(self.received) >= count:
                    return list(self.received)
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} notification(s), got {len(self.received)}")
            await asyncio.sleep(0.01)

    # ---- the user acts ---------------------------------------------------------------------
    def press(self, notification_id: int, action_key: str) -> None:
        """Emit ActionInvoked, as a desktop does when a button (or the body) is clicked."""
        assert self._loop is not None and self._iface is not None
        iface = self._iface
        self._loop.call_soon_threadsafe(iface.ActionInvoked, notification_id, action_key)

    def dismiss(self, notification_id: int, reason: int = 2) -> None:
        assert self._loop is not None and self._iface is not None
        iface = self._iface
        self._loop.call_soon_threadsafe(iface.NotificationClosed, notification_id, reason)


@contextlib.contextmanager
def private_session_bus(tmp_path: Path) -> Iterator[str]:
    """A private `dbus-daemon --session` for one test; yields its address (skips the test when
    dbus-daemon is not installed)."""
    binary = dbus_daemon_binary()
    if binary is None:
        pytest.skip(
            "dbus-daemon is not installed (apt install dbus): the desktop-notification tests "
            "need a real session bus"
        )
    empty = tmp_path / "xdg-empty"
    empty.mkdir()
    env = {
        **os.environ,
        "XDG_DATA_HOME": str(empty),
        "XDG_DATA_DIRS": str(empty),
        "XDG_RUNTIME_DIR": str(empty),
    }
    proc = subprocess.Popen(
        [binary, "--session", "--print-address", "--nofork"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    address = proc.stdout.readline().strip()
    if not address:
        proc.kill()
        _, err = proc.communicate(timeout=5)
        pytest.fail(f"dbus-daemon did not start: {err.strip()}")
    try:
        yield address
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
