"""Seed 003's nights: daily, weekly (Sunday to Monday), monthly (last day to the first), about 03:00 local, across DST."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from ferry.schedules.due import due_night, night_of

ROME = "Europe/Rome"


def hourly(start: datetime, days: int):
    return (start + timedelta(hours=h) for h in range(days * 24))


def nights(interval: str, start: datetime, days: int) -> list[date]:
    ran: list[date] = []
    for tick in hourly(start, days):
        night = due_night(interval, tick, ROME, ran[-1] if ran else None)
        if night is not None:
            ran.append(night)
    return ran


def test_daily_runs_once_every_night_at_three_local_across_both_dst_changes():
    spring = nights("daily", datetime(2027, 3, 25, tzinfo=UTC), 7)  # DST starts on 28 March 2027
    assert spring == [date(2027, 3, d) for d in range(25, 32)] and len(set(spring)) == 7
    autumn = nights("daily", datetime(2026, 10, 22, tzinfo=UTC), 7)  # DST ends on 25 October 2026
    assert autumn == [date(2026, 10, d) for d in range(22, 29)]


def test_the_first_tick_of_a_night_is_at_three_local_time():
    assert night_of(datetime(2026, 7, 1, 0, 59, tzinfo=UTC), ROME) is None  # 02:59 in Rome (UTC+2)
    assert night_of(datetime(2026, 7, 1, 1, 0, tzinfo=UTC), ROME) == date(2026, 7, 1)
    assert night_of(datetime(2026, 1, 1, 2, 0, tzinfo=UTC), ROME) == date(2026, 1, 1)  # 03:00 in winter (UTC+1)


def test_weekly_runs_only_in_the_night_from_sunday_to_monday():
    ran = nights("weekly", datetime(2026, 10, 20, tzinfo=UTC), 21)  # across the October DST change
    assert ran == [date(2026, 10, 26), date(2026, 11, 2), date(2026, 11, 9)]
    assert all(d.isoweekday() == 1 for d in ran)


def test_monthly_runs_only_in_the_night_from_the_last_day_to_the_first():
    ran = nights("monthly", datetime(2027, 1, 15, tzinfo=UTC), 90)  # February's 28 days and March's DST
    assert ran == [date(2027, 2, 1), date(2027, 3, 1), date(2027, 4, 1)]


def test_a_missed_tick_runs_later_that_night_and_a_night_never_twice():
    late = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
    assert due_night("daily", late, ROME, date(2026, 6, 30)) == date(2026, 7, 1)
    assert due_night("daily", late, ROME, date(2026, 7, 1)) is None
