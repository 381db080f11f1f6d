"""Notifications about runs: desktop notifications (desktop-notifier), else in-app toasts.

Levels (per task): `all` every finished run, `errors` only failed runs, `significant`
significant changes and failed runs, `alerts` only the firings of alert rules (core/alerts/),
`silent` history only.

No spam (`should_notify`, a pure function; rules in its docstring):
  * a task that keeps failing notifies once; when it works again it notifies once more
    ("Recovered after 14 failed runs"), at every level but `silent`;
  * at most one notification per task every `cooldown_seconds` (config
    `[notifications] cooldown_seconds`, default 300; 0 = no cooldown). A failure alert or
    recovery held back by the cooldown is sent by the next eligible run, never lost.

Facts this is built on (desktop-notifier 6.2 on Linux/DBus):
  * The notifier binds to the event loop of its first use, so everything desktop-related runs
    on the loop `start()` was called on (the main loop). `notify_run` called from a worker
    thread's loop hands the work over with `run_coroutine_threadsafe`.
  * Without a DBus session or a notification server `send()` does not raise, it only logs.
    So `start()` probes (`DBUS_SESSION_BUS_ADDRESS`/`DISPLAY` + `get_capabilities()` with a
    timeout) and, if there is no service, every notification goes to the in-app `fallback`
    (a toast) plus a log line. A desktop send that fails later (its `on_dispatched` never
    fires) is delivered through the fallback too, and the desktop is tried again
    `REPROBE_SECONDS` later.
  * Buttons: "Open" (when an `on_open` callback is set, e.g. by the running app) and
    "Pause task" (when `on_pause` is set); clicking the notification also calls `on_open`.
    Callbacks may be plain functions or coroutine functions.

Where a notification goes once decided (channels, receipts, retries, quiet hours) is
core/delivery.py's job when one is attached (`use_delivery`); its `desktop` channel comes back
here (`show`). Bodies shown on a DBus desktop are escaped: the spec lets a server render
markup in them, and a notification's body is plain text.

Nothing raised inside the notifier escapes: a notification is never worth a failed run.
"""

from __future__ import annotations

import asyncio
import html
import logging
import os
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from taskagent.core.models import NotificationLevel, Run, RunStatus, Task

if TYPE_CHECKING:
    from taskagent.core.delivery import Deliverer, Message

log = logging.getLogger(__name__)

Severity = Literal["information", "warning", "error"]
Fallback = Callable[[str, str, Severity], Any]
TaskCallback = Callable[[int], Any]

DEFAULT_COOLDOWN_SECONDS = 300.0
PROBE_TIMEOUT = 2.0
REPROBE_SECONDS = 300.0  # after a desktop send failed, try the desktop again this much later
MAX_BODY_CHARS = 300


# ============================================================================ decision
@dataclass(frozen=True, slots=True)
class NotifyState:
    """What the notifier remembers about one task between runs."""

    failures: int = 0  # failed runs in the current streak (kept until a recovery is told)
    alerted: bool = False  # the user was told about this streak and not yet about a recovery
    last_sent: float | None = None  # clock time of the last notification for the task


@dataclass(frozen=True, slots=True)
class Decision:
    send: bool
    kind: str  # "failure" | "recovery" | "significant" | "success" | "" (nothing to say)
    reason: str  # why (not), for logs and tests
    failures: int = 0  # for "recovery": how many failed runs it recovered from


