"""The CLI's delivery parts: a task's `--channel`, `--urgent`, `--quiet-hours`, the receipts in
`tasks history`, and `taskagent notify test [CHANNEL]`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from typing import TYPE_CHECKING, Any

from taskagent.core.channels import ChannelError, masked
from taskagent.core.store.delivery_queries import Receipt, TaskDelivery

if TYPE_CHECKING:
    from taskagent.checked_files import DatabaseSettings
    from taskagent.config import Settings

DELIVERY_OPTIONS = ("channel", "urgent", "quiet_hours", "digest")


def delivery_given(args: argparse.Namespace) -> bool:
    return any(getattr(args, name, None) is not None for name in DELIVERY_OPTIONS)


def delivery_from_args(
    args: argparse.Namespace, settings: Settings, current: TaskDelivery
) -> TaskDelivery:
    """The task's delivery settings after these options; TaskInputError naming the problem."""
    from taskagent.core.task_delivery import task_delivery_from

    return task_delivery_from(
        current,
        settings.notify_named,
        channels=args.channel,
        urgent=args.urgent,
        quiet_hours=args.quiet_hours,
        digest=args.digest,
        timezone=settings.timezone,
    )


def delivery_to_dict(delivery: TaskDelivery) -> dict[str, Any]:
    return {
        "channels": [masked(c) for c in delivery.channels],
        "urgent": delivery.urgent,
        "quiet_hours": delivery.quiet_hours,
        "digest": delivery.digest,
    }


def delivery_text(delivery: TaskDelivery, settings: Settings | DatabaseSettings) -> str:
    channels = delivery.channels or settings.notify_channels
    text = ", ".join(masked(c) for c in channels)
    if not delivery.channels:
        text += " (default)"
    if delivery.urgent:
        text += "; urgent"
    window = settings.notify_quiet_hours if delivery.quiet_hours is None else delivery.quiet_hours
    period = settings.notify_digest if delivery.digest is None else delivery.digest
    text += f"; quiet hours {window}" if window else ""
    return text + (f"; digest {period}" if period else "")


def receipt_text(receipt: Receipt) -> str:
    """ "phone: sent (3 attempts)", "spare: failed after 4 attempts: HTTP 500"."""
    tries = f"{receipt.attempts} attempt{'s' if receipt.attempts != 1 else ''}"
    head = f"{receipt.channel}: {receipt.status}"
    if receipt.fallback_of is not None:
        head += " (fallback)"
    if receipt.status == "failed":
        return f"{head} after {tries}: {receipt.last_error or 'no details'}"
    if receipt.status == "sent":
        via = f", {receipt.via}" if receipt.via and receipt.via not in ("apprise",) else ""
        return f"{head} ({tries}{via})"
    if receipt.status == "unknown":
        return f"{head}: {receipt.last_error or ''}".rstrip(": ")
    return head


# --------------------------------------------------------------------------- notify test
def run_notify_command(settings: Settings, args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_notify_test(settings, args.channel))
    except ChannelError as exc:
        print(f"taskagent: {exc.message}", file=sys.stderr)
        return 1


async def _notify_test(settings: Settings, channel: str | None) -> int:
    from dataclasses import replace

    from taskagent.core.channels import resolve_all
    from taskagent.core.clock import SYSTEM_CLOCK
    from taskagent.core.delivery import Deliverer, Message
    from taskagent.core.notify import Notifier
    from taskagent.core.store import Repository
    from taskagent.services import delivery_config

    # The receipt printed says what failed; no log line on top of it.
    logging.getLogger("taskagent.core.delivery").setLevel(logging.ERROR)
    # One attempt, no fallback: the point is to see whether this channel works.
    config = replace(delivery_config(settings), fallback="")
    channels = resolve_all([channel] if channel else list(config.channels), config.named)
    settings.paths.ensure()
    repo = await Repository.open(settings.paths.db_file, clock=SYSTEM_CLOCK.now)
    notifier = Notifier(use_desktop=settings.notifications_desktop)
    deliverer = Deliverer(repo, SYSTEM_CLOCK, config, backoff=())
    try:
        await notifier.start()
        notifier.use_delivery(deliverer)
        message = Message(
            "taskagent test", "A test notification from taskagent: this channel works.", kind="test"
        )
        receipts = await deliverer.send_now(message, channels)
    finally:
        await deliverer.aclose()
        await notifier.aclose()
        await repo.close()
    for receipt in receipts:
        print(receipt_text(receipt))
    return 0 if all(r.status == "sent" for r in receipts) else 1
