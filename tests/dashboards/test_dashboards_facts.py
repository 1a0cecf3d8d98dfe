"""Dashboards count a household's poverty status as it was on the day of care (dated facts),
not as it is today: a household lifted out of poverty in August still counts its March stay
among the poor households' stays."""

import datetime
from decimal import Decimal

from dashboards import services
from dashboards.models import SettlementCell
from registry import fact_services, facts
from tests.factories import (
    EncounterFactory,
    HouseholdFactory,
    InstitutionFactory,
    MemberFactory,
    make_settlement,
)

D = datetime.date


def _stay(member, day, institution):
    encounter = EncounterFactory(
        member=member,
        institution=institution,
        kind="inpatient",
        admission_date=day - datetime.timedelta(days=3),
        discharge_date=day,
        total_cost=Decimal("10000.00"),
        in_policy_cost=Decimal("9000.00"),
    )
    return make_settlement(encounter, {"basic_insurance": Decimal("6000.00")})


def test_settlement_cells_count_the_status_of_the_day_of_care(areas, county_user):
    member = MemberFactory(household=HouseholdFactory(village=areas["east_village"], poverty_status="poor"))
    hospital = InstitutionFactory(name="县医院", level="county")
    _stay(member, D(2025, 3, 10), hospital)
    _stay(member, D(2025, 10, 10), hospital)
    fact_services.household_status_change(
        user=county_user,
        household=member.household,
        poverty_status="lifted",
        effective_from=D(2025, 8, 1),
        reason="脱贫",
    )
    services._refresh_settlements(2025, None, D(2026, 1, 5))
    cells = {
        (c.month, c.poverty_status): c.settlements
        for c in SettlementCell.objects.filter(year=2025, kind="inpatient")
    }
    assert cells == {(3, "poor"): 1, (10, "lifted"): 1}


def test_status_on_a_day_as_an_expression(areas, county_user):
    from registry.models import Household

    household = HouseholdFactory(village=areas["east_village"], poverty_status="poor")
    plain = HouseholdFactory(village=areas["east_village"], poverty_status="monitored")
    fact_services.household_status_change(
        user=county_user,
        household=household,
        poverty_status="lifted",
        effective_from=D(2025, 8, 1),
        reason="脱贫",
    )

    def on(day):
        rows = Household.objects.annotate(s=facts.poverty_status_on("pk", day)).values_list("pk", "s")
        return dict(rows)

    assert on(D(2025, 7, 31)) == {household.pk: "poor", plain.pk: "monitored"}
    assert on(D(2025, 8, 1)) == {household.pk: "lifted", plain.pk: "monitored"}
    assert on(D(2010, 1, 1))[household.pk] == "poor"  # before the first period: the first period
