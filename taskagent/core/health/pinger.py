"""The heartbeat out of the machine: `[health] ping_url` requested every `ping_every` while this
process's scheduler is healthy, so an outside service (healthchecks.io, Uptime Kuma, ...) alerts
when the pings stop: the daemon died, froze, lost its lease, or the machine is off.

A failed ping is a warning in the log and nothing more: the next one is tried on time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import httpx

from taskagent.core.clock import SYSTEM_CLOCK, Clock

log = logging.getLogger(__name__)

PING_TIMEOUT_SECONDS = 10.0


class Pinger:
    def __init__(
        self,
        url: str,
        every: float,
        healthy: Callable[[], bool],
        *,
        clock: Clock = SYSTEM_CLOCK,
        timeout: float = PING_TIMEOUT_SECONDS,
    ) -> None:
        self.url = url
        self.every = every
        self.healthy = healthy
        self.clock = clock
        self.timeout = min(timeout, every)
        self.host = httpx.URL(url).host  # logged; the path is often the ping's secret
        self.sent = 0
        self.failed = 0

    async def ping(self, client: httpx.AsyncClient) -> bool:
        """One request; whether the service took it (any 2xx or 3xx answer)."""
        try:
            async with self.clock.timeout(self.timeout):
                response = await client.get(self.url)
        except (httpx.HTTPError, TimeoutError) as exc:
            problem = str(exc) or type(exc).__name__
        else:
            if response.status_code < 400:
                self.sent += 1
                return True
            problem = f"HTTP {response.status_code}"
        self.failed += 1
        log.warning("health ping to %s failed: %s", self.host, problem)
        return False

    async def run_forever(self) -> None:
        """Ping now, then every `every` seconds, skipping while the scheduler is unhealthy."""
        async with httpx.AsyncClient(follow_redirects=True, timeout=self.timeout) as client:
            while True:
                if self.healthy():
                    await self.ping(client)
                await self.clock.sleep(self.every)
