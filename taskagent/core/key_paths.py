"""Key paths into a JSON result: the one path syntax of the History chart and the alert rules.

A path is keys joined by dots, with list steps in brackets:

* `price`, `bitcoin.usd`: keys of objects;
* `coins[0].current_price`, `[0].price`: an item of a list by position;
* `coins[id=bitcoin].current_price`, `coins[symbol=eth].price`: an item of a list of objects by
  one of its fields (compared without regard to case, so `eth` finds `ETH`);
* `$` (or nothing): the whole result, when it is a number; a leading `$.` is optional.

`paths_of` lists the paths of every number and every list in a result, written the way
`numeric_paths` (core/ui_queries.py) writes them, so any path the chart offers resolves here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from taskagent.core.errors import TaskAgentError

_STEP_RE = re.compile(r"\[(?P<inside>[^\]]*)\]|(?P<key>[^.\[\]]+)|(?P<dot>\.)")
_SELECT_RE = re.compile(r"\s*(?P<field>[A-Za-z_][\w-]*)\s*=\s*(?P<value>.+?)\s*")


class KeyPathError(TaskAgentError):
    """A key path that cannot be read."""


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a path: a key, a position, or a selection `field=value`."""

    key: str | None = None
    index: int | None = None
    field: str | None = None
    value: str | None = None

    def text(self) -> str:
        if self.key is not None:
            return self.key
        if self.index is not None:
            return f"[{self.index}]"
        return f"[{self.field}={self.value}]"


def _inside(text: str, path: str) -> Step:
    inside = text.strip()
    if re.fullmatch(r"-?\d+", inside):
        return Step(index=int(inside))
    match = _SELECT_RE.fullmatch(inside)
    if match is None:
        raise KeyPathError(
            f"'[{text}]' in '{path}' is neither a position ([0]) nor a selection ([id=bitcoin])"
        )
    return Step(field=match["field"], value=match["value"])


def parse_path(path: str) -> tuple[Step, ...]:
    """The steps of `path`; KeyPathError names what is wrong with it."""
    text = path.strip()
    text = text.removeprefix("$").removeprefix(".")
    steps: list[Step] = []
    pos = 0
    expect_key = True  # after a dot a key must follow
    while pos < len(text):
        match = _STEP_RE.match(text, pos)
        if match is None:
            raise KeyPathError(f"'{path}' is not a key path (e.g. coins[id=bitcoin].price)")
        if match["dot"]:
            if expect_key:
                raise KeyPathError(f"'{path}' has an empty key (two dots, or a dot at the start)")
            expect_key = True
        elif match["key"] is not None:
            if not expect_key:
                raise KeyPathError(f"'{path}' needs a dot before '{match['key']}'")
            steps.append(Step(key=match["key"].strip()))
            expect_key = False
        else:
            steps.append(_inside(match["inside"], path))
            expect_key = False
        pos = match.end()
    if steps and expect_key and text.endswith("."):
        raise KeyPathError(f"'{path}' ends with a dot")
    return tuple(steps)


def format_path(steps: tuple[Step, ...]) -> str:
    out = ""
    for step in steps:
        piece = step.text()
        out += f".{piece}" if out and step.key is not None else piece
    return out or "$"


def _same(a: Any, wanted: str) -> bool:
    if isinstance(a, bool) or a is None:
        return False
    return str(a).casefold() == wanted.casefold()


def _step(value: Any, step: Step) -> Any:
    if step.key is not None:
        return value.get(step.key) if isinstance(value, dict) else None
    if not isinstance(value, list):
        return None
    if step.index is not None:
        try:
            return value[step.index]
        except IndexError:
            return None
    assert step.field is not None and step.value is not None
    for item in value:
        if isinstance(item, dict) and _same(item.get(step.field), step.value):
            return item
    return None


_MISSING = object()


def resolve(data: Any, path: str | tuple[Step, ...]) -> Any:
    """The value at `path` in `data`, or None when there is none."""
    steps = parse_path(path) if isinstance(path, str) else path
    value = data
    for step in steps:
        value = _step(value, step)
        if value is None:
            return None
    return value


def number(value: Any) -> float | None:
    """A value as a number when it is one (booleans, NaN and text are not)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    as_float = float(value)
    return as_float if as_float == as_float and abs(as_float) != float("inf") else None


def number_at(data: Any, path: str | tuple[Step, ...]) -> float | None:
    return number(resolve(data, path))


def walk_numbers(
    value: Any,
    path: str = "",
    *,
    width: int = 50,
    identity: Callable[[Any], str | None] | None = None,
) -> Iterator[tuple[str, float]]:
    """(path, number) of every number in `value`, list items by position (the first `width`
    of each list), or by `identity(item)` (e.g. "id=bitcoin") where it gives one."""
    if isinstance(value, bool):
        return
    if isinstance(value, int | float):
        yield path or "$", float(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            inner = f"{path}.{key}" if path else str(key)
            yield from walk_numbers(item, inner, width=width, identity=identity)
    elif isinstance(value, list):
        for i, item in enumerate(value[:width]):
            ident = identity(item) if identity is not None else None
            step = f"[{ident}]" if ident else f"[{i}]"
            yield from walk_numbers(item, f"{path}{step}", width=width, identity=identity)


def walk_lists(value: Any, path: str = "") -> Iterator[str]:
    """Paths of the lists in `value` (not inside lists: a list's items are one level)."""
    if isinstance(value, list):
        yield path or "$"
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from walk_lists(item, f"{path}.{key}" if path else str(key))
