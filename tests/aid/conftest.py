"""A township's member with two settled stays, the 2025 policy with an aid section, and
clients of each role."""

import datetime
from decimal import Decimal

import pytest
from django.test import Client

from tests.factories import EncounterFactory, InstitutionFactory, MemberFactory, make_settlement, policy_for

# The aid section the tests use (docs/aid.md): 倾斜救助 above 50% of the household's income at
# 70% up to 20000; 零星报销 above 500 at 50% up to 10000.
AID_SECTION = {
    "tilted": {
        "kind": "income_tested",
        "name": "倾斜救助（高额自付）",
        "threshold_share_of_income": 0.50,
        "rate": 0.70,
        "cap": 20000,
    },
    "scattered": {"kind": "rate", "name": "县外就医零星报销", "deductible": 500, "rate": 0.50, "cap": 10000},
}


@pytest.fixture
def policy(db):
    policy = policy_for(2025)
    policy.document = {"aid": AID_SECTION}
    policy.save()
    return policy


@pytest.fixture
def world(areas, policy):
    member = MemberFactory(household__village=areas["east_village"], name="王大山")
    household = member.household
    household.annual_income = Decimal("20000.00")
    household.save()
    hospital = InstitutionFactory(name="县人民医院")
    first = EncounterFactory(
        member=member,
        institution=hospital,
        kind="inpatient",
        admission_date=datetime.date(2025, 3, 1),
        discharge_date=datetime.date(2025, 3, 10),
        total_cost=Decimal("30000.00"),
        in_policy_cost=Decimal("28000.00"),
    )
    second = EncounterFactory(
        member=member,
        institution=hospital,
        kind="inpatient",
        admission_date=datetime.date(2025, 6, 2),
        discharge_date=datetime.date(2025, 6, 9),
        total_cost=Decimal("8000.00"),
        in_policy_cost=Decimal("7000.00"),
    )
    # Self-pay 30000.00 − 18000.00 = 12000.00 and 8000.00 − 4765.55 = 3234.45.
    make_settlement(first, {"basic_insurance": Decimal("18000.00")})
    make_settlement(second, {"basic_insurance": Decimal("4765.55")})
    other = MemberFactory(household__village=areas["west_village"], name="李小河")
    return {"member": member, "encounters": [first, second], "other": other}


def client_of(user):
    client = Client()
    client.force_login(user)
    return client


def submit(user, world, **kwargs):
    """受理 of a 倾斜救助 application of the world's member covering both stays."""
    from aid import services

    values = dict(
        user=user,
        member=world["member"],
        kind="tilted",
        reason="两次住院自付费用高，申请倾斜救助。",
        encounters=world["encounters"],
    )
    values.update(kwargs)
    return services.aid_application_submit(**values)
