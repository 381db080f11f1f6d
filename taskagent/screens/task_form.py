"""The task form (modal): add or edit a task.

Live checks as you type: the schedule (with the next 5 runs in the task's time zone), the tool
arguments (JSON + the tool's input schema). "Test run" (TaskService.test_run) calls the tool once;
the form shows the result and the summary a run would store (of a task built from the form,
unsaved).
Save goes through TaskService, whose TaskInputError names the field the message belongs next to.
A tool that is not annotated read-only shows a switch "runs a write tool unattended"; the task
is only saved with it on.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label, Select, Static, Switch, TextArea

from taskagent.core import schedules
from taskagent.core.alerts import RuleError
from taskagent.core.cost_estimate import SummaryCost, daily_estimate
from taskagent.core.models import (
    MisfirePolicy,
    NotificationLevel,
    ScheduleType,
    SummaryMode,
    Task,
)
from taskagent.core.slots import duration_words
from taskagent.core.task_delivery import channels_from_text, channels_text, save_channels
from taskagent.core.tasks import (
    TaskInputError,
    TestRunResult,
    WriteToolNotAllowed,
    parse_tool_args,
)
from taskagent.keys import TASK_FORM, bindings
from taskagent.screens.alert_field import AlertRulesField
from taskagent.screens.confirm import ConfirmScreen
from taskagent.screens.form_words import FORM_WORDS
from taskagent.ui_host import UiHost, host_of
from taskagent.widgets.args_editor import ArgsEditor

if TYPE_CHECKING:
    from taskagent.core.mcp import ToolInfo
    from taskagent.services import Services

EXAMPLES = {
    ScheduleType.INTERVAL: "e.g. 30 minutes, 2 hours, 45s",
    ScheduleType.DAILY: "e.g. 09:00",
    ScheduleType.WEEKLY: "e.g. Mon,Wed,Fri 09:00",
    ScheduleType.CRON: "e.g. */5 * * * *",
    ScheduleType.ONCE: "e.g. 2026-12-01T09:00",
}
# What the value becomes when the schedule type is switched and the value does not fit it.
EXAMPLE_VALUES = {
    ScheduleType.INTERVAL: "30 minutes",
    ScheduleType.DAILY: "09:00",
    ScheduleType.WEEKLY: "Mon,Wed,Fri 09:00",
    ScheduleType.CRON: "*/5 * * * *",
}
PREVIEW_RUNS = 5
MAX_SHOWN_CHARS = 4000  # of a test run's result
WRITE_HINT = "switch on “runs a write tool unattended” to allow that"
FIELDS = (
    "name",
    "description",
    "schedule",
    "mcp_tool",
    "allow_write",
    "tool_args",
    "settings",
    "run",
    "form",
)
MISFIRE_LABELS = {
    MisfirePolicy.ONCE: "once: one catch-up run",
    MisfirePolicy.SKIP: "skip: wait for the next time",
}
# TaskInputError.field -> the error line it is shown on
FIELD_SLOTS = {
    "name": "name",
    "description": "description",
    "schedule": "schedule",
    "timezone": "schedule",
    "schedule_type": "schedule",
    "schedule_value": "schedule",
    "mcp_tool": "mcp_tool",
    "tool_args": "tool_args",
    "use_ai_summary": "settings",
    "summary_mode": "settings",
    "notification_level": "settings",
    "significance_threshold": "settings",
    "misfire_policy": "run",
    "timeout_seconds": "run",
    "misfire_grace_seconds": "run",
    "catch_up_within_seconds": "run",
    "allow_write": "allow_write",
    "channels": "settings",
}


def schema_defaults(info: ToolInfo) -> dict[str, Any]:
    """Arguments pre-filled from the input schema: defaults, and required ones left blank."""
    props = info.input_schema.get("properties", {}) or {}
    required = set(info.input_schema.get("required", []) or [])
    args: dict[str, Any] = {}
    for key, spec in props.items():
        if isinstance(spec, dict) and "default" in spec:
            args[key] = spec["default"]
        elif key in required:
            kind = spec.get("type") if isinstance(spec, dict) else None
            args[key] = {"integer": 0, "number": 0, "boolean": False}.get(str(kind), "")
    return args


class TaskFormScreen(ModalScreen[Task | None]):
    CSS_PATH = "task_form.tcss"
    BINDINGS: ClassVar[list[BindingType]] = bindings(TASK_FORM)

    def __init__(self, task: Task | None = None) -> None:
        super().__init__()
        self.task_obj = task
        self.tools: dict[str, ToolInfo] = {}
        self._default_args_text = ""
        self.summary_costs: dict[SummaryMode, SummaryCost] = {}  # a summary's cost, per mode
        self._channels_shown = ""  # the task's own channels as loaded (URLs masked)
        # The form as it opened (after the tools loaded and the arguments were filled in from
        # the chosen tool): Esc asks before dropping anything else.
        self._initial: dict[str, Any] = {}
        self._settling = False  # the tool chosen on load, its arguments not filled in yet

    @property
    def host(self) -> UiHost:
        return host_of(self)

    # ---- layout ------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        task = self.task_obj
        title = f"Edit task {task.id}" if task else "New task"
        with Vertical(id="form"):
            yield Static(title, id="form-title")
            with VerticalScroll(id="form-body"):
                yield from self._identity_fields(task)
                yield from self._schedule_fields(task)
                yield from self._tool_fields(task)
                yield from self._setting_fields(task)
                yield from self._run_fields(task)
                yield AlertRulesField(task.id if task else None)
                yield Static("", id="test-result")
            yield Static("", id="err-form", classes="error")
            with Horizontal(id="form-buttons"):
                yield Button("Test run (ctrl+t)", id="test-run")
                yield Button("Cancel", id="cancel")
                yield Button("Save (ctrl+s)", id="save", variant="primary")
        yield Footer()

    def _identity_fields(self, task: Task | None) -> ComposeResult:
        """Name and description."""
        yield Label("Name")
        yield Input(task.name if task else "", id="f-name", placeholder="e.g. BTC price")
        yield Static("", id="err-name", classes="error")
        yield Label("Description")
        yield Input(task.description if task else "", id="f-description")
        yield Static("", id="err-description", classes="error")

    def _schedule_fields(self, task: Task | None) -> ComposeResult:
        """Schedule type, value and time zone, with the next runs previewed."""
        yield Label("Schedule")
        with Horizontal(classes="row"):
            yield Select(
                [(t.value, t.value) for t in ScheduleType],
                value=(task.schedule_type.value if task else "interval"),
                allow_blank=False,
                id="f-schedule-type",
            )
            yield Input(
                task.schedule_value if task else "30 minutes",
                id="f-schedule-value",
                placeholder=EXAMPLES[ScheduleType.INTERVAL],
            )
            yield Input(task.timezone if task else "", id="f-timezone", placeholder="time zone")
        yield Static("", id="err-schedule", classes="error")
        yield Static("", id="schedule-preview")

    def _tool_fields(self, task: Task | None) -> ComposeResult:
        """The tool, the consent to run a write tool, and its arguments."""
        yield Label("Tool")
        yield Select([], prompt="loading tools…", id="f-tool")
        yield Static("", id="tool-description")
        yield Static("", id="err-mcp_tool", classes="error")
        # Shown for a tool that is not annotated read-only: saving needs the user's yes
        # to it running unattended (TaskService's allow_write).
        with Horizontal(classes="row settings", id="write-row"):
            yield Switch(False, id="f-allow-write")
            yield Label(
                "runs a write tool unattended (it is not read-only and may change data)",
                classes="inline",
            )
        yield Static("", id="err-allow_write", classes="error")
        yield Label("Arguments (JSON)")
        yield ArgsEditor(json.dumps(task.tool_args, indent=2) if task else "{}", id="f-args")
        yield Static("", id="err-tool_args", classes="error")

    def _setting_fields(self, task: Task | None) -> ComposeResult:
        """AI summary mode, notification level and the significance threshold."""
        with Horizontal(classes="row settings"):
            # always | changes (first run and significant changes) | off
            yield Label("AI summary", classes="inline")
            yield Select(
                [(m.value, m.value) for m in SummaryMode],
                value=(task.ai_mode.value if task else self._default_summary_mode()),
                allow_blank=False,
                id="f-ai",
            )
            yield Label("Notify", classes="inline")
            yield Select(
                [(n.value, n.value) for n in NotificationLevel],
                value=(task.notification_level.value if task else "all"),
                allow_blank=False,
                id="f-notify",
            )
            yield Label("Significant change %", classes="inline")
            yield Input(
                f"{task.significance_threshold:g}" if task else "5",
                id="f-threshold",
            )
        with Horizontal(classes="row channels"):  # where its notifications go (Delivery)
            yield Label("Channels", classes="inline")
            yield Input("", id="f-channels", placeholder="default; or e.g. desktop, phone")
        yield Static("", id="err-settings", classes="error")
        cost = Static("", id="ai-cost")
        cost.display = False  # shown once the ledger's averages are in
        yield cost

    def _run_fields(self, task: Task | None) -> ComposeResult:
        """Missed runs, the timeout, the grace period and the catch-up window."""
        with Horizontal(classes="row settings"):
            yield Label("Missed runs", classes="inline")
            yield Select(
                [(label, policy.value) for policy, label in MISFIRE_LABELS.items()],
                value=(task.misfire_policy.value if task else MisfirePolicy.ONCE.value),
                allow_blank=False,
                id="f-misfire",
            )
            yield Label("Timeout (s)", classes="inline")
            yield Input(
                f"{task.timeout_seconds:g}" if task else "",
                id="f-timeout",
                placeholder="60",
            )
            # A run this late still runs; later, the slot is recorded as missed.
            yield Label("Grace (s)", classes="inline")
            yield Input(
                str(task.misfire_grace_seconds) if task else "60",
                id="f-grace",
                placeholder="60",
            )
        # After a sleep or a stop: missed runs older than this get no catch-up run.
        with Horizontal(classes="row settings"):
            yield Label("Catch up within", classes="inline")
            yield Input(
                duration_words(task.catch_up_within_seconds)
                if task and task.catch_up_within_seconds
                else "",
                id="f-catch-up",
                placeholder="any age (e.g. 2h: older missed runs are not made up)",
            )
        yield Static("", id="err-run", classes="error")

    def on_mount(self) -> None:
        if self.task_obj is None:
            services = self.host.services
            zone = services.tasks.default_timezone if services else ""
            self.query_one("#f-timezone", Input).value = zone
            if services is not None:
                timeout = services.tasks.default_timeout_seconds
                self.query_one("#f-timeout", Input).value = f"{timeout:g}"
        self._clear_errors()
        self.query_one("#write-row").display = False
        self.host.steady_cursors(self)
        self.query_one("#f-name", Input).focus()
        self.update_preview()
        self._initial = self.values()
        self.host.call_core(self._load_tools, done=self._tools_loaded, node=self, what="Tools")
        self.host.call_core(self._load_costs, done=self._costs_loaded, node=self, what="AI cost")
        if self.task_obj is not None:
            self.host.call_core(self._load_channels, done=self._channels_loaded, node=self)

    async def _load_channels(self, services: Services) -> str:
        assert self.task_obj is not None
        return channels_text(await services.repo.task_delivery(self.task_obj.stored_id))

    def _channels_loaded(self, text: str) -> None:
        self._channels_shown = text
        self.query_one("#f-channels", Input).value = text

    async def _load_tools(self, services: Services) -> list[ToolInfo]:
        return await services.mcp.list_tools()

    def _tools_loaded(self, tools: list[ToolInfo]) -> None:
        self.tools = {t.ref: t for t in tools}
        zone = self.query_one("#f-timezone", Input)
        services = self.host.services
        if not zone.value and services is not None:  # opened before the core was up
            zone.value = services.tasks.default_timezone
        timeout = self.query_one("#f-timeout", Input)
        if not timeout.value and services is not None:
            timeout.value = f"{services.tasks.default_timeout_seconds:g}"
        select: Select[str] = self.query_one("#f-tool", Select)
        options = []
        for info in tools:
            first = (info.description or "").strip().splitlines()[0:1]
            options.append((f"{info.ref}  {first[0][:50] if first else ''}".rstrip(), info.ref))
        untouched = self.values() == self._initial
        select.set_options(options)
        select.prompt = "pick a tool"
        chosen = None
        if self.task_obj is not None:
            ref = self._resolve(self.task_obj.mcp_tool)
            chosen = ref if ref in self.tools else None
        elif "crypto:get_crypto_prices" in self.tools:
            chosen = "crypto:get_crypto_prices"
        if chosen is not None:
            self._settling = untouched  # tool_changed takes the form as it opened
            select.value = chosen
        elif untouched:
            self._initial = self.values()

    def _resolve(self, ref: str) -> str:
        services = self.host.services
        if services is None:
            return ref
        try:
            return services.mcp.resolve(ref).ref
        except Exception:  # an unknown stored tool: leave it unselected, the error shows on save
            return ref

    def _show_write_row(self, info: ToolInfo | None) -> None:
        """The write-tool switch: shown for a tool that is not read-only, always off at first.
        Saving with it on approves the tool with these arguments on this schedule; a task that
        keeps them keeps its approval with it off (core/tasks/consent.py)."""
        row = self.query_one("#write-row")
        row.display = info is not None and not info.read_only
        self.query_one("#f-allow-write", Switch).value = False

    # ---- live validation ---------------------------------------------------------------------

    def _error(self, slot: str, message: str = "") -> None:
        line = self.query_one(f"#err-{slot}", Static)
        line.update(message)
        line.display = bool(message)

    def _clear_errors(self) -> None:
        for slot in FIELDS:
            self._error(slot)

    @on(Select.Changed, "#f-schedule-type")
    def schedule_type_changed(self) -> None:
        """A value that does not fit the new type becomes that type's example."""
        kind = ScheduleType(str(self.query_one("#f-schedule-type", Select).value))
        value_input = self.query_one("#f-schedule-value", Input)
        try:  # in UTC: a time zone being typed is not the value's problem
            schedules.parse_schedule(
                kind.value, value_input.value, "UTC", now=self.host.clock(), allow_past=True
            )
        except schedules.ScheduleError:
            value_input.value = self._example_value(kind)
        self.update_preview()

    def _example_value(self, kind: ScheduleType) -> str:
        if kind is ScheduleType.ONCE:  # tomorrow at 09:00
            return f"{self.host.clock() + timedelta(days=1):%Y-%m-%d}T09:00"
        return EXAMPLE_VALUES[kind]

    @on(Input.Changed, "#f-schedule-value, #f-timezone")
    def update_preview(self) -> None:
        kind = str(self.query_one("#f-schedule-type", Select).value)
        value_input = self.query_one("#f-schedule-value", Input)
        value_input.placeholder = EXAMPLES.get(ScheduleType(kind), "")
        zone = self.query_one("#f-timezone", Input).value.strip() or "UTC"
        preview = self.query_one("#schedule-preview", Static)
        now = self.host.clock()
        try:
            schedule = schedules.parse_schedule(kind, value_input.value, zone, now=now)
            # The scheduler's own grid: an edited interval task stays anchored at its creation.
            anchor = self.task_obj.created_at if self.task_obj is not None else now
            runs = schedules.next_runs(schedule, PREVIEW_RUNS, after=now, anchor=anchor)
        except schedules.ScheduleError as exc:
            self._error("schedule", str(exc))
            preview.update("")
            return
        self._error("schedule")
        text = Text(schedules.describe(schedule), style="bold")
        text.append(f"   next runs ({schedule.timezone}):", style="dim")
        for moment in runs:
            text.append(f"\n  {moment:%a %Y-%m-%d %H:%M:%S %Z}")
        if not runs:
            text.append("\n  none (the time has passed)")
        preview.update(text)

    # ---- the AI cost a day ---------------------------------------------------------------------

    async def _load_costs(self, services: Services) -> dict[SummaryMode, SummaryCost]:
        return await services.costs.summary_costs()

    def _costs_loaded(self, costs: dict[SummaryMode, SummaryCost]) -> None:
        self.summary_costs = costs
        self.update_cost()

    @on(Input.Changed, "#f-schedule-value, #f-timezone")
    @on(Select.Changed, "#f-schedule-type, #f-ai")
    def update_cost(self) -> None:
        """One line: what the task's AI summaries will cost a day (core/cost_estimate.py)."""
        line = self.query_one("#ai-cost", Static)
        mode = SummaryMode(str(self.query_one("#f-ai", Select).value))
        cost = self.summary_costs.get(mode)
        zone = self.query_one("#f-timezone", Input).value.strip() or "UTC"
        now = self.host.clock()
        try:
            schedule = schedules.parse_schedule(
                str(self.query_one("#f-schedule-type", Select).value),
                self.query_one("#f-schedule-value", Input).value,
                zone,
                now=now,
            )
        except schedules.ScheduleError:
            schedule = None
        line.display = cost is not None and schedule is not None
        if cost is None or schedule is None:
            return
        anchor = self.task_obj.created_at if self.task_obj is not None else now
        estimate = daily_estimate(schedule, mode, cost, now=now, anchor=anchor)
        line.update(Text(f"AI cost: {estimate.words()}", style="dim"))

    @on(Select.Changed, "#f-tool")
    def tool_changed(self, event: Select.Changed) -> None:
        info = self.tools.get(str(event.value))
        self.query_one("#tool-description", Static).update(
            Text(info.description.strip(), style="dim") if info else ""
        )
        self._error("mcp_tool")
        self._error("allow_write")
        self._show_write_row(info)
        if info is None:
            return
        area = self.query_one("#f-args", TextArea)
        if self.task_obj is None and area.text.strip() in ("", "{}", self._default_args_text):
            self._default_args_text = json.dumps(schema_defaults(info), indent=2)
            area.text = self._default_args_text
        self.check_args()
        if self._settling:
            self._settling = False
            self._initial = self.values()

    @on(TextArea.Changed, "#f-args")
    def check_args(self) -> dict[str, Any] | None:
        """Validate the JSON and (when the tool is known) the tool's schema; None if invalid."""
        try:
            args = parse_tool_args(self.query_one("#f-args", TextArea).text)
        except TaskInputError as exc:
            self._error("tool_args", exc.in_words(FORM_WORDS))
            return None
        ref = self.query_one("#f-tool", Select).value
        services = self.host.services
        if services is not None and isinstance(ref, str) and ref in self.tools:
            try:
                services.mcp.validate_args(ref, args)
            except Exception as exc:  # InvalidToolArgs: the message lists every problem
                self._error("tool_args", str(exc))
                return None
        blank = _blank_required(self.tools.get(ref) if isinstance(ref, str) else None, args)
        self._error("tool_args", f"fill in: {', '.join(blank)}" if blank else "")
        return args

    def _default_summary_mode(self) -> str:
        settings = self.host.settings
        return (settings.default_summary_mode if settings else SummaryMode.ALWAYS).value

    # ---- save / test -------------------------------------------------------------------------

    def values(self) -> dict[str, Any]:
        tool = self.query_one("#f-tool", Select).value
        return {
            "name": self.query_one("#f-name", Input).value,
            "description": self.query_one("#f-description", Input).value,
            "schedule_type": str(self.query_one("#f-schedule-type", Select).value),
            "schedule_value": self.query_one("#f-schedule-value", Input).value,
            "timezone": self.query_one("#f-timezone", Input).value.strip() or None,
            "mcp_tool": tool if isinstance(tool, str) else "",
            "tool_args": self.query_one("#f-args", TextArea).text,
            "summary_mode": str(self.query_one("#f-ai", Select).value),
            "notification_level": str(self.query_one("#f-notify", Select).value),
            "significance_threshold": self.query_one("#f-threshold", Input).value.strip(),
            "misfire_policy": str(self.query_one("#f-misfire", Select).value),
            "timeout_seconds": self.query_one("#f-timeout", Input).value.strip() or None,
            "misfire_grace_seconds": self.query_one("#f-grace", Input).value.strip() or "60",
            "catch_up_within_seconds": self.query_one("#f-catch-up", Input).value.strip() or "0",
            "allow_write": self.query_one("#f-allow-write", Switch).value,
        }

    @on(Button.Pressed, "#save")
    def action_save(self) -> None:
        self._clear_errors()
        values = self.values()
        task = self.task_obj

        alerts = self.query_one(AlertRulesField).lines()
        channels = self.query_one("#f-channels", Input).value.strip()
        channels_changed = channels != self._channels_shown

        async def job(services: Services) -> Task | TaskInputError:
            try:
                rules = (
                    None
                    if alerts is None
                    else await services.alerts.prepare(task.id if task else None, alerts)
                )  # checked before anything is saved
                named = services.settings.notify_named
                own = channels_from_text(channels, named) if channels_changed else ()
                if task is None:
                    saved = await services.tasks.create_task(**values)
                else:
                    optional = ("timezone", "timeout_seconds")  # blank: keep the task's own
                    changes = {k: v for k, v in values.items() if k not in optional or v}
                    saved = await services.tasks.update_task(task.stored_id, **changes)
                if rules is not None:
                    await services.alerts.save(saved.stored_id, rules)
                if channels_changed:
                    await save_channels(services.repo, saved.stored_id, own)
                return saved
            except RuleError as exc:
                return TaskInputError(str(exc))
            except WriteToolNotAllowed as exc:
                return exc.with_hint(WRITE_HINT)
            except TaskInputError as exc:
                return exc

        self.host.call_core(job, done=self._saved, node=self, group="form-save", what="Save task")

    def _saved(self, result: Task | TaskInputError) -> None:
        if isinstance(result, TaskInputError):
            slot = FIELD_SLOTS.get(result.field or "", "form")
            self._error(slot, result.in_words(FORM_WORDS))
            self.query_one(f"#err-{slot}").scroll_visible()
            return
        verb = "updated" if self.task_obj else "created"
        self.app.notify(f"{verb} task {result.id} ({result.name})", title="Saved")
        self.dismiss(result)

    @on(Button.Pressed, "#test-run")
    def action_test_run(self) -> None:
        args = self.check_args()
        ref = self.query_one("#f-tool", Select).value
        if not isinstance(ref, str) or ref not in self.tools:
            self._error("mcp_tool", "pick a tool first")
            return
        if args is None:
            return
        # The write switch on is the user's yes to this tool changing data; else the core
        # refuses a tool that is not read-only and the form asks first.
        self._test_run(ref, args, allow_write=self.query_one("#f-allow-write", Switch).value)

    def _test_run(self, ref: str, args: dict[str, Any], *, allow_write: bool) -> None:
        result_view = self.query_one("#test-result", Static)
        result_view.update(Text(f"calling {ref}…", style="dim"))
        fields = self.values() | {"mcp_tool": ref, "tool_args": args}

        async def job(services: Services) -> TestRunResult:
            return await services.tasks.test_run(
                fields, tools=services.mcp, summarizer=services.summarizer, allow_write=allow_write
            )

        def done(result: TestRunResult) -> None:
            if result.needs_approval:
                self._ask_to_test(ref, args, result)
                return
            result_view.update(_test_run_text(result))
            # after the layout has its new height, so all of it comes into view
            result_view.call_after_refresh(result_view.scroll_visible, animate=False)

        self.host.call_core(job, done=done, node=self, group="form-test", what="Test run")

    def _ask_to_test(self, ref: str, args: dict[str, Any], refused: TestRunResult) -> None:
        result_view = self.query_one("#test-result", Static)
        result_view.update(Text(f"not called: {refused.error}", style="yellow"))

        def answered(yes: bool | None) -> None:
            if yes:
                self._test_run(ref, args, allow_write=True)

        question = (
            f"Test run calls {ref}, which is not marked read-only: it may change data "
            "(for real, once). Call it now?"
        )
        self.app.push_screen(ConfirmScreen(question, confirm="Call it"), answered)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        """Close; a form with changes asks first."""
        if self.values() == self._initial:
            self.dismiss(None)
            return

        def answered(discard: bool | None) -> None:
            if discard:
                self.dismiss(None)

        what = "this task" if self.task_obj else "the new task"
        self.app.push_screen(
            ConfirmScreen(f"Discard your changes to {what}?", confirm="Discard"), answered
        )


