"""The claims review's money path on the real database: a flagged itemised claim is deducted,
the outbox has settlement re-settle the member's year, and the new settlements equal the pure
engine's on the deducted items; the ledger moves exactly the deduction from funds and patient
to the institution."""

import copy
from decimal import Decimal

import pytest

from claims import review
from claims.models import ReviewDecision, ReviewRule, ViolationReason
from core.outbox import outbox_dispatch
from settlement import engine, selectors, services
from settlement.models import Settlement
from tests.settlement_world import FIXTURES, load, store_claims, stored_outputs

POLICY = FIXTURES / "policies" / "demo-county-2025-items.json"
CLAIMS = FIXTURES / "settlement" / "demo-county-2025-items.claims.json"


@pytest.fixture
def items_world(county_user, areas):
    """The itemised golden claims stored through the claims service and settled, with the 丙类
    share threshold at 5% so that I-1 (丙类 1,000.00 of 10,000.00) is flagged."""
    ReviewRule.objects.filter(code="class_c_share").update(threshold=Decimal("0.05"))
    document, claims = load(POLICY), load(CLAIMS)
    policy = services.policy_import(user=county_user, document=document)
    services.policy_activate(user=county_user, policy=policy, resettle=False)
    members, encounters = store_claims(county_user, areas, claims, prefix="R")
    outbox_dispatch()  # the sweeper: the test's transaction never commits
    return document, claims, members, encounters


def _expected(document, claims, ref, deductions):
    """The pure engine's outputs of the claims with ``deductions`` ({position: amount}) on
    ``ref``'s items: computed from the contract, not read from the database."""
    claims = copy.deepcopy(claims)
    for raw in claims["encounters"]:
        if raw["ref"] == ref:
            for position, amount in deductions.items():
                raw["items"][position - 1]["deducted"] = amount
    return {case["ref"]: case for case in engine.settle_claims(document, claims)}


def _cents(value):
    return Decimal(value)


def test_flag_then_deduct_resettles_like_the_engine_and_the_ledger_moves_the_deduction(
    items_world, county_user
):
    document, claims, members, encounters = items_world
    i1 = encounters["I-1"]
    assert list(i1.review_flags.values_list("code", flat=True)) == ["class_c_share"]
    assert stored_outputs() == _expected(document, claims, "I-1", {})
    before = Settlement.objects.get(encounter=i1, is_current=True)
    ledger_before = selectors.ledger(year=2025, institution=i1.institution_id)

    reason = ViolationReason.objects.get(code="over_examination")
    i1.refresh_from_db()
    decision = review.review_decide(
        user=county_user,
        encounter=i1,
        version=i1.version,
        outcome="deduct",
        reason=reason,
        note="B1 检查无指征，扣除一半",
        item_deductions={2: "1500.00"},
        key="decide-1",
    )
    assert (decision.deducted, decision.change, decision.billed) == (
        Decimal("1500.00"),
        Decimal("1500.00"),
        Decimal("10000.00"),
    )
    outbox_dispatch()

    expected = _expected(document, claims, "I-1", {2: "1500.00"})
    assert expected["I-1"]["deducted"] == "1500.00" and expected["I-1"]["total_cost"] == "8500.00"
    assert stored_outputs() == expected
    after = Settlement.objects.get(encounter=i1, is_current=True)
    assert after.pk != before.pk and after.supersedes == before and after.deducted == Decimal("1500.00")
    # Funds and patient together pay exactly the deduction less; the patient's part is refunded.
    paid_less = (before.payouts_total - after.payouts_total) + (before.self_pay - after.self_pay)
    assert paid_less == Decimal("1500.00")
    assert after.self_pay_difference == after.self_pay - before.self_pay
    assert sum((line.difference for line in after.lines.all()), Decimal(0)) == after.payouts_total - (
        before.payouts_total
    )

    ledger_after = selectors.ledger(year=2025, institution=i1.institution_id)
    owed_less = ledger_before["totals"]["owed"] - ledger_after["totals"]["owed"]
    assert owed_less == before.payouts_total - after.payouts_total
    accounts_before, accounts_after = ledger_before["accounts"]["totals"], ledger_after["accounts"]["totals"]
    assert accounts_after["deducted"] - accounts_before["deducted"] == Decimal("1500.00")
    assert accounts_after["billed"] == accounts_before["billed"]
    assert (accounts_before["funds"] + accounts_before["patients"]) - (
        accounts_after["funds"] + accounts_after["patients"]
    ) == Decimal("1500.00")
    for totals in (accounts_before, accounts_after):
        assert totals["billed"] == totals["funds"] + totals["patients"] + totals["deducted"]

    # The same submission again (double click): nothing twice.
    again = review.review_decide(
        user=county_user,
        encounter=i1,
        version=decision.encounter_version - 1,
        outcome="deduct",
        reason=reason,
        note="B1 检查无指征，扣除一半",
        item_deductions={2: "1500.00"},
        key="decide-1",
    )
    assert again.pk == decision.pk and again._replayed
    assert ReviewDecision.objects.filter(encounter=i1).count() == 1


def test_a_rejection_settles_nothing_and_an_approval_restores_the_bill(items_world, county_user):
    document, claims, members, encounters = items_world
    i2 = encounters["I-2"]
    reason = ViolationReason.objects.get(code="fictitious_service")
    i2.refresh_from_db()
    rejected = review.review_decide(
        user=county_user,
        encounter=i2,
        version=i2.version,
        outcome="reject",
        reason=reason,
        note="查无此次住院",
    )
    outbox_dispatch()
    everything = {1: "12345.67", 2: "8000.01"}
    assert stored_outputs() == _expected(document, claims, "I-2", everything)
    settled = Settlement.objects.get(encounter=i2, is_current=True)
    assert (settled.total_cost, settled.payouts_total, settled.self_pay) == (0, 0, 0)
    assert settled.deducted == rejected.deducted == Decimal("20345.68")
    i2.refresh_from_db()
    review.review_decide(user=county_user, encounter=i2, version=i2.version, outcome="approve")
    outbox_dispatch()
    assert stored_outputs() == _expected(document, claims, "I-2", {})
    assert ReviewDecision.objects.filter(encounter=i2, is_current=True).get().outcome == "approve"
    assert ReviewDecision.objects.filter(encounter=i2).count() == 2
