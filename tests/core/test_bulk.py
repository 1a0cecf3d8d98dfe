"""The COPY-based bulk insert keeps every value exactly, NULL apart from the empty string."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from core import bulk
from registry.models import Household, Member
from tests.factories import HouseholdFactory, next_id_number


@pytest.mark.django_db
def test_create_with_history_round_trips_awkward_values(county_user, areas):
    household = HouseholdFactory(village=areas["east_village"])
    awkward = 'a,b "quoted"\nnew line\ttab \\ backslash \\N'
    rows = [
        {
            "household_id": household.pk,
            "name": awkward,
            "id_number": next_id_number(),
            "sex": "M",
            "birth_date": datetime.date(1960, 2, 29),
            "relation": "head",
            "ethnicity": "",
            "phone": "",
            "health_status": "healthy",
            "insured": None,
            "aid_category": "none",
        },
        {
            "household_id": household.pk,
            "name": "王五",
            "id_number": next_id_number("F"),
            "sex": "F",
            "birth_date": datetime.date(2001, 1, 1),
            "relation": "daughter",
            "ethnicity": "回族",
            "phone": "139",
            "health_status": "chronic",
            "insured": False,
            "aid_category": "dibao",
        },
    ]
    when = timezone.now()

    ids = bulk.create_with_history(Member, rows, user=county_user, reason="测试", when=when)

    first, second = Member.objects.get(pk=ids[0]), Member.objects.get(pk=ids[1])
    assert first.name == awkward and first.ethnicity == "" and first.insured is None
    assert (
        second.insured is False
        and second.ethnicity == "回族"
        and second.birth_date == datetime.date(2001, 1, 1)
    )
    assert first.version == 1 and abs(first.created_at - when) < datetime.timedelta(seconds=5)
    record = first.history.get()
    assert (record.history_type, record.history_user, record.history_change_reason) == (
        "+",
        county_user,
        "测试",
    )
    assert record.name == awkward and record.insured is None


@pytest.mark.django_db
def test_create_with_history_decimal_and_ids_in_order(county_user, areas):
    rows = [
        {
            "number": f"N{i}",
            "village_id": areas["west_village"].pk,
            "poverty_status": "poor",
            "annual_income": Decimal("1234.50") if i % 2 else None,
        }
        for i in range(5)
    ]
    ids = bulk.create_with_history(Household, rows, user=county_user, reason="r", when=timezone.now())
    assert [Household.objects.get(pk=pk).number for pk in ids] == [f"N{i}" for i in range(5)]
    assert Household.objects.get(number="N1").annual_income == Decimal("1234.50")
    assert Household.objects.get(number="N0").annual_income is None
    assert Household.history.filter(number="N3").count() == 1
