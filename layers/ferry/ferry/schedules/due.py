"""When a configuration runs (seed 003): at about 03:00 in the tenant's time zone, on the nights its interval names.

Daily: every night. Weekly: the night from Sunday to Monday. Monthly: the night from
the last day of the month to the first. A night is named by the date it ends on (the
morning of the run). The scheduler ticks every hour; a night is due from 03:00 local
on, so a missed tick runs at the next one, and a night that already ran never again.
Time zones come from zoneinfo, so the daylight-saving changes (02:00 to 03:00 in
March, 03:00 back to 02:00 in October) still give one run per night.
"""
from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

RUN_HOUR = 3
INTERVALS = ("daily", "weekly", "monthly")


def night_of(moment: datetime, time_zone: str) -> date | None:
    """The night a run at `moment` belongs to: the local date, once it is 03:00 or later there; None before."""
    local = moment.astimezone(ZoneInfo(time_zone))
    return local.date() if local.hour >= RUN_HOUR else None


def runs_on(interval: str, night: date) -> bool:
    if interval == "daily":
        return True
    if interval == "weekly":
        return night.isoweekday() == 1  # the night from Sunday to Monday ends on a Monday
    if interval == "monthly":
        return night.day == 1  # the night from the last day of the month to the first
    raise ValueError(f"unknown interval {interval!r}")


def due_night(interval: str, moment: datetime, time_zone: str, last_run_night: date | None) -> date | None:
    """The night to export now, or None: it is past 03:00 locally, the interval runs that night, and it has not run."""
    night = night_of(moment, time_zone)
    if night is None or not runs_on(interval, night):
        return None
    if last_run_night is not None and last_run_night >= night:
        return None
    return night
