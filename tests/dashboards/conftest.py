"""A small county with every kind of record the dashboards count, and the expected figures
computed here, directly from the rows, without the code under test."""

import datetime
import random
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

import pytest

from tests.factories import (
    ClinicFactory,
    ContractFactory,
    EncounterFactory,
    FollowUpFactory,
    HouseholdFactory,
    IllnessFactory,
    InstitutionFactory,
    MemberFactory,
    TeamFactory,
    TownshipFactory,
    VillageFactory,
    make_settlement,
)

YEAR = 2025
TODAY = datetime.date(2026, 11, 23)
STATUSES = ("poor", "poor", "monitored", "lifted")
LEVELS = ("village", "township", "county", "city", "province", "out_of_province")
KINDS = ("outpatient", "outpatient_chronic", "inpatient")


def build_county(
    *,
    townships,
    villages_per_township,
    households_per_village,
    encounters_per_member,
    seed=1,
    township_objects=None,
):
    """Households, members, institutions, encounters with settlements (some re-settled, some
    corrected), illnesses, contracts and follow-ups; returns the townships."""
    rng = random.Random(seed)
    towns = list(township_objects or [])
    while len(towns) < townships:
        towns.append(TownshipFactory(name=f"测试{seed}-{len(towns)}镇"))
    hospitals = {
        level: InstitutionFactory(name=f"{level}医院{seed}", level=level)
        for level in ("county", "city", "province", "out_of_province")
    }
    for town in towns:
        clinic = ClinicFactory(township=town)
        village_clinic = InstitutionFactory(name=f"{town.name}村卫生室", level="village", township=town)
        places = {**hospitals, "township": clinic, "village": village_clinic}
        team = TeamFactory(institution=clinic, township=town)
        villages = list(town.villages.all())
        while len(villages) < villages_per_township:
            villages.append(VillageFactory(township=town, name=f"{town.name}{len(villages) + 1}村"))
        for village in villages[:villages_per_township]:
            for _h in range(households_per_village):
                income = rng.choice(
                    [None, Decimal("0.00"), Decimal("3000.00"), Decimal("12000.00"), Decimal("80000.00")]
                )
                household = HouseholdFactory(
                    village=village, poverty_status=rng.choice(STATUSES), annual_income=income
                )
                members = [
                    MemberFactory(
                        household=household,
                        relation="head",
                        name="王秀英",
                        insured=rng.choice([True, True, True, False, None]),
                    ),
                    MemberFactory(
                        household=household,
                        relation="son",
                        name="王五",
                        insured=rng.choice([True, True, False]),
                    ),
                ]
                roll = rng.random()
                if roll < 0.7:
                    start = datetime.date(YEAR, rng.randint(1, 12), rng.randint(1, 28))
                    contract = ContractFactory(
                        household=household,
                        team=team,
                        start_date=start,
                        end_date=start.replace(year=YEAR + 1) - datetime.timedelta(days=1),
                        status=rng.choice(["active", "active", "expired", "terminated"]),
                    )
                    if rng.random() < 0.6:
                        FollowUpFactory(
                            contract=contract,
                            member=members[0],
                            date=start + datetime.timedelta(days=rng.choice([10, 60, 90, 91, 200])),
                        )
                for member in members:
                    if rng.random() < 0.4:
                        IllnessFactory(
                            member=member,
                            diagnosis_code=f"I{rng.randint(10, 99)}",
                            diagnosed_on=datetime.date(
                                rng.choice([YEAR - 1, YEAR, YEAR]), rng.randint(1, 12), rng.randint(1, 28)
                            ),
                            status=rng.choice(["pending", "treating", "treated", "managed"]),
                        )
                    for _ in range(encounters_per_member):
                        _encounter(rng, member, places)
    return towns


def _encounter(rng, member, places):
    kind = rng.choice(KINDS)
    admission = datetime.date(
        rng.choice([YEAR, YEAR, YEAR, YEAR - 1]), rng.randint(1, 12), rng.randint(1, 25)
    )
    discharge = admission + datetime.timedelta(days=rng.randint(1, 9)) if kind == "inpatient" else None
    # Whole yuan and halves: SQLite checks the settlement constraints (total = payouts + self-pay)
    # in binary floating point, where cents do not always add up exactly.
    total = Decimal(rng.randint(100, 18000)) / 2
    encounter = EncounterFactory(
        member=member,
        institution=places[rng.choice(LEVELS)],
        kind=kind,
        admission_date=admission,
        discharge_date=discharge,
        total_cost=total,
        in_policy_cost=(total * Decimal("0.8")).quantize(Decimal("1")),
        is_current=rng.random() > 0.1,
    )
    encounter.refresh_from_db()
    if not encounter.is_current or rng.random() < 0.1:
        return encounter  # a corrected (superseded) record, or one not settled yet
    settlement = make_settlement(encounter, _payouts(rng, encounter))
    if rng.random() < 0.15:  # re-settled: the first result is kept as history
        make_settlement(encounter, _payouts(rng, encounter), replaces=settlement)
    return encounter


def _payouts(rng, encounter):
    rest = encounter.total_cost
    payouts = {}
    for kind, share in (
        ("basic_insurance", "0.5"),
        ("catastrophic_insurance", "0.2"),
        ("medical_aid", "0.3"),
        ("backstop", "0.5"),
    ):
        if rng.random() < 0.8:
            amount = (rest * Decimal(share) * Decimal(rng.randint(50, 100)) / 100).quantize(Decimal("1"))
            payouts[kind] = amount
            rest -= amount
    return payouts


