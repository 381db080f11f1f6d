"""Delivery: real Apprise sending to local HTTP receivers (json://127.0.0.1:PORT/...), receipts
in a real SQLite file, retries, the fallback and quiet hours on the manual clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from taskagent.core.channels import ChannelError, masked, resolve
from taskagent.core.delivery import BACKOFF, RECHECK_SECONDS, Deliverer, DeliveryConfig, Message
from taskagent.core.notify import Notifier
from taskagent.core.quiet_hours import parse_window, window_end
from taskagent.core.status_report import delivery_overview
from taskagent.core.store import Repository
from taskagent.core.store.delivery_queries import TaskDelivery
from tests.support.dbus_notifications import FakeNotificationServer
from tests.support.fake_clock import FakeClock
from tests.support.gemini_stub import GeminiStub
from tests.support.waiting import until
from tests.support.webhook_receiver import webhook_receiver

SECRET = "s3cr3t-token"
BERLIN = "Europe/Berlin"
# 22:30 in Berlin (winter, UTC+1): inside a 22:00-07:00 window.
NIGHT = datetime(2026, 1, 5, 21, 30, tzinfo=UTC)


@pytest.fixture
async def repo(tmp_path: Path) -> AsyncIterator[Repository]:
    async with await Repository.open(tmp_path / "taskagent.db") as repository:
        yield repository


def message(n: int = 1, *, urgent: bool = False, kind: str = "significant") -> Message:
    return Message(f"BTC hourly #{n}", f"BTC crossed above 100,000 ({n})", kind=kind, urgent=urgent)


# ======================================================================= retries and receipts
async def test_a_receiver_that_fails_twice_then_accepts_gets_one_message_in_3_attempts(
    repo: Repository,
) -> None:
    clock = FakeClock()
    with webhook_receiver([500, 503]) as receiver:
        deliverer = Deliverer(repo, clock, DeliveryConfig(channels=(receiver.url(SECRET),)))
        [receipt_id] = await deliverer.deliver(message())
        start = clock.monotonic()
        await clock.drive(deliverer.idle(), step=1.0)

    receipt = await repo.receipt(receipt_id)
    assert receipt is not None
    assert (receipt.status, receipt.attempts) == ("sent", 3)
    assert receiver.requests == 3
    assert [m["title"] for m in receiver.accepted] == ["BTC hourly #1"]
    # The waits were the backoff's, on the manual clock: 8 s then 30 s.
    assert clock.monotonic() - start >= BACKOFF[0] + BACKOFF[1]
    assert SECRET not in receipt.channel and receipt.channel.endswith("…")


async def test_a_receiver_that_always_fails_leads_to_the_fallback_and_a_visible_failure(
    repo: Repository,
) -> None:
    clock = FakeClock()
    with webhook_receiver(always=500) as broken, webhook_receiver() as spare:
        config = DeliveryConfig(
            channels=("phone",),
            fallback="spare",
            named={"phone": broken.url(SECRET), "spare": spare.url()},
        )
        deliverer = Deliverer(repo, clock, config)
        [receipt_id] = await deliverer.deliver(message())
        await clock.drive(deliverer.idle(), step=5.0)

    failed = await repo.receipt(receipt_id)
    assert failed is not None
    assert (failed.channel, failed.status, failed.attempts) == ("phone", "failed", 4)
    assert failed.last_error and "500" in failed.last_error and SECRET not in failed.last_error
    assert broken.requests == 4
    [fallback] = await repo.fallbacks_of([receipt_id])
    assert (fallback.channel, fallback.status, fallback.attempts) == ("spare", "sent", 1)
    assert [m["message"] for m in spare.accepted] == ["BTC crossed above 100,000 (1)"]
    # Visible: the Status tab's line counts it and names the channel and the error.
    overview = await delivery_overview(repo, config.channels, "", now=clock.now())
    assert overview["failed"] == 1 and overview["sent"] == 1
    assert overview["last_failure"].startswith("phone: ")
    assert deliverer.failures == 1


async def test_a_task_s_own_channels_replace_the_default(repo: Repository) -> None:
    from taskagent.core.models import ScheduleType, Task

    clock = FakeClock()
    task = await repo.add_task(
        Task("ETH", ScheduleType.INTERVAL, "1 hour", "crypto:get_crypto_prices")
    )
    with webhook_receiver() as default, webhook_receiver() as own:
        config = DeliveryConfig(channels=(default.url(),), named={"phone": own.url()})
        await repo.set_task_delivery(task.stored_id, TaskDelivery(channels=("phone",)))
        deliverer = Deliverer(repo, clock, config)
        await deliverer.deliver(Message("ETH", "up", task_id=task.stored_id))
        await clock.drive(deliverer.idle())
    assert (len(default.accepted), len(own.accepted)) == (0, 1)


# ============================================================================ quiet hours
async def test_a_quiet_window_sends_urgent_ones_at_once_and_one_digest_at_its_end(
    repo: Repository,
) -> None:
    clock = FakeClock(NIGHT)
    with webhook_receiver() as receiver:
        config = DeliveryConfig(
            channels=(receiver.url(),), quiet_hours="22:00-07:00", timezone=BERLIN
        )
        deliverer = Deliverer(repo, clock, config)
        for n in range(10):
            await deliverer.deliver(message(n, urgent=n in (3, 7)))
            await clock.advance(60)
        await clock.drive(deliverer.idle())
        assert sorted(m["title"] for m in receiver.accepted) == ["BTC hourly #3", "BTC hourly #7"]

        # 07:00 Berlin is 06:00 UTC: the window ends, the digest goes out.
        await clock.advance((datetime(2026, 1, 6, 6, 0, tzinfo=UTC) - clock.now()).total_seconds())
        await clock.drive(deliverer.idle())
        await deliverer.aclose()

    assert len(receiver.accepted) == 3
    digest = receiver.accepted[2]
    assert "8 notifications held" in digest["title"]
    assert digest["message"].startswith("While you were away:")
    assert digest["message"].count("BTC hourly #") == 8
    assert "22:30 BTC hourly #0" in digest["message"]  # held times in the user's zone


async def test_the_digest_goes_out_at_the_next_start_after_a_stop_across_the_window_end(
    repo: Repository,
) -> None:
    with webhook_receiver() as receiver:
        config = DeliveryConfig(
            channels=(receiver.url(),), quiet_hours="22:00-07:00", timezone=BERLIN
        )
        first = Deliverer(repo, FakeClock(NIGHT), config)
        for n in range(3):
            await first.deliver(message(n))
        await first.aclose()  # taskagent stops at night ...
        assert receiver.accepted == []

        # ... and starts again at 09:00.
        morning = FakeClock(datetime(2026, 1, 6, 8, 0, tzinfo=UTC))
        second = Deliverer(repo, morning, config)
        await second.start()
        await morning.drive(second.idle())
        await second.aclose()

    assert len(receiver.accepted) == 1
    assert "3 notifications held" in receiver.accepted[0]["title"]


async def test_a_receipt_left_sending_is_unknown_at_the_next_start_and_not_resent(
    repo: Repository,
) -> None:
    clock = FakeClock()
    receipt_id = await repo.add_receipt(
        at=clock.now(),
        run_id=None,
        task_id=None,
        channel="phone",
        target="phone",
        status="sending",
        kind="failure",
        urgent=False,
        title="t",
        body="b",
    )
    await clock.advance(3600)
    with webhook_receiver() as receiver:
        deliverer = Deliverer(repo, clock, DeliveryConfig(named={"phone": receiver.url()}))
        await deliverer.start()
        await clock.drive(deliverer.idle())
    receipt = await repo.receipt(receipt_id)
    assert receipt is not None and receipt.status == "unknown"
    assert receiver.requests == 0


async def test_a_digest_task_sends_one_message_per_period(repo: Repository) -> None:
    from taskagent.core.models import ScheduleType, Task

    clock = FakeClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))  # 10:00 in Berlin
    task = await repo.add_task(
        Task("ETH hourly", ScheduleType.INTERVAL, "1 hour", "crypto:get_crypto_prices")
    )
    await repo.set_task_delivery(task.stored_id, TaskDelivery(digest="daily 08:00"))
    with webhook_receiver() as receiver:
        config = DeliveryConfig(channels=(receiver.url(),), timezone=BERLIN)
        deliverer = Deliverer(repo, clock, config)
        for n in range(3):
            await deliverer.deliver(
                Message(
                    "ETH hourly",
                    f"Run failed: rate limit ({n})",
                    "error",
                    kind="failure",
                    task_id=task.stored_id,
                )
            )
            await clock.advance(3600)
        await deliverer.deliver(Message("BTC", "other task: sent at once"))
        await clock.drive(deliverer.idle())
        assert [m["title"] for m in receiver.accepted] == ["BTC"]

        # 08:00 the next morning in Berlin (07:00 UTC): one message for the period.
        await clock.advance((datetime(2026, 1, 6, 7, 0, tzinfo=UTC) - clock.now()).total_seconds())
        await clock.drive(deliverer.idle())
        await deliverer.aclose()

    assert len(receiver.accepted) == 2
    digest = receiver.accepted[1]
    assert "3 notifications held" in digest["title"]
    # Repeated failures of one task are one line with a count.
    assert "3× since 10:00 ETH hourly: Run failed: rate limit (0)" in digest["message"]


@pytest.mark.parametrize(
    ("now", "end"),
    [
        # across midnight, winter
        (datetime(2026, 1, 5, 23, 59, tzinfo=UTC), datetime(2026, 1, 6, 6, 0, tzinfo=UTC)),
        # after midnight, still inside
        (datetime(2026, 1, 6, 5, 59, tzinfo=UTC), datetime(2026, 1, 6, 6, 0, tzinfo=UTC)),
        # the night the clocks go forward (29 March): 07:00 CEST is 05:00 UTC
        (datetime(2026, 3, 28, 22, 0, tzinfo=UTC), datetime(2026, 3, 29, 5, 0, tzinfo=UTC)),
        # the night they go back (25 October): 07:00 CET is 06:00 UTC
        (datetime(2026, 10, 24, 21, 0, tzinfo=UTC), datetime(2026, 10, 25, 6, 0, tzinfo=UTC)),
        # outside the window
        (datetime(2026, 1, 6, 12, 0, tzinfo=UTC), None),
        (datetime(2026, 1, 6, 6, 0, tzinfo=UTC), None),
    ],
)
def test_window_end_across_midnight_and_dst(now: datetime, end: datetime | None) -> None:
    assert window_end(now, parse_window("22:00-07:00"), BERLIN) == end


def test_a_daytime_window_and_bad_windows() -> None:
    lunch = parse_window("12:00-13:30")
    assert window_end(datetime(2026, 1, 6, 11, 15, tzinfo=UTC), lunch, BERLIN) == datetime(
        2026, 1, 6, 12, 30, tzinfo=UTC
    )
    assert parse_window("") is None
    for bad in ("22-07", "25:00-07:00", "07:00-07:00"):
        with pytest.raises(ValueError):
            parse_window(bad)


# ============================================================================ channels
def test_urls_are_masked_and_names_resolved() -> None:
    assert masked("ntfys://my-topic") == "ntfys://my-t…"
    assert masked("mailto://me:pass@example.com") == "mailto://me…"
    assert masked("json://127.0.0.1:8080/x") == "json://127.…"
    assert resolve("phone", {"phone": "ntfys://my-topic"}).url == "ntfys://my-topic"
    assert resolve("ntfys://my-topic", {}).label == "ntfys://my-t…"
    with pytest.raises(ChannelError, match="no channel named 'tablet'"):
        resolve("tablet", {"phone": "ntfys://x"})
    with pytest.raises(ChannelError, match="bogus://secr…") as raised:
        resolve("bogus://secret-thing", {})
    assert "secret-thing" not in str(raised.value)


def test_apprise_s_own_log_lines_never_quote_a_url(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(ChannelError):
        resolve("bogus://secret-thing", {})
    assert "secret-thing" not in caplog.text


async def test_the_body_reaches_a_channel_as_plain_text(repo: Repository) -> None:
    body = '<a href="https://evil.example">click</a> <img src=file:///etc/passwd>'
    with webhook_receiver() as receiver:
        deliverer = Deliverer(repo, FakeClock(), DeliveryConfig(channels=(receiver.url(),)))
        await deliverer.deliver(Message("tool output", body))
        await deliverer.idle()
    [got] = receiver.accepted
    assert got["message"] == body  # as text, unchanged; Apprise was told it is TEXT


async def test_markup_from_tool_output_is_escaped_for_the_desktop(
    notification_server: FakeNotificationServer, repo: Repository
) -> None:
    body = '<a href="https://evil.example">click</a> <img src=file:///etc/passwd> & more'
    notifier = Notifier(cooldown_seconds=0)
    await notifier.start()
    deliverer = Deliverer(repo, FakeClock(), DeliveryConfig())
    notifier.use_delivery(deliverer)
    [receipt_id] = await deliverer.deliver(Message("tool output", body))
    [shown] = await notification_server.wait_for(1)
    await notifier.aclose()

    assert shown.body == (
        '&lt;a href="https://evil.example"&gt;click&lt;/a&gt; '
        "&lt;img src=file:///etc/passwd&gt; &amp; more"
    )
    receipt = await repo.receipt(receipt_id)
    assert receipt is not None and (receipt.channel, receipt.status, receipt.via) == (
        "desktop",
        "sent",
        "desktop",
    )


async def test_receipts_go_with_history_retention_but_held_ones_stay(repo: Repository) -> None:
    from taskagent.core.baselines import Baselines
    from taskagent.core.history_pruner import HistoryPruner

    clock = FakeClock()
    fields = {
        "run_id": None,
        "task_id": None,
        "channel": "phone",
        "target": "phone",
        "kind": "success",
        "urgent": False,
        "title": "t",
        "body": "b",
    }
    old_sent = await repo.add_receipt(at=clock.now(), status="sent", **fields)
    old_held = await repo.add_receipt(at=clock.now(), status="held", **fields)
    await clock.advance(91 * 86400)
    new_sent = await repo.add_receipt(at=clock.now(), status="sent", **fields)
    pruner = HistoryPruner(repo, Baselines(repo), retention_days=90, clock=clock)
    await pruner.prune_once()
    kept = [r.id for r in await repo.receipts_with_status("sent", "held")]
    assert kept == [old_held, new_sent] and old_sent not in kept


async def test_notifications_held_by_another_process_go_out_at_the_next_look(
    repo: Repository,
) -> None:
    clock = FakeClock(NIGHT)
    with webhook_receiver() as receiver:
        config = DeliveryConfig(named={"phone": receiver.url()}, timezone=BERLIN)
        deliverer = Deliverer(repo, clock, config)
        await deliverer.start()
        # A `tasks run` in another process held one until 07:00 Berlin.
        await repo.add_receipt(
            at=clock.now(),
            run_id=None,
            task_id=None,
            channel="phone",
            target="phone",
            status="held",
            kind="significant",
            urgent=False,
            title="BTC",
            body="up",
            hold_until=datetime(2026, 1, 6, 6, 0, tzinfo=UTC),
        )
        # The process runs on (the manual clock a look at a time) until the digest is out.
        sent = until(lambda: bool(receiver.accepted), what="the digest")
        await clock.drive(sent, step=RECHECK_SECONDS, limit=86400)
        await deliverer.aclose()
    assert clock.now() >= datetime(2026, 1, 6, 6, 0, tzinfo=UTC)
    assert [m["title"] for m in receiver.accepted] == ["taskagent: 1 notification held"]


async def test_gemini_writes_the_digest_s_opening_once_for_all_channels(
    repo: Repository, gemini_stub: GeminiStub, tmp_path: Path
) -> None:
    from taskagent.config import Settings
    from taskagent.core.digest import summary_writer
    from taskagent.core.summary import Summarizer
    from taskagent.paths import resolve_paths

    settings = Settings(
        paths=resolve_paths({"TASKAGENT_HOME": str(tmp_path)}),
        gemini_api_key="test-key",
        gemini_base_url=gemini_stub.base_url,
    )
    summarizer = Summarizer(settings)
    gemini_stub.reply_text("Quiet night: BTC crossed 100,000 twice.")
    clock = FakeClock(NIGHT)
    with webhook_receiver() as first, webhook_receiver() as second:
        config = DeliveryConfig(
            channels=(first.url(), second.url()), quiet_hours="22:00-07:00", timezone=BERLIN
        )
        deliverer = Deliverer(repo, clock, config, writer=summary_writer(summarizer, BERLIN))
        for n in range(2):
            await deliverer.deliver(message(n))
        await clock.advance((datetime(2026, 1, 6, 6, 0, tzinfo=UTC) - clock.now()).total_seconds())
        await clock.drive(deliverer.idle())
        await deliverer.aclose()
    await summarizer.aclose()

    assert gemini_stub.count() == 1  # one request for both channels
    assert "BTC hourly #1" in gemini_stub.last.user_text
    for receiver in (first, second):
        [digest] = receiver.accepted
        assert digest["message"].startswith("Quiet night: BTC crossed 100,000 twice.\n\n")
        assert "While you were away:" in digest["message"]


async def test_a_channel_that_no_longer_exists_is_a_visible_failure(repo: Repository) -> None:
    from taskagent.core.models import ScheduleType, Task

    clock = FakeClock()
    task = await repo.add_task(Task("ETH", ScheduleType.INTERVAL, "1 hour", "crypto:x"))
    # The task named "tablet", since taken out of [notify.named].
    await repo.set_task_delivery(task.stored_id, TaskDelivery(channels=("tablet", "phone")))
    with webhook_receiver() as phone:
        config = DeliveryConfig(named={"phone": phone.url()})
        deliverer = Deliverer(repo, clock, config)
        gone, sent = await deliverer.deliver(Message("ETH", "up", task_id=task.stored_id))
        await clock.drive(deliverer.idle())
    receipt, other = await repo.receipt(gone), await repo.receipt(sent)
    assert other is not None and (other.channel, other.status) == ("phone", "sent")
    assert receipt is not None and receipt.status == "failed"
    assert receipt.last_error == "no channel named 'tablet'; known: desktop, phone"
    assert len(phone.accepted) == 1 and deliverer.failures == 1
    assert await repo.undelivered_tasks(clock.now() - timedelta(hours=1)) == {task.stored_id}


async def test_an_urgent_alert_goes_through_quiet_hours(repo: Repository) -> None:
    clock = FakeClock(NIGHT)
    with webhook_receiver() as receiver:
        config = DeliveryConfig(
            channels=(receiver.url(),), quiet_hours="22:00-07:00", timezone=BERLIN
        )
        deliverer = Deliverer(repo, clock, config)
        notifier = Notifier(use_desktop=False)
        notifier.use_delivery(deliverer)
        await notifier.notify_notice("BTC above 100,000", "101,250", urgent=True, kind="alert")
        await notifier.notify_notice("ETH above 4,000", "4,010", kind="alert")
        await clock.drive(deliverer.idle())
        await notifier.aclose()
    assert [m["title"] for m in receiver.accepted] == ["BTC above 100,000"]
    [held] = await repo.receipts_with_status("held")
    assert held.title == "ETH above 4,000"
