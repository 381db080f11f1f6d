from __future__ import annotations

import asyncio

import pytest

from taskagent.core.mcp import ToolTimeout as _RealToolTimeout
from taskagent.core.retry import RetryPolicy, call_with_retries, is_transient, retry_after


def ToolTimeout(message: str) -> _RealToolTimeout:
    """The MCP manager's real timeout (transient by its class flag)."""
    return _RealToolTimeout(message, server="s", tool="x", timeout=5.0)


class Flaky:
    def __init__(self, failures: list[BaseException]) -> None:
        self.failures = failures
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "ok"


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (ToolTimeout("tool 'x' did not answer within 5 s"), True),
        (RuntimeError("CoinGecko rate limit reached"), True),
        (RuntimeError("HTTP 503 Service Unavailable"), True),
        (ConnectionError("reset"), True),
        (RuntimeError("no coin with symbol 'xyzq' on CoinGecko"), False),
        (ValueError("invalid arguments for 'crypto:get_crypto_prices'"), False),
    ],
)
def test_transient_classification(exc: Exception, transient: bool) -> None:
    assert is_transient(exc) is transient


def test_retry_after_is_read_from_the_message() -> None:
    assert retry_after(RuntimeError("rate limited; retry after 7 s")) == 7
    assert retry_after(RuntimeError("retrying in 119 s did not help")) == 119
    assert retry_after(RuntimeError("plain failure")) is None


async def test_transient_failures_are_retried_with_backoff() -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    flaky = Flaky([ToolTimeout("did not answer"), RuntimeError("503 unavailable")])
    result, attempts = await call_with_retries(
        flaky, RetryPolicy(retries=2, base_delay=1), sleep=sleep
    )
    assert (result, attempts, flaky.calls) == ("ok", 3, 3)
    assert waits == [1, 2]


async def test_retry_after_hint_is_honoured_and_a_long_one_fails_at_once() -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    flaky = Flaky([RuntimeError("rate limit; retry after 3 s")])
    assert (await call_with_retries(flaky, RetryPolicy(), sleep=sleep))[1] == 2
    assert waits == [3]
    too_long = Flaky([RuntimeError("rate limit; retry after 600 s")])
    with pytest.raises(RuntimeError, match="600") as info:
        await call_with_retries(too_long, RetryPolicy(max_wait=30), sleep=sleep)
    assert too_long.calls == 1 and info.value.attempts == 1  # type: ignore[attr-defined]


async def test_permanent_errors_and_exhausted_retries_raise() -> None:
    async def sleep(seconds: float) -> None:
        return None

    permanent = Flaky([ValueError("bad argument")])
    with pytest.raises(ValueError):
        await call_with_retries(permanent, RetryPolicy(), sleep=sleep)
    assert permanent.calls == 1
    always = Flaky([ToolTimeout("t")] * 5)
    with pytest.raises(_RealToolTimeout) as info:
        await call_with_retries(always, RetryPolicy(retries=2), sleep=sleep)
    assert always.calls == 3 and info.value.attempts == 3  # type: ignore[attr-defined]


async def test_on_retry_hears_each_attempt_its_failure_and_the_wait() -> None:
    heard: list[tuple[int, str, float]] = []
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    flaky = Flaky([ToolTimeout("first"), RuntimeError("rate limit; retry after 5 s")])
    result = await call_with_retries(
        flaky,
        RetryPolicy(retries=3, base_delay=0.5),
        sleep=sleep,
        on_retry=lambda attempt, exc, wait: heard.append((attempt, str(exc), wait)),
    )
    assert result == ("ok", 3)
    assert heard == [(1, "first", 0.5), (2, "rate limit; retry after 5 s", 5.0)]
    assert waits == [0.5, 5.0]


async def test_a_cancelled_call_is_not_retried() -> None:
    async def sleep(seconds: float) -> None:
        raise AssertionError("no wait after a cancellation")

    flaky = Flaky([asyncio.CancelledError()])
    with pytest.raises(asyncio.CancelledError):
        await call_with_retries(flaky, RetryPolicy(retries=2), sleep=sleep)
    assert flaky.calls == 1
