"""The county's claims review in a real browser, against gunicorn + a Celery worker: a
hospital stay with an itemised bill is flagged by the automatic review (药占比), the county's
reviewer opens the queue, deducts part of one item with a violation code, the worker
re-settles the stay, the new statement shows the deduction borne by the hospital and the
patient's refund, and the fund ledger shows the deduction against the hospital's account."""

import datetime
import json
import time
from decimal import Decimal
from types import SimpleNamespace

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.utils import timezone

from claims import services as claims_services
from claims.models import ReviewDecision, ViolationReason
from settlement import engine
from settlement import services as settlement_services
from settlement.demo import policy_for_year
from settlement.models import Settlement
from settlement.templatetags.settlement_tags import yuan
from tests.e2e.conftest import ARTIFACTS, login, open_menu, wait_for_text
from tests.e2e.test_accessibility import _blocking
from tests.factories import HouseholdFactory, InstitutionFactory, MemberFactory
from tests.settlement_world import FIXTURES

HOSPITAL = "县第二人民医院"
ITEMS = [
    {
        "code": "XY001",
        "name": "注射用头孢曲松钠",
        "class": "A",
        "category": "western_drug",
        "amount": "3000.00",
    },
    {"code": "JC002", "name": "头颅CT", "class": "B", "category": "exam", "amount": "2000.00"},
    {"code": "CL003", "name": "一次性材料", "class": "C", "category": "material", "amount": "500.00"},
]
DEDUCTED = Decimal("1200.00")  # of JC002, 过度检查


@pytest.fixture
def review_day(areas, county_user):
    """A poor 低保 patient's itemised stay (discharged two days ago) at a county hospital,
    entered through the claims service (so it is reviewed and queued for settlement), under
    the items demo policy active for its year. The violation code is made again if missing:
    a transactional test's flush empties the tables the migrations seeded."""
    ViolationReason.objects.get_or_create(code="over_examination", defaults={"name": "过度检查"})
    discharged = timezone.localdate() - datetime.timedelta(days=2)
    admitted = discharged - datetime.timedelta(days=5)
    document = json.loads((FIXTURES / "policies" / "demo-county-2025-items.json").read_text(encoding="utf-8"))
    if discharged.year != document["year"]:
        document = policy_for_year(document, discharged.year)
    policy = settlement_services.policy_import(user=county_user, document=document)
    settlement_services.policy_activate(user=county_user, policy=policy, resettle=False)
    household = HouseholdFactory(village=areas["east_village"], number="640221009001", poverty_status="poor")
    patient = MemberFactory(household=household, name="马福海", relation="head", aid_category="dibao")
    hospital = InstitutionFactory(name=HOSPITAL, level="county")
    encounter = claims_services.encounter_create(
        user=county_user,
        member=patient,
        institution=hospital,
        kind="inpatient",
        admission_date=admitted,
        discharge_date=discharged,
        diagnosis_code="J18.9",
        diagnosis_name="肺炎",
        items=ITEMS,
    )[0]
    return SimpleNamespace(
        document=document, patient=patient, hospital=hospital, encounter=encounter, discharged=discharged
    )


def _engine(world, deducted=None):
    """The contract's result for the stay, from the pure engine on claims written here."""
    items = [dict(item) for item in ITEMS]
    if deducted is not None:
        items[1]["deducted"] = str(deducted)
    claims = {
        "members": {"M": {"poverty_status": "poor", "aid_category": "dibao"}},
        "encounters": [
            {
                "ref": world.encounter.ref,
                "member": "M",
                "date": world.discharged.isoformat(),
                "kind": "inpatient",
                "level": "county",
                "disease_code": "J18.9",
                "items": items,
            }
        ],
    }
    [result] = engine.settle_claims(world.document, claims)
    return result


def _wait(condition, what, page, timeout=120):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            page.screenshot(path=str(ARTIFACTS / "failure.png"), full_page=True)
            pytest.fail(f"{what} within {timeout} s")
        time.sleep(0.5)


