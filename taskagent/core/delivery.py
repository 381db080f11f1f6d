"""Delivery you can trust: every notification goes to its channels with a receipt each.

* **Channels** (core/channels.py): `desktop` (the desktop notifier, or an in-app toast) and
  Apprise URLs, directly or by a name from `[notify.named]`. A task's own channels
  (`--channel`) replace the `[notify] channels`.
* **Receipts**: one `deliveries` row per notification and channel: queued, sending, sent or
  failed, with the attempts and the last error (secrets masked).
* **Retries**: an Apprise channel is tried `len(BACKOFF) + 1` times, waiting BACKOFF between
  attempts on the injected clock (tenacity's loop): the second attempt within 10 s, the fourth
  about two minutes after the first. Then the `[notify] fallback` channel gets the message
  (its own receipt, `fallback_of` the failed one), and the failure is logged and counted.
* **Quiet hours** (core/quiet_hours.py): inside the window a notification that is not urgent
  is `held`; when the window ends, one digest per channel lists what was held. A process that
  was not running then sends the digest at its next start.
* **A crash while sending** is never silent: a receipt left `sending` is marked `unknown` at
  the next start and is not sent again (at most once: a duplicate alert is worse than a
  missing one that the History tab shows as unknown); one left `queued` (never tried) is
  marked `failed`.

Sending never raises into a run: every failure ends in a receipt and a log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt

from taskagent.core.channels import (
    DESKTOP,
    Channel,
    ChannelError,
    mask_in,
    quiet_apprise_urls,
    resolve_all,
)
from taskagent.core.clock import Clock
from taskagent.core.digest import DigestWriter, digest_body
from taskagent.core.errors import TaskAgentError
from taskagent.core.quiet_hours import next_digest, parse_digest, parse_window, window_end
from taskagent.core.store.delivery_queries import (
    DIGESTED,
    FAILED,
    HELD,
    QUEUED,
    SENDING,
    SENT,
    Receipt,
    TaskDelivery,
)

log = logging.getLogger(__name__)

Severity = Literal["information", "warning", "error"]
# Seconds between attempts: 4 attempts, the second after 8 s, the last ~2 minutes in.
BACKOFF: tuple[float, ...] = (8.0, 30.0, 80.0)
# A receipt `sending` or `queued` this long belongs to a process that ended (retries and the
# fallback take about four minutes); a younger one may be another running process's.
STALE_SECONDS = 600.0
CLOSE_GRACE = 10.0  # seconds deliveries under way get when taskagent stops
# How often held notifications are looked at again: another process (a CLI run) may have held
# some whose time this one was not told about.
RECHECK_SECONDS = 900.0


class DeliveryFailed(TaskAgentError):
    """One attempt on one channel failed (the message is safe to show: secrets masked)."""


class Repo(Protocol):
    async def task_delivery(self, task_id: int) -> TaskDelivery: ...
    async def add_receipt(
        self,
        *,
        at: datetime,
        run_id: int | None,
        task_id: int | None,
        channel: str,
        target: str,
        status: str,
        kind: str,
        urgent: bool,
        title: str,
        body: str,
        hold_until: datetime | None = None,
        fallback_of: int | None = None,
    ) -> int: ...
    async def update_receipt(
        self,
        receipt_id: int,
        *,
        at: datetime,
        status: str,
        attempts: int | None = None,
        last_error: str | None = None,
        via: str | None = None,
        only_if: str | None = None,
    ) -> bool: ...
    async def receipt(self, receipt_id: int) -> Receipt | None: ...
    async def receipts_with_status(self, *statuses: str) -> list[Receipt]: ...
    async def fallbacks_of(self, receipt_ids: Sequence[int]) -> list[Receipt]: ...
    async def mark_unfinished_receipts(self, at: datetime, before: datetime) -> int: ...


@dataclass(frozen=True, slots=True)
class Message:
    """One notification, channel-independent. `body` is plain text."""

    title: str
    body: str
    severity: Severity = "information"
    kind: str = "notice"
    task_id: int | None = None
    run_id: int | None = None
    urgent: bool = False


@dataclass(frozen=True, slots=True)
class DeliveryConfig:
    """`[notify]` in config.toml."""

    channels: tuple[str, ...] = (DESKTOP,)
    fallback: str = ""
    quiet_hours: str = ""
    digest: str = ""  # a period such as "daily 08:00": one message per period, not per run
    named: Mapping[str, str] = field(default_factory=dict)
    timezone: str = "UTC"


class AppriseSender:
    """Sends one message to one Apprise URL; raises DeliveryFailed with Apprise's reason."""

    async def send(self, url: str, message: Message) -> None:
        import apprise

        quiet_apprise_urls()
        notifier = apprise.Apprise()
        if not notifier.add(url):
            raise DeliveryFailed(mask_in("Apprise cannot use this URL", [url]))
        kind = {
            "error": apprise.NotifyType.FAILURE,
            "warning": apprise.NotifyType.WARNING,
            "information": apprise.NotifyType.INFO,
        }[message.severity]
        result = await notifier.async_notify(
            body=message.body or " ",
            title=message.title,
            notify_type=kind,
            # Plain text: a service that renders HTML or Markdown gets it escaped, so markup
            # from a tool's output is shown, never interpreted.
            body_format=apprise.NotifyFormat.TEXT,
        )
        if result:
            return
        reasons = [entry.message for entry in result.logs() if entry.level in ("WARNING", "ERROR")]
        reason = reasons[-1] if reasons else f"not delivered ({result.status.name.lower()})"
        raise DeliveryFailed(mask_in(reason, [url])[:300])


