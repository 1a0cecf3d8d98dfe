"""The review queue (医保审核): who sees it, the decision form (deduct per item or by amount,
reject, approve), one-time and stale submissions, the report's figures and the feedback."""

import datetime
from decimal import Decimal as D

import pytest
from django.urls import reverse

from claims import review, review_selectors, services
from claims.models import ReviewDecision, ReviewOutcome, ViolationReason
from core.errors import DomainError
from tests.factories import InstitutionFactory, make_hospital_user, make_user
from tests.sheets import workbook

ITEMS = [
    {"code": "D1", "class": "A", "category": "western_drug", "amount": "4500.00", "name": "头孢"},
    {"code": "X9", "class": "C", "category": "exam", "amount": "1500.00", "name": "彩超"},
    {"code": "S1", "class": "A", "category": "surgery", "amount": "4000.00", "name": "阑尾切除"},
]


def _stay(user, world, *, member=None, institution=None, admitted=datetime.date(2025, 3, 1), days=7, **kw):
    values = dict(
        user=user,
        member=member or world.east_head,
        institution=institution or world.county_hospital,
        kind="inpatient",
        admission_date=admitted,
        discharge_date=admitted + datetime.timedelta(days=days),
        diagnosis_code="K35.8",
        items=ITEMS,
    )
    values.update(kw)
    return services.encounter_create(**values)[0]


@pytest.fixture
def flagged(world, county_user, settlement_spy):
    """One itemised stay flagged for 药占比 (45%) and 丙类占比 (15%)."""
    encounter = _stay(county_user, world)
    assert sorted(encounter.review_flags.values_list("code", flat=True)) == ["class_c_share", "drug_share"]
    return encounter


def _deduct_second_line(user, encounter, amount):
    return review.review_decide(
        user=user,
        encounter=encounter,
        version=1,
        outcome="deduct",
        reason=reason(),
        item_deductions={2: amount},
    )


def reason(code="over_examination"):
    return ViolationReason.objects.get(code=code)


def test_the_violation_codes_are_seeded(db):
    names = set(ViolationReason.objects.values_list("name", flat=True))
    assert {"分解住院", "过度检查", "超标准收费", "目录外药品按目录内报销", "重复收费", "串换项目"} <= names


def test_who_sees_the_queue(
    as_user, flagged, county_user, supervisor, township_user, django_assert_max_num_queries
):
    url = reverse("claims:review_queue")
    c = as_user(county_user)
    with django_assert_max_num_queries(12):
        page = c.get(url)
    assert page.status_code == 200 and flagged.ref in page.content.decode()
    assert "药占比偏高" in page.content.decode()
    assert as_user(supervisor).get(url).status_code == 200
    assert as_user(supervisor).get(reverse("claims:review_decide", args=[flagged.pk])).status_code == 403
    assert as_user(township_user).get(url).status_code == 403
    # Filters by rule, institution and state, shared with the export.
    c = as_user(county_user)
    assert flagged.ref in c.get(url, {"rule": "drug_share", "state": "pending"}).content.decode()
    assert flagged.ref not in c.get(url, {"rule": "readmission"}).content.decode()
    other = InstitutionFactory(name="县中医院", level="county")
    assert flagged.ref not in c.get(url, {"institution": other.pk}).content.decode()
    sheet = workbook(c.get(url, {"export": "xlsx"})).active
    values = [cell.value for row in sheet.iter_rows() for cell in row]
    assert flagged.ref in values


def test_deduct_an_item_through_the_page(as_user, flagged, county_user, settlement_spy):
    c = as_user(county_user)
    url = reverse("claims:review_decide", args=[flagged.pk])
    page = c.get(url)
    assert page.status_code == 200
    token = page.context["form"]["form_token"].value()
    body = {
        "version": flagged.version,
        "form_token": token,
        "outcome": "deduct",
        "reason": reason().pk,
        "note": "彩超无指征",
        "item_2": "1500.00",
    }
    settlement_spy.queued.clear()
    assert c.post(url, body).status_code == 302
    assert c.post(url, body).status_code == 302  # the same form twice: one decision
    decision = ReviewDecision.objects.get(encounter=flagged)
    assert (decision.outcome, decision.deducted, decision.change) == ("deduct", D("1500.00"), D("1500.00"))
    assert decision.items == {"2": "1500.00"} and decision.decided_by == county_user
    flagged.refresh_from_db()
    assert [i.deducted for i in flagged.items.order_by("position")] == [D("0.00"), D("1500.00"), D("0.00")]
    assert flagged.in_policy_cost == D("8500.00") and flagged.version == 2
    assert settlement_spy.queued == [(flagged.member_id, 2025)]
    assert flagged.history.first().history_change_reason == "审核：违规扣款，扣除 1500.00 元"
    assert decision.history.count() == 1
    # Stale: the form of version 1 with a new token is refused as a conflict.
    stale = c.post(url, {**body, "form_token": "another", "item_2": "100.00"})
    assert stale.status_code == 200 and "已被修改或已由他人审核" in stale.content.decode()
    assert ReviewDecision.objects.filter(encounter=flagged).count() == 1