def test_county_reviews_a_flagged_stay(live_app, browser_page, steps, review_day):
    page, world = browser_page, review_day
    encounter = world.encounter
    assert "drug_share" in encounter.review_flags.values_list("code", flat=True)
    _wait(
        lambda: Settlement.objects.filter(encounter=encounter, is_current=True).exists(),
        "the stay was not settled",
        page,
    )
    before = Settlement.objects.get(encounter=encounter, is_current=True)
    assert before.total_cost == Decimal(_engine(world)["total_cost"])

    login(page, live_app, "county")
    open_menu(page, "就诊与救治", "医保审核")
    wait_for_text(page, encounter.ref)
    row = page.locator(f"#review-queue tr[data-ref='{encounter.ref}']")
    assert "药占比偏高" in row.inner_text() and "待审核" in row.inner_text()
    assert _blocking(Axe().run(page)) == []  # accessibility, as test_accessibility checks pages
    steps.shot("queue")

    row.get_by_role("link", name="审核").click()
    wait_for_text(page, f"医保审核 {encounter.ref}")
    assert "药占比" in page.locator("[data-section=review-flags]").inner_text()
    assert _blocking(Axe().run(page)) == []
    page.get_by_label("违规扣款").check()
    page.get_by_label("第2项（JC002）扣除金额").fill(str(DEDUCTED))
    page.get_by_label("违规类型").select_option(label="过度检查")
    page.get_by_label("审核意见").fill("头颅CT无指征，按规定扣除。")
    steps.shot("decision")
    page.get_by_role("button", name="保存审核结论").click()
    wait_for_text(page, "审核结论已保存")
    row = page.locator(f"#review-queue tr[data-ref='{encounter.ref}']")
    assert "违规扣款（过度检查）" in row.inner_text() and str(DEDUCTED) in row.inner_text()
    decision = ReviewDecision.objects.get(encounter=encounter)
    assert (decision.outcome, decision.deducted, decision.reason.name) == ("deduct", DEDUCTED, "过度检查")
    steps.shot("decided")

    # The worker re-settles the stay after the decision's commit.
    _wait(
        lambda: Settlement.objects.filter(encounter=encounter, is_current=True, deducted=DEDUCTED).exists(),
        "the stay was not re-settled",
        page,
    )
    after = Settlement.objects.get(encounter=encounter, is_current=True)
    expected = _engine(world, DEDUCTED)
    assert (after.total_cost, after.self_pay, after.payouts_total) == (
        Decimal(expected["total_cost"]),
        Decimal(expected["self_pay"]),
        sum(Decimal(v) for v in expected["payouts"].values()),
    )
    refund = before.self_pay - after.self_pay
    assert (before.payouts_total - after.payouts_total) + refund == DEDUCTED

    page.goto(f"{live_app}/claims/encounters/{encounter.pk}/")
    page.get_by_role("link", name="查看/打印结算单").click()
    wait_for_text(page, "困难群众医疗费用一站式结算单")
    statement = page.locator(".statement").inner_text()
    assert f"违规扣除 {yuan(DEDUCTED)} 元由医疗机构承担" in statement
    assert page.locator("[data-field=total_cost]").inner_text() == yuan(after.total_cost)
    if refund:
        assert f"退还患者 {yuan(refund)} 元" in statement
    steps.shot("statement")

    open_menu(page, "一站式结算", "基金拨付台账")
    wait_for_text(page, "医疗机构结算账户")
    page.goto(f"{live_app}/settlement/ledger/?year={world.discharged.year}")
    account = page.locator(f"#accounts-table tr[data-institution='{HOSPITAL}']")
    assert account.locator("[data-field=deducted]").inner_text() == yuan(DEDUCTED)
    cells = account.locator("td.money").all_inner_texts()
    assert cells[0] == yuan(before.total_cost)  # billed: funds + patients + deducted
    steps.shot("ledger")

    # The review report: the hospital's deduction by reason.
    open_menu(page, "就诊与救治", "审核报表")
    page.goto(f"{live_app}/claims/review/report/?year={world.discharged.year}")
    report = page.locator(f"#review-report tr[data-institution='{HOSPITAL}']")
    assert report.locator("[data-field=deducted]").inner_text() == str(DEDUCTED)
    assert _blocking(Axe().run(page)) == []
    steps.shot("report")
