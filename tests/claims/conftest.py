"""Fixtures of the claims tests: two townships with people, clinics, teams, contracts, visits."""

from types import SimpleNamespace

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
    PackageFactory,
    TeamFactory,
    TeamMemberFactory,
)


@pytest.fixture(autouse=True)
def _old_admissions_not_warned(settings):
    """The fixtures' visits are dated 2025; the warning for admissions older than
    ENCOUNTER_OLD_ADMISSION_DAYS has its own tests (tests/claims/test_encounter_dates.py)."""
    settings.ENCOUNTER_OLD_ADMISSION_DAYS = 36500


@pytest.fixture
def catalogue(db):
    from claims.reference import load_reference_data

    load_reference_data()


@pytest.fixture
def world(areas, catalogue):
    east_household = HouseholdFactory(village=areas["east_village"], number="E001")
    west_household = HouseholdFactory(village=areas["west_village"], number="W001")
    east_head = MemberFactory(
        household=east_household, name="王秀英", sex="F", relation="head", health_status="chronic"
    )
    east_son = MemberFactory(household=east_household, name="王小明", relation="son")
    west_head = MemberFactory(
        household=west_household, name="李建国", relation="head", health_status="serious"
    )
    county_hospital = InstitutionFactory(name="县人民医院", level="county")
    city_hospital = InstitutionFactory(name="市第一人民医院", level="city")
    east_clinic = ClinicFactory(township=areas["east"])
    west_clinic = ClinicFactory(township=areas["west"])
    east_team = TeamFactory(institution=east_clinic, name="城关团队")
    west_team = TeamFactory(institution=west_clinic, name="北关团队")
    doctor = TeamMemberFactory(team=east_team, name="赵医生")
    package = PackageFactory(name="基础包")
    east_contract = ContractFactory(household=east_household, team=east_team, package=package)
    west_contract = ContractFactory(household=west_household, team=west_team, package=package)
    return SimpleNamespace(
        **areas,
        east_household=east_household,
        west_household=west_household,
        east_head=east_head,
        east_son=east_son,
        west_head=west_head,
        county_hospital=county_hospital,
        city_hospital=city_hospital,
        east_clinic=east_clinic,
        west_clinic=west_clinic,
        east_team=east_team,
        west_team=west_team,
        doctor=doctor,
        package=package,
        east_contract=east_contract,
        west_contract=west_contract,
        east_encounter=EncounterFactory(member=east_head, institution=county_hospital, ref="E-ENC-1"),
        west_encounter=EncounterFactory(member=west_head, institution=county_hospital, ref="W-ENC-1"),
        east_illness=IllnessFactory(member=east_head),
        west_illness=IllnessFactory(
            member=west_head, diagnosis_code="C16.9", diagnosis_name="胃癌", status="treating"
        ),
        east_followup=FollowUpFactory(contract=east_contract, member=east_head, doctor=doctor),
        west_followup=FollowUpFactory(contract=west_contract, member=west_head),
    )


@pytest.fixture
def in_2025(monkeypatch):
    """Today is 2025-06-15, when the world's contracts (2025-01-15 … 2026-01-14) are in force:
    for tests of contracts in force (a lapsed one counts as ended, claims.models.ContractQuerySet)."""
    import datetime

    from django.utils import timezone

    monkeypatch.setattr(timezone, "now", lambda: datetime.datetime(2025, 6, 15, 4, tzinfo=datetime.UTC))


@pytest.fixture
def settlement_spy(monkeypatch):
    """Stands in for the settlement app: ``settled`` holds the ids of settled encounters (what
    settlement answers claims through claims/ports.py), ``queued`` records every (member id,
    year) claims records for settlement (claims.events, the outbox)."""
    import claims.events
    import settlement.selectors

    spy = SimpleNamespace(settled=set(), queued=[])
    monkeypatch.setattr(
        settlement.selectors, "settled_encounter_ids", lambda ids: {pk for pk in ids if pk in spy.settled}
    )
    record = claims.events.record_member_years_changed

    def recorded(*, pairs):
        pairs = sorted(set(pairs))
        spy.queued.extend(pairs)
        record(pairs=pairs)

    monkeypatch.setattr(claims.events, "record_member_years_changed", recorded)
    return spy


@pytest.fixture
def as_user(client):
    """``as_user(user)`` → the test client logged in as ``user``."""

    def login(user):
        client.force_login(user)
        return client

    return login
