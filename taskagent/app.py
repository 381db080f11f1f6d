"""TaskAgentApp: tabs, global keys, the command palette and the services' lifecycle.

No domain logic: every action is a call into the core (`self.services`). Given ready `Services`
(tests) or a factory: the chat paints at once, the other views mount just after it (views.py),
and the core opens behind it in stages (services.py): the database (`call_core(early=True)`),
the agent, mcp.json's servers and the notifier probe, and only then the scheduler.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from textual.app import App, ComposeResult, SystemCommand
from textual.binding import BindingType
from textual.containers import Horizontal
from textual.dom import DOMNode
from textual.screen import Screen
from textual.signal import Signal
from textual.widgets import ContentSwitcher, Header, Tab, Tabs
from textual.worker import Worker

from taskagent.app_factory import ServicesFactory, StagedServicesFactory
from taskagent.bridge import CoreEvent, CoreStage, EventBridge, ExternalChange
from taskagent.core.errors import TaskAgentError, is_user_facing
from taskagent.core.events import Event
from taskagent.core.models import utcnow
from taskagent.keys import APP, bindings, tab_label
from taskagent.palette import TaskCommands
from taskagent.presence import Presence
from taskagent.ui_host import TABS, AddTaskRequested
from taskagent.views import VIEWS, ViewMounts, new_view
from taskagent.widgets.chat_panel import ChatPanel
from taskagent.widgets.footer import Footer

if TYPE_CHECKING:
    from textual.notifications import SeverityLevel

    from taskagent.config import Settings
    from taskagent.core.store import Repository
    from taskagent.screens.tasks import TasksView
    from taskagent.services import CoreBase, Services

log = logging.getLogger(__name__)

# The tabs, labelled with the key that opens each (with the user's [keymap] applied).
TAB_TITLES = {"chat": "Chat", "tasks": "Tasks", "history": "History", "status": "Status"}
T = TypeVar("T")
FIRST_SCREEN_WAIT = 1.0  # seconds the agent's imports wait for the first screen's data
FIRST_SCREEN_SETTLE = 0.5  # and then, for it to be painted and the first keys handled


class ServicesUnavailable(TaskAgentError, RuntimeError):
    pass


class TaskAgentApp(App[int]):
    TITLE = "taskagent"
    CSS_PATH = "screens/app.tcss"
    COMMANDS = App.COMMANDS | {TaskCommands}
    BINDINGS: ClassVar[list[BindingType]] = bindings(APP)

    def __init__(
        self,
        services: Services | ServicesFactory | StagedServicesFactory,
        *,
        keymap: dict[str, str] | None = None,
        clock: Callable[[], datetime] = utcnow,
        settings: Settings | None = None,
        schedule: bool = True,
    ) -> None:
        """`services`: ready Services, or a factory the app opens (and closes) itself, starting
        the scheduler engine unless `schedule=False` (snapshot tests: nothing may run)."""
        super().__init__()
        self.clock = clock
        self.schedule = schedule
        self.services: Services | None = None
        self._factory: ServicesFactory | StagedServicesFactory | None = None
        if callable(services):
            self._factory = services
        else:
            self.services = services
            settings = services.settings
        self.settings = settings
        self._initial_keymap = keymap or {}
        self.config_error: str | None = None  # the settings' one-line error, if they are bad
        self.base: CoreBase | Services | None = None
        self._base_ready = asyncio.Event()
        self._services_ready = asyncio.Event()
        self._engine_ready = asyncio.Event()
        self._away_checked = asyncio.Event()
        self._services_closing = asyncio.Event()
        self._services_error: BaseException | None = None
        self.views = ViewMounts(self, composed=self._factory is None)  # see taskagent/views.py
        self._lifecycle: asyncio.Task[None] | None = None
        self._bridge: EventBridge | None = None
        self.data_version: int | None = None  # at the last poll: a change is another writer
        self._seen_receipt = 0  # the newest delivery receipt when this app started
        self.core_events: Signal[Event] = Signal(self, "core-events")
        self.away_since: datetime | None = None
        self.presence = Presence(clock)
        self.active_tab = "chat"
        self.started_at = clock()
        self._ui_thread = threading.get_ident()

    # ---- layout ------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        yield Tabs(
            *(
                Tab(tab_label(tab, title, self._initial_keymap), id=tab)
                for tab, title in TAB_TITLES.items()
            ),
            id="tabs",
        )
        with Horizontal(id="body", classes="-chat-tab"):
            eager = self._factory is None  # else empty until the chat is painted: views.py
            with ContentSwitcher(id="views", initial="view-tasks" if eager else None):
                if eager:
                    yield from (new_view(name) for name in VIEWS)
            yield ChatPanel(id="chat-panel")
        yield Footer()

    def on_mount(self) -> None:
        if self._initial_keymap:
            self.update_keymap(self._initial_keymap)
        self._ui_thread = threading.get_ident()
        self.sub_title = "starting…"
        self.steady_cursors(self.screen)
        self.query_one(ChatPanel).focus_input()
        if self.services is not None:
            self._services_opened()

    def on_ready(self) -> None:
        """First frame out: open the core, mount Tasks (after_refresh waits for typed keys)."""
        if self._factory is not None and self._lifecycle is None:
            self._start_services()
            self.call_later(self.views.mount, "tasks")

    def steady_cursors(self, root: DOMNode) -> None:
        """Headless (tests, snapshots): no blinking cursors, so every screenshot is the same."""
        if self.is_headless:
            for widget in root.query("Input, TextArea"):
                widget.cursor_blink = False  # type: ignore[attr-defined]

    # ---- services lifecycle ------------------------------------------------------------------

    def _start_services(self) -> None:
        self._lifecycle = asyncio.create_task(self._run_services(), name="taskagent-services")

    async def _run_services(self) -> None:
        factory = self._factory
        assert factory is not None
        try:
            if isinstance(factory, StagedServicesFactory):
                self.query_one(Footer).hold()  # released once the first screen is loaded
                if not await self._settings_valid(factory):
                    return
                # Opens the database first (calls back at once), heavy imports on a thread.
                await asyncio.to_thread(importlib.import_module, "taskagent.services")
                manager = factory(on_base=self._base_opened_staged)
            else:
                # Calling the factory may import the heavy modules: keep that off the UI loop.
                manager = await asyncio.to_thread(factory)
            async with manager as services:
                self.services = services
                self.settings = services.settings
                if self._services_closing.is_set():  # the user quit while it opened
                    return
                self._services_opened()
                await self.views.mount_all(within=10)  # before the scheduler: Status logs runs
                # mcp.json's servers and the notifier probe, then the scheduler (a run may
                # need those servers). The app schedules, or attaches to a daemon that does.
                await services.finish_start()
                if self.schedule:
                    await services.engine.start()
                self._engine_ready.set()
                self.core_events.publish(CoreStage("engine"))
                if isinstance(factory, StagedServicesFactory):
                    factory.engine_started()  # run_app: settles the heap
                await self._services_closing.wait()
                await self.presence.save(services.repo)
                self._stop_bridge()
        except Exception as exc:
            log.exception("services failed")
            self._services_error = exc
            self._base_ready.set()
            self._services_ready.set()
            self._engine_ready.set()
            if self._services_closing.is_set():
                return
            self.sub_title = "failed to start"
            self.query_one(ChatPanel).write_error(f"taskagent could not start its core: {exc}")
            self.notify(str(exc), title="Start-up failed", severity="error", timeout=30)

    def _base_opened(self, base: CoreBase | Services) -> None:
        """The database is open: the views can load, events flow (the agent may still load)."""
        if self.base is not None:
            return
        self.base = base
        self._bridge = EventBridge(self, base.events)
        self._base_ready.set()
        self.call_later(self._poll_data_version)  # the baseline, before the views load
        self.set_interval(1.0, self._tick, name="data-version")
        self.call_core(self._welcome_back, early=True)

    async def _settings_valid(self, factory: StagedServicesFactory) -> bool:
        """Load and check the settings on a thread (after the first paint). A bad one ends
        the app; `config_error` holds its one line for the caller to print."""
        try:
            self.settings = await asyncio.to_thread(factory.prepare)
        except TaskAgentError as exc:  # ConfigError: a bad value in config.toml or the env
            self.config_error = str(exc)
            self.exit(return_code=1)
            return False
        return True

    def _base_opened_staged(self, base: CoreBase) -> Awaitable[None]:
        self._base_opened(base)
        return self._first_screen_loaded()

    async def _first_screen_loaded(self) -> None:
        """Until the Tasks table and the "away" note are loaded (1 s at most) and shown, and
        then the other views mounted, before the agent's imports (~1-3 s of CPU) compete with
        the UI for the interpreter lock."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(FIRST_SCREEN_WAIT):
                await self._away_checked.wait()
                if await self.views.mount("tasks"):  # (False: the app is closing)
                    while not self._tasks_view().loaded:  # noqa: ASYNC110 (a view's flag)
                        await asyncio.sleep(0.02)
        await asyncio.sleep(FIRST_SCREEN_SETTLE)  # painted, and the first keys answered
        self.query_one(Footer).release()
        await self.views.mount_all(within=FIRST_SCREEN_WAIT)

    def _services_opened(self) -> None:
        assert self.services is not None
        self._base_opened(self.services)
        self._services_ready.set()
        self.sub_title = ""
        self.query_one(ChatPanel).services_ready(self.services)
        # Run notifications: in-app toasts when there is no desktop service, and "Open" on a
        # desktop notification selects the task here.
        self.services.notifier.attach(on_open=self.open_task, fallback=self.toast)
        if self._factory is None:  # ready Services (tests): started by whoever built them
            self._engine_ready.set()
        self.core_events.publish(CoreStage("agent"))

    def _stop_bridge(self) -> None:
        bridge, self._bridge = self._bridge, None
        if bridge is not None:
            bridge.close()

    def exit(self, result: int | None = None, return_code: int = 0, message: Any = None) -> None:
        if self.services is not None:  # a turn waiting for a confirmation must not hold the exit up
            self.services.chat.decline_all()
        super().exit(result, return_code, message)

    async def on_unmount(self) -> None:
        if self._factory is None and self.services is not None and not self.services.repo.closed:
            await self.presence.save(self.services.repo)  # the user leaves now
        self._stop_bridge()
        if self.services is not None:
            self.services.chat.decline_all()
            # Services outlive the app in tests: no toasts to a closed app, no "Open" into it.
            self.services.notifier.detach(on_open=self.open_task, fallback=self.toast)
        self._services_closing.set()
        if self._lifecycle is not None:
            try:
                await asyncio.wait_for(self._lifecycle, timeout=15)
            except TimeoutError:
                log.warning("services did not close within 15 s")

    @property
    def keymap(self) -> Mapping[str, str]:
        """The user's [keymap] in force (binding id -> keys), as Textual normalised it."""
        return dict(self._keymap)

    @property
    def engine_started(self) -> bool:
        """The scheduler runs here, or this app attached to a daemon (or start-up failed)."""
        return self._engine_ready.is_set()

    @property
    def ready(self) -> bool:
        return self._services_ready.is_set() and self._services_error is None

    async def wait_for_services(self) -> Services:
        await self._services_ready.wait()
        if self.services is None:
            raise ServicesUnavailable(f"the core is not available: {self._services_error}")
        return self.services

    async def wait_for_base(self) -> CoreBase | Services:
        """The database and TaskService: ready well before the agent (see services.py)."""
        await self._base_ready.wait()
        if self.services is not None:
            return self.services
        if self.base is None:
            raise ServicesUnavailable(f"the core is not available: {self._services_error}")
        return self.base

    async def wait_for_engine(self) -> Services:
        """Full services with the scheduler started (or attached)."""
        services = await self.wait_for_services()
        await self._engine_ready.wait()
        return services

    def call_core(
        self,
        job: Callable[[Services], Awaitable[T]],
        *,
        done: Callable[[T], None] | None = None,
        node: DOMNode | None = None,
        group: str = "core",
        exclusive: bool = False,
        what: str = "",
        early: bool = False,
    ) -> Worker[T | None]:
        """Run `job(services)` in a worker once the services are ready; errors end up in one
        place (`report_error`) and `done(result)` runs on the UI loop. `early=True`: the job
        needs only `repo`, `tasks`, `settings` and `events` and runs as soon as the database
        is open (it may get the CoreBase rather than the full Services)."""

        async def runner() -> T | None:
            try:
                services = await (self.wait_for_base() if early else self.wait_for_services())
                result = await job(services)  # type: ignore[arg-type]
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.report_error(exc, what)
                return None
            if done is not None:
                done(result)
            return result

        # The function, not a coroutine: one cancelled before it starts is never created.
        return (node or self).run_worker(
            runner, group=group, exclusive=exclusive, exit_on_error=False
        )

    def report_error(self, exc: BaseException, what: str = "") -> None:
        if not is_user_facing(exc):  # ours and meant for the user: no traceback needed
            log.error("%s failed", what or "core call", exc_info=exc)
        message = str(exc) or type(exc).__name__
        title = what or (exc.title if isinstance(exc, TaskAgentError) else None) or "Error"
        self.notify(message, title=title, severity="error", timeout=8, markup=False)

    def toast(self, title: str, body: str, severity: Any = "information") -> None:
        """The notifier's in-app fallback: a toast (from any thread)."""
        if threading.get_ident() != self._ui_thread:
            self.call_from_thread(self.toast, title, body, severity)
            return
        self.notify(body, title=title, severity=severity, timeout=10, markup=False)

    def open_task(self, task_id: int) -> None:
        """A notification's "Open": the task, selected in the Tasks tab (from any thread)."""
        if threading.get_ident() != self._ui_thread:
            self.call_from_thread(self.open_task, task_id)
            return
        self.action_show_tab("tasks")
        self.views.when_mounted("tasks", lambda: self._tasks_view().select_task(task_id))

    def _tasks_view(self) -> TasksView:
        from taskagent.screens.tasks import TasksView

        return self.query_one(TasksView)

    # ---- events ------------------------------------------------------------------------------

    def on_core_event(self, message: CoreEvent) -> None:
        self.core_events.publish(message.event)

    async def _tick(self) -> None:
        # The core may close between the check and the write (its start failed meanwhile):
        # a tick then does nothing ("the repository is closed"); `_run_services` shows why.
        with contextlib.suppress(TaskAgentError):
            await self._poll_data_version()
            base = self.base
            if base is not None and not base.repo.closed and self._away_checked.is_set():
                await self.presence.tick(base.repo, focused=self.app_focus)

    async def _poll_data_version(self) -> None:
        base = self.base
        if base is None or base.repo.closed:
            return
        version = await base.repo.data_version()
        if self.data_version is not None and version != self.data_version:
            self.core_events.publish(ExternalChange(version))
            await self._show_others_notifications(base.repo)
        elif self.data_version is None:
            self._seen_receipt = await base.repo.last_receipt_id()
        self.data_version = version

    async def _show_others_notifications(self, repo: Repository) -> None:
        """A daemon with no desktop session could only log its notifications: shown here as
        toasts while this app is attached."""
        from taskagent.core.receipts import receipt_severity

        for receipt in await repo.claim_app_toasts(self._seen_receipt, self.clock()):
            self._seen_receipt = max(self._seen_receipt, receipt.id)
            self.toast(receipt.title, receipt.body, receipt_severity(receipt.kind))

    async def watch_app_focus(self, focused: bool) -> None:
        """The terminal lost focus: the user left (the "while you were away" mark)."""
        base = self.base
        if focused or base is None or base.repo.closed or not self._away_checked.is_set():
            return
        await self.presence.save(base.repo)

    async def _welcome_back(self, base: CoreBase | Services) -> None:
        from taskagent.core.ui_queries import away_summary

        try:
            last = await self.presence.last_left(base.repo)
            if last is None:
                return
            summary = await away_summary(base.repo, since=last)
            if summary.runs:
                self.away_since = last
                self.query_one(ChatPanel).write_away(summary)
        finally:
            self._away_checked.set()

    # ---- actions -----------------------------------------------------------------------------

    def on_tabs_tab_activated(self, event: Tabs.TabActivated) -> None:
        """A tab clicked with the mouse (or moved to with left/right on the tab bar)."""
        if event.tab is not None and event.tab.id in TABS and event.tab.id != self.active_tab:
            self._activate(event.tab.id)

    def _activate(self, name: str) -> None:
        self.active_tab = name
        self.query_one("#body").set_class(name == "chat", "-chat-tab")
        if name == "chat":
            self.query_one(ChatPanel).focus_input()
            return
        self.views.when_mounted(name, lambda: self._show_view(name))

    def _show_view(self, name: str) -> None:
        if self.active_tab != name:
            return  # the user moved on while the view was being mounted
        self.query_one("#views", ContentSwitcher).current = f"view-{name}"
        self.query_one(f"#view-{name}").focus_main()  # type: ignore[attr-defined]

    def action_show_tab(self, tab: str) -> None:
        tabs = self.query_one(Tabs)
        if tabs.active != tab:
            tabs.active = tab
        self._activate(tab)

    def action_toggle_chat_pane(self) -> None:
        body = self.query_one("#body")
        if self.active_tab == "chat":
            body.add_class("-pane", update=False)  # restyled once (~1 ms a widget): by the switch
            self.action_show_tab("tasks")
            return
        body.toggle_class("-pane")
        if body.has_class("-pane"):
            self.query_one(ChatPanel).focus_input()
        else:
            self._activate(self.active_tab)  # its view takes the focus back

    def action_help(self) -> None:
        from taskagent.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_add_task(self) -> None:
        self.views.when_mounted("tasks", lambda: self._tasks_view().action_add())

    def on_add_task_requested(self, _message: AddTaskRequested) -> None:
        self.action_add_task()

    def on_chat_panel_confirm_requested(self, message: ChatPanel.ConfirmRequested) -> None:
        from taskagent.screens.confirm import ConfirmScreen

        self.push_screen(ConfirmScreen(message.question, confirm="Yes"), message.answered)

    def action_show_away(self) -> None:
        if not self._away_checked.is_set():
            # Still working out what is new (start-up): answer once that is known.
            async def wait(_base: Any) -> bool:
                await self._away_checked.wait()
                return True

            self.call_core(wait, done=lambda _: self.action_show_away(), early=True, what="F7")
            return
        if self.away_since is None:
            self.notify("nothing new since your last visit")
            return
        self.show_history(since=self.away_since)

    def show_history(self, task_id: int | None = None, since: datetime | None = None) -> None:
        from taskagent.screens.history import HistoryView

        self.action_show_tab("history")
        self.views.when_mounted(
            "history", lambda: self.query_one(HistoryView).show(task_id=task_id, since=since)
        )

    def run_task_now(self, task_id: int) -> None:
        async def job(_services: Services) -> tuple[Any, str]:
            # The engine runs it wherever the scheduler lives (here, or the daemon).
            services = await self.wait_for_engine()
            run = await services.engine.run_now(task_id)
            task = await services.repo.get_task(task_id)
            return run, task.name if task is not None else f"task {task_id}"

        def done(result: tuple[Any, str]) -> None:
            from taskagent.core.activity import outcome_line

            run, name = result
            severity: SeverityLevel = "error" if run.status.failed else "information"
            self.notify(outcome_line(run), title=name, severity=severity, markup=False)

        self.call_core(job, done=done, group="runs", what="Run now")

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        from taskagent.palette import app_commands

        yield from super().get_system_commands(screen)
        if self.views.mounted("tasks") and self.views.mounted("history"):
            yield from app_commands(self)  # they act on these views (mounted after first paint)