class Sender(Protocol):
    async def send(self, url: str, message: Message) -> None: ...


# The desktop path (core/notify.py): shows the message, returns how (desktop, in-app, log).
DesktopSend = Callable[[Message], Awaitable[str]]


class Deliverer:
    """Receipts, retries, fallback and quiet hours over the channels. Main loop only."""

    def __init__(
        self,
        repo: Repo,
        clock: Clock,
        config: DeliveryConfig,
        *,
        sender: Sender | None = None,
        desktop: DesktopSend | None = None,
        writer: DigestWriter | None = None,
        backoff: Sequence[float] = BACKOFF,
    ) -> None:
        self.repo = repo
        self.clock = clock
        self.config = config
        self.sender: Sender = sender or AppriseSender()
        self.desktop = desktop
        self.writer = writer
        self.backoff = tuple(backoff)
        self.failures = 0  # deliveries that failed on every attempt, in this process
        self.last_failure = ""  # "phone: HTTP 500", for the Status tab
        self._jobs: set[asyncio.Task[Any]] = set()
        self._flush_timer: Any = None
        self._flush_at: datetime | None = None
        self._recheck: asyncio.Future[None] | None = None

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Mark what a previous process left unfinished; send the digests that came due while
        no process was running; wake up for the next one."""
        now = self.clock.now()
        changed = await self.repo.mark_unfinished_receipts(
            now, now - timedelta(seconds=STALE_SECONDS)
        )
        if changed:
            log.warning(
                "%d notification(s) left unfinished by an earlier run of taskagent", changed
            )
        await self.flush_digests()
        if self._recheck is None:
            self._recheck = asyncio.ensure_future(self._recheck_forever())

    async def _recheck_forever(self) -> None:
        while True:
            await self.clock.sleep(RECHECK_SECONDS)
            try:
                now = self.clock.now()
                await self.repo.mark_unfinished_receipts(
                    now, now - timedelta(seconds=STALE_SECONDS)
                )
                await self.flush_digests()
            except Exception:
                log.exception("sending held notifications failed")

    async def aclose(self, grace: float = 0.0) -> None:
        """Stop: deliveries under way get `grace` seconds to end, then are cancelled (their
        receipts stay `sending` and show as unknown at the next start)."""
        if self._flush_timer is not None:
            self._flush_timer.cancel()
        if self._recheck is not None:
            self._recheck.cancel()
            await asyncio.gather(self._recheck, return_exceptions=True)
            self._recheck = None
        if grace > 0 and self._jobs:
            with contextlib.suppress(TimeoutError):
                async with self.clock.timeout(grace):
                    await self.idle()
        for job in list(self._jobs):
            job.cancel()
        if self._jobs:
            await asyncio.gather(*self._jobs, return_exceptions=True)

    async def idle(self) -> None:
        """Wait until every delivery under way has ended (tests, `notify test`)."""
        while self._jobs:
            await asyncio.gather(*list(self._jobs), return_exceptions=True)

    # ------------------------------------------------------------------ delivering
    async def deliver(self, message: Message) -> list[int]:
        """Record a receipt per channel and send (or hold) the message; the desktop is shown
        before this returns, other channels are sent in the background. Returns the receipts'
        ids. Never raises (apart from cancellation)."""
        try:
            own = TaskDelivery()
            if message.task_id is not None:
                own = await self.repo.task_delivery(message.task_id)
            urgent = message.urgent or own.urgent
            window = own.quiet_hours if own.quiet_hours is not None else self.config.quiet_hours
            period = own.digest if own.digest is not None else self.config.digest
            until = None if urgent else self._hold_until(window, period)
            ids = []
            for channel in self._channels(own.channels or self.config.channels):
                if isinstance(channel, ChannelError):
                    ids.append(await self._unusable(message, channel))
                else:
                    ids.append(await self._deliver_one(message, channel, urgent, until))
            return ids
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("delivering notification %r failed", message.title)
            return []

    def _channels(self, texts: Sequence[str]) -> list[Channel | ChannelError]:
        """Each channel resolved, or the error that makes it unusable (a name taken out of
        [notify.named] since the task named it): that one gets a failed receipt, the others
        are sent."""
        found: list[Channel | ChannelError] = []
        for text in dict.fromkeys(texts):
            try:
                [channel] = resolve_all([text], self.config.named)
            except ChannelError as exc:
                found.append(exc)
            else:
                found.append(channel)
        return found

    async def _unusable(self, message: Message, error: ChannelError) -> int:
        """A failed receipt for a channel that cannot be resolved."""
        label = "unknown channel"
        receipt_id = await self.repo.add_receipt(
            at=self.clock.now(),
            run_id=message.run_id,
            task_id=message.task_id,
            channel=label,
            target="",
            status=QUEUED,
            kind=message.kind,
            urgent=message.urgent,
            title=message.title,
            body=message.body,
        )
        await self._failed(receipt_id, label, error.message, 0)
        return receipt_id

    def _hold_until(self, window: str, period: str) -> datetime | None:
        """When a notification sent now goes out: the end of its digest period, else of the
        quiet hours it falls in (a period ending inside quiet hours waits for their end);
        None = now."""
        zone = self.config.timezone
        try:
            quiet = parse_window(window)
        except ValueError:
            log.warning("quiet hours %r are not a window; ignored", window)
            quiet = None
        try:
            until = next_digest(self.clock.now(), parse_digest(period, zone))
        except ValueError:
            log.warning("digest period %r is not a period; ignored", period)
            until = None
        if until is None:
            return window_end(self.clock.now(), quiet, zone)
        return window_end(until, quiet, zone) or until

    async def _deliver_one(
        self, message: Message, channel: Channel, urgent: bool, until: datetime | None
    ) -> int:
        target = channel.url or channel.label
        receipt_id = await self.repo.add_receipt(
            at=self.clock.now(),
            run_id=message.run_id,
            task_id=message.task_id,
            channel=channel.label,
            target=target,
            # The desktop is shown at once: its receipt starts as `sending` (one write less).
            status=HELD if until is not None else (QUEUED if channel.url else SENDING),
            kind=message.kind,
            urgent=urgent,
            title=message.title,
            body=message.body,
            hold_until=until,
        )
        if until is not None:
            log.info("notification held until %s: %s", until, message.title)
            self._schedule_flush(until)
        elif channel.url:
            self._spawn(self._send_with_retries(receipt_id, channel, message))
        else:
            await self._send_desktop(receipt_id, message)
        return receipt_id

    async def send_now(self, message: Message, channels: Sequence[Channel]) -> list[Receipt]:
        """Send to these channels ignoring quiet hours and wait for the receipts (`notify
        test`)."""
        ids = [await self._deliver_one(message, channel, True, None) for channel in channels]
        await self.idle()
        receipts = [await self.repo.receipt(i) for i in ids]
        return [r for r in receipts if r is not None] + await self.repo.fallbacks_of(ids)

    def _spawn(self, job: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(job)
        self._jobs.add(task)
        task.add_done_callback(self._jobs.discard)

    async def _send_desktop(self, receipt_id: int, message: Message) -> None:
        now = self.clock.now()
        if self.desktop is None:
            await self.repo.update_receipt(
                receipt_id,
                at=now,
                status=FAILED,
                attempts=1,
                last_error="no desktop notifier",
                via="log",
            )
            return
        try:
            via = await self.desktop(message)
        except Exception as exc:  # the desktop path never raises; this is a last guard
            await self._failed(receipt_id, DESKTOP, f"{type(exc).__name__}: {exc}", 1)
            return
        await self.repo.update_receipt(
            receipt_id, at=self.clock.now(), status=SENT, attempts=1, via=via
        )

    async def _send_with_retries(
        self, receipt_id: int, channel: Channel, message: Message, *, fallback_of: int | None = None
    ) -> bool:
        attempts = 0
        retrying = AsyncRetrying(
            stop=stop_after_attempt(len(self.backoff) + 1),
            wait=self._wait,
            sleep=self.clock.sleep,
            retry=retry_if_exception_type(DeliveryFailed),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    attempts = attempt.retry_state.attempt_number
                    await self.repo.update_receipt(
                        receipt_id, at=self.clock.now(), status=SENDING, attempts=attempts
                    )
                    await self._attempt(channel, message)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            text = exc.message if isinstance(exc, TaskAgentError) else f"{type(exc).__name__}"
            await self._failed(receipt_id, channel.label, text, attempts)
            if fallback_of is None:
                await self._fall_back(receipt_id, channel, message)
            return False
        await self.repo.update_receipt(receipt_id, at=self.clock.now(), status=SENT, via="apprise")
        log.info(
            "notification sent to %s (%d attempt(s)): %s", channel.label, attempts, message.title
        )
        return True

    def _wait(self, state: RetryCallState) -> float:
        if not self.backoff:
            return 0.0
        return self.backoff[min(state.attempt_number, len(self.backoff)) - 1]

    async def _attempt(self, channel: Channel, message: Message) -> None:
        try:
            await self.sender.send(channel.url, message)
        except DeliveryFailed:
            raise
        except Exception as exc:  # Apprise raising is a failed attempt like any other
            raise DeliveryFailed(mask_in(f"{type(exc).__name__}: {exc}", [channel.url])) from exc

    async def _failed(self, receipt_id: int, label: str, error: str, attempts: int) -> None:
        self.failures += 1
        self.last_failure = f"{label}: {error}"[:200]
        log.warning("notification to %s failed after %d attempt(s): %s", label, attempts, error)
        await self.repo.update_receipt(
            receipt_id, at=self.clock.now(), status=FAILED, attempts=attempts, last_error=error
        )

    async def _fall_back(self, receipt_id: int, failed: Channel, message: Message) -> None:
        if not self.config.fallback:
            return
        try:
            [channel] = resolve_all([self.config.fallback], self.config.named)
        except ChannelError as exc:
            log.warning("the fallback channel is not usable: %s", exc.message)
            return
        if (channel.url or channel.label) == (failed.url or failed.label):
            return
        log.info("sending to the fallback channel %s instead of %s", channel.label, failed.label)
        fallback_id = await self.repo.add_receipt(
            at=self.clock.now(),
            run_id=message.run_id,
            task_id=message.task_id,
            channel=channel.label,
            target=channel.url or channel.label,
            status=QUEUED,
            kind=message.kind,
            urgent=message.urgent,
            title=message.title,
            body=message.body,
            fallback_of=receipt_id,
        )
        if channel.url:
            await self._send_with_retries(fallback_id, channel, message, fallback_of=receipt_id)
        else:
            await self._send_desktop(fallback_id, message)

    # ------------------------------------------------------------------ digests
    def _schedule_flush(self, at: datetime) -> None:
        if self._flush_at is not None and self._flush_at <= at and self._flush_timer is not None:
            return
        if self._flush_timer is not None:
            self._flush_timer.cancel()
        delay = max(0.0, (at - self.clock.now()).total_seconds())
        self._flush_at = at
        self._flush_timer = self.clock.call_later(delay, self._on_flush_timer)

    def _on_flush_timer(self) -> None:
        self._flush_timer = None
        self._flush_at = None
        self._spawn(self.flush_digests())

    async def flush_digests(self) -> int:
        """Send one digest per channel of the held notifications whose window has ended;
        wake up again for the next window's end. Returns how many digests were sent."""
        now = self.clock.now()
        held = await self.repo.receipts_with_status(HELD)
        due = [r for r in held if r.hold_until is None or r.hold_until <= now]
        later = [r.hold_until for r in held if r.hold_until is not None and r.hold_until > now]
        if later:
            self._schedule_flush(min(later))
        groups: dict[str, list[Receipt]] = defaultdict(list)
        for receipt in due:
            if await self.repo.update_receipt(
                receipt.id, at=now, status=DIGESTED, only_if=HELD
            ):  # claimed: another process may be flushing too
                groups[receipt.target].append(receipt)
        # One writing per set of notifications (each channel has its own receipts of them).
        words: dict[tuple[tuple[str, str, datetime], ...], str | None] = {}
        for target, items in groups.items():
            key = tuple(sorted((r.title, r.body, r.created_at) for r in items))
            if key not in words:
                words[key] = await self._words(items)
            await self._send_digest(target, items, words[key])
        return len(groups)

    async def _words(self, items: Sequence[Receipt]) -> str | None:
        """The writer's opening for a digest; None without one or when it fails."""
        if self.writer is None:
            return None
        try:
            return await self.writer(items)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("writing a digest failed; its lines are sent alone")
            return None

    async def _send_digest(self, target: str, items: list[Receipt], words: str | None) -> None:
        try:
            [channel] = resolve_all([target], self.config.named)
        except ChannelError as exc:
            log.warning("digest for %s not sent: %s", items[0].channel, exc.message)
            return
        body = digest_body(items, self.config.timezone)
        message = Message(
            title=f"taskagent: {len(items)} notification{'s' if len(items) != 1 else ''} held",
            body=f"{words}\n\n{body}" if words else body,
            kind="digest",
            urgent=True,
        )
        await self._deliver_one(message, channel, True, None)
