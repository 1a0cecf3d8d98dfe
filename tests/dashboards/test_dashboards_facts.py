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


def test_registry_cells_count_each_year_as_it_was_at_its_end(areas, county_user):
    """A household lifted on 2026-03-01 counts as poor in 2025's register and as lifted in
    2026's; 参保 is the year's enrollment (else the roster's flag); a member who left in 2025
    is in 2025's register, not in 2026's."""
    from dashboards import selectors
    from dashboards.definitions import Period
    from dashboards.models import RegistryCell

    village = areas["east_village"]
    lifted = HouseholdFactory(village=village, poverty_status="poor")
    member = MemberFactory(household=lifted, insured=True)
    unknown = MemberFactory(
        household=HouseholdFactory(village=village, poverty_status="monitored"), insured=None
    )
    gone = MemberFactory(household=HouseholdFactory(village=village, poverty_status="poor"), insured=True)
    fact_services.household_status_change(
        user=county_user,
        household=lifted,
        poverty_status="lifted",
        effective_from=D(2026, 3, 1),
        reason="脱贫",
    )
    fact_services.enrollment_record(user=county_user, member=member, year=2025, insured=False)
    fact_services.member_exit(user=county_user, member=gone, left_on=D(2025, 6, 30), reason="death")
    assert unknown.insured is None

    services.aggregates_refresh(years=[2025, 2026], today=D(2026, 12, 1))
    # 2025: three households (poor, poor, monitored); three members — gone insured by the
    # flag, member not insured by the 2025 enrollment, unknown. 2026: lifted since March; gone
    # left in 2025; member insured by the flag (no 2026 record).
    expected = {
        2025: dict(households=3, households_poor=2, households_lifted=0, households_monitored=1,
                   members=3, members_insured=1, members_uninsured=1, members_insured_unknown=1),
        2026: dict(households=3, households_poor=1, households_lifted=1, households_monitored=1,
                   members=2, members_insured=1, members_uninsured=0, members_insured_unknown=1),
    }  # fmt: skip
    cells = RegistryCell.objects.filter(village=village).values("year", *expected[2025])
    assert {cell.pop("year"): cell for cell in cells} == expected
    for year, poor, insured_rate in ((2025, 2, "33.3"), (2026, 1, "50.0")):
        board = selectors.board(county_user, Period("year", year), on=D(2026, 12, 1))
        assert board.total.households_poor == poor
        assert board.total.insured_rate == Decimal(insured_rate)
