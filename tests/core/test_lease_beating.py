"""`Lease.beating()`: what the health ping asks before each request."""

from __future__ import annotations

from taskagent.core.lease import LEASE_TIMEOUT, Lease
from taskagent.core.store import Repository
from tests.support.fake_clock import FakeClock


async def test_beating_only_while_held_and_renewed_within_the_timeout(repo: Repository) -> None:
    clock = FakeClock()
    lease = Lease(repo, kind="daemon", clock=clock)
    assert not lease.beating()  # not taken yet
    assert await lease.try_acquire() is None
    assert lease.beating()
    await clock.advance(LEASE_TIMEOUT.total_seconds() + 1)  # heartbeats failed meanwhile
    assert not lease.beating()
    assert await lease.heartbeat()
    assert lease.beating()
    await lease.release()
    assert not lease.beating()
