"""The health ping with the fake clock against a local HTTP receiver: on time while healthy,
none while not, and a failed ping is a log line, never the end of the pings."""

from __future__ import annotations

import asyncio
import logging

import pytest

from taskagent.core.health.pinger import Pinger
from tests.support.fake_clock import FakeClock
from tests.support.ping_receiver import PingReceiver


async def _until(condition, clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)  # the request itself is real I/O on the loop
        await clock.settle()
    raise AssertionError("condition not met")


async def test_pings_every_interval_only_while_healthy(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    healthy = [True]
    with PingReceiver() as receiver:
        pinger = Pinger(f"{receiver.origin}/ping/abc", 60, lambda: healthy[0], clock=clock)
        task = asyncio.create_task(pinger.run_forever())
        try:
            await _until(lambda: receiver.count == 1, clock)
            await clock.advance(60)
            await _until(lambda: receiver.count == 2, clock)
            healthy[0] = False
            for _ in range(3):
                await clock.advance(60)
                await clock.settle()
            assert receiver.count == 2
            healthy[0] = True
            receiver.status = 503
            with caplog.at_level(logging.WARNING, logger="taskagent.core.health.pinger"):
                await clock.advance(60)
                await _until(lambda: pinger.failed == 1, clock)
            assert "health ping" in caplog.text and "HTTP 503" in caplog.text
            receiver.status = 200
            await clock.advance(60)
            await _until(lambda: pinger.sent == 3, clock)
        finally:
            task.cancel()
    assert receiver.paths[0] == "/ping/abc"


async def test_an_unreachable_service_is_logged_and_the_pinger_goes_on() -> None:
    clock = FakeClock()
    with PingReceiver() as receiver:
        url = receiver.origin
    pinger = Pinger(url, 30, lambda: True, clock=clock)
    task = asyncio.create_task(pinger.run_forever())
    try:
        await _until(lambda: pinger.failed == 1, clock)
        await clock.advance(30)
        await _until(lambda: pinger.failed == 2, clock)
        assert not task.done()
    finally:
        task.cancel()
