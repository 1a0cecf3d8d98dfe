"""Fixtures of the settlement tests (helpers in ``tests/settlement_world.py``)."""

from types import SimpleNamespace

import pytest

from tests.factories import HouseholdFactory, MemberFactory
from tests.settlement_world import (
    CLAIMS_FILE,
    EXPECTED_FILE,
    FIXTURES,
    POLICY_FILE,
    REGISTRY_STATUS,
    add_encounter,
    load,
)


@pytest.fixture
def document():
    return load(POLICY_FILE)


@pytest.fixture
def golden():
    return SimpleNamespace(claims=load(CLAIMS_FILE), expected=load(EXPECTED_FILE))


@pytest.fixture
def golden_world(areas, golden):
    """Households, members, institutions and encounters mirroring the golden claims, in file
    order (so same-day ties keep entry order), all insured. Two townships: members A–C east,
    D–F west."""
    members = {}
    for i, (key, raw) in enumerate(golden.claims["members"].items()):
        village = areas["east_village"] if i < 3 else areas["west_village"]
        household = HouseholdFactory(
            village=village,
            number=f"G{key}",
            poverty_status=REGISTRY_STATUS.get(raw["poverty_status"], raw["poverty_status"]),
        )
        members[key] = MemberFactory(household=household, name=f"患者{key}", aid_category=raw["aid_category"])
    encounters = {
        raw["ref"]: add_encounter(members[raw["member"]], raw) for raw in golden.claims["encounters"]
    }
    return SimpleNamespace(members=members, encounters=encounters, **areas)


@pytest.fixture
def policies(county_user, document):
    """The demo policy active for 2025, and its copy for 2026 (the golden cases have one 2026
    encounter), as ``load_demo_settlement`` stores them."""
    from settlement import services
    from settlement.demo import policy_for_year

    out = {}
    for doc in (document, policy_for_year(document, 2026)):
        policy = services.policy_import(user=county_user, document=doc)
        out[doc["year"]] = services.policy_activate(user=county_user, policy=policy, resettle=False)
    return out


# --- dated facts (test_settlement_facts*.py) ---------------------------------------------------

FACTS_CLAIMS = FIXTURES / "settlement" / "demo-county-2025-facts.claims.json"
FACTS_EXPECTED = FIXTURES / "settlement" / "demo-county-2025-facts.expected.json"


@pytest.fixture
def facts_golden():
    return SimpleNamespace(
        claims=load(FACTS_CLAIMS), expected={case["ref"]: case for case in load(FACTS_EXPECTED)}
    )


@pytest.fixture
def facts_world(areas, facts_golden):
    """Members L and M as they stood on 1 January 2025 (poor household, 低保), with the
    golden encounters; no dated fact recorded yet."""
    members = {}
    for key in facts_golden.claims["members"]:
        household = HouseholdFactory(village=areas["east_village"], number=f"F{key}", poverty_status="poor")
        members[key] = MemberFactory(household=household, name=f"患者{key}", aid_category="dibao")
    encounters = {
        raw["ref"]: add_encounter(members[raw["member"]], raw) for raw in facts_golden.claims["encounters"]
    }
    return SimpleNamespace(members=members, encounters=encounters)
