"""The one table of task references every surface is tested with (TaskService, slash commands,
the CLI, History's task filter): the tasks, and what each reference names."""

from __future__ import annotations

from typing import Any

# Created in this order, so their ids are 1..4.
NAMES = ("BTC hourly", "BTC watch", "ETH daily", "top3 movers")

# reference -> the id it names, or a part of the one-line message it gets
TABLE: list[tuple[str, int | str]] = [
    ("2", 2),  # an id
    ("3", 3),  # an id, although "top3 movers" contains the digit
    ("btc watch", 2),  # the exact name, any case
    ("BTC watch", 2),
    ("watch", 2),  # a part of one name only
    ("TOP3", 4),
    ("Eth", 3),
    ("btc", "'btc' matches 2 tasks: 1 BTC hourly, 2 BTC watch; give the id or the whole name"),
    ("99", "no task with id 99"),
    ("nope", "no task 'nope'"),
]


def task_fields(name: str) -> dict[str, Any]:
    """A valid task named `name` (a built-in read-only tool, every hour)."""
    return {
        "name": name,
        "schedule_type": "interval",
        "schedule_value": "1 hour",
        "mcp_tool": "get_crypto_prices",
        "tool_args": {"limit": 3},
    }
