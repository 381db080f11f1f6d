"""One way to name a task: the shared table through TaskService and the slash commands, and
the filter rule."""

from __future__ import annotations

import pytest

from taskagent.core.errors import AmbiguousTask, TaskNotFound
from taskagent.core.models import ScheduleType, Task
from taskagent.core.slash import SlashCommands
from taskagent.core.store import Repository
from taskagent.core.tasks import TaskService
from taskagent.core.tasks.naming import matches
from tests.support.naming_table import NAMES, TABLE, task_fields


@pytest.fixture
async def service(repo: Repository) -> TaskService:
    tasks = TaskService(repo)
    for name in NAMES:
        await tasks.create_task(**task_fields(name))
    return tasks


@pytest.mark.parametrize(("ref", "expected"), TABLE)
async def test_task_service_get(service: TaskService, ref: str, expected: int | str) -> None:
    if isinstance(expected, int):
        assert (await service.get(ref)).id == expected
        return
    with pytest.raises(TaskNotFound) as caught:
        await service.get(ref)
    assert str(caught.value) == expected
    assert isinstance(caught.value, AmbiguousTask) == ("matches" in expected)


@pytest.mark.parametrize(("ref", "expected"), TABLE)
async def test_slash_commands_take_the_rest_of_the_line(
    service: TaskService, repo: Repository, ref: str, expected: int | str
) -> None:
    slash = SlashCommands(service, repo=repo, timezone="UTC")
    reply = await slash.execute(f"/tasks pause {ref}")
    if isinstance(expected, int):
        assert not reply.error, reply.text
        assert reply.text.startswith(f"paused task {expected} ")
    else:
        assert reply.error and reply.text.startswith(expected)


async def test_quotes_still_work_and_spaces_need_none(
    service: TaskService, repo: Repository
) -> None:
    slash = SlashCommands(service, repo=repo, timezone="UTC")
    for line in ('/tasks history "BTC watch"', "/tasks history BTC watch"):
        reply = await slash.execute(line)
        assert not reply.error, reply.text


def test_the_filter_rule() -> None:
    task = Task("BTC Watch", ScheduleType.INTERVAL, "1 hour", "get_crypto_prices", id=12)
    for text in ("", "btc", "WATCH", " c w", "12", "2"):
        assert matches(task, text), text
    for text in ("eth", "13", "btc  watch"):
        assert not matches(task, text), text


def test_schedules_order_by_period_then_time() -> None:
    from taskagent.core.models import Schedule
    from taskagent.core.schedules import period_order

    listed = [
        (ScheduleType.ONCE, "2030-01-01T09:00"),
        (ScheduleType.WEEKLY, "Sun 09:00"),
        (ScheduleType.CRON, "0 9 * * 1-5"),  # five mornings a week
        (ScheduleType.DAILY, "09:00"),
        (ScheduleType.DAILY, "07:30"),
        (ScheduleType.INTERVAL, "30 minutes"),
        (ScheduleType.CRON, "*/5 * * * *"),
        (ScheduleType.INTERVAL, "2 minutes"),
        (ScheduleType.INTERVAL, "20 seconds"),
    ]
    ordered = sorted(listed, key=lambda item: period_order(Schedule(*item, "UTC")))
    assert [value for _, value in ordered] == [
        "20 seconds",
        "2 minutes",
        "*/5 * * * *",
        "30 minutes",
        "07:30",
        "09:00",
        "0 9 * * 1-5",
        "Sun 09:00",
        "2030-01-01T09:00",
    ]
