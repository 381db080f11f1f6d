"""One Gemini summary request (google-genai 3.6, Gemini REST API), with its retry rules.

* model/temperature/max tokens come from the caller (settings `[ai] model`,
  `summary_temperature`, `summary_max_tokens`: gemini-2.5-flash, 0.7, 150); the thinking
  settings from `prompt.generation_settings`. The call has no tools.
* Errors: 429 honours `RetryInfo.retryDelay` once when it is at most `max_retry_wait`
  seconds, else the failure is returned (the caller falls back and pauses); 5xx are retried
  with backoff (bounded); everything else is returned classified (`core.gemini.classify`).
* An empty answer (MAX_TOKENS with no parts, a safety block) is a failure that still carries
  the tokens it cost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tenacity import AsyncRetrying, RetryCallState

from taskagent.core.gemini_client import FailureKind, GeminiFailure, classify
from taskagent.core.summary.summary_prompt import SYSTEM_INSTRUCTION, _clean, generation_settings

if TYPE_CHECKING:
    from google.genai import types

log = logging.getLogger(__name__)

OFFLINE = "offline"


@dataclass(frozen=True, slots=True)
class SummaryResult:
    text: str
    summarizer: str  # the model name, e.g. "gemini-2.5-flash", or "offline"
    prompt_tokens: int | None = None
    response_tokens: int | None = None  # answer + thinking tokens (what is billed as output)
    fallback_reason: str | None = None  # why Gemini was not used although it should have been


Usage = tuple[int | None, int | None]
Outcome = SummaryResult | tuple[GeminiFailure, Usage | None]


@dataclass(frozen=True, slots=True)
class RetryRules:
    request_timeout: float = 30.0
    max_retry_wait: float = 10.0
    unavailable_retries: int = 2
    backoff: float = 1.0


def summary_config(model: str, temperature: float, max_tokens: int) -> types.GenerateContentConfig:
    from google.genai import types

    thinking, max_output = generation_settings(model, max_tokens)
    return types.GenerateContentConfig(
        system_instruction=SYSTEM_INSTRUCTION,
        temperature=temperature,
        max_output_tokens=max_output,
        thinking_config=types.ThinkingConfig(**thinking) if thinking else None,
    )


async def ask_gemini(
    client: Any,
    model: str,
    config: types.GenerateContentConfig,
    prompt: str,
    rules: RetryRules,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
) -> Outcome:
    """The summary, or the classified failure (with the tokens an empty answer cost)."""

    async def request() -> Any:
        async with asyncio.timeout(rules.request_timeout):
            return await client.aio.models.generate_content(
                model=model, contents=prompt, config=config
            )

    budget = _RetryBudget(rules)
    retrying = AsyncRetrying(retry=budget.retry, wait=budget.wait, sleep=sleep, reraise=True)
    try:
        response: Any = await retrying(request)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        return budget.last or classify(exc), None
    return read_response(response, model)


class _RetryBudget:
    """Which failed requests `ask_gemini` repeats, and after how long: a 429 once, after the
    wait Gemini asks for if it is short; 5xx `unavailable_retries` times, backing off."""

    def __init__(self, rules: RetryRules) -> None:
        self.rules = rules
        self.quota_retries = 0
        self.unavailable_retries = 0
        self.next_wait = 0.0
        self.last: GeminiFailure | None = None  # the classified failure of the last request

    def retry(self, state: RetryCallState) -> bool:
        """tenacity's retry predicate; it counts the retry and sets the wait before it."""
        exc = state.outcome.exception() if state.outcome is not None else None
        if not isinstance(exc, Exception):
            return False  # an answer, or a cancellation
        failure = self.last = classify(exc)
        wait = self.wait_after(failure)
        if wait is None:
            return False
        self.next_wait = wait
        log.info("Gemini %s; retrying in %.1f s", failure.short, wait)
        return True

    def wait_after(self, failure: GeminiFailure) -> float | None:
        rules = self.rules
        if (
            failure.kind is FailureKind.QUOTA
            and self.quota_retries < 1
            and not failure.daily_quota
            and failure.retry_after is not None
            and failure.retry_after <= rules.max_retry_wait
        ):
            self.quota_retries += 1
            return failure.retry_after
        if (
            failure.kind is FailureKind.UNAVAILABLE
            and self.unavailable_retries < rules.unavailable_retries
        ):
            self.unavailable_retries += 1
            return rules.backoff * 2.0 ** (self.unavailable_retries - 1)
        return None

    def wait(self, state: RetryCallState) -> float:
        return self.next_wait


def read_response(response: Any, model: str) -> Outcome:
    usage = response.usage_metadata
    # google-genai's types, read by name: a count the API left out may be missing, and a
    # finish or block reason the SDK does not know is a plain string rather than an enum.
    prompt_tokens = getattr(usage, "prompt_token_count", None)
    answer = getattr(usage, "candidates_token_count", None)
    thoughts = getattr(usage, "thoughts_token_count", None)
    response_tokens = (
        None if answer is None and thoughts is None else (answer or 0) + (thoughts or 0)
    )
    candidates = response.candidates or []
    parts = (candidates[0].content.parts if candidates and candidates[0].content else None) or []
    text = "".join(p.text for p in parts if isinstance(p.text, str) and not p.thought)
    text = _clean(text)
    if text:
        return SummaryResult(text, model, prompt_tokens, response_tokens)
    why = None
    if candidates and candidates[0].finish_reason is not None:
        why = f"finishReason {getattr(candidates[0].finish_reason, 'value', candidates[0].finish_reason)}"
    feedback = response.prompt_feedback
    if feedback is not None and feedback.block_reason is not None:
        why = f"blocked: {getattr(feedback.block_reason, 'value', feedback.block_reason)}"
    failure = GeminiFailure(FailureKind.EMPTY, why or "no text in the answer")
    usage_pair = None if usage is None else (prompt_tokens, response_tokens)
    return failure, usage_pair
