"""Settlement on the facts of the day of care (dated registry facts).

The golden cases ``demo-county-2025-facts`` (copied from the contract) give each encounter
the member's facts on its date. Here the registry holds those facts as dated periods, so the
stored path must reach the same figures; a change of status or aid category leaves the stays
before its effective date exactly as they were (same settlement row, same amounts) and
re-settles the ones after it."""

import datetime
from decimal import Decimal

from registry import fact_services
from settlement import batch, engine, services
from settlement.models import Settlement, SettlementProblem, SettlementRun
from tests.settlement_world import FIXTURES, POLICY_FILE, load, settle_all, stored_outputs

FACTS_CLAIMS = FIXTURES / "settlement" / "demo-county-2025-facts.claims.json"
D = datetime.date


def _record_history(user, members):
    """The registry's dated facts behind the golden cases' per-encounter facts."""
    el, m = members["L"], members["M"]
    change = fact_services.household_status_change
    aid = fact_services.member_aid_category_change
    # L: lifted and out of 低保 from June, monitored from November.
    change(
        user=user,
        household=el.household,
        poverty_status="lifted",
        effective_from=D(2025, 6, 1),
        reason="脱贫",
    )
    aid(user=user, member=el, aid_category="none", effective_from=D(2025, 6, 1), reason="退出低保")
    change(
        user=user,
        household=el.household,
        poverty_status="monitored",
        effective_from=D(2025, 11, 1),
        reason="监测",
    )
    # M: lifted and out of 低保 from August; back to poor (返贫) and 特困 from December.
    change(
        user=user, household=m.household, poverty_status="lifted", effective_from=D(2025, 8, 1), reason="脱贫"
    )
    aid(user=user, member=m, aid_category="none", effective_from=D(2025, 8, 1), reason="退出低保")
    change(
        user=user, household=m.household, poverty_status="poor", effective_from=D(2025, 12, 1), reason="返贫"
    )
    aid(user=user, member=m, aid_category="tekun", effective_from=D(2025, 12, 1), reason="认定特困")


def _current():
    return {
        s.encounter.ref: (s.pk, s.total_cost, s.self_pay)
        for s in Settlement.objects.filter(is_current=True).select_related("encounter")
    }


def test_lifted_household_keeps_its_earlier_stays(facts_world, policies, county_user, facts_golden):
    m = facts_world.members["M"]
    settle_all(facts_world)
    expected = facts_golden.expected
    # On 1 January 2025 M is poor with 低保: F-5 is the golden poor/低保 stay.
    assert stored_outputs(["F-5"]) == {"F-5": expected["F-5"]}
    first = _current()

    fact_services.household_status_change(
        user=county_user,
        household=m.household,
        poverty_status="lifted",
        effective_from=D(2025, 8, 1),
        reason="脱贫验收通过",
        document_number="县政发〔2025〕12号",
    )
    fact_services.member_aid_category_change(
        user=county_user, member=m, aid_category="none", effective_from=D(2025, 8, 1), reason="退出低保"
    )
    m.refresh_from_db()
    assert m.household.poverty_status == "lifted" and m.aid_category == "none"  # today's fact
    results = settle_all(facts_world)
    after = _current()
    # Before the effective date: the same row, the same amounts, nothing written for it.
    assert after["F-5"] == first["F-5"]
    assert Settlement.objects.filter(encounter__ref="F-5").count() == 1
    assert stored_outputs(["F-5", "F-6"]) == {"F-5": expected["F-5"], "F-6": expected["F-6"]}
    assert after["F-6"][0] != first["F-6"][0]
    old = Settlement.objects.get(pk=first["F-6"][0])
    assert not old.is_current and old.superseded_by_id == after["F-6"][0]
    m_year = results[(m.pk, 2025)]
    assert m_year.unchanged == 1 and m_year.resettled == 2

    # 返贫 and 特困 from December: only F-7 changes, to the golden figures.
    fact_services.household_status_change(
        user=county_user,
        household=m.household,
        poverty_status="poor",
        effective_from=D(2025, 12, 1),
        reason="返贫",
    )
    fact_services.member_aid_category_change(
        user=county_user, member=m, aid_category="tekun", effective_from=D(2025, 12, 1), reason="认定特困"
    )
    settle_all(facts_world)
    final = _current()
    assert final["F-5"] == after["F-5"] and final["F-6"] == after["F-6"]
    assert final["F-7"][0] != after["F-7"][0]
    assert stored_outputs(["F-5", "F-6", "F-7"]) == {r: expected[r] for r in ("F-5", "F-6", "F-7")}


