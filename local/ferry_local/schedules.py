"""The template's schedules, fired on this machine: nothing fires EventBridge schedules in moto.

Rate expressions (`rate(5 minutes)`) fire every period from the stack's start; a
schedule can also be fired at once (`LocalStack.fire_schedule`), as an operator
would with "Run now". Each firing invokes the function with the schedule's Input,
the event EventBridge Scheduler delivers.
"""
from __future__ import annotations

import logging
import re
import threading
import time
from datetime import UTC, datetime
from collections.abc import Callable
from typing import Any

from ferry_local.template import Schedule

_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}

log = logging.getLogger(__name__)


SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"


def with_scheduled_time(event: dict[str, Any], at: datetime) -> dict[str, Any]:
    """The input as EventBridge Scheduler delivers it: its context attribute replaced by the scheduled time."""
    stamp = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {k: stamp if v == SCHEDULED_TIME else v for k, v in event.items()}


def rate_seconds(expression: str) -> int | None:
    """The period of a rate expression, None for any other kind."""
    found = _RATE.match(expression.strip())
    if not found:
        return None
    return int(found[1]) * _SECONDS[found[2].rstrip("s")]


class Scheduler:
    def __init__(self, schedules: list[Schedule], fire: Callable[[Schedule, dict[str, Any]], Any]) -> None:
        self._periodic = [(s, period) for s in schedules if (period := rate_seconds(s.expression))]
        for schedule in schedules:
            if rate_seconds(schedule.expression) is None:
                log.warning("schedule %s (%s) is not fired by the local stack: only rate() expressions are", schedule.name, schedule.expression)
        self._fire = fire
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ferry-schedules", daemon=True)

    def start(self) -> None:
        if self._periodic:
            self._thread.start()

    def _run(self) -> None:
        due = {s.name: time.monotonic() + period for s, period in self._periodic}
        while not self._stop.wait(1.0):
            for schedule, period in self._periodic:
                if time.monotonic() >= due[schedule.name]:
                    due[schedule.name] += period
                    try:
                        self._fire(schedule, with_scheduled_time(schedule.input, datetime.now(UTC)))
                    except Exception:
                        # EventBridge Scheduler would retry and then drop the event; the next period fires again.
                        log.exception("schedule %s failed", schedule.name)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
