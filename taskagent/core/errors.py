"""The one root of every error taskagent raises on purpose.

No third-party imports here (only the standard library), so any layer — the app's error
reporter, the retry policy, the CLI — can classify an error with `isinstance` and the class
flags below without importing the heavy module that raised it.

- `user_facing`: the message is written for the user and is shown as it is; no traceback is
  logged for it. An error that is *not* user-facing is a bug or an outage worth a traceback.
- `transient`: the same call may well succeed if tried again a little later (a timeout, a
  server that is restarting). The retry policy retries only these (and only for tools that are
  safe to repeat).
- `foreign_message`: the message is someone else's words (an MCP server's error text), so
  the retry policy reads it for "rate limit", "503" and the like.
- `title`: an optional short heading for a toast or a dialog ("Schedule", "MCP server").
"""

from __future__ import annotations

from typing import ClassVar


class TaskAgentError(Exception):
    """Base class for every error taskagent raises on purpose."""

    user_facing: ClassVar[bool] = True
    transient: ClassVar[bool] = False
    foreign_message: ClassVar[bool] = False
    default_title: ClassVar[str | None] = None

    def __init__(self, message: str = "", *args: object, title: str | None = None) -> None:
        super().__init__(message, *args)
        self.title = title if title is not None else self.default_title

    @property
    def message(self) -> str:
        return str(self) or type(self).__name__


class TaskNotFound(TaskAgentError, LookupError):
    """No task with this id or exact name (any more). The one class for it, repository and
    services alike; `ref` is what was asked for, `task_id` the id when it was one."""

    default_title = "Task not found"

    def __init__(self, ref: int | str | None) -> None:
        if ref is None or isinstance(ref, int):
            shown = f"with id {ref}"
        else:  # quoted and cut: a typed reference may be huge or hold control characters
            text = repr(ref)
            shown = text if len(text) <= 60 else f"{text[:59]}… ({len(ref):,} characters)"
        super().__init__(f"no task {shown}")
        self.ref = ref
        self.task_id = ref if isinstance(ref, int) else None


class AmbiguousTask(TaskNotFound):
    """A reference that names several tasks (a part of their names they share): the message
    lists them, and says how to name one."""

    default_title = "Which task?"
    SHOWN: ClassVar[int] = 5

    def __init__(self, ref: str, candidates: list[tuple[int, str]]) -> None:
        super().__init__(ref)
        self.candidates = candidates
        listed = ", ".join(f"{task_id} {name}" for task_id, name in candidates[: self.SHOWN])
        more = f" (+{len(candidates) - self.SHOWN} more)" if len(candidates) > self.SHOWN else ""
        shown = str(self.args[0]).removeprefix("no task ")
        self.args = (
            f"{shown} matches {len(candidates)} tasks: {listed}{more}; "
            "give the id or the whole name",
        )


def is_user_facing(exc: BaseException) -> bool:
    """True for our own errors whose message is meant for the user (no traceback needed)."""
    return isinstance(exc, TaskAgentError) and exc.user_facing


def is_transient_error(exc: BaseException) -> bool:
    """True for our own errors flagged transient, and the standard library's timeouts and
    connection errors. Third-party errors are judged by their message elsewhere."""
    if isinstance(exc, TaskAgentError):
        return exc.transient
    return isinstance(exc, TimeoutError | ConnectionError)
