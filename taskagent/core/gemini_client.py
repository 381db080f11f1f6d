"""One shared google-genai client for the process, and what its errors mean.

Facts this module is built on (google-genai 3.6, Gemini REST API v1beta):
  * `genai.Client(...)` costs ~70 ms and `from google import genai` ~0.9 s cold, so the client is
    created lazily, once, and kept referenced (a client nobody references is closed under the
    SDK's feet: "Cannot send a request, as the client has been closed").
  * One client may be used from several event loops (`client.aio` keeps a pool per loop), so the
    runner's worker threads and the chat on the main loop share it.
  * The SDK does not retry by default and ignores `RetryInfo.retryDelay`; callers decide.
  * An invalid key is a 400 `INVALID_ARGUMENT` whose details carry `reason: API_KEY_INVALID`
    (not a 401); a missing/unauthorised key is a 403 `PERMISSION_DENIED`.

The API key is passed to the SDK and nowhere else: it is never logged, and `repr()` of the
holder does not show it.
"""

from __future__ import annotations

import enum
import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from taskagent.core.errors import TaskAgentError

if TYPE_CHECKING:
    from google import genai
    from google.genai import types
    from google.genai.errors import APIError

DEFAULT_REQUEST_TIMEOUT = 30.0  # seconds for one HTTP request


class GeminiNotConfigured(TaskAgentError, RuntimeError):
    """No API key: the caller should use its offline path."""


class GeminiClient:
    """Holds the process's one `genai.Client`, built on first use from the key and base URL.

    `http_options` (a `types.HttpOptions` or dict) is merged over the defaults; tests pass e.g.
    `{"base_url": stub.base_url}` or an httpx transport. Thread-safe.
    """

    def __init__(
        self,
        api_key: str | None,
        *,
        base_url: str | None = None,
        http_options: types.HttpOptions | dict[str, Any] | None = None,
        timeout: float = DEFAULT_REQUEST_TIMEOUT,
    ) -> None:
        self._api_key = api_key or None
        self.base_url = base_url or None
        self.http_options = http_options
        self.timeout = timeout
        self._client: genai.Client | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(
        cls, settings: Any, *, http_options: types.HttpOptions | dict[str, Any] | None = None
    ) -> GeminiClient:
        return cls(
            settings.gemini_api_key,
            base_url=settings.gemini_base_url,
            http_options=http_options,
        )

    def __repr__(self) -> str:  # never shows the key
        state = "configured" if self.configured else "no key"
        return f"GeminiClient({state}, base_url={self.base_url!r})"

    @property
    def configured(self) -> bool:
        return self._api_key is not None

    @property
    def created(self) -> bool:
        return self._client is not None

    def get(self) -> genai.Client:
        """The shared client (created on first call). Raises GeminiNotConfigured without a key."""
        if self._api_key is None:
            raise GeminiNotConfigured("no GEMINI_API_KEY / GOOGLE_API_KEY in the environment")
        client = self._client
        if client is not None:
            return client
        with self._lock:
            if self._client is None:
                self._client = self._build()
            return self._client

    def _build(self) -> genai.Client:
        from google import genai
        from google.genai import types

        options: dict[str, Any] = {"timeout": int(self.timeout * 1000)}  # milliseconds
        if self.base_url:
            options["base_url"] = self.base_url
        extra = self.http_options
        if isinstance(extra, types.HttpOptions):
            extra = extra.model_dump(exclude_none=True)
        options.update(extra or {})
        return genai.Client(api_key=self._api_key, http_options=types.HttpOptions(**options))

    async def reconfigure(self, api_key: str | None, base_url: str | None = None) -> None:
        """Use another key / base URL from now on (the next `get()` builds a new client)."""
        await self.aclose()
        with self._lock:
            self._api_key = api_key or None
            self.base_url = base_url or None

    async def aclose(self) -> None:
        """Close the HTTP pools (async ones of every loop still running, then the sync one)."""
        with self._lock:
            client, self._client = self._client, None
        if client is None:
            return
        try:
            await client.aio.aclose()
        finally:
            client.close()