@pytest.fixture
def today(monkeypatch):
    """Freeze "today" for the dashboards (and the claims rules they share) at TODAY."""
    from django.utils import timezone

    fixed = datetime.datetime(TODAY.year, TODAY.month, TODAY.day, 12, tzinfo=datetime.UTC)
    monkeypatch.setattr(timezone, "now", lambda: fixed)
    return TODAY


@pytest.fixture
def county(areas, today):
    """Two townships (the shared ``areas``: 城关镇 and 北关乡), two villages each."""
    return build_county(
        townships=2,
        villages_per_township=2,
        households_per_village=4,
        encounters_per_member=3,
        township_objects=[areas["east"], areas["west"]],
    )


# --- the expected figures, from the rows -------------------------------------------------------------


def pct(numerator, denominator):
    if not denominator:
        return None
    return (Decimal(numerator) * 100 / Decimal(denominator)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def expected(township, start, end, *, today=TODAY):
    """Every dashboard figure of ``township`` (None: all) for the days ``start``–``end``,
    computed by walking the records one by one."""
    from claims.models import Contract, Encounter, IllnessRecord
    from registry.models import Household, Member
    from settlement.models import Settlement

    def mine(village):
        return township is None or village.township_id == township.pk

    households = [h for h in Household.objects.select_related("village") if mine(h.village)]
    members = [m for m in Member.objects.select_related("household__village") if mine(m.household.village)]
    illnesses = [
        r
        for r in IllnessRecord.objects.select_related("member__household__village")
        if mine(r.member.household.village) and start <= r.diagnosed_on <= end
    ]
    measuring_day = min(end, today)
    signed = {
        c.household_id
        for c in Contract.objects.select_related("household__village")
        if mine(c.household.village)
        and c.status in ("active", "expired")
        and c.start_date <= measuring_day <= c.end_date
    }
    no_followup = 0
    for c in Contract.objects.select_related("household__village").prefetch_related("followups"):
        if not mine(c.household.village) or c.status == "terminated":
            continue
        if start <= c.start_date <= end and c.start_date <= today - datetime.timedelta(days=90):
            deadline = c.start_date + datetime.timedelta(days=90)
            if not any(f.date <= deadline for f in c.followups.all()):
                no_followup += 1
    encounters = [
        e
        for e in Encounter.objects.select_related("member__household__village", "institution")
        if mine(e.member.household.village) and e.is_current and start <= e.service_date <= end
    ]
    in_county = [e for e in encounters if e.institution.level in ("village", "township", "county")]
    settlements = [
        s
        for s in Settlement.objects.select_related(
            "member__household__village", "encounter"
        ).prefetch_related("lines")
        if mine(s.member.household.village) and s.is_current and start <= s.service_date <= end
    ]
    poor_inpatient = [
        s
        for s in settlements
        if s.encounter.kind == "inpatient" and s.member.household.poverty_status == "poor"
    ]
    by_fund = defaultdict(Decimal)
    for s in settlements:
        for line in s.lines.all():
            by_fund[line.fund] += line.amount
    year_self_pay = defaultdict(Decimal)
    for s in Settlement.objects.select_related("member__household__village"):
        if s.is_current and s.year == start.year and mine(s.member.household.village):
            year_self_pay[s.member] += s.self_pay
    at_risk = [
        m
        for m, own in year_self_pay.items()
        if m.household.annual_income is not None and own > m.household.annual_income / 2
    ]
    return {
        "households": len(households),
        "members": len(members),
        "insured_rate": pct(sum(1 for m in members if m.insured is True), len(members)),
        "illnesses_identified": len(illnesses),
        "illnesses_treating": sum(1 for r in illnesses if r.status == "treating"),
        "illnesses_treated": sum(1 for r in illnesses if r.status in ("treated", "managed")),
        "treatment_rate": pct(
            sum(1 for r in illnesses if r.status in ("treated", "managed")), len(illnesses)
        ),
        "households_signed": len(signed),
        "signing_rate": pct(len(signed), len(households)),
        "contracts_without_followup": no_followup,
        "encounters": len(encounters),
        "total_cost": sum((e.total_cost for e in encounters), Decimal("0.00")),
        "in_county_rate": pct(len(in_county), len(encounters)),
        "payouts_total": sum((s.payouts_total for s in settlements), Decimal("0.00")),
        "self_pay": sum((s.self_pay for s in settlements), Decimal("0.00")),
        "self_pay_ratio": pct(
            sum((s.self_pay for s in poor_inpatient), Decimal(0)),
            sum((s.total_cost for s in poor_inpatient), Decimal(0)),
        ),
        "members_at_risk": len(at_risk),
        "by_fund": dict(by_fund),
    }


FIGURE_KEYS = (
    "households",
    "members",
    "insured_rate",
    "illnesses_identified",
    "illnesses_treating",
    "illnesses_treated",
    "treatment_rate",
    "households_signed",
    "signing_rate",
    "contracts_without_followup",
    "encounters",
    "total_cost",
    "in_county_rate",
    "payouts_total",
    "self_pay",
    "self_pay_ratio",
    "members_at_risk",
)


def figures_of(figures):
    return {key: getattr(figures, key) for key in FIGURE_KEYS}
