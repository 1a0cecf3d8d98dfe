"""Migration 0003: today's values become the first dated facts (docs/registry.md)."""

import datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("registry", "0003_dated_facts")]
AFTER = [("registry", "0004_initial_fact_periods")]


@pytest.mark.django_db(transaction=True)
def test_todays_values_become_the_first_periods_and_enrollments():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    township = old.get_model("registry", "Township").objects.create(name="城关镇")
    village = old.get_model("registry", "Village").objects.create(township=township, name="一村")
    household = old.get_model("registry", "Household").objects.create(
        number="H1", village=village, poverty_status="lifted"
    )
    Member = old.get_model("registry", "Member")
    known = Member.objects.create(
        household=household,
        name="甲",
        id_number="640221197005170011",
        sex="M",
        birth_date=datetime.date(1970, 5, 17),
        relation="head",
        aid_category="dibao",
        insured=True,
    )
    unknown = Member.objects.create(
        household=household,
        name="乙",
        id_number="640221197005170020",
        sex="F",
        birth_date=datetime.date(1970, 5, 17),
        relation="spouse",
        insured=None,
    )

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    new = executor.loader.project_state(AFTER).apps
    start = datetime.date(2014, 1, 1)
    periods = new.get_model("registry", "HouseholdStatusPeriod").objects.values_list(
        "household_id", "poverty_status", "event", "effective_from"
    )
    assert list(periods) == [(household.pk, "lifted", "initial", start)]
    aid = dict(new.get_model("registry", "MemberAidPeriod").objects.values_list("member_id", "aid_category"))
    assert aid == {known.pk: "dibao", unknown.pk: "none"}
    this_year = datetime.date.today().year
    enrollments = (
        new.get_model("registry", "Enrollment")
        .objects.order_by("year")
        .values_list("member_id", "year", "insured", "premium")
    )
    assert list(enrollments) == [(known.pk, this_year - 1, True, None), (known.pk, this_year, True, None)]