# ------------------------------------------------------------------------------------- errors
class FailureKind(enum.StrEnum):
    INVALID_KEY = "invalid_key"  # 400 API_KEY_INVALID, 401
    PERMISSION = "permission"  # 403 PERMISSION_DENIED (missing key, API not enabled, region)
    MODEL_NOT_FOUND = "model_not_found"  # 404
    QUOTA = "quota"  # 429 RESOURCE_EXHAUSTED
    UNAVAILABLE = "unavailable"  # 500/502/503/504
    BAD_REQUEST = "bad_request"  # other 4xx
    TIMEOUT = "timeout"
    NETWORK = "network"  # connection refused/reset, DNS, protocol errors
    EMPTY = "empty"  # a 200 with no text (MAX_TOKENS with no parts, safety block, ...)
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class GeminiFailure:
    """A classified failure of one Gemini call."""

    kind: FailureKind
    message: str  # short, for users and logs; never contains the key
    code: int | None = None
    status: str | None = None
    retry_after: float | None = None  # seconds, from RetryInfo.retryDelay
    daily_quota: bool = False  # a per-day quota: it will not clear within minutes

    @property
    def retryable(self) -> bool:
        return self.kind in (FailureKind.QUOTA, FailureKind.UNAVAILABLE)

    @property
    def disables(self) -> bool:
        """Failures that will repeat on every call until the user changes the configuration."""
        return self.kind in (
            FailureKind.INVALID_KEY,
            FailureKind.PERMISSION,
            FailureKind.MODEL_NOT_FOUND,
        )

    @property
    def short(self) -> str:
        """e.g. "Gemini quota exhausted (429)"."""
        code = f" ({self.code})" if self.code else ""
        return {
            FailureKind.INVALID_KEY: f"Gemini API key rejected{code}",
            FailureKind.PERMISSION: f"Gemini refused the API key{code}",
            FailureKind.MODEL_NOT_FOUND: f"Gemini model not found{code}",
            FailureKind.QUOTA: f"Gemini quota exhausted{code}",
            FailureKind.UNAVAILABLE: f"Gemini unavailable{code}",
            FailureKind.BAD_REQUEST: f"Gemini rejected the request{code}",
            FailureKind.TIMEOUT: "Gemini did not answer in time",
            FailureKind.NETWORK: "Gemini unreachable",
            FailureKind.EMPTY: "Gemini returned an empty answer",
            FailureKind.OTHER: "Gemini call failed",
        }[self.kind]


_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


def parse_duration(text: Any) -> float | None:
    """Protobuf JSON durations such as "41s" or "0.5s" -> seconds."""
    if not isinstance(text, str):
        return None
    match = _DURATION_RE.match(text)
    return float(match.group(1)) if match else None


def _error_details(details: Any) -> list[dict[str, Any]]:
    if isinstance(details, list) and len(details) == 1:
        details = details[0]
    if not isinstance(details, dict):
        return []
    inner = details.get("error", details)
    found = inner.get("details") if isinstance(inner, dict) else None
    return [d for d in found or [] if isinstance(d, dict)]


def classify(exc: BaseException) -> GeminiFailure:
    """What a failed `generate_content` means, from the SDK's exception."""
    from google.genai import errors

    if isinstance(exc, errors.APIError):
        return _classify_api_error(exc)
    if isinstance(exc, TimeoutError) or "timeout" in type(exc).__name__.lower():
        return GeminiFailure(FailureKind.TIMEOUT, type(exc).__name__)
    if _is_network_error(exc):
        return GeminiFailure(FailureKind.NETWORK, f"{type(exc).__name__}: {exc}"[:200])
    return GeminiFailure(FailureKind.OTHER, f"{type(exc).__name__}: {exc}"[:200])


def _classify_api_error(exc: APIError) -> GeminiFailure:
    """An error answer of the Gemini API: its kind, first message line and retry hints."""
    code = exc.code if isinstance(exc.code, int) else None
    status = exc.status if isinstance(exc.status, str) else None
    message = (exc.message or status or "").strip().splitlines()[0:1]
    text = message[0][:200] if message else ""
    details = _error_details(exc.details)
    reasons = {d.get("reason") for d in details}
    retry_after, daily = _retry_hints(details)
    return GeminiFailure(_api_kind(code, status, reasons), text, code, status, retry_after, daily)


def _retry_hints(details: list[dict[str, Any]]) -> tuple[float | None, bool]:
    """The RetryInfo delay in seconds, and whether a QuotaFailure names a per-day quota."""
    retry_after = None
    daily = False
    for d in details:
        kind_name = str(d.get("@type", ""))
        if kind_name.endswith("RetryInfo"):
            retry_after = parse_duration(d.get("retryDelay"))
        if kind_name.endswith("QuotaFailure"):
            daily = any(
                "PerDay" in str(v.get("quotaId", ""))
                for v in d.get("violations") or []
                if isinstance(v, dict)
            )
    return retry_after, daily


def _api_kind(code: int | None, status: str | None, reasons: set[Any]) -> FailureKind:
    """The failure kind from the HTTP code, the status and the error reasons."""
    if "API_KEY_INVALID" in reasons or code == 401:
        return FailureKind.INVALID_KEY
    if code == 403:
        return FailureKind.PERMISSION
    if code == 404:
        return FailureKind.MODEL_NOT_FOUND
    if code == 429 or status == "RESOURCE_EXHAUSTED":
        return FailureKind.QUOTA
    if code == 408:
        return FailureKind.TIMEOUT
    if code is not None and code >= 500:
        return FailureKind.UNAVAILABLE
    if code is not None and 400 <= code < 500:
        return FailureKind.BAD_REQUEST
    return FailureKind.OTHER


def _is_network_error(exc: BaseException) -> bool:
    if isinstance(exc, OSError):  # ConnectionError, socket errors
        return True
    # httpx / httpx2 (the SDK's default backend) / aiohttp transport errors
    for cls in type(exc).__mro__:
        if cls.__name__ in {"TransportError", "RequestError", "ClientError", "NetworkError"} and (
            cls.__module__.split(".")[0] in {"httpx", "httpx2", "aiohttp", "httpcore"}
        ):
            return True
    return False