def should_notify(
    level: NotificationLevel | str,
    *,
    failed: bool,
    significant: bool,
    state: NotifyState,
    now: float,
    cooldown: float,
) -> tuple[Decision, NotifyState]:
    """Whether this finished run notifies, and the task's new state. Pure.

    * A failed run alerts once per failure streak (not again while the task keeps failing).
    * The first successful run after an alert sends a recovery ("recovered after N failed
      runs"); if the task failed without an alert being sent, its recovery is not announced.
    * Otherwise a successful run notifies at level `all`, or at `significant` when significant.
    * `silent` never notifies (and forgets an unannounced recovery).
    * Cooldown: nothing is sent within `cooldown` seconds of the task's last notification.
      A failure alert held back this way is sent by the next failed run after the cooldown;
      a held-back recovery by the next successful run after it.
    """
    level = NotificationLevel(level)
    cooling = state.last_sent is not None and cooldown > 0 and now - state.last_sent < cooldown

    if failed:
        failures = state.failures + 1
        kept = replace(state, failures=failures)
        if level is NotificationLevel.SILENT:
            return Decision(False, "failure", "level silent"), kept
        if state.alerted:
            return Decision(False, "failure", f"already alerted ({failures} failed runs)"), kept
        if cooling:
            return Decision(False, "failure", "cooldown"), kept
        return (
            Decision(True, "failure", "run failed"),
            NotifyState(failures=failures, alerted=True, last_sent=now),
        )

    if state.alerted:
        if level is NotificationLevel.SILENT:
            return Decision(False, "recovery", "level silent"), replace(
                state, failures=0, alerted=False
            )
        if cooling:
            return Decision(False, "recovery", "cooldown (recovery pending)"), state
        return (
            Decision(True, "recovery", "recovered", failures=state.failures),
            NotifyState(failures=0, alerted=False, last_sent=now),
        )

    clean = replace(state, failures=0)
    if level is NotificationLevel.ALL:
        kind = "significant" if significant else "success"
    elif level is NotificationLevel.SIGNIFICANT and significant:
        kind = "significant"
    else:
        return Decision(False, "", f"level {level.value}"), clean
    if cooling:
        return Decision(False, kind, "cooldown"), clean
    return Decision(True, kind, f"level {level.value}"), replace(clean, last_sent=now)


