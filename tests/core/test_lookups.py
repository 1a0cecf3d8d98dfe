"""``field__any_of`` (core/lookups.py): the batch's "these members" filter. Same rows as
``__in``, on plain and foreign-key fields, with the ids sent as one parameter."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from registry.models import Member
from tests.factories import HouseholdFactory, MemberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def members():
    households = [HouseholdFactory(number=f"H{i}") for i in range(3)]
    return [MemberFactory(household=households[i % 3], relation="head" if i < 3 else "son") for i in range(7)]


def test_any_of_finds_what_in_finds(members):
    wanted = [m.pk for m in members[1:6:2]] + [10**9]  # and an id that does not exist
    assert (
        set(Member.objects.filter(pk__any_of=wanted).values_list("pk", flat=True))
        == set(Member.objects.filter(pk__in=wanted).values_list("pk", flat=True))
        == {m.pk for m in members[1:6:2]}
    )
    households = [members[0].household_id, members[1].household_id]
    assert sorted(
        Member.objects.filter(household_id__any_of=households).values_list("pk", flat=True)
    ) == sorted(m.pk for m in members if m.household_id in households)
    assert sorted(Member.objects.filter(household__any_of=households).values_list("pk", flat=True)) == sorted(
        m.pk for m in members if m.household_id in households
    )
    assert not Member.objects.filter(pk__any_of=[]).exists()
    assert Member.objects.exclude(pk__any_of=[members[0].pk]).count() == len(members) - 1


def test_any_of_sends_the_ids_as_one_parameter(members):
    ids = [m.pk for m in members]
    with CaptureQueriesContext(connection) as queries:
        list(Member.objects.filter(pk__any_of=ids))
    sql = queries.captured_queries[0]["sql"]
    if connection.vendor == "postgresql":
        assert "= ANY(" in sql and "::bigint[]" in sql and " IN (" not in sql
