"""CoinGecko's errors: every failure a user can meet is a CoinGeckoError with a short message."""

from __future__ import annotations

from taskagent.core.errors import TaskAgentError


class CoinGeckoError(TaskAgentError):
    """A CoinGecko call failed; ``str(err)`` is a short sentence fit to show a user."""

    def __init__(self, message: str, *, status: int | None = None, path: str | None = None):
        super().__init__(message)  # `message` is TaskAgentError's read-only property
        self.status = status
        self.path = path


class CoinGeckoBadRequest(CoinGeckoError):
    """CoinGecko rejected our parameters (HTTP 400/404/422), e.g. ``invalid vs_currency``."""

    def __init__(self, message: str, *, detail: str, status: int, path: str):
        super().__init__(message, status=status, path=path)
        self.detail = detail


class LeaderGone(TaskAgentError):
    """The task doing a coalesced request was cancelled; followers must retry themselves."""
