"""A local HTTP server that plays a JSON webhook for Apprise's `json://127.0.0.1:PORT/...`:
it answers with the status codes it is given, in order (then 200), and keeps what it accepted."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class WebhookReceiver:
    def __init__(self, codes: list[int] | None = None, *, always: int | None = None) -> None:
        self.codes = list(codes or [])
        self.always = always
        self.requests = 0
        self.accepted: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self.port = 0

    def url(self, path: str = "hook") -> str:
        return f"json://127.0.0.1:{self.port}/{path}"

    def answer(self, payload: dict[str, Any]) -> int:
        with self._lock:
            self.requests += 1
            code = self.always or (self.codes.pop(0) if self.codes else 200)
            if code == 200:
                self.accepted.append(payload)
            return code


@contextmanager
def webhook_receiver(
    codes: list[int] | None = None, *, always: int | None = None
) -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(codes, always=always)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            payload = json.loads(self.rfile.read(length) or b"{}")
            code = receiver.answer(payload)
            self.send_response(code)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
