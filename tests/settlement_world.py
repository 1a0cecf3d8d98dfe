"""Helpers of the settlement tests: the demo policy and golden cases (copied into fixtures/;
never read from ../shared), and a database world mirroring the golden claims."""

import datetime
import json
from decimal import Decimal
from pathlib import Path

from tests.factories import EncounterFactory, InstitutionFactory

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
POLICY_FILE = FIXTURES / "policies" / "demo-county-2025.json"
CLAIMS_FILE = FIXTURES / "settlement" / "demo-county-2025.claims.json"
EXPECTED_FILE = FIXTURES / "settlement" / "demo-county-2025.expected.json"


def load(path):
    return json.loads(path.read_text(encoding="utf-8"))


# The registry knows poor / lifted / monitored households only (every registered household is
# 建档立卡); the golden cases' one "none" member is stored as lifted, which the demo policy
# treats identically (test_golden_none_and_lifted_alike checks that).
REGISTRY_STATUS = {"none": "lifted"}


def institution_for(level, designated):
    name = f"{level}级{'定点' if designated else '非定点'}医院"
    return InstitutionFactory(name=name, level=level, designated=designated)


def add_encounter(member, raw, **extra):
    """An encounter row like the claims entry ``raw`` (date = the service date: discharge of
    a stay, the visit's day otherwise)."""
    date = datetime.date.fromisoformat(raw["date"])
    stay = raw["kind"] == "inpatient"
    total = Decimal(str(raw["total_cost"]))
    return EncounterFactory(
        ref=raw["ref"],
        member=member,
        institution=institution_for(raw["level"], raw.get("designated", True)),
        kind=raw["kind"],
        admission_date=date - datetime.timedelta(days=6) if stay else date,
        discharge_date=date if stay else None,
        total_cost=total,
        in_policy_cost=Decimal(str(raw.get("in_policy_cost", total))),
        diagnosis_code=raw.get("disease_code") or "",
        package=raw.get("package") or "",
        referred=raw.get("referred", True),
        **extra,
    )


def settle_all(world):
    """Settle every member-year of ``world`` through the service; {(member id, year): result}."""
    from settlement import services

    pairs = sorted({(e.member_id, e.service_date.year) for e in world.encounters.values()})
    return {(m, y): services.settle_member_year(member_id=m, year=y) for m, y in pairs}


def stored_outputs(refs=None):
    """{ref: contract dict} of the current settlements."""
    from settlement import selectors
    from settlement.models import Settlement

    settlements = (
        Settlement.objects.filter(is_current=True)
        .select_related("encounter", "policy")
        .prefetch_related("lines")
    )
    out = {s.encounter.ref: selectors.settlement_as_dict(s) for s in settlements}
    return out if refs is None else {r: out[r] for r in refs}


def store_claims(user, areas, claims, *, prefix: str):
    """The claims (contract shape, items included) entered through the claims service: one
    household per member in 城关镇一村 (numbers ``prefix`` + key), encounters dated as
    ``add_encounter`` dates them. Returns ({key: member}, {ref: encounter})."""
    from claims import services as claims_services
    from tests.factories import HouseholdFactory, MemberFactory

    members, encounters = {}, {}
    for key, raw in claims["members"].items():
        household = HouseholdFactory(
            village=areas["east_village"],
            number=f"{prefix}{key}",
            poverty_status=REGISTRY_STATUS.get(raw["poverty_status"], raw["poverty_status"]),
        )
        members[key] = MemberFactory(household=household, name=f"患者{key}", aid_category=raw["aid_category"])
    for raw in claims["encounters"]:
        date = datetime.date.fromisoformat(raw["date"])
        stay = raw["kind"] == "inpatient"
        money = {k: Decimal(raw[k]) for k in ("total_cost", "in_policy_cost") if k in raw}
        encounters[raw["ref"]] = claims_services.encounter_create(
            user=user,
            member=members[raw["member"]],
            institution=institution_for(raw["level"], raw.get("designated", True)),
            kind=raw["kind"],
            admission_date=date - datetime.timedelta(days=6) if stay else date,
            discharge_date=date if stay else None,
            ref=raw["ref"],
            items=raw.get("items"),
            **money,
        )[0]
    return members, encounters