def test_refusals_name_the_field(flagged, county_user):
    def decide(**kw):
        values = dict(user=county_user, encounter=flagged, version=flagged.version, outcome="deduct")
        values.update(kw)
        with pytest.raises(DomainError) as exc:
            review.review_decide(**values)
        return exc.value

    assert decide(item_deductions={1: "1"}).field == "reason"
    assert decide(reason=reason(), item_deductions={2: "1500.01"}).field == "items[2]"
    assert decide(reason=reason(), item_deductions={9: "1"}).field == "items"
    assert decide(reason=reason(), amount="10000.01").field == "amount"
    assert decide(reason=reason(), amount="1.001").field == "amount"
    assert decide(reason=reason(), item_deductions={1: "1"}, amount="1").field == "amount"
    assert decide(reason=reason("other"), amount="10").field == "note"
    assert decide(reason=reason(), amount="10", version=7).code == "conflict"
    with pytest.raises(Exception, match="县级"):
        review.review_decide(
            user=make_user("sup2", "supervisor"),
            encounter=flagged,
            version=flagged.version,
            outcome="approve",
        )


def test_a_whole_amount_is_spread_over_the_lines_to_the_cent(flagged, county_user):
    decision = review.review_decide(
        user=county_user, encounter=flagged, version=1, outcome="deduct", reason=reason(), amount="100.01"
    )
    # 4500 : 1500 : 4000 of 100.01 → 45.0045, 15.0015, 40.004: rounded down 45.00 + 15.00 +
    # 40.00, the cent left goes to the largest remainder (0.0045, the first line).
    assert decision.items == {"1": "45.01", "2": "15.00", "3": "40.00"}
    assert decision.deducted == D("100.01")


def test_a_claim_without_items_is_rejected_through_a_two_line_bill(world, county_user, settlement_spy):
    encounter = services.encounter_create(
        user=county_user,
        member=world.east_head,
        institution=world.county_hospital,
        kind="inpatient",
        admission_date=datetime.date(2025, 5, 1),
        discharge_date=datetime.date(2025, 5, 4),
        total_cost=D("3000.00"),
        in_policy_cost=D("2600.00"),
    )[0]
    decision = review.review_decide(
        user=county_user,
        encounter=encounter,
        version=1,
        outcome="reject",
        reason=reason("fictitious_service"),
    )
    items = list(encounter.items.order_by("position").values_list("item_class", "amount", "deducted"))
    assert items == [("A", D("2600.00"), D("2600.00")), ("C", D("400.00"), D("400.00"))]
    assert decision.deducted == decision.billed == D("3000.00")
    encounter.refresh_from_db()
    assert encounter.total_cost == D("3000.00") and encounter.in_policy_cost == 0


