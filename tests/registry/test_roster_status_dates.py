"""The roster import records a dated status period (生效日期) for each household whose 脱贫状态
it changes, and the settlement event; households whose status did not change get nothing."""

import copy
import datetime

from django.utils import timezone

from core.models import OutboxEntry
from registry import roster, services
from registry.demo import synthetic_roster
from registry.events import MEMBER_FACTS_CHANGED
from registry.facts import FACTS_START
from registry.models import Household, HouseholdStatusPeriod, Member

COL = {name: i for i, name in enumerate(roster.CANONICAL_HEADERS)}
OTHER = {"未脱贫": "已脱贫", "已脱贫": "监测对象", "监测对象": "未脱贫"}


def _roster(n, seed):
    rows = synthetic_roster(n, seed=seed)
    return [rows[0], *(list(row) + [""] * (len(rows[0]) - len(row)) for row in rows[1:])]


def _import(rows, user):
    return services.roster_import(rows=copy.deepcopy(rows), user=user, create_areas=True)


def _households(rows):
    numbers = []
    for row in rows[1:]:
        if row[COL["户编号"]] not in numbers:
            numbers.append(row[COL["户编号"]])
    return numbers


def _change(rows, number, effective=None):
    for row in rows[1:]:
        if row[COL["户编号"]] == number:
            row[COL["脱贫状态"]] = OTHER[row[COL["脱贫状态"]]]
            row[COL["生效日期"]] = effective or ""
    return rows


def _events():
    return list(OutboxEntry.objects.filter(topic=MEMBER_FACTS_CHANGED).values_list("payload", flat=True))


def test_changed_status_gets_a_dated_period_and_an_event(county_user):
    rows = _roster(12, seed=3)
    assert rows[0][-1] == "生效日期"
    _import(rows, county_user)
    assert not HouseholdStatusPeriod.objects.exists() and not _events()
    first, second = _households(rows)[:2]
    before = Household.objects.get(number=first).poverty_status
    rows = _change(_change(rows, first, "2025-03-01"), second)  # second: no date → today

    report = _import(rows, county_user)

    assert report.households_updated == 2
    household = Household.objects.get(number=first)
    assert household.poverty_status != before
    periods = list(
        household.status_periods.order_by("effective_from").values_list(
            "effective_from", "poverty_status", "event"
        )
    )
    assert periods[0] == (FACTS_START, before, "initial")
    assert periods[1][:2] == (datetime.date(2025, 3, 1), household.poverty_status)
    today = timezone.localdate()
    assert Household.objects.get(number=second).status_periods.filter(effective_from=today).exists()
    # Only the two changed households have periods (two each).
    assert HouseholdStatusPeriod.objects.count() == 4
    by_date = {p["effective_from"]: p["member_ids"] for p in _events()}
    assert by_date == {
        "2025-03-01": sorted(Member.objects.filter(household=household).values_list("id", flat=True)),
        today.isoformat(): sorted(
            Member.objects.filter(household__number=second).values_list("id", flat=True)
        ),
    }

    # The same roster again: nothing changes, no period, no event.
    events = len(_events())
    again = _import(rows, county_user)
    assert again.households_updated == 0
    assert HouseholdStatusPeriod.objects.count() == 4 and len(_events()) == events


def test_effective_date_errors_name_row_and_column(county_user):
    rows = _roster(3, seed=5)
    rows[1][COL["生效日期"]] = "2099-01-01"
    rows[2][COL["生效日期"]] = "三月一日"
    report = _import(rows, county_user)
    assert report.refused and not Household.objects.exists()
    assert {(e.row, e.column) for e in report.errors} == {(2, "生效日期"), (3, "生效日期")}


def test_a_roster_without_the_column_still_imports(county_user):
    rows = [row[:-1] for row in _roster(3, seed=6)]
    report = _import(rows, county_user)
    assert not report.refused and report.households_created == 3