def _blank_required(info: ToolInfo | None, args: dict[str, Any]) -> list[str]:
    """The tool's required arguments still empty ("" or missing): flagged until filled in."""
    if info is None:
        return []
    required = info.input_schema.get("required", []) or []
    return [str(name) for name in required if args.get(name, "") == ""]


def _test_run_text(result: TestRunResult) -> Text:
    """The summary first (what a run would store and notify), then the raw result."""
    if result.error is not None:
        return Text(f"✗ {result.ref} failed: {result.error}", style="red")
    text = Text(f"✓ test run of {result.ref}\n", style="green")
    if result.summary is None:
        text.append(f"summary: not made ({result.summary_problem})", style="dim")
    else:
        summary = result.summary
        text.append(f"summary ({summary.summarizer}): ", style="bold")
        text.append(summary.text)
        if summary.fallback_reason:
            text.append(f" ({summary.fallback_reason})", style="dim")
    text.append("\n\nresult:\n", style="bold")
    text.append(_shown(result.data, result.text))
    return text


def _shown(data: Any, text: str | None) -> str:
    """A tool result as indented JSON (or its text), cut to 40 lines."""
    if isinstance(data, dict | list):
        body = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    else:
        body = text or str(data)
    if len(body) > MAX_SHOWN_CHARS:  # a tool may answer megabytes on one line
        body = body[:MAX_SHOWN_CHARS] + f"… ({len(body) - MAX_SHOWN_CHARS:,} more characters)"
    lines = body.splitlines()
    more = f"\n… {len(lines) - 40} more lines" if len(lines) > 40 else ""
    return "\n".join(lines[:40]) + more
