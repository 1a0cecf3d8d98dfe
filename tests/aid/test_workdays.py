"""Working-day arithmetic, table-driven (pure), and the seeded calendar of 2025/2026."""

import datetime

import pytest

from aid import selectors, workdays

D = datetime.date
# A small calendar: a Wednesday holiday, and the Saturday after it worked (调休).
HOLIDAYS = {D(2025, 1, 1)}
WORKDAYS = {D(2025, 1, 4)}


@pytest.mark.parametrize(
    "start, count, due",
    [
        (D(2024, 12, 30), 0, D(2024, 12, 30)),  # nothing to count
        (D(2024, 12, 30), 1, D(2024, 12, 31)),  # Mon → Tue
        (D(2024, 12, 30), 2, D(2025, 1, 2)),  # Wed 1 Jan is a holiday
        (D(2024, 12, 31), 3, D(2025, 1, 4)),  # Thu, Fri, then the worked Saturday
        (D(2024, 12, 31), 4, D(2025, 1, 6)),  # Sunday is off again
        (D(2025, 1, 3), 1, D(2025, 1, 4)),  # Fri → the worked Saturday
        (D(2025, 1, 4), 1, D(2025, 1, 6)),  # received on the worked Saturday
        (D(2025, 1, 5), 7, D(2025, 1, 14)),  # received on a Sunday
    ],
)
def test_add_working_days(start, count, due):
    assert workdays.add_working_days(start, count, holidays=HOLIDAYS, workdays=WORKDAYS) == due


@pytest.mark.parametrize(
    "start, end, days",
    [
        (D(2024, 12, 30), D(2024, 12, 30), 0),
        (D(2024, 12, 30), D(2024, 12, 29), 0),
        (D(2024, 12, 30), D(2025, 1, 1), 1),  # Tue counts, the holiday not
        (D(2024, 12, 30), D(2025, 1, 5), 4),  # Tue, Thu, Fri, worked Sat
        (D(2024, 12, 30), D(2025, 1, 6), 5),
    ],
)
def test_working_days_between(start, end, days):
    assert workdays.working_days_between(start, end, holidays=HOLIDAYS, workdays=WORKDAYS) == days


def test_a_negative_count_is_refused():
    with pytest.raises(ValueError):
        workdays.add_working_days(D(2025, 1, 1), -1, holidays=set(), workdays=set())


@pytest.mark.django_db
@pytest.mark.parametrize(
    "received, due",
    [
        # Fri 24 Jan 2025: Sun 26 (调休 worked) 1, Mon 27 2, 28 Jan–4 Feb 春节 off, Wed 5 3,
        # Thu 6 4, Fri 7 5, Sat 8 (调休 worked) 6, Mon 10 7.
        (D(2025, 1, 24), D(2025, 2, 10)),
        # Fri 26 Sep 2025: Sun 28 (worked) 1, Mon 29 2, Tue 30 3, 1–8 Oct off, Thu 9 4,
        # Fri 10 5, Sat 11 (worked) 6, Mon 13 7.
        (D(2025, 9, 26), D(2025, 10, 13)),
        # An ordinary week: Mon 3 Nov 2025 → Wed 12 Nov.
        (D(2025, 11, 3), D(2025, 11, 12)),
        # Wed 31 Dec 2025: 1–3 Jan 2026 元旦 off, Sun 4 (worked) 1,
        # Mon 5 2, Tue 6 3, Wed 7 4, Thu 8 5, Fri 9 6, Mon 12 7.
        (D(2025, 12, 31), D(2026, 1, 12)),
    ],
)
def test_the_seeded_calendar_gives_the_deadline(received, due, settings):
    settings.AID_DEADLINE_WORKING_DAYS = 7
    assert selectors.due_date(received) == due
