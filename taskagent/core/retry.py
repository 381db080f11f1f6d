"""Bounded retries with backoff for transient tool failures (rate limit, timeout, lost
connection), honouring a server's retry-after hint when its message carries one.

A tool error that is not transient (bad arguments, unknown coin, ...) is never retried: trying
again would only repeat the same answer more slowly.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

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
    failure is raised with the number of attempts in `attempts` on the exception."""
    attempt = 0
    while True:
        attempt += 1
        try:
            return await call(), attempt
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if attempt > policy.retries or not is_transient(exc):
                _note_attempts(exc, attempt)
                raise
            hinted = retry_after(exc)
            if hinted is not None and hinted > policy.max_wait:
                _note_attempts(exc, attempt)
                raise
            wait = hinted if hinted is not None else policy.base_delay * 2 ** (attempt - 1)
            if on_retry is not None:
                on_retry(attempt, exc, wait)
            await sleep(wait)


def _note_attempts(exc: BaseException, attempts: int) -> None:
    # Any exception a tool raises may be the last failure: the count rides on it dynamically.
    setattr(exc, ATTEMPTS_ATTR, attempts)
