"""Schedule parsing, canonical text, descriptions, triggers and previews."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from taskagent.core.models import Schedule, ScheduleType
from taskagent.core.schedules import (
    MAX_INTERVAL_SECONDS,
    ScheduleError,
    build_trigger,
    describe,
    interval_seconds,
    next_run,
    next_runs,
    parse_schedule,
    validate_timezone,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)  # a Monday
BERLIN = ZoneInfo("Europe/Berlin")

# Property tests: no example database in the repo, no wall-clock deadline (CI boxes are slow).
props = settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def parse(kind: str, value: str, tz: str = "Europe/Berlin") -> Schedule:
    return parse_schedule(kind, value, tz, now=NOW)


# ------------------------------------------------------------------------------------------
# Accepts and rejects, table-driven


@pytest.mark.parametrize(
    ("kind", "value", "canonical"),
    [
        ("interval", "30 minutes", "30 minutes"),
        ("interval", "1 hour", "1 hour"),
        ("interval", "45s", "45 seconds"),
        ("interval", "2h", "2 hours"),
        ("interval", "1 day", "1 day"),
        ("interval", "10 min", "10 minutes"),
        ("interval", "5 secs", "5 seconds"),
        ("interval", "3d", "3 days"),
        ("interval", "every 30 minutes", "30 minutes"),
        ("interval", "  Every   2  HOURS ", "2 hours"),
        ("interval", "every hour", "1 hour"),
        ("interval", "1 seconds", "1 second"),
        ("interval", "365 days", "365 days"),
        ("daily", "09:00", "09:00"),
        ("daily", "9:00", "09:00"),
        ("daily", "00:00", "00:00"),
        ("daily", "23:59", "23:59"),
        ("daily", "9am", "09:00"),
        ("daily", "12am", "00:00"),
        ("daily", "12:15 PM", "12:15"),
        ("daily", "at 6:30 pm", "18:30"),
        ("daily", "every day at 07:05", "07:05"),
        ("daily", "09:00:00", "09:00"),
        ("weekly", "Mon,Wed,Fri 09:00", "Mon,Wed,Fri 09:00"),
        ("weekly", "monday, friday 18:30", "Mon,Fri 18:30"),
        ("weekly", "FRI,mon,Fri 9:00", "Mon,Fri 09:00"),
        ("weekly", "Tue Thu 07:05", "Tue,Thu 07:05"),
        ("weekly", "Mon-Fri 08:15", "Mon,Tue,Wed,Thu,Fri 08:15"),
        ("weekly", "Mon - Fri 9am", "Mon,Tue,Wed,Thu,Fri 09:00"),
        ("weekly", "weekends 10:00", "Sat,Sun 10:00"),
        ("weekly", "every Sunday at 7pm", "Sun 19:00"),
        ("weekly", "monday and thursday 10:00", "Mon,Thu 10:00"),
        ("weekly", "SUNDAY 00:00", "Sun 00:00"),
        ("cron", " */5  *  * * * ", "*/5 * * * *"),
        ("cron", "0 9 * * MON-FRI", "0 9 * * mon-fri"),
        ("cron", "0 9 * * 7", "0 9 * * 7"),
        ("cron", "0 0 1 JAN *", "0 0 1 jan *"),
        ("cron", "0,30 8-18/2 1,15 */3 *", "0,30 8-18/2 1,15 */3 *"),
        ("cron", "0 0 29 2 *", "0 0 29 2 *"),
        ("cron", "@hourly", "0 * * * *"),
        ("cron", "@daily", "0 0 * * *"),
        ("cron", "@weekly", "0 0 * * 0"),
        ("cron", "@monthly", "0 0 1 * *"),
        ("cron", "@YEARLY", "0 0 1 1 *"),
        ("once", "2026-12-01T09:00", "2026-12-01T09:00+01:00"),
        ("once", "2026-12-01 09:00", "2026-12-01T09:00+01:00"),
        ("once", "2026-12-01T08:00Z", "2026-12-01T09:00+01:00"),
        ("once", "2026-12-01T09:00:30+01:00", "2026-12-01T09:00:30+01:00"),
        ("once", "2026-07-01T09:00:00.250", "2026-07-01T09:00+02:00"),
        # 02:30 does not exist on the spring-forward day; it is read as 03:30 CEST.
        ("once", "2027-03-28T02:30", "2027-03-28T03:30+02:00"),
    ],
)
def test_accepts(kind: str, value: str, canonical: str) -> None:
    schedule = parse(kind, value)
    assert schedule == Schedule(ScheduleType(kind), canonical, "Europe/Berlin")


@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        ("interval", "0 minutes", "interval must be at least 1 second"),
        ("interval", "-5 minutes", "interval must be at least 1 second"),
        ("interval", "366 days", "interval must be at most 365 days"),
        (
            "interval",
            "5 fortnight",
            "'fortnight' is not a time unit (use seconds, minutes, hours or days)",
        ),
        (
            "interval",
            "1.5 hours",
            "'1.5' is not a whole number (e.g. use 90 minutes, not 1.5 hours)",
        ),
        ("interval", "30", "'30' needs a unit (e.g. 30 minutes)"),
        ("interval", "1h30m", "'1h30m' is not an interval (use e.g. 30 minutes, 1 hour or 45s)"),
        ("daily", "25:00", "'25:00' is not a valid time (use HH:MM, 00:00-23:59)"),
        ("daily", "12:60", "'12:60' is not a valid time (use HH:MM, 00:00-23:59)"),
        ("daily", "9", "'9' is not a valid time (use HH:MM, 00:00-23:59)"),
        ("daily", "13pm", "'13pm' is not a valid time (use HH:MM, 00:00-23:59)"),
        ("daily", "noon", "'noon' is not a valid time (use HH:MM, 00:00-23:59)"),
        ("daily", "09:00:30", "'09:00:30' is not a valid time (use HH:MM, 00:00-23:59)"),
        ("weekly", "Funday 09:00", "'Funday' is not a day (use Monday..Sunday or Mon..Sun)"),
        ("weekly", "Mon,Funday 09:00", "'Funday' is not a day (use Monday..Sunday or Mon..Sun)"),
        ("weekly", "Mon 25:00", "'25:00' is not a valid time (use HH:MM, 00:00-23:59)"),
        ("weekly", "Mon- 09:00", "'Mon-' is not a day (use Monday..Sunday or Mon..Sun)"),
        ("weekly", "Mon noon", "'noon' is not a valid time (use HH:MM, 00:00-23:59)"),
        ("weekly", "Monday", "weekly needs a time after the day(s) (e.g. Mon,Wed 09:00)"),
        ("weekly", "09:00", "weekly needs at least one day before the time (e.g. Mon,Wed 09:00)"),
        ("cron", "0 9 * *", "cron needs 5 fields (minute hour day month weekday), got 4"),
        ("cron", "0 0 9 * * *", "cron needs 5 fields (minute hour day month weekday), got 6"),
        ("cron", "61 * * * *", "cron minute field '61': 61 is out of range (0-59)"),
        ("cron", "0 24 * * *", "cron hour field '24': 24 is out of range (0-23)"),
        ("cron", "0 0 0 * *", "cron day field '0': 0 is out of range (1-31)"),
        ("cron", "0 0 * 13 *", "cron month field '13': 13 is out of range (1-12)"),
        ("cron", "0 9 * * 8", "cron weekday field '8': 8 is out of range (0-7)"),
        (
            "cron",
            "0 9 * * Funday",
            "cron weekday field 'Funday': 'Funday' is not a weekday (use 0-7 or sun..sat)",
        ),
        (
            "cron",
            "0 9 * Movember *",
            "cron month field 'Movember': 'Movember' is not a month (use 1-12 or jan..dec)",
        ),
        ("cron", "x * * * *", "cron minute field 'x': 'x' is not a number (use 0-59)"),
        ("cron", "*/0 * * * *", "cron minute field '*/0': a step must be at least 1"),
        ("cron", "0 9 5-1 * *", "cron day field '5-1': range '5-1' starts after it ends"),
        ("cron", "0 9 ? * *", "cron day field '?': '?' is not valid cron syntax"),
        ("cron", "0 9 1,,2 * *", "cron day field '1,,2': '' is not valid cron syntax"),
        ("cron", "0 0 30 2 *", "cron '0 0 30 2 *' never runs (no such day in those months)"),
        (
            "cron",
            "@reboot",
            "'@reboot' is not supported (use @hourly, @daily, @weekly, @monthly or @yearly)",
        ),
        ("once", "2020-01-01T00:00", "'2020-01-01T00:00' is in the past"),
        ("once", "2026-06-01T14:00", "'2026-06-01T14:00' is in the past"),  # == NOW in Berlin
        ("once", "tomorrow", "'tomorrow' is not an ISO 8601 date-time (e.g. 2026-12-01T09:00)"),
        (
            "once",
            "2026-13-01T09:00",
            "'2026-13-01T09:00' is not an ISO 8601 date-time (e.g. 2026-12-01T09:00)",
        ),
        (
            "once",
            "0001-01-01T00:00+01:00",
            "'0001-01-01T00:00+01:00' is too far in the past or future",
        ),
        ("once", "2026-12-01", "'2026-12-01' has no time of day (e.g. 2026-12-01T09:00)"),
        ("interval", "", "schedule value is empty (e.g. 30 minutes)"),
        ("weekly", " \t\n ", "schedule value is empty (e.g. Mon,Wed,Fri 09:00)"),
        ("cron", "", "schedule value is empty (e.g. */5 * * * *)"),
        ("interval", "1" * 201, "schedule value is too long (at most 200 characters)"),
        (
            "hourly",
            "x",
            "'hourly' is not a schedule type (use interval, daily, weekly, cron or once)",
        ),
        ("  ", "x", "schedule type is empty (use interval, daily, weekly, cron or once)"),
    ],
)
def test_rejects(kind: str, value: str, message: str) -> None:
    with pytest.raises(ScheduleError) as excinfo:
        parse(kind, value)
    assert str(excinfo.value) == message


def test_schedule_error_is_a_value_error() -> None:
    assert issubclass(ScheduleError, ValueError)


def test_type_accepts_enum_and_any_case() -> None:
    assert parse(ScheduleType.DAILY, "9:00") == parse(" Daily ", "09:00")


def test_value_must_be_text() -> None:
    with pytest.raises(ScheduleError, match=r"^schedule value must be text \(e.g. 09:00\)$"):
        parse_schedule("daily", None, "UTC")  # type: ignore[arg-type]


def test_once_in_the_past_allowed_when_rereading_a_stored_value() -> None:
    schedule = parse_schedule("once", "2020-01-01T00:00", "UTC", allow_past=True)
    assert schedule.value == "2020-01-01T00:00+00:00"
    assert next_runs(schedule, 3, after=NOW) == []
    assert next_run(schedule, after=NOW) is None


def test_once_without_now_uses_the_clock() -> None:
    with pytest.raises(ScheduleError, match="is in the past"):
        parse_schedule("once", "2001-01-01T00:00", "UTC")
    assert parse_schedule("once", "2999-01-01T00:00", "UTC").value == "2999-01-01T00:00+00:00"


# ------------------------------------------------------------------------------------------
# Time zones


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("Europe/Berlin", "Europe/Berlin"),
        ("  America/New_York ", "America/New_York"),
        ("europe/berlin", "Europe/Berlin"),
        ("utc", "UTC"),
        ("UTC", "UTC"),
        ("Etc/GMT+5", "Etc/GMT+5"),
    ],
)
def test_validate_timezone_accepts(name: str, canonical: str) -> None:
    assert validate_timezone(name) == canonical


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "Mars/Olympus",
            "'Mars/Olympus' is not a known time zone (use an IANA name such as Europe/Berlin)",
        ),
        ("Europe", "'Europe' is not a known time zone (use an IANA name such as Europe/Berlin)"),
        (
            "../etc/passwd",
            "'../etc/passwd' is not a known time zone (use an IANA name such as Europe/Berlin)",
        ),
        (
            "localtime",
            "'localtime' is not a known time zone (use an IANA name such as Europe/Berlin)",
        ),
        ("", "time zone is empty (use an IANA name such as Europe/Berlin)"),
        ("   ", "time zone is empty (use an IANA name such as Europe/Berlin)"),
    ],
)
def test_validate_timezone_rejects(name: str, message: str) -> None:
    with pytest.raises(ScheduleError) as excinfo:
        validate_timezone(name)
    assert str(excinfo.value) == message


def test_parse_schedule_validates_and_canonicalises_the_timezone() -> None:
    assert parse("daily", "09:00", "europe/paris").timezone == "Europe/Paris"
    with pytest.raises(ScheduleError, match="'Mars/Olympus' is not a known time zone"):
        parse("daily", "09:00", "Mars/Olympus")


# ------------------------------------------------------------------------------------------
# Cron semantics: day-of-week numbering is cron's (0 and 7 = Sunday), not APScheduler's


def weekdays_of(value: str, n: int = 14) -> set[int]:
    runs = next_runs(parse("cron", value, "UTC"), n, after=NOW)
    assert len(runs) == n
    return {run.weekday() for run in runs}


@pytest.mark.parametrize(
    ("value", "python_weekdays"),
    [
        ("0 9 * * 0", {6}),
        ("0 9 * * 7", {6}),
        ("0 9 * * sun", {6}),
        ("0 9 * * 1", {0}),
        ("0 9 * * 1-5", {0, 1, 2, 3, 4}),
        ("0 9 * * mon-fri", {0, 1, 2, 3, 4}),
        ("0 9 * * 6,0", {5, 6}),
        ("0 9 * * 5-7", {4, 5, 6}),
        ("0 9 * * fri-sun", {4, 5, 6}),
        ("0 9 * * */2", {6, 1, 3, 5}),  # cron 0,2,4,6 = Sun, Tue, Thu, Sat
        ("0 9 * * 1-7/2", {0, 2, 4, 6}),  # cron 1,3,5,7 = Mon, Wed, Fri, Sun
        ("0 9 * * 0-7", set(range(7))),
    ],
)
def test_cron_day_of_week_uses_cron_numbering(value: str, python_weekdays: set[int]) -> None:
    assert weekdays_of(value) == python_weekdays


def test_cron_sunday_fires_on_sunday_at_nine() -> None:
    runs = next_runs(parse("cron", "0 9 * * 0", "UTC"), 2, after=NOW)
    assert runs == [datetime(2026, 6, 7, 9, tzinfo=UTC), datetime(2026, 6, 14, 9, tzinfo=UTC)]


def test_apscheduler_from_crontab_still_counts_zero_as_monday() -> None:
    # Why core/schedules never calls from_crontab. If this starts failing, APScheduler fixed it.
    trigger = CronTrigger.from_crontab("0 9 * * 0", timezone=UTC)
    assert trigger.get_next_fire_time(None, NOW).weekday() == 0


def test_cron_dom_and_dow_both_restricted_means_either() -> None:
    # Friday OR the 13th: 13 June 2026 is a Saturday and still fires.
    runs = next_runs(parse("cron", "0 9 13 * 5", "UTC"), 4, after=NOW)
    assert [r.day for r in runs] == [5, 12, 13, 19]
    assert isinstance(build_trigger(parse("cron", "0 9 13 * 5")), OrTrigger)


def test_cron_star_step_in_day_of_month_means_both() -> None:
    # Vixie cron: a field starting with '*' counts as unrestricted, so "*/2" ANDs with Friday:
    # odd days that are Fridays.
    runs = next_runs(parse("cron", "0 9 */2 * 5", "UTC"), 3, after=NOW)
    assert [(r.month, r.day) for r in runs] == [(6, 5), (6, 19), (7, 3)]
    assert all(r.weekday() == 4 for r in runs)


def test_cron_month_names_and_feb_29() -> None:
    runs = next_runs(parse("cron", "0 0 29 feb *", "UTC"), 2, after=NOW)
    assert runs == [datetime(2028, 2, 29, tzinfo=UTC), datetime(2032, 2, 29, tzinfo=UTC)]


def test_cron_every_five_minutes() -> None:
    runs = next_runs(parse("cron", "*/5 * * * *", "UTC"), 3, after=NOW + timedelta(seconds=1))
    assert runs == [NOW + timedelta(minutes=m) for m in (5, 10, 15)]


# ------------------------------------------------------------------------------------------
# describe()


@pytest.mark.parametrize(
    ("kind", "value", "text"),
    [
        ("interval", "30 minutes", "every 30 minutes"),
        ("interval", "1 hour", "every hour"),
        ("interval", "1 second", "every second"),
        ("interval", "2 days", "every 2 days"),
        ("daily", "09:00", "every day at 09:00"),
        ("weekly", "Mon,Wed,Fri 09:00", "Mon, Wed, Fri at 09:00"),
        ("weekly", "Mon-Fri 09:00", "every weekday at 09:00"),
        ("weekly", "Tue 18:30", "every Tuesday at 18:30"),
        ("weekly", "Mon-Sun 07:00", "every day at 07:00"),
        ("cron", "*/5 * * * *", "every 5 minutes"),
        ("cron", "* * * * *", "every minute"),
        ("cron", "*/7 * * * *", "cron '*/7 * * * *'"),
        ("cron", "15 * * * *", "every hour at :15"),
        ("cron", "0 */2 * * *", "every 2 hours at :00"),
        ("cron", "0 9 * * *", "every day at 09:00"),
        ("cron", "0 9 * * 1-5", "every weekday at 09:00"),
        ("cron", "30 8 * * 0", "every Sunday at 08:30"),
        ("cron", "0 9 * * 1,3,5", "Mon, Wed, Fri at 09:00"),
        ("cron", "0 0 1 * *", "on day 1 of every month at 00:00"),
        ("cron", "0 0 1 jan *", "every year on Jan 1 at 00:00"),
        ("cron", "0 9 13 * 5", "cron '0 9 13 * 5'"),
        ("cron", "0,30 9-17 * * 1-5", "cron '0,30 9-17 * * 1-5'"),
        ("once", "2026-12-01T09:00", "once on 2026-12-01 at 09:00 (Europe/Berlin)"),
        ("once", "2026-12-01T09:00:30", "once on 2026-12-01 at 09:00:30 (Europe/Berlin)"),
    ],
)
def test_describe(kind: str, value: str, text: str) -> None:
    assert describe(parse(kind, value)) == text


def test_describe_falls_back_to_raw_text_for_a_bad_stored_value() -> None:
    assert describe(Schedule(ScheduleType.DAILY, "25:00", "UTC")) == "daily '25:00'"


# ------------------------------------------------------------------------------------------
# Triggers and previews


def test_build_trigger_types() -> None:
    assert isinstance(build_trigger(parse("interval", "5 minutes")), IntervalTrigger)
    assert isinstance(build_trigger(parse("daily", "09:00")), CronTrigger)
    assert isinstance(build_trigger(parse("weekly", "Mon 09:00")), CronTrigger)
    assert isinstance(build_trigger(parse("cron", "0 9 * * 1-5")), CronTrigger)
    assert isinstance(build_trigger(parse("once", "2026-12-01T09:00")), DateTrigger)


def test_build_trigger_rejects_an_invalid_stored_schedule() -> None:
    with pytest.raises(ScheduleError, match="'Mars/Olympus' is not a known time zone"):
        build_trigger(Schedule(ScheduleType.DAILY, "09:00", "Mars/Olympus"))
    with pytest.raises(ScheduleError, match="'Funday' is not a day"):
        build_trigger(Schedule(ScheduleType.WEEKLY, "Funday 09:00", "UTC"))


def test_next_runs_in_a_non_utc_zone() -> None:
    schedule = parse("weekly", "Mon,Wed,Fri 09:00", "America/New_York")
    runs = next_runs(schedule, 4, after=NOW)  # NOW = Mon 08:00 in New York
    assert [(r.month, r.day, r.hour, r.minute) for r in runs] == [
        (6, 1, 9, 0),
        (6, 3, 9, 0),
        (6, 5, 9, 0),
        (6, 8, 9, 0),
    ]
    assert all(r.tzinfo == ZoneInfo("America/New_York") for r in runs)
    assert runs[0].utcoffset() == timedelta(hours=-4)


def test_next_runs_are_strictly_after() -> None:
    schedule = parse("daily", "09:00", "UTC")
    at_nine = datetime(2026, 6, 2, 9, tzinfo=UTC)
    assert next_run(schedule, after=at_nine) == datetime(2026, 6, 3, 9, tzinfo=UTC)
    interval = parse("interval", "10 minutes", "UTC")
    assert next_run(interval, after=NOW, anchor=NOW) == NOW + timedelta(minutes=10)


def test_next_runs_edge_counts() -> None:
    assert next_runs(parse("daily", "09:00"), 0, after=NOW) == []
    once = parse("once", "2026-12-01T09:00")
    assert next_runs(once, 5, after=NOW) == [datetime(2026, 12, 1, 9, tzinfo=BERLIN)]


def test_naive_after_is_read_in_the_schedule_zone() -> None:
    schedule = parse("daily", "09:00")
    assert next_run(schedule, after=datetime(2026, 6, 1, 8, 59)) == datetime(
        2026, 6, 1, 9, tzinfo=BERLIN
    )


def test_daily_on_spring_forward_day_still_runs() -> None:
    # 02:30 does not exist in Berlin on 28 March 2027; the run happens at 03:30 CEST.
    runs = next_runs(parse("daily", "02:30"), 3, after=datetime(2027, 3, 27, 12, tzinfo=BERLIN))
    assert [r.isoformat() for r in runs] == [
        "2027-03-28T03:30:00+02:00",
        "2027-03-29T02:30:00+02:00",
        "2027-03-30T02:30:00+02:00",
    ]


def test_daily_on_fall_back_day_runs_once() -> None:
    # 02:30 happens twice on 25 Oct 2026; APScheduler's CronTrigger alone would fire twice.
    runs = next_runs(parse("daily", "02:30"), 3, after=datetime(2026, 10, 24, 12, tzinfo=BERLIN))
    assert [r.isoformat() for r in runs] == [
        "2026-10-25T02:30:00+02:00",
        "2026-10-26T02:30:00+01:00",
        "2026-10-27T02:30:00+01:00",
    ]
    weekly = next_runs(parse("weekly", "Sun 02:30"), 2, after=datetime(2026, 10, 24, tzinfo=BERLIN))
    assert [r.isoformat() for r in weekly] == [
        "2026-10-25T02:30:00+02:00",
        "2026-11-01T02:30:00+01:00",
    ]


def test_wildcard_cron_repeats_in_the_fall_back_hour() -> None:
    # Like cron: jobs with '*' in minute or hour run in the repeated hour too.
    runs = next_runs(parse("cron", "30 * * * *"), 4, after=datetime(2026, 10, 25, 1, tzinfo=BERLIN))
    assert [r.isoformat() for r in runs] == [
        "2026-10-25T01:30:00+02:00",
        "2026-10-25T02:30:00+02:00",
        "2026-10-25T02:30:00+01:00",
        "2026-10-25T03:30:00+01:00",
    ]


def test_interval_is_elapsed_time_across_dst() -> None:
    # An interval counts real seconds, so "1 day" moves on the wall clock at a DST change;
    # "daily" is the wall-clock schedule.
    schedule = parse("interval", "1 day")
    anchor = datetime(2027, 3, 27, 9, tzinfo=BERLIN)
    runs = next_runs(schedule, 2, after=anchor, anchor=anchor)
    assert [r.isoformat() for r in runs] == [
        "2027-03-28T10:00:00+02:00",
        "2027-03-29T10:00:00+02:00",
    ]


def test_interval_runs_stay_on_the_anchor_grid() -> None:
    schedule = parse("interval", "5 minutes")
    anchor = datetime(2026, 6, 1, 10, 0, 7, tzinfo=BERLIN)
    after = datetime(2026, 6, 1, 12, 34, 56, tzinfo=BERLIN)
    runs = next_runs(schedule, 3, after=after, anchor=anchor)
    assert [r.strftime("%H:%M:%S") for r in runs] == ["12:35:07", "12:40:07", "12:45:07"]
    # A restart (or resume) that rebuilds the trigger with the same anchor lands on that grid.
    trigger = build_trigger(schedule, anchor=anchor)
    assert trigger.get_next_fire_time(None, after) == runs[0]
    # Sub-second anchors (e.g. from a clock) are truncated, so a millisecond round-trip agrees.
    wobbly = next_runs(schedule, 1, after=after, anchor=anchor + timedelta(milliseconds=456))
    assert wobbly == runs[:1]


def test_interval_without_anchor_starts_now() -> None:
    trigger = build_trigger(parse("interval", "1 hour", "UTC"))
    assert isinstance(trigger, IntervalTrigger)
    assert abs(trigger.start_date - datetime.now(UTC)) < timedelta(seconds=5)


def test_interval_seconds() -> None:
    assert interval_seconds(parse("interval", "90 minutes")) == 5400
    assert interval_seconds(parse("interval", "2d")) == 172_800
    assert interval_seconds(parse("daily", "09:00")) is None


# ------------------------------------------------------------------------------------------
# Property-based: canonical text parses to the same Schedule, and every accepted value runs

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Sydney"]
zones = st.sampled_from(ZONES)


def any_case(text: str) -> st.SearchStrategy[str]:
    return st.sampled_from([text, text.lower(), text.upper(), text.title()])


def assert_round_trip(schedule: Schedule) -> None:
    again = parse_schedule(schedule.type, schedule.value, schedule.timezone, now=NOW)
    assert again == schedule


UNITS = {
    1: ["s", "sec", "secs", "second", "seconds"],
    60: ["m", "min", "mins", "minute", "minutes"],
    3600: ["h", "hr", "hrs", "hour", "hours"],
    86400: ["d", "day", "days"],
}


@st.composite
def interval_texts(draw: st.DrawFn) -> tuple[str, int]:
    size = draw(st.sampled_from(sorted(UNITS)))
    count = draw(st.integers(1, MAX_INTERVAL_SECONDS // size))
    unit = draw(st.sampled_from(UNITS[size]).flatmap(any_case))
    prefix = draw(st.sampled_from(["", "every ", "Every  "]))
    gap = draw(st.sampled_from(["", " ", "  "]))
    return f"{prefix}{count}{gap}{unit}", count * size


@props
@given(interval_texts(), zones)
def test_interval_round_trip_and_runs(case: tuple[str, int], tz: str) -> None:
    text, seconds = case
    schedule = parse_schedule("interval", text, tz, now=NOW)
    assert_round_trip(schedule)
    assert interval_seconds(schedule) == seconds
    assert next_run(schedule, after=NOW) == NOW + timedelta(seconds=seconds)


@st.composite
def time_texts(draw: st.DrawFn) -> tuple[str, int, int]:
    hour, minute = draw(st.integers(0, 23)), draw(st.integers(0, 59))
    twelve = hour % 12 or 12
    suffix = draw(st.sampled_from(["am", "AM", " am", "a.m."]))
    if hour >= 12:
        suffix = suffix.replace("a", "p").replace("A", "P")
    text = draw(
        st.sampled_from(
            [f"{hour:02d}:{minute:02d}", f"{hour}:{minute:02d}", f"{twelve}:{minute:02d}{suffix}"]
        )
    )
    return text, hour, minute


@props
@given(time_texts(), zones)
def test_daily_round_trip_and_runs(case: tuple[str, int, int], tz: str) -> None:
    text, hour, minute = case
    schedule = parse_schedule("daily", text, tz, now=NOW)
    assert schedule.value == f"{hour:02d}:{minute:02d}"
    assert_round_trip(schedule)
    run = next_run(schedule, after=NOW)
    assert run is not None
    assert NOW < run <= NOW + timedelta(days=1)
    assert (run.hour, run.minute) == (hour, minute)  # no DST change in early June


FULL_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


@st.composite
def weekly_texts(draw: st.DrawFn) -> tuple[str, set[int], int, int]:
    days = draw(st.lists(st.integers(0, 6), min_size=1, max_size=9))
    names = [
        draw(st.sampled_from([FULL_DAYS[d], FULL_DAYS[d][:3]]).flatmap(any_case)) for d in days
    ]
    sep = draw(st.sampled_from([",", ", ", " ", " and "]))
    time_text, hour, minute = draw(time_texts())
    at = draw(st.sampled_from([" ", " at "]))
    return f"{sep.join(names)}{at}{time_text}", set(days), hour, minute


@props
@given(weekly_texts(), zones)
def test_weekly_round_trip_and_runs(case: tuple[str, set[int], int, int], tz: str) -> None:
    text, days, hour, minute = case
    schedule = parse_schedule("weekly", text, tz, now=NOW)
    assert_round_trip(schedule)
    runs = next_runs(schedule, len(days) + 1, after=NOW)
    assert len(runs) == len(days) + 1
    assert {r.weekday() for r in runs} == days
    assert all((r.hour, r.minute) == (hour, minute) for r in runs)


# Cron fields are generated together with the set of values they mean, so a small brute-force
# oracle (Vixie cron rules, written independently of core/schedules) can check the next run.
Field = tuple[str, frozenset[int]]


def cron_field(low: int, high: int, names: list[str] | None = None) -> st.SearchStrategy[Field]:
    def word(value: int) -> st.SearchStrategy[str]:
        spellings = [str(value)]
        if names and value - low < len(names):
            spellings.append(names[value - low])
        return st.sampled_from(spellings).flatmap(any_case)

    def single() -> st.SearchStrategy[Field]:
        return st.integers(low, high).flatmap(lambda v: word(v).map(lambda w: (w, frozenset({v}))))

    @st.composite
    def span(draw: st.DrawFn) -> Field:
        a, b = sorted((draw(st.integers(low, high)), draw(st.integers(low, high))))
        step = draw(st.sampled_from([None, 1, 2, 3, 7]))
        text = f"{draw(word(a))}-{draw(word(b))}" + (f"/{step}" if step else "")
        return text, frozenset(range(a, b + 1, step or 1))

    star = st.just(("*", frozenset(range(low, high + 1))))
    star_step = st.integers(1, high - low).map(
        lambda s: (f"*/{s}", frozenset(range(low, high + 1, s)))
    )
    items = st.lists(st.one_of(single(), span()), min_size=1, max_size=3).map(
        lambda parts: (",".join(t for t, _ in parts), frozenset().union(*(v for _, v in parts)))
    )
    return st.one_of(star, star_step, items)


cron_fields = st.tuples(
    cron_field(0, 59),
    cron_field(0, 23),
    cron_field(1, 31),
    cron_field(
        1, 12, ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    ),
    cron_field(0, 7, ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]),
)


def cron_oracle(fields: tuple[Field, ...], after: datetime, years: int = 30) -> datetime | None:
    (_, minutes), (_, hours), (dom_text, doms), (_, months), (dow_text, dows) = fields
    cron_dows = {d % 7 for d in dows}  # 7 is Sunday too
    either = not dom_text.startswith("*") and not dow_text.startswith("*")
    day = after.date()
    for _ in range(366 * years):
        if day.month in months:
            dom_ok, dow_ok = day.day in doms, day.isoweekday() % 7 in cron_dows
            if (dom_ok or dow_ok) if either else (dom_ok and dow_ok):
                for hour in sorted(hours):
                    for minute in sorted(minutes):
                        moment = datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)
                        if moment > after:
                            return moment
        day += timedelta(days=1)
    return None


@props
@given(
    cron_fields, st.datetimes(datetime(2026, 1, 1), datetime(2030, 12, 31), timezones=st.just(UTC))
)
def test_cron_round_trip_and_matches_the_oracle(fields: tuple[Field, ...], after: datetime) -> None:
    text = " ".join(t for t, _ in fields)
    expected = cron_oracle(fields, after)
    try:
        schedule = parse_schedule("cron", text, "UTC")
    except ScheduleError as error:
        # The only cron the parser may refuse here is one that can never fire.
        assert "never runs" in str(error)
        assert expected is None
        return
    assert schedule.value == text.lower()
    assert_round_trip(schedule)
    assert next_run(schedule, after=after) == expected
    assert expected is not None


@props
@given(cron_fields, zones)
def test_cron_runs_in_any_zone(fields: tuple[Field, ...], tz: str) -> None:
    text = " ".join(t for t, _ in fields)
    try:
        schedule = parse_schedule("cron", text, tz)
    except ScheduleError:
        assume(False)
    runs = next_runs(schedule, 3, after=NOW)
    assert len(runs) == 3
    # Compare instants in UTC: within one zone Python compares wall times and ignores `fold`,
    # so 01:00 EDT and 01:00 EST (both real runs of "0 * ..." on the fall-back night) look equal.
    instants = [r.astimezone(UTC) for r in runs]
    assert instants == sorted(set(instants))
    assert all(r.tzinfo == ZoneInfo(tz) and r > NOW for r in runs)


@st.composite
def once_texts(draw: st.DrawFn) -> tuple[str, str]:
    tz = draw(zones)
    moment = draw(st.datetimes(datetime(2026, 6, 2), datetime(2031, 12, 31)))
    moment = moment.replace(microsecond=0, second=draw(st.sampled_from([0, 0, 30])))
    sep = draw(st.sampled_from(["T", " "]))
    text = moment.isoformat(sep=sep)
    if draw(st.booleans()):  # with an explicit offset, read in another zone
        text = moment.replace(tzinfo=ZoneInfo(draw(zones))).isoformat(sep=sep)
    return text, tz


@props
@given(once_texts())
def test_once_round_trip_and_runs(case: tuple[str, str]) -> None:
    text, tz = case
    schedule = parse_schedule("once", text, tz, now=NOW)
    assert_round_trip(schedule)
    moment = datetime.fromisoformat(schedule.value)
    assert moment.utcoffset() == moment.astimezone(ZoneInfo(tz)).utcoffset()
    assert next_runs(schedule, 3, after=NOW) == [moment]
    assert next_run(schedule, after=moment) is None  # its time has passed
