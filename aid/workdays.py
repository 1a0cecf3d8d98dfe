"""Working-day arithmetic (pure: no Django). A day is a working day when it is Monday to
Friday and not a public holiday, or when it is a declared adjusted working day (调休上班,
usually a Saturday or Sunday next to a long holiday). The holidays and adjusted working days
are data (``aid.models.Holiday``, seeded from the State Council's notices); callers pass them
in as two sets of dates."""

from __future__ import annotations

import datetime
from collections.abc import Collection

ONE_DAY = datetime.timedelta(days=1)


def is_working_day(day: datetime.date, *, holidays: Collection, workdays: Collection) -> bool:
    if day in workdays:
        return True
    if day in holidays:
        return False
    return day.weekday() < 5


def add_working_days(
    start: datetime.date, count: int, *, holidays: Collection, workdays: Collection
) -> datetime.date:
    """The ``count``-th working day after ``start`` (``start`` itself is not counted: a case
    received on Monday with a limit of 1 working day is due on Tuesday). ``count`` ≥ 0; 0
    gives ``start``."""
    if count < 0:
        raise ValueError("count must not be negative")
    day = start
    left = count
    while left:
        day += ONE_DAY
        if is_working_day(day, holidays=holidays, workdays=workdays):
            left -= 1
    return day


def working_days_between(
    start: datetime.date, end: datetime.date, *, holidays: Collection, workdays: Collection
) -> int:
    """How many working days lie after ``start`` up to and including ``end`` (0 when ``end``
    is not after ``start``): the working days a case received on ``start`` has used by
    ``end``."""
    days = 0
    day = start
    while day < end:
        day += ONE_DAY
        if is_working_day(day, holidays=holidays, workdays=workdays):
            days += 1
    return days