def test_report_figures_by_hand(as_user, world, county_user, township_user, supervisor, settlement_spy):
    a = _stay(county_user, world)  # 7 days, 10,000.00, drugs 4,500.00
    b = _stay(
        county_user,
        world,
        member=world.west_head,
        admitted=datetime.date(2025, 3, 10),
        days=0,  # same day: counts one day
        items=[{"code": "D2", "class": "B", "category": "patent_drug", "amount": "1000.00"}],
    )
    review.review_decide(
        user=county_user,
        encounter=a,
        version=a.version,
        outcome="deduct",
        reason=reason(),
        item_deductions={1: "500"},
    )
    report = review_selectors.review_report(county_user, year=2025)
    (row,) = report["rows"]
    # The world's two outpatient visits (200.00 each) count too.
    assert row["claims"] == 4 and row["flagged"] == 2 and row["deducted"] == D("500.00")
    # 次均费用 on what was billed (the bill's gross): (10,000 + 1,000 + 200 + 200) / 4.
    assert row["cost_per_claim"] == D("2850.00")
    assert row["average_stay"] == D("4.0")  # (7 + 1) / 2
    assert row["drug_share"] == D("0.4762")  # (4,000 + 1,000) / (9,500 + 1,000)
    assert report["reasons"] == [{"id": reason().pk, "name": "过度检查"}] and row["by_reason"] == [
        D("500.00")
    ]
    assert review_selectors.review_report(county_user, year=2025, month=4)["rows"] == []
    # A township clinic sees its township's patients only (王秀英 is east, 李建国 west).
    (east,) = review_selectors.review_report(township_user, year=2025)["rows"]
    assert east["claims"] == 2  # her stay and her visit
    c = as_user(supervisor)
    assert c.get(reverse("claims:review_report"), {"year": 2025}).status_code == 200
    export = c.get(reverse("claims:review_report"), {"year": 2025, "export": "xlsx"})
    sheet = workbook(export).active
    values = [cell.value for r in sheet.iter_rows() for cell in r]
    assert "县人民医院" in values and "扣除：过度检查" in values
    assert b.pk


def test_feedback_shows_an_institutions_own_deductions(as_user, flagged, county_user, township_user):
    _deduct_second_line(county_user, flagged, "1500")
    (decision,) = review_selectors.review_feedback_for_institution(flagged.institution)
    assert decision.outcome == ReviewOutcome.DEDUCT
    other = InstitutionFactory(name="县中医院", level="county")
    assert not review_selectors.review_feedback_for_institution(other).exists()
    url = reverse("claims:review_feedback")
    page = as_user(county_user).get(url, {"institution": flagged.institution_id})
    assert "彩超" in page.content.decode() and "过度检查" in page.content.decode()
    assert as_user(township_user).get(url).status_code == 403


def test_the_api_lists_and_decides_once(
    as_user, flagged, county_user, supervisor, township_user, django_assert_max_num_queries
):
    url = "/api/v1/claims/review/"
    c = as_user(county_user)
    with django_assert_max_num_queries(10):
        listed = c.get(url, {"rule": "drug_share", "state": "pending"})
    assert listed.status_code == 200
    (row,) = listed.json()["results"] if "results" in listed.json() else listed.json()
    assert row["ref"] == flagged.ref and row["review_state"] == "pending" and row["decision"] is None
    assert {f["code"] for f in row["review_flags"]} == {"drug_share", "class_c_share"}
    body = {"version": 1, "outcome": "deduct", "reason": "item_swap", "items": {"1": "100.00"}}
    first = c.post(
        f"{url}{flagged.pk}/decide/", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k1"
    )
    assert first.status_code == 201, first.content
    again = c.post(
        f"{url}{flagged.pk}/decide/", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k1"
    )
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"] and first.json()["deducted"] == "100.00"
    stale = c.post(
        f"{url}{flagged.pk}/decide/", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k2"
    )
    assert stale.status_code == 409 and stale.json()["code"] == "conflict"
    assert c.get(url, {"state": "deduct"}).json()["results"][0]["decision"]["reason"] == "item_swap"
    assert as_user(supervisor).get(url).status_code == 200
    assert (
        as_user(supervisor)
        .post(f"{url}{flagged.pk}/decide/", body, content_type="application/json")
        .status_code
        == 403
    )
    assert as_user(township_user).get(url).status_code == 403


def test_a_hospital_user_sees_its_own_feedback_and_report(as_user, world, flagged, county_user):
    """A 定点医疗机构 account sees its own institution's deductions and report, never another's
    (the ``institution`` parameter is ignored for it)."""
    other = InstitutionFactory(name="县中医院", level="county")
    stranger = make_hospital_user("hospital", other)
    own = make_hospital_user("own-hospital", flagged.institution)
    _deduct_second_line(county_user, flagged, "1")
    page = as_user(stranger).get(reverse("claims:review_feedback"), {"institution": flagged.institution_id})
    assert page.status_code == 200 and page.context["institution"] == other
    assert flagged.ref not in page.content.decode()
    assert review_selectors.review_report(stranger, year=2025)["rows"] == []
    assert review_selectors.review_report(county_user, year=2025)["rows"]
    page = as_user(own).get(reverse("claims:review_feedback"))
    assert page.status_code == 200 and flagged.ref in page.content.decode()
    assert [row["institution_id"] for row in review_selectors.review_report(own, year=2025)["rows"]] == [
        flagged.institution_id
    ]
