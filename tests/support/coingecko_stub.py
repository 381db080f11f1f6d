"""A local stand-in for the CoinGecko API: a real HTTP server that serves the shared fixtures.

Usage::

    with CoinGeckoStub() as stub:                       # 127.0.0.1, free port, own thread
        client = CoinGeckoClient(base_url=stub.base_url)
        stub.rate_limit(times=1, retry_after=1)         # next response: 429 + retry-after: 1
        ...
        assert stub.count("/global") == 1               # HTTP requests seen per path

or the ``coingecko_stub`` pytest fixture (tests/conftest.py).
For a subprocess, set ``TASKAGENT_COINGECKO_BASE_URL=stub.base_url``.

Fixtures come from ``tests/fixtures/coingecko`` (see tests/fixtures/README.md).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

from tests.support.fixtures import fixture_folder
from tests.support.local_http import LocalHandler, LocalHttpServer

REPO_ROOT = Path(__file__).resolve().parents[2]
API_PREFIX = "/api/v3"

CLOUDFLARE_1015 = "error code: 1015"
CLOUDFLARE_HTML = (
    "<!DOCTYPE html><html><head><title>Access denied | api.coingecko.com used Cloudflare"
    "</title></head><body><h1>Error 1015</h1><p>You are being rate limited</p></body></html>"
)


def fixtures_dir() -> Path:
    """The fixtures folder (the one holding ``coingecko/``)."""
    return fixture_folder("coingecko").parent


@dataclass(frozen=True)
class RecordedRequest:
    path: str  # without the /api/v3 prefix, e.g. "/coins/markets"
    params: dict[str, str]
    headers: dict[str, str]  # lower-case names


@dataclass
class Scripted:
    """One scripted reply; ``status=None`` means "serve normally" (used for plain delays)."""

    status: int | None = None
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    path: str | None = None  # only for requests to this path; None = any path


# Endpoints answered with a recorded capture whatever the parameters.
FIXED_ANSWERS = {
    "/search/trending": "trending.json",
    "/global": "global.json",
    "/coins/list": "coins_list_sample.json",
}


class CoinGeckoStub(LocalHttpServer):
    """Threaded HTTP server on 127.0.0.1 answering like CoinGecko, with scriptable failures."""

    thread_name = "coingecko-stub"

    def __init__(self, fixtures: Path | None = None) -> None:
        super().__init__()
        self.fixture_path = (fixtures or fixtures_dir()) / "coingecko"
        self.requests: list[RecordedRequest] = []
        self._script: list[Scripted] = []

    @property
    def base_url(self) -> str:
        return f"{self.origin}{API_PREFIX}"

    # ---- request log -----------------------------------------------------------------------

    def count(self, path: str | None = None) -> int:
        """How many HTTP requests arrived (for one path, or in total)."""
        with self._lock:
            return sum(1 for r in self.requests if path is None or r.path == path)

    def counts(self) -> Counter[str]:
        with self._lock:
            return Counter(r.path for r in self.requests)

    def reset(self) -> None:
        """Forget the request log and any scripted replies not used yet."""
        with self._lock:
            self.requests.clear()
            self._script.clear()

    # ---- scripting: each call queues replies for the next matching requests ----------------

    def enqueue(self, reply: Scripted, times: int = 1) -> None:
        with self._lock:
            self._script.extend(Scripted(**vars(reply)) for _ in range(times))

    def respond(
        self,
        status: int,
        body: str | bytes | Any,
        *,
        times: int = 1,
        path: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Next ``times`` replies: ``status`` with ``body`` (str/bytes as-is, else JSON)."""
        if isinstance(body, str):
            raw, ctype = body.encode(), "text/plain; charset=utf-8"
        elif isinstance(body, bytes):
            raw, ctype = body, "application/json"
        else:
            raw, ctype = json.dumps(body).encode(), "application/json"
        self.enqueue(
            Scripted(status, raw, {"content-type": ctype, **(headers or {})}, path=path), times
        )

    def rate_limit(
        self,
        times: int = 1,
        *,
        retry_after: float | None = 1,
        body: Literal["json", "cloudflare", "html"] = "json",
        path: str | None = None,
    ) -> None:
        """429s as CoinGecko sends them: JSON (recorded body), Cloudflare text, or HTML."""
        headers = {"server": "cloudflare"}
        if retry_after is not None:
            headers["retry-after"] = f"{retry_after:g}"
        if body == "json":
            raw = (self.fixture_path / "error_429.json").read_bytes()
            headers["content-type"] = "application/json"
        elif body == "cloudflare":
            raw = (self.fixture_path / "error_429_cloudflare_1015.txt").read_bytes()
            headers["content-type"] = "text/plain; charset=UTF-8"
        else:
            raw = CLOUDFLARE_HTML.encode()
            headers["content-type"] = "text/html; charset=UTF-8"
        self.enqueue(Scripted(429, raw, headers, path=path), times)

    def server_error(self, times: int = 1, *, status: int = 500, path: str | None = None) -> None:
        self.respond(status, {"error": "Internal Server Error"}, times=times, path=path)

    def delay(self, seconds: float, *, times: int = 1, path: str | None = None) -> None:
        """Serve the next replies normally, but only after ``seconds`` (for timeouts)."""
        self.enqueue(Scripted(None, delay=seconds, path=path), times)

    def malformed(
        self, *, times: int = 1, path: str | None = None, body: bytes = b'{"coins": [{"id": '
    ) -> None:
        """200 with a broken body (truncated JSON by default)."""
        self.respond(200, body, times=times, path=path)

    # ---- serving ---------------------------------------------------------------------------

    def _next_scripted(self, path: str) -> Scripted | None:
        with self._lock:
            for i, reply in enumerate(self._script):
                if reply.path is None or reply.path == path:
                    return self._script.pop(i)
        return None

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def fixture(self, name: str) -> Any:
        return json.loads((self.fixture_path / name).read_text(encoding="utf-8"))

    @cached_property
    def _markets(self) -> list[dict[str, Any]]:
        return self.fixture("markets_top10.json")

    @cached_property
    def _supported_vs(self) -> set[str]:
        return set(self.fixture("global.json")["data"]["total_market_cap"])

    def route(self, path: str, params: dict[str, str]) -> tuple[int, Any]:
        """The normal (unscripted) answer: status and JSON-able body."""
        if path == "/ping":
            return 200, {"gecko_says": "(V3) To the Moon!"}
        if path == "/coins/markets":
            return self._coins_markets(params)
        if path == "/simple/price":
            return self._simple_price(params)
        if path == "/search":
            return 200, self._search(params.get("query", "").strip().lower())
        if path in FIXED_ANSWERS:
            return 200, self.fixture(FIXED_ANSWERS[path])
        return 404, {"error": "Not Found"}

    def _bad_vs(self) -> tuple[int, Any]:
        return 400, self.fixture("error_400_invalid_vs_currency.json")

    def _coins_markets(self, params: dict[str, str]) -> tuple[int, Any]:
        if params.get("vs_currency", "").lower() not in self._supported_vs:
            return self._bad_vs()
        coins = self._markets
        if ids := params.get("ids"):
            wanted = set(ids.split(","))
            coins = [c for c in coins if c["id"] in wanted]
        per_page = max(1, min(250, int(params.get("per_page", "100"))))
        page = max(1, int(params.get("page", "1")))
        return 200, coins[(page - 1) * per_page : page * per_page]

    def _simple_price(self, params: dict[str, str]) -> tuple[int, Any]:
        wanted_vs = [v for v in params.get("vs_currencies", "").lower().split(",") if v]
        if not wanted_vs or any(v not in self._supported_vs for v in wanted_vs):
            return self._bad_vs()
        prices = self.fixture("simple_price.json")
        out: dict[str, Any] = {}
        for coin_id in params.get("ids", "").split(","):
            if coin_id in prices:  # unknown ids are simply left out, like CoinGecko
                usd = prices[coin_id]
                out[coin_id] = {
                    k.replace("usd", vs, 1): v
                    for vs in wanted_vs
                    for k, v in usd.items()
                    if k != "last_updated_at"
                } | {"last_updated_at": usd["last_updated_at"]}
        return 200, out

    def _search(self, query: str) -> dict[str, Any]:
        if query == "btc":
            return self.fixture("search_btc.json")
        if query == "ethereum":
            return self.fixture("search_ethereum_docs_example.json")
        # Others: built from the recorded /coins/list subset, ranked from the markets capture.
        ranks = {c["id"]: c["market_cap_rank"] for c in self._markets}
        coins = [
            {
                "id": c["id"],
                "name": c["name"],
                "api_symbol": c["id"],
                "symbol": c["symbol"].upper(),
                "market_cap_rank": ranks.get(c["id"]),
                "thumb": "https://coin-images.coingecko.com/coins/images/0/thumb/placeholder.png",
                "large": "https://coin-images.coingecko.com/coins/images/0/large/placeholder.png",
            }
            for c in self.fixture("coins_list_sample.json")
            if query and (c["symbol"] == query or query in c["id"] or query in c["name"].lower())
        ]
        coins.sort(key=lambda c: (c["market_cap_rank"] is None, c["market_cap_rank"] or 0))
        return {"coins": coins, "exchanges": [], "icos": [], "categories": [], "nfts": []}


class _Handler(LocalHandler):
    owner: CoinGeckoStub
    protocol_version = "HTTP/1.1"  # keep-alive, like the real API behind Cloudflare

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        stub = self.owner
        url = urlsplit(self.path)
        path = url.path.removeprefix(API_PREFIX) or "/"
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        stub._record(RecordedRequest(path, params, {k.lower(): v for k, v in self.headers.items()}))

        reply = stub._next_scripted(path)
        if reply is not None and reply.delay and stub._stopping.wait(reply.delay):
            return  # stub is shutting down
        if reply is not None and reply.status is not None:
            self._send(reply.status, reply.body, reply.headers)
            return
        try:
            status, body = stub.route(path, params)
        except (ValueError, KeyError) as err:  # e.g. per_page=abc
            status, body = 400, {"error": f"bad request: {err}"}
        self._send(status, json.dumps(body).encode(), {"content-type": "application/json"})


CoinGeckoStub.handler = _Handler  # defined after the stub, which its type hints name
