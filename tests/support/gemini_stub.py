"""A local stand-in for the Gemini REST API: a real HTTP server serving the shared fixtures.

The real google-genai SDK talks to it through ``HttpOptions(base_url=stub.base_url)`` (or
``TASKAGENT_GEMINI_BASE_URL`` for the app and subprocesses), so tests exercise the SDK's own
request building and response parsing.

Usage::

    with GeminiStub() as stub:                    # 127.0.0.1, free port, own thread
        stub.reply_text("BTC is up 2%.")          # next request: this answer
        stub.reply_error("error_429.json")        # then a 429 with the fixture body
        stub.reply_error(503)                     # then error_503.json
        stub.reply_function_call("get_crypto_prices", {"limit": 3})
        stub.reply_stream("stream_text_response.sse")
        stub.reply_disconnect()                   # close the socket without answering
        ...
        req = stub.requests[-1]                   # GeminiRequest: path, model, json, headers
        assert req.generation_config["maxOutputTokens"] == 150

or the ``gemini_stub`` pytest fixture (tests/conftest.py).

Scripted replies are served in order (optionally only for one model); when none is queued the
``default`` reply answers (``text_response.json`` unless replaced). A reply written for
``generateContent`` also answers a ``streamGenerateContent?alt=sse`` request (as one SSE chunk),
and a stream reply answers a non-streaming request with its chunks merged, so chat tests can
script answers without caring which method the code uses.

Fixtures come from ``tests/fixtures/gemini`` (see tests/fixtures/README.md).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.support.fixtures import fixture_folder
from tests.support.local_http import LocalHandler, LocalHttpServer


def gemini_fixtures_dir() -> Path:
    """The folder holding the Gemini wire fixtures (``text_response.json``, ...)."""
    return fixture_folder("gemini")


def load_fixture(name: str) -> Any:
    """A parsed JSON fixture (``.json``) or the raw text of any other fixture file."""
    path = gemini_fixtures_dir() / name
    text = path.read_text(encoding="utf-8")
    return json.loads(text) if name.endswith(".json") else text


def text_response(
    text: str,
    *,
    prompt_tokens: int = 12,
    response_tokens: int = 7,
    thoughts_tokens: int | None = 0,
    finish_reason: str = "STOP",
    model: str = "gemini-2.5-flash",
) -> dict[str, Any]:
    """A ``GenerateContentResponse`` with one text part, shaped like ``text_response.json``."""
    usage: dict[str, Any] = {
        "promptTokenCount": prompt_tokens,
        "candidatesTokenCount": response_tokens,
        "totalTokenCount": prompt_tokens + response_tokens + (thoughts_tokens or 0),
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt_tokens}],
    }
    if thoughts_tokens is not None:
        usage["thoughtsTokenCount"] = thoughts_tokens
    return {
        "candidates": [
            {
                "content": {"parts": [{"text": text}], "role": "model"},
                "finishReason": finish_reason,
                "index": 0,
            }
        ],
        "usageMetadata": usage,
        "modelVersion": model,
        "responseId": "stub-response",
    }


def function_call_response(
    calls: list[tuple[str, dict[str, Any]]], *, model: str = "gemini-2.5-flash"
) -> dict[str, Any]:
    """A candidate whose parts are ``functionCall``s, shaped like ``function_call_response.json``
    (``finishReason`` STOP, ``finishMessage``, a ``thoughtSignature`` on the first call)."""
    parts: list[dict[str, Any]] = []
    for i, (name, args) in enumerate(calls):
        part: dict[str, Any] = {"functionCall": {"name": name, "args": args}}
        if i == 0:
            part["thoughtSignature"] = "c3R1Yi10aG91Z2h0LXNpZ25hdHVyZQ=="
        parts.append(part)
    return {
        "candidates": [
            {
                "content": {"parts": parts, "role": "model"},
                "finishReason": "STOP",
                "index": 0,
                "finishMessage": "Model generated function call(s).",
            }
        ],
        "usageMetadata": {
            "promptTokenCount": 412,
            "candidatesTokenCount": 19,
            "totalTokenCount": 503,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 412}],
            "thoughtsTokenCount": 72,
        },
        "modelVersion": model,
        "responseId": "stub-function-call",
    }


def merge_chunks(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """What a non-streaming call would have answered: texts joined, the last chunk's
    finishReason and (cumulative) usageMetadata."""
    if not chunks:
        return {}
    merged = copy.deepcopy(chunks[-1])
    parts: list[dict[str, Any]] = []
    for chunk in chunks:
        for cand in chunk.get("candidates", [])[:1]:
            for part in cand.get("content", {}).get("parts", []):
                if "text" in part and parts and "text" in parts[-1]:
                    parts[-1] = {**parts[-1], "text": parts[-1]["text"] + part["text"]}
                else:
                    parts.append(dict(part))
    if merged.get("candidates"):
        merged["candidates"][0].setdefault("content", {"role": "model"})["parts"] = parts
    return merged


def sse_body(chunks: list[dict[str, Any]]) -> bytes:
    """``data: {json}\\r\\n\\r\\n`` per chunk, no ``[DONE]`` sentinel (as the real API)."""
    return b"".join(b"data: " + json.dumps(c).encode() + b"\r\n\r\n" for c in chunks)


def parse_sse(text: str) -> list[dict[str, Any]]:
    return [
        json.loads(line[len("data: ") :])
        for line in text.splitlines()
        if line.startswith("data: ") and line[len("data: ") :].strip()
    ]


@dataclass(frozen=True)
class GeminiRequest:
    """One request as the stub received it."""

    method: str
    path: str  # without the query, e.g. "/v1/models/gemini-2.5-flash:generateContent"
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    json: Any  # the parsed body (None if empty or not JSON)
    raw: bytes

    @property
    def api_version(self) -> str | None:
        parts = self.path.strip("/").split("/")
        return parts[0] if parts and parts[0].startswith("v1") else None

    @property
    def model(self) -> str | None:
        """``gemini-2.5-flash`` for ``/v1/models/gemini-2.5-flash:generateContent``."""
        tail = self.path.rsplit("/models/", 1)
        return tail[1].split(":", 1)[0] if len(tail) == 2 else None

    @property
    def action(self) -> str | None:
        """``generateContent`` or ``streamGenerateContent``."""
        last = self.path.rsplit("/", 1)[-1]
        return last.split(":", 1)[1] if ":" in last else None

    @property
    def streaming(self) -> bool:
        return self.action == "streamGenerateContent"

    @property
    def body(self) -> dict[str, Any]:
        return self.json if isinstance(self.json, dict) else {}

    @property
    def generation_config(self) -> dict[str, Any]:
        return self.body.get("generationConfig") or {}

    @property
    def system_text(self) -> str:
        """The text of ``systemInstruction`` (empty if none)."""
        parts = (self.body.get("systemInstruction") or {}).get("parts") or []
        return "".join(p.get("text", "") for p in parts)

    @property
    def user_text(self) -> str:
        """All text parts of all ``contents``, joined by newlines."""
        return "\n".join(
            p["text"]
            for c in self.body.get("contents") or []
            for p in c.get("parts") or []
            if isinstance(p.get("text"), str)
        )

    @property
    def tools(self) -> list[Any]:
        return self.body.get("tools") or []

    @property
    def api_key(self) -> str | None:
        return self.headers.get("x-goog-api-key") or self.query.get("key")

    @property
    def function_responses(self) -> list[dict[str, Any]]:
        """Every ``functionResponse`` part sent in ``contents`` (``{"name", "response"}``)."""
        return [
            p["functionResponse"]
            for c in self.body.get("contents") or []
            for p in c.get("parts") or []
            if isinstance(p.get("functionResponse"), dict)
        ]

    @property
    def function_declarations(self) -> list[dict[str, Any]]:
        """Every declared function (``tools[].functionDeclarations[]``)."""
        return [d for t in self.tools for d in t.get("functionDeclarations") or []]


@dataclass
class Reply:
    """One scripted answer. ``body`` is JSON-able or bytes; ``chunks`` make it a stream reply;
    ``delay`` waits first; ``disconnect`` closes the socket without answering."""

    status: int = 200
    body: Any = None
    chunks: list[dict[str, Any]] | None = None
    raw_sse: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    disconnect: bool = False
    model: str | None = None  # only for requests to this model; None = any

    def matches(self, request: GeminiRequest) -> bool:
        return self.model is None or self.model == request.model


class GeminiStub(LocalHttpServer):
    """Threaded HTTP server on 127.0.0.1 answering like the Gemini API, with a reply script."""

    thread_name = "gemini-stub"

    def __init__(self, fixtures: Path | None = None) -> None:
        super().__init__()
        self.fixture_path = fixtures or gemini_fixtures_dir()
        self.requests: list[GeminiRequest] = []
        self.default: Reply = Reply(body=self.fixture("text_response.json"))
        self.on_request: Callable[[GeminiRequest], None] | None = None
        self._script: list[Reply] = []

    @property
    def base_url(self) -> str:
        return f"{self.origin}"

    # ---- fixtures --------------------------------------------------------------------------

    def fixture(self, name: str) -> Any:
        text = (self.fixture_path / name).read_text(encoding="utf-8")
        return json.loads(text) if name.endswith(".json") else text

    # ---- request log -----------------------------------------------------------------------

    @property
    def last(self) -> GeminiRequest:
        with self._lock:
            assert self.requests, "the stub has received no request"
            return self.requests[-1]

    def count(self, action: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.requests if action is None or r.action == action)

    def reset(self) -> None:
        """Forget the request log and any scripted replies not used yet."""
        with self._lock:
            self.requests.clear()
            self._script.clear()

    @property
    def pending(self) -> int:
        """Scripted replies not served yet."""
        with self._lock:
            return len(self._script)

    # ---- scripting -------------------------------------------------------------------------

    def enqueue(self, reply: Reply, times: int = 1) -> None:
        with self._lock:
            self._script.extend(copy.deepcopy(reply) for _ in range(times))

    def reply_json(
        self, body: Any, *, status: int = 200, times: int = 1, model: str | None = None
    ) -> None:
        """Next ``times`` replies: ``status`` with this JSON (or bytes) body."""
        self.enqueue(Reply(status=status, body=body, model=model), times)

    def reply_text(
        self, text: str, *, times: int = 1, model: str | None = None, **usage: Any
    ) -> None:
        """A normal text answer (``text_response`` keyword arguments set token counts)."""
        self.reply_json(text_response(text, **usage), times=times, model=model)

    def reply_fixture(
        self, name: str, *, status: int | None = None, times: int = 1, model: str | None = None
    ) -> None:
        """Serve a fixture file: ``.sse`` as a stream, error bodies with their own code."""
        if name.endswith(".sse"):
            self.reply_stream(name, times=times, model=model)
            return
        body = self.fixture(name)
        if status is None:
            error = body.get("error") if isinstance(body, dict) else None
            status = int(error["code"]) if isinstance(error, dict) and "code" in error else 200
        self.reply_json(body, status=status, times=times, model=model)

    def reply_error(
        self, which: int | str, *, times: int = 1, model: str | None = None, body: Any = None
    ) -> None:
        """An API error: a fixture name (``"error_429.json"``), or a status whose fixture
        ``error_<status>*.json`` exists (400 is the API_KEY_INVALID one), or ``body``."""
        if body is not None:
            status = int(which)
            self.reply_json(body, status=status, times=times, model=model)
            return
        if isinstance(which, str):
            self.reply_fixture(which, times=times, model=model)
            return
        matches = sorted(self.fixture_path.glob(f"error_{which}*.json"))
        if not matches:
            raise FileNotFoundError(f"no error_{which}*.json fixture; pass body=")
        self.reply_fixture(matches[0].name, status=which, times=times, model=model)

    def reply_rate_limited(
        self, retry_delay: str | None = "41s", *, times: int = 1, model: str | None = None
    ) -> None:
        """``error_429.json`` with its ``RetryInfo.retryDelay`` replaced (None removes it)."""
        body = self.fixture("error_429.json")
        details = [
            d
            for d in body["error"]["details"]
            if retry_delay is not None or not d["@type"].endswith("RetryInfo")
        ]
        for d in details:
            if d["@type"].endswith("RetryInfo"):
                d["retryDelay"] = retry_delay
        body["error"]["details"] = details
        self.reply_json(body, status=429, times=times, model=model)

    def reply_function_call(
        self,
        name: str,
        args: dict[str, Any] | None = None,
        *more: tuple[str, dict[str, Any]],
        times: int = 1,
        model: str | None = None,
    ) -> None:
        """A ``functionCall`` answer (extra ``(name, args)`` pairs make parallel calls)."""
        calls = [(name, args or {}), *more]
        self.reply_json(function_call_response(calls), times=times, model=model)

    def reply_stream(
        self,
        chunks: str | list[dict[str, Any]] | list[str],
        *,
        times: int = 1,
        model: str | None = None,
    ) -> None:
        """A streamed answer: a ``.sse`` fixture name, chunk dicts, or plain text pieces."""
        if isinstance(chunks, str):
            raw = self.fixture(chunks)
            parsed = parse_sse(raw)
            self.enqueue(
                Reply(chunks=parsed, raw_sse=raw.encode(), model=model),
                times,
            )
            return
        dicts = [
            text_response(c, finish_reason="STOP" if i == len(chunks) - 1 else "")
            if isinstance(c, str)
            else c
            for i, c in enumerate(chunks)
        ]
        for d in dicts:  # only the last chunk carries a finishReason
            for cand in d.get("candidates", []):
                if not cand.get("finishReason"):
                    cand.pop("finishReason", None)
        self.enqueue(Reply(chunks=dicts, model=model), times)

    def reply_count_tokens(self, total: int, *, times: int = 1, model: str | None = None) -> None:
        """A ``countTokens`` answer (``{"totalTokens": total}``)."""
        self.reply_json({"totalTokens": total}, times=times, model=model)

    def reply_delay(self, seconds: float, *, times: int = 1, model: str | None = None) -> None:
        """Answer with the default reply, but only after ``seconds`` (for timeouts)."""
        self.enqueue(
            Reply(
                status=self.default.status,
                body=self.default.body,
                chunks=self.default.chunks,
                delay=seconds,
                model=model,
            ),
            times,
        )

    def reply_disconnect(self, *, times: int = 1, model: str | None = None) -> None:
        """Close the connection without an answer (the SDK sees a network error)."""
        self.enqueue(Reply(disconnect=True, model=model), times)

    # ---- serving ---------------------------------------------------------------------------

    def _next_reply(self, request: GeminiRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            for i, reply in enumerate(self._script):
                if reply.matches(request):
                    return self._script.pop(i)
            return self.default


class _Handler(LocalHandler):
    owner: GeminiStub
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        stub = self.owner
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        url = urlsplit(self.path)
        request = GeminiRequest(
            method=self.command,
            path=url.path,
            query=dict(parse_qsl(url.query, keep_blank_values=True)),
            headers={k.lower(): v for k, v in self.headers.items()},
            json=parsed,
            raw=raw,
        )
        reply = stub._next_reply(request)
        if stub.on_request is not None:
            stub.on_request(request)
        if reply.delay and stub._stopping.wait(reply.delay):
            return
        if reply.disconnect:
            self.close_connection = True
            self.connection.close()
            return
        if request.action is None:
            self._send_json(
                404, {"error": {"code": 404, "message": "not found", "status": "NOT_FOUND"}}
            )
            return
        if reply.status != 200:
            self._send_json(reply.status, reply.body, reply.headers)
            return
        if request.streaming:
            if reply.raw_sse is not None:
                payload = reply.raw_sse
            else:
                payload = sse_body(reply.chunks if reply.chunks is not None else [reply.body])
            self._send(200, payload, {"content-type": "text/event-stream", **reply.headers})
            return
        body = merge_chunks(reply.chunks) if reply.chunks is not None else reply.body
        self._send_json(200, body, reply.headers)

    def _send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        self._send(
            status, payload, {"content-type": "application/json; charset=UTF-8", **(headers or {})}
        )


GeminiStub.handler = _Handler  # defined after the stub, which its type hints name
