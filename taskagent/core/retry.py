"""Bounded retries with backoff for transient tool failures (rate limit, timeout, lost
connection), honouring a server's retry-after hint when its message carries one. The loop is
tenacity's; what is transient and how long to wait are decided here.

A tool error that is not transient (bad arguments, unknown coin, ...) is never retried: trying
again would only repeat the same answer more slowly.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from taskagent.core.errors import TaskAgentError, is_transient_error

T = TypeVar("T")

_TRANSIENT_TEXT = re.compile(
    r"rate.?limit|too many requests|\b429\b|\b50[234]\b|temporar|timed? ?out|did not answer|"
    r"could not reach|connection (?:lost|closed|refused|reset)|unavailable|try again",
    re.IGNORECASE,
)
_RETRY_AFTER = re.compile(
    r"retry(?:ing)?[- _]?(?:after|in)[:= ]*(\d+(?:\.\d+)?)\s*(?:s\b|sec|seconds)?", re.IGNORECASE
)


# The last failure carries the number of attempts made under this attribute name.
ATTEMPTS_ATTR = "attempts"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    retries: int = 2  # attempts after the first
    base_delay: float = 1.0  # seconds; doubles each time
    max_wait: float = 30.0  # a longer retry-after hint is not waited for


def is_transient(exc: BaseException) -> bool:
    """Our errors say so with their `transient` flag; a third-party error (google-genai, httpx,
    an MCP server's message) is judged by its text."""
    if is_transient_error(exc):
        return True
    if isinstance(exc, TaskAgentError) and not exc.foreign_message:
        return False
    return bool(_TRANSIENT_TEXT.search(str(exc)))


def retry_after(exc: BaseException) -> float | None:
    """A wait the server asked for, read from the error text ("retry after 30 s")."""
    match = _RETRY_AFTER.search(str(exc))
    return float(match.group(1)) if match else None


async def call_with_retries(
    call: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    on_retry: Callable[[int, BaseException, float], None] | None = None,
) -> tuple[T, int]:
    """Run `call` up to 1 + policy.retries times; returns (result, attempts used). The last
    failure is raised with the number of attempts in `attempts` on the exception.

    A transient failure is retried after the wait its message asks for, else after
    `base_delay` doubled each time; one asking for more than `max_wait` is raised at once.
    `on_retry(attempt, failure, wait)` is called before each wait."""

    def worth_retrying(exc: BaseException) -> bool:
        if not isinstance(exc, Exception) or not is_transient(exc):
            return False  # a cancellation or a permanent failure
        hinted = retry_after(exc)
        return hinted is None or hinted <= policy.max_wait

    def wait(state: RetryCallState) -> float:
        hinted = retry_after(_failure(state))
        return hinted if hinted is not None else policy.base_delay * 2 ** (state.attempt_number - 1)

    def before_sleep(state: RetryCallState) -> None:
        if on_retry is not None:
            on_retry(state.attempt_number, _failure(state), state.upcoming_sleep)

    attempts = 0

    async def counted() -> T:
        nonlocal attempts
        attempts += 1
        return await call()

    retrying = AsyncRetrying(
        stop=stop_after_attempt(1 + policy.retries),
        retry=retry_if_exception(worth_retrying),
        wait=wait,
        before_sleep=before_sleep,
        sleep=sleep,
        reraise=True,
    )
    try:
        return await retrying(counted), attempts
    except Exception as exc:
        # Any exception a tool raises may be the last failure: the count rides on it dynamically.
        setattr(exc, ATTEMPTS_ATTR, attempts)
        raise


def _failure(state: RetryCallState) -> BaseException:
    """The exception the attempt that just ended raised (only asked of failed attempts)."""
    exc = state.outcome.exception() if state.outcome is not None else None
    assert exc is not None
    return exc
