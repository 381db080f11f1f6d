"""A local stand-in for a heartbeat service (healthchecks.io, Uptime Kuma): counts the GETs it
receives; `status` sets the answer."""

from __future__ import annotations

from tests.support.local_http import LocalHandler, LocalHttpServer


class _Handler(LocalHandler):
    owner: PingReceiver

    def do_GET(self) -> None:
        with self.owner._lock:
            self.owner.paths.append(self.path)
            status = self.owner.status
        self._send(status, b"OK", {"content-type": "text/plain"})

    def log_message(self, *args: object) -> None:
        pass


class PingReceiver(LocalHttpServer):
    handler = _Handler
    thread_name = "ping-receiver"

    def __init__(self) -> None:
        super().__init__()
        self.paths: list[str] = []
        self.status = 200

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.paths)
