"""Bad input to the built-in MCP servers is answered with one line naming the problem.

fastmcp validates arguments with pydantic and reports a failure as pydantic's multi-line text
(with documentation links and the input echoed back, however large). `OneLineErrors` turns that
into ``invalid arguments for 'tool': wrong type for 'task_id': input should be a valid
integer``; `shown()` quotes a user's value in a message without letting a megabyte of it (or a
control character) through.
"""

from __future__ import annotations

from typing import Any

import pydantic_core
from fastmcp.exceptions import ToolError
from fastmcp.exceptions import ValidationError as FastMCPValidationError
from fastmcp.server.middleware import Middleware, MiddlewareContext
from fastmcp.server.middleware.middleware import CallNext

from taskagent.core.errors import is_user_facing

MAX_PROBLEMS = 5


def shown(value: Any, limit: int = 40) -> str:
    """repr() of a value for a message, cut to about `limit` characters."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 1]}… ({len(str(value)):,} chars)"


def _problem(error: Any) -> str:
    where = ".".join(str(p) for p in error.get("loc", ())) or "(arguments)"
    kind = str(error.get("type", ""))
    if kind in ("missing_argument", "missing"):
        return f"missing required argument '{where}'"
    if kind in ("unexpected_keyword_argument", "extra_forbidden"):
        return f"unknown argument '{where}'"
    message = " ".join(str(error.get("msg", "is not valid")).split())
    message = message[:1].lower() + message[1:200]
    return f"wrong value for '{where}': {message}"


def describe_validation_error(tool: str, exc: BaseException) -> str:
    """One line for a failed argument validation of `tool`."""
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, pydantic_core.ValidationError):
        problems = list(dict.fromkeys(_problem(e) for e in cause.errors(include_url=False)))
        more = f" (+{len(problems) - MAX_PROBLEMS} more)" if len(problems) > MAX_PROBLEMS else ""
        return f"invalid arguments for '{tool}': {'; '.join(problems[:MAX_PROBLEMS])}{more}"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"invalid arguments for '{tool}': {first[:200]}"


class OneLineErrors(Middleware):
    """Argument validation failures, arguments nested too deeply and taskagent's own errors
    (whose message is written for the user) become a one-line ToolError; anything else stays
    masked as fastmcp's "Error calling tool"."""

    async def on_call_tool(
        self, context: MiddlewareContext[Any], call_next: CallNext[Any, Any]
    ) -> Any:
        name = str(getattr(context.message, "name", "tool"))
        try:
            return await call_next(context)
        except FastMCPValidationError as exc:
            raise ToolError(describe_validation_error(name, exc)) from None
        except RecursionError:  # arguments nested deeper than Python's stack
            raise ToolError(f"invalid arguments for '{name}': nested too deeply") from None
        except ToolError:
            raise
        except Exception as exc:
            # Our own errors carry a message for the user: the client gets it, on one line,
            # rather than a bare "Error calling tool" (anything else stays masked).
            if not is_user_facing(exc):
                raise
            raise ToolError(" ".join(str(exc).split())) from None
