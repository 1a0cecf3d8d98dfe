"""Property: whatever a member-year holds, the stored path (encounters in the database,
``settle_member_year``, read back) gives exactly the pure engine's output, and settling it
again writes nothing."""

import datetime
from decimal import Decimal

from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from settlement import engine, services
from settlement.models import Settlement
from tests.factories import HouseholdFactory, MemberFactory
from tests.settlement_world import POLICY_FILE, add_encounter, load, stored_outputs

LEVELS = ("village", "township", "county", "city", "province", "out_of_province")
KINDS = ("inpatient", "outpatient_chronic", "outpatient")


@st.composite
def encounters(draw):
    n = draw(st.integers(min_value=1, max_value=6))
    out = []
    for i in range(n):
        total = draw(st.integers(min_value=0, max_value=30_000_000))
        out.append(
            {
                "ref": f"P-{i}",
                "member": "M",
                "date": (
                    datetime.date(2025, 1, 1) + datetime.timedelta(days=draw(st.integers(0, 364)))
                ).isoformat(),
                "kind": draw(st.sampled_from(KINDS)),
                "level": draw(st.sampled_from(LEVELS)),
                "designated": draw(st.booleans()),
                "referred": draw(st.booleans()),
                "total_cost": f"{total // 100}.{total % 100:02d}",
                "in_policy_cost": str((Decimal(total) * Decimal(draw(st.integers(0, 100))) / 100 // 1) / 100),
                "disease_code": draw(st.sampled_from([None, "C16.9", "I21.0", "K35.8"])),
                "package": draw(st.sampled_from([None, None, "K35", "O80"])),
            }
        )
    return out


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    raw=encounters(),
    poverty=st.sampled_from(["poor", "lifted", "monitored"]),
    aid=st.sampled_from(["tekun", "orphan", "dibao", "dibao_edge", "none"]),
)
def test_stored_path_equals_the_engine(policies, areas, raw, poverty, aid):
    document = load(POLICY_FILE)
    expected = engine.settle_claims(
        document, {"members": {"M": {"poverty_status": poverty, "aid_category": aid}}, "encounters": raw}
    )
    with transaction.atomic():
        member = MemberFactory(
            household=HouseholdFactory(village=areas["east_village"], poverty_status=poverty),
            aid_category=aid,
        )
        for e in raw:
            add_encounter(member, e)
        services.settle_member_year(member_id=member.pk, year=2025)
        assert stored_outputs() == {s["ref"]: s for s in expected}
        count = Settlement.objects.count()
        assert services.settle_member_year(member_id=member.pk, year=2025).written == 0
        assert Settlement.objects.count() == count
        transaction.set_rollback(True)