def test_aid_category_change_only_from_its_date(facts_world, policies, county_user, document):
    el = facts_world.members["L"]
    settle_all(facts_world)
    first = _current()
    fact_services.member_aid_category_change(
        user=county_user, member=el, aid_category="none", effective_from=D(2025, 6, 1), reason="退出低保"
    )
    settle_all(facts_world)
    after = _current()
    assert after["F-1"] == first["F-1"] and after["F-2"] == first["F-2"]
    # The engine's figures with each encounter's facts: poor throughout, 低保 until June.
    claims = {
        "members": {"L": {"poverty_status": "poor", "aid_category": "none"}},
        "encounters": [
            {
                **raw,
                "poverty_status": "poor",
                "aid_category": "dibao" if raw["date"] < "2025-06-01" else "none",
            }
            for raw in load(FACTS_CLAIMS)["encounters"]
            if raw["member"] == "L"
        ],
    }
    want = {s["ref"]: s for s in engine.settle_claims(document, claims)}
    assert stored_outputs(["F-1", "F-2", "F-3", "F-4"]) == want
    assert after["F-3"][0] != first["F-3"][0]  # F-3 and F-4 lost the 低保 aid


def test_batch_run_and_simulation_use_dated_facts(facts_world, policies, county_user, facts_golden):
    _record_history(county_user, facts_world.members)
    run = services.settlement_run_start(
        user=county_user, kind=SettlementRun.Kind.SETTLE_YEAR, year=2025, enqueue=False
    )
    run = services.settlement_run_execute(run_id=run.pk)
    assert run.status == "done", run.error
    assert stored_outputs() == facts_golden.expected
    # A simulation of the same policy finds what is stored.
    draft = services.policy_import(
        user=county_user, document={**load(POLICY_FILE), "code": "draft-2025", "name": "草稿"}
    )
    compiled = batch.compiled_policy(draft)
    ids = [m.pk for m in facts_world.members.values()]
    simulated = batch.simulate_members(ids, 2025, compiled, None)
    cases = facts_golden.expected.values()
    total = sum(int(Decimal(case["total_cost"]) * 100) for case in cases)
    paid = sum(int(sum(Decimal(v) for v in case["payouts"].values()) * 100) for case in cases)
    assert (simulated.encounters, simulated.total_cost, simulated.payouts) == (7, total, paid)


def test_enrollment_of_the_year_decides_insured(facts_world, policies, county_user):
    m = facts_world.members["M"]
    # Today's flag says insured; the 2025 enrollment says not: the 2025 stays need attention.
    fact_services.enrollment_record(user=county_user, member=m, year=2025, insured=False)
    settle_all(facts_world)
    problems = SettlementProblem.objects.filter(encounter__member=m)
    assert {p.reason for p in problems} == {"not_insured"} and problems.count() == 3
    assert "2025年度登记为未参保" in problems.first().detail
    assert not Settlement.objects.filter(member=m).exists()
    # Enrolled for 2025 (premium fully subsidised) while today's flag says not insured.
    fact_services.enrollment_record(
        user=county_user,
        member=m,
        year=2025,
        insured=True,
        premium="380.00",
        subsidy="380.00",
        personal_share="0.00",
        subsidy_category="低保对象全额资助",
        subsidy_fund="医疗救助资金",
    )
    type(m).objects.filter(pk=m.pk).update(insured=False)
    settle_all(facts_world)
    assert Settlement.objects.filter(member=m, is_current=True).count() == 3
    assert not SettlementProblem.objects.filter(encounter__member=m).exists()


def test_care_after_a_member_left_is_not_settled(facts_world, policies, county_user):
    m = facts_world.members["M"]
    settle_all(facts_world)
    first = _current()
    fact_services.member_exit(
        user=county_user, member=m, left_on=D(2025, 9, 1), reason="moved", note="迁往外省"
    )
    settle_all(facts_world)
    after = _current()
    assert after["F-5"] == first["F-5"] and after["F-6"] == first["F-6"]  # kept
    problem = SettlementProblem.objects.get(encounter__ref="F-7")
    assert problem.reason == "invalid" and "2025-09-01减员" in problem.detail
    # Money already paid is not reversed silently: F-7's settlement stays, flagged.
    assert after["F-7"] == first["F-7"]
