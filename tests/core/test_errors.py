"""One error root: every exception class taskagent defines derives from TaskAgentError, there
is one TaskNotFound, and classification goes by class flags, not class names."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import mcp_servers
import taskagent
from taskagent.core.errors import TaskAgentError, TaskNotFound, is_transient_error
from taskagent.core.retry import is_transient


def _our_exception_classes() -> list[type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for package in (taskagent, mcp_servers):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if info.name.endswith("__main__"):
                continue
            module = importlib.import_module(info.name)
            for _, obj in inspect.getmembers(module, inspect.isclass):
                if (
                    issubclass(obj, BaseException)
                    and obj.__module__ == info.name
                    and obj.__module__.startswith(("taskagent", "mcp_servers"))
                ):
                    found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return sorted(found.values(), key=lambda cls: f"{cls.__module__}.{cls.__qualname__}")


def test_every_exception_we_define_has_the_one_root() -> None:
    classes = _our_exception_classes()
    assert len(classes) >= 15  # the walk really found our modules
    strays = [
        f"{c.__module__}.{c.__qualname__}" for c in classes if not issubclass(c, TaskAgentError)
    ]
    assert strays == []


def test_there_is_one_task_not_found() -> None:
    named = [c for c in _our_exception_classes() if c.__name__ == "TaskNotFound"]
    assert named == [TaskNotFound]
    from taskagent.core import store, tasks

    assert store.TaskNotFound is tasks.TaskNotFound is TaskNotFound


@pytest.mark.parametrize(
    ("ref", "text"),
    [(7, "no task with id 7"), ("nope", "no task 'nope'"), ("x" * 500, "no task 'xxxxxxxx")],
)
def test_task_not_found_names_the_reference(ref: int | str, text: str) -> None:
    error = TaskNotFound(ref)
    assert str(error).startswith(text) and len(str(error)) < 100
    assert isinstance(error, LookupError) and error.user_facing


def test_transient_is_a_flag_not_a_class_name() -> None:
    from taskagent.core.mcp import InvalidToolArgs, ServerUnavailable, ToolCallError, ToolTimeout

    assert is_transient(ToolTimeout("slow", server="s", tool="t", timeout=1.0))
    assert is_transient(ServerUnavailable("s", "gone"))
    assert not is_transient(
        InvalidToolArgs("server unavailable?", ref="t", problems=[])
    )  # our words: flag only
    # A tool's own error text is a server's words: "rate limit" there means try again.
    assert is_transient(ToolCallError("rate limit exceeded", server="s", tool="t"))
    assert not is_transient(ToolCallError("unknown coin", server="s", tool="t"))

    class Renamed(TaskAgentError):  # a class *named* like a transient one is not transient
        pass

    Renamed.__name__ = "ToolTimeout"
    assert not is_transient_error(Renamed("x"))
    assert is_transient_error(TimeoutError()) and is_transient_error(ConnectionResetError())
