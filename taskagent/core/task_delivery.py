"""A task's own delivery settings as the user gives them (CLI options, MCP arguments, the
task form's Channels field): checked, with messages naming the setting."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from taskagent.core.channels import ChannelError, masked, resolve_all
from taskagent.core.quiet_hours import digest_text, parse_digest, parse_window
from taskagent.core.store.delivery_queries import DeliveryQueries, TaskDelivery
from taskagent.core.tasks.inputs import TaskInputError


def task_delivery_from(
    current: TaskDelivery,
    named: Mapping[str, str],
    *,
    channels: Sequence[str] | None = None,
    urgent: bool | None = None,
    quiet_hours: str | None = None,
    digest: str | None = None,
    timezone: str = "UTC",
) -> TaskDelivery:
    """A task's delivery settings with these changes, checked: TaskInputError naming the
    setting (`field` channels, quiet_hours or digest) in the user's words. `channels`
    ["default"] goes back to the [notify] channels; `quiet_hours` and `digest` "default" to
    [notify]'s, "" to none."""
    new_channels = current.channels
    if channels is not None:
        wanted = [c.strip() for c in channels if c.strip()]
        if wanted == ["default"]:
            wanted = []
        try:
            resolve_all(wanted, named)  # every one must resolve now, not at the first run
        except ChannelError as exc:
            raise TaskInputError(f"channels: {exc.message}", "channels") from exc
        new_channels = tuple(wanted)
    try:
        window = _window_text(current.quiet_hours, quiet_hours)
    except ValueError as exc:
        raise TaskInputError(f"quiet hours: {exc}", "quiet_hours") from exc
    try:
        period = _digest_text(current.digest, digest, timezone)
    except ValueError as exc:
        raise TaskInputError(f"digest: {exc}", "digest") from exc
    return TaskDelivery(
        channels=new_channels,
        urgent=current.urgent if urgent is None else urgent,
        quiet_hours=window,
        digest=period,
    )


def _window_text(current: str | None, given: str | None) -> str | None:
    if given is None:
        return current
    if given.strip() == "default":
        return None
    parsed = parse_window(given)
    return "" if parsed is None else str(parsed)


def _digest_text(current: str | None, given: str | None, timezone: str) -> str | None:
    if given is None:
        return current
    if given.strip() == "default":
        return None
    schedule = parse_digest(given, timezone)  # a ScheduleError is a ValueError
    return "" if schedule is None else digest_text(schedule)


def channels_from_text(text: str, named: Mapping[str, str]) -> tuple[str, ...]:
    """The task form's channels field ("desktop, phone"; empty = the [notify] channels),
    checked. Raises TaskInputError (field `channels`) in the user's words."""
    wanted = tuple(part.strip() for part in text.split(",") if part.strip())
    try:
        resolve_all(wanted, named)
    except ChannelError as exc:
        raise TaskInputError(f"Channels: {exc.message}", "channels") from exc
    return wanted


def channels_text(delivery: TaskDelivery) -> str:
    """A task's own channels as the form shows them (URLs masked)."""
    return ", ".join(masked(channel) for channel in delivery.channels)


async def save_channels(repo: DeliveryQueries, task_id: int, channels: tuple[str, ...]) -> None:
    """Set a task's own channels, keeping its other delivery settings."""
    current = await repo.task_delivery(task_id)
    await repo.set_task_delivery(task_id, replace(current, channels=channels))