# ============================================================================= message
def _cut(text: str, limit: int = MAX_BODY_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def message_for(task: Task, run: Run, decision: Decision) -> tuple[str, str, Severity]:
    """(title, body, severity) of the notification: title = task name, body = summary or
    error."""
    title = task.name
    summary = run.ai_summary or _cut(run.raw_data or "", 200) or "finished"
    if decision.kind == "failure":
        status = "timed out" if run.status is RunStatus.TIMEOUT else "failed"
        return title, _cut(f"Run {status}: {run.error_message or 'no details'}"), "error"
    if decision.kind == "recovery":
        n = decision.failures
        head = f"Recovered after {n} failed run{'s' if n != 1 else ''}."
        return title, _cut(f"{head} {summary}"), "information"
    if decision.kind == "significant":
        reason = run.significance_reason
        body = f"{reason}. {summary}" if reason and reason not in summary else summary
        return title, _cut(body), "warning"
    return title, _cut(summary), "information"


# ============================================================================ notifier
class Notifier:
    """Decides and delivers run notifications. Call `await start()` on the main loop."""

    def __init__(
        self,
        *,
        app_name: str = "taskagent",
        cooldown_seconds: float = DEFAULT_COOLDOWN_SECONDS,
        on_open: TaskCallback | None = None,
        on_pause: TaskCallback | None = None,
        fallback: Fallback | None = None,
        desktop: Any | None = None,  # a desktop_notifier.DesktopNotifier (tests inject one)
        use_desktop: bool = True,
        probe_timeout: float = PROBE_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app_name = app_name
        self.cooldown = float(cooldown_seconds)
        self.on_open = on_open
        self.on_pause = on_pause
        self.fallback = fallback
        self._desktop = desktop
        self._use_desktop = use_desktop
        self.probe_timeout = probe_timeout
        self._clock = clock
        self._loop: asyncio.AbstractEventLoop | None = None
        self._desktop_ok = False
        self._desktop_kind = ""
        self._unavailable_reason = "not started"
        self._reprobe_at: float | None = None  # when to look for a service that went away
        self._states: dict[int, NotifyState] = {}
        self._tasks: set[asyncio.Future[Any]] = set()
        # Receipts, channels, retries and quiet hours (core/delivery.py); None = desktop only.
        self.delivery: Deliverer | None = None
        # The latest deliveries (task_id, kind, title, body), for the Status tab and tests.
        self.sent: deque[tuple[int, str, str, str]] = deque(maxlen=50)

    # ------------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        """Bind to the running loop and probe the desktop notification service."""
        self._loop = asyncio.get_running_loop()
        if not self._use_desktop:
            self._unavailable_reason = "desktop notifications switched off"
            return
        try:
            if self._desktop is None:
                from desktop_notifier import DesktopNotifier

                self._desktop = DesktopNotifier(app_name=self.app_name)
            self._desktop_kind = _backend_kind(self._desktop)
            ok, why = await self._probe()
        except Exception as exc:  # a broken platform backend must not stop the app
            ok, why = False, f"{type(exc).__name__}: {exc}"
        self._desktop_ok = ok
        self._unavailable_reason = why
        if ok:
            log.info("notifications: %s", self.backend)
        else:
            log.info("notifications: no desktop notification service (%s); %s", why, self.backend)

    async def _probe(self) -> tuple[bool, str]:
        if sys.platform.startswith("linux") and not (
            os.environ.get("DBUS_SESSION_BUS_ADDRESS") or os.environ.get("DISPLAY")
        ):
            return False, "no DBus session"
        assert self._desktop is not None
        try:
            await asyncio.wait_for(self._desktop.get_capabilities(), self.probe_timeout)
        except Exception as exc:
            await self._disconnect()
            text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            return False, text[:160]
        return True, ""

    async def _disconnect(self) -> None:
        # desktop-notifier keeps the DBus connection it opened (even when the probe failed) and
        # has no close(): close it here so no socket is left behind. `_backend` and its `bus`
        # are private: the version is pinned for them and tests/core/test_notifier_surface.py
        # fails when they change.
        backend = getattr(self._desktop, "_backend", None)
        bus = getattr(backend, "bus", None)
        if backend is None or bus is None:
            return
        try:
            bus.disconnect()
            await asyncio.wait_for(bus.wait_for_disconnect(), 2)
        except Exception:
            log.debug("closing the notification bus failed", exc_info=True)
        backend.bus = None
        if hasattr(backend, "interface"):
            backend.interface = None

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._desktop is not None and self._loop is asyncio.get_running_loop():
            await self._disconnect()
        self._desktop_ok = False
        self._unavailable_reason = "closed"

    @property
    def backend(self) -> str:
        """Which way notifications go, for the Status tab."""
        if self._desktop_ok:
            return f"desktop ({self._desktop_kind})"
        why = self._unavailable_reason or "no notification service"
        if self.fallback is not None:
            return f"in-app ({why})"
        return f"log only ({why})"

    @property
    def desktop_available(self) -> bool:
        return self._desktop_ok

    def attach(
        self,
        *,
        on_open: TaskCallback | None = None,
        fallback: Fallback | None = None,
    ) -> None:
        """Let a running UI open tasks and show toasts (it calls this once it is up)."""
        if on_open is not None:
            self.on_open = on_open
        if fallback is not None:
            self.fallback = fallback

    def detach(
        self, *, on_open: TaskCallback | None = None, fallback: Fallback | None = None
    ) -> None:
        """Undo `attach` for a UI that is closing (only the callbacks it attached)."""
        if on_open is not None and self.on_open == on_open:
            self.on_open = None
        if fallback is not None and self.fallback == fallback:
            self.fallback = None

    def state(self, task_id: int) -> NotifyState:
        return self._states.get(task_id, NotifyState())

    # ------------------------------------------------------------------- notifying
    async def notify_run(self, task: Task, run: Run) -> Decision | None:
        """Decide and deliver for a finished run; from any thread's loop. Never raises.

        The decision is made on the caller's thread (pure, and one run of a task at a time);
        only a notification to deliver goes to the main loop, so the many runs that say nothing
        cost no round trip through it."""
        try:
            loop = asyncio.get_running_loop()
            if self._loop is None:
                await self.start()
            home = self._loop
            assert home is not None
            if home is not loop and (home.is_closed() or not home.is_running()):
                log.warning("notification for task %s dropped: the main loop is gone", task.id)
                return None
            decision = self._decide(task, run)
            if decision is None or not decision.send:
                return decision
            title, body, severity = message_for(task, run, decision)
            # A firing of an alert rule marked urgent goes through quiet hours.
            deliver = self._route(
                task.id, run.id, decision.kind, title, body, severity, run.alerts_urgent
            )
            if home is loop:
                await deliver
            else:
                await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(deliver, home))
            return decision
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("notification for task %s failed", task.id)
            return None

    async def notify_notice(
        self,
        title: str,
        body: str,
        severity: Severity = "warning",
        *,
        kind: str = "notice",
        task_id: int | None = None,
        urgent: bool = False,
    ) -> None:
        """A notification that is not a run's outcome (the daily AI budget; an alert, which
        may name its task and be `urgent`: it then goes through quiet hours and digests): no
        cooldown; buttons only when it names a task. From any thread's loop; never raises."""
        try:
            loop = asyncio.get_running_loop()
            if self._loop is None:
                await self.start()
            home = self._loop
            assert home is not None
            if home is loop:
                await self._route(task_id, None, kind, title, body, severity, urgent)
                return
            if home.is_closed() or not home.is_running():
                log.warning("notification %r dropped: the main loop is gone", title)
                return
            future = asyncio.run_coroutine_threadsafe(
                self._route(task_id, None, kind, title, body, severity, urgent), home
            )
            await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("notification %r failed", title)

    def _decide(self, task: Task, run: Run) -> Decision | None:
        if task.id is None or not run.status.finished or run.status is RunStatus.RUNNING:
            return None
        if run.status not in (RunStatus.SUCCESS,) and not run.status.failed:
            return None  # skipped / missed runs are bookkeeping, not news
        level = task.notification_level
        if level is NotificationLevel.ALERTS:  # only rule firings: as `significant` for those
            level = NotificationLevel.SIGNIFICANT if run.alerts_fired else NotificationLevel.SILENT
        decision, new_state = should_notify(
            level,
            failed=run.status.failed,
            significant=bool(run.significant),
            state=self.state(task.id),
            now=self._clock(),
            # An alert rule's firing is edge-triggered (once per crossing): it is never held
            # back by the cooldown meant for a task that notifies on every change.
            cooldown=0.0 if run.alerts_fired else self.cooldown,
        )
        self._states[task.id] = new_state
        if not decision.send:
            log.debug("no notification for task %s: %s", task.id, decision.reason)
        return decision

    def use_delivery(self, delivery: Deliverer) -> None:
        """Send through channels with receipts (core/delivery.py); its `desktop` channel comes
        back here (`show`)."""
        self.delivery = delivery
        delivery.desktop = self.show

    async def _route(
        self,
        task_id: int | None,
        run_id: int | None,
        kind: str,
        title: str,
        body: str,
        severity: Severity,
        urgent: bool = False,
    ) -> None:
        if self.delivery is None:
            await self._deliver(task_id, kind, title, body, severity)
            return
        from taskagent.core.delivery import Message

        await self.delivery.deliver(
            Message(title, body, severity, kind=kind, task_id=task_id, run_id=run_id, urgent=urgent)
        )

    async def show(self, message: Message) -> str:
        """The `desktop` channel: the desktop, else an in-app toast, else the log. Returns
        which it was ("desktop", "in-app", "log")."""
        return await self._deliver(
            message.task_id, message.kind, message.title, message.body, message.severity
        )

    async def _deliver(
        self, task_id: int | None, kind: str, title: str, body: str, severity: Severity
    ) -> str:
        if self._reprobe_at is not None and self._clock() >= self._reprobe_at:
            # The desktop's notification daemon may be back (desktop-notifier caches the
            # capabilities, so probing would prove nothing): try it; a failure falls back.
            self._reprobe_at = None
            self._desktop_ok = True
        if self._desktop_ok and await self._send_desktop(task_id, title, body, severity):
            log.info(
                "notification sent (%s) for task #%s: %s: %s", kind, task_id, title, _cut(body, 100)
            )
            self.sent.append((task_id or 0, kind, title, body))
            return "desktop"
        self._send_fallback(title, body, severity)
        self.sent.append((task_id or 0, kind, title, body))
        return "in-app" if self.fallback is not None else "log"

    async def _send_desktop(
        self, task_id: int | None, title: str, body: str, severity: Severity
    ) -> bool:
        from desktop_notifier import Button, Urgency

        urgency = {
            "error": Urgency.Critical,
            "warning": Urgency.Normal,
            "information": Urgency.Normal,
        }[severity]
        buttons = []  # none for a notice about the app itself (task_id None)
        if self.on_open is not None and task_id is not None:
            buttons.append(
                Button(title="Open", identifier="open", on_pressed=self._callback("open", task_id))
            )
        if self.on_pause is not None and task_id is not None:
            buttons.append(
                Button(
                    title="Pause task",
                    identifier="pause",
                    on_pressed=self._callback("pause", task_id),
                )
            )
        dispatched: list[bool] = []
        assert self._desktop is not None
        if self._desktop_kind not in ("macOS", "Windows"):
            # The DBus notification spec lets a server render <a>, <img>, <b> in the body: the
            # body is plain text, so markup from a tool's output is shown, not interpreted.
            body = html.escape(body, quote=False)
        try:
            await self._desktop.send(
                title,
                body,
                urgency=urgency,
                buttons=buttons,
                on_clicked=(
                    self._callback("open", task_id)
                    if self.on_open and task_id is not None
                    else None
                ),
                on_dispatched=lambda: dispatched.append(True),
            )
        except Exception as exc:
            log.warning("desktop notification failed: %s", exc)
            dispatched.clear()
        if dispatched:
            return True
        # desktop-notifier swallowed the error (and logged it): the service went away.
        self._desktop_ok = False
        self._unavailable_reason = "the notification service stopped answering"
        self._reprobe_at = self._clock() + REPROBE_SECONDS
        log.warning("desktop notification not delivered; falling back to %s", self.backend)
        return False

    def _send_fallback(self, title: str, body: str, severity: Severity) -> None:
        where = "in-app" if self.fallback is not None else "log only"
        log.info("notification (%s, %s) %s: %s", where, severity, title, _cut(body, 100))
        if self.fallback is None:
            return
        try:
            self.fallback(title, body, severity)
        except Exception:
            log.exception("in-app notification failed")

    def _callback(self, which: str, task_id: int) -> Callable[[], None]:
        def invoke() -> None:
            target = self.on_open if which == "open" else self.on_pause
            label = "Open" if which == "open" else "Pause task"
            log.info('notification button "%s" pressed for task #%s', label, task_id)
            if target is None:
                return
            try:
                result = target(task_id)
                if isinstance(result, Awaitable):
                    future = asyncio.ensure_future(result)
                    self._tasks.add(future)
                    future.add_done_callback(self._callback_done)
            except Exception:
                log.exception("notification button %r for task %s failed", which, task_id)

        return invoke

    def _callback_done(self, future: asyncio.Future[Any]) -> None:
        self._tasks.discard(future)
        if not future.cancelled() and future.exception() is not None:
            log.error("notification button action failed", exc_info=future.exception())


def _backend_kind(desktop: Any) -> str:
    from desktop_notifier import DesktopNotifier
    from desktop_notifier.main import get_backend_class

    if not isinstance(desktop, DesktopNotifier):
        return "desktop"
    name = get_backend_class().__name__
    return {
        "DBusDesktopNotifier": "DBus",
        "CocoaNotificationCenter": "macOS",
        "WinRTDesktopNotifier": "Windows",
    }.get(name, name or "desktop")
