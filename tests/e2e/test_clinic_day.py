"""A township clinic's day in a real browser, against gunicorn + a Celery worker: record an
illness for one of its people, sign the household with a family doctor, enter the hospital
stay, wait for the one-stop settlement the worker computes after the save, and open the
settlement statement (一站式结算单)."""

import datetime
import json
import time
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.utils import timezone

from claims.models import Contract, Encounter, IllnessRecord
from claims.reference import load_reference_data
from claims.reference_data import clinic_name
from settlement import services as settlement_services
from settlement.demo import DEMO_POLICY, policy_for_year
from settlement.models import Settlement
from settlement.templatetags.settlement_tags import yuan
from tests.e2e.conftest import ARTIFACTS, login, open_menu, pick_patient, wait_for_text
from tests.factories import HouseholdFactory, MemberFactory

HOSPITAL = "平罗县人民医院"  # a county-level designated hospital of the reference data
PACKAGE = "贫困人口基础包"
DIAGNOSIS = "I63.9"  # cerebral infarction: the catalogue's 脑卒中 (I60–I64)
TOTAL, IN_POLICY = Decimal("18650.40"), Decimal("16200.00")


@pytest.fixture
def clinic_day(areas, county_user, township_user):
    """城关镇's clinic user, a poor household of 城关镇一村 (a 低保 head and his wife), the
    reference data (catalogue, hospitals, clinics, packages), the clinic's team, and the demo
    policy active for the year of the stay (discharged two days ago)."""
    from claims import services as claims_services

    load_reference_data(clinics=True, demo_hospitals=True, packages=True)
    clinic = areas["east"].institutions.get(name=clinic_name(areas["east"].name))
    team = claims_services.team_create(user=county_user, name="城关镇家庭医生一队", institution=clinic)
    claims_services.team_member_add(user=county_user, team=team, name="赵立新", role="village_doctor")
    household = HouseholdFactory(village=areas["east_village"], number="640221001001", poverty_status="poor")
    patient = MemberFactory(household=household, name="马德福", relation="head", aid_category="dibao")
    MemberFactory(household=household, name="杨秀兰", sex="F", relation="spouse")

    discharged = timezone.localdate() - datetime.timedelta(days=2)
    admitted = discharged - datetime.timedelta(days=6)
    document = json.loads(DEMO_POLICY.read_text(encoding="utf-8"))
    if discharged.year != document["year"]:
        document = policy_for_year(document, discharged.year)
    policy = settlement_services.policy_import(user=county_user, document=document)
    settlement_services.policy_activate(user=county_user, policy=policy, resettle=False)
    return SimpleNamespace(
        household=household,
        patient=patient,
        team=team,
        policy=policy,
        admitted=admitted,
        discharged=discharged,
    )


def _expected_settlement(world, encounter):
    """The contract's result for this one stay, from the settlement engine on claims written
    here (member facts from the register, level from the hospital): what the page must show."""
    claims = {
        "members": {"M": {"poverty_status": "poor", "aid_category": "dibao"}},
        "encounters": [
            {
                "ref": encounter.ref,
                "member": "M",
                "date": world.discharged.isoformat(),
                "kind": "inpatient",
                "level": "county",
                "designated": True,
                "total_cost": str(TOTAL),
                "in_policy_cost": str(IN_POLICY),
                "disease_code": DIAGNOSIS,
            }
        ],
    }
    [result] = settlement_services.settlement_preview(claims=claims, code=world.policy.code)
    return result


def _wait_for_settlement(page, encounter, timeout=120):
    """Reload the encounter page, as a clerk would, until the worker has settled it."""
    deadline = time.monotonic() + timeout
    while not Settlement.objects.filter(encounter=encounter, is_current=True).exists():
        if time.monotonic() > deadline:
            page.screenshot(path=str(ARTIFACTS / "failure.png"), full_page=True)
            pytest.fail(f"encounter {encounter.ref} not settled within {timeout} s")
        time.sleep(0.5)
    page.reload()
    wait_for_text(page, "查看/打印结算单")
    return Settlement.objects.get(encounter=encounter, is_current=True)


def test_clinic_records_illness_contract_and_stay(live_app, browser_page, steps, clinic_day):
    page, world = browser_page, clinic_day
    login(page, live_app, "clinic")
    steps.shot("logged-in")

    # 1. The illness record (一人一档).
    open_menu(page, "就诊与救治", "疾病救治档案")
    page.get_by_role("link", name="新建档案").click()
    pick_patient(page, world.patient.name)
    page.get_by_label("诊断编码").fill(DIAGNOSIS)
    page.get_by_label("确诊日期").fill(world.admitted.isoformat())
    page.get_by_label("确诊机构").select_option(label=HOSPITAL)
    page.get_by_label("救治状态").select_option(label="救治中")
    page.get_by_label("救治方案").fill("住院溶栓治疗，出院后康复训练，村医每月随访。")
    steps.shot("illness-form")
    page.get_by_role("button", name="保存").click()
    wait_for_text(page, "疾病救治档案：马德福")
    record = IllnessRecord.objects.get(member=world.patient)
    assert (record.diagnosis_code, record.disease.name, record.status) == (DIAGNOSIS, "脑卒中", "treating")
    assert "脑卒中" in page.locator("h1").inner_text()
    steps.shot("illness-saved")

    # 2. The family-doctor contract for the household (the whole family by default).
    open_menu(page, "就诊与救治", "家庭医生签约")
    page.get_by_label("为单户签约：户主姓名、证件号码或户编号").fill(world.household.number)
    page.get_by_role("button", name="签约", exact=True).click()
    wait_for_text(page, f"签约：户 {world.household.number}")
    page.get_by_label("签约团队").select_option(label=world.team.name)
    page.get_by_label("服务包").select_option(label=PACKAGE)
    steps.shot("contract-form")
    page.get_by_role("button", name="保存").click()
    wait_for_text(page, "家庭医生签约服务协议书")
    contract = Contract.objects.get(household=world.household)
    assert (contract.team, contract.package.name, contract.status) == (world.team, PACKAGE, "active")
    assert contract.start_date == timezone.localdate()
    assert set(contract.members.all()) == set(world.household.members.all())
    assert world.team.name in page.content() and PACKAGE in page.content()
    steps.shot("contract-signed")

    # 3. The hospital stay, entered from the illness record (the patient comes filled in).
    open_menu(page, "就诊与救治", "疾病救治档案")
    page.get_by_role("link", name=world.patient.name).click()
    page.get_by_role("link", name="录入就诊").click()
    assert world.patient.name in page.get_by_label("患者").input_value()
    page.get_by_label("医疗机构").select_option(label=HOSPITAL)
    page.get_by_label("就诊类型").select_option(label="住院")
    page.get_by_label("入院日期").fill(world.admitted.isoformat())
    page.get_by_label("出院日期").fill(world.discharged.isoformat())
    page.get_by_label("诊断编码").fill(DIAGNOSIS)
    page.get_by_label("医疗总费用").fill(str(TOTAL))
    page.get_by_label("政策范围内费用").fill(str(IN_POLICY))
    steps.shot("stay-form")
    page.get_by_role("button", name="保存").click()
    wait_for_text(page, "就诊记录 HA")
    encounter = Encounter.objects.get(member=world.patient)
    assert (
        encounter.kind,
        encounter.institution.name,
        encounter.total_cost,
        encounter.in_policy_cost,
        encounter.diagnosis_name,
    ) == ("inpatient", HOSPITAL, TOTAL, IN_POLICY, "脑卒中")
    steps.shot("stay-saved")

    # 4. The worker settles it after the commit; the clerk opens the statement.
    settlement = _wait_for_settlement(page, encounter)
    steps.shot("stay-settled")
    expected = _expected_settlement(world, encounter)
    lines = {line.tier_key: line.amount for line in settlement.lines.all()}
    payouts = {key: Decimal(amount) for key, amount in expected["payouts"].items()}
    assert {key: amount for key, amount in payouts.items() if amount} == lines
    assert (
        settlement.total_cost,
        settlement.self_pay,
        settlement.in_policy_self_pay,
        settlement.out_of_policy_self_pay,
    ) == tuple(
        Decimal(expected[k])
        for k in ("total_cost", "self_pay", "in_policy_self_pay", "out_of_policy_self_pay")
    )
    assert settlement.payouts_total == sum(payouts.values()) and settlement.policy == world.policy
    box = page.locator("#settlement-box").inner_text()
    assert (
        f"报销合计 {yuan(settlement.payouts_total)} 元" in box
        and f"个人自付 {yuan(settlement.self_pay)} 元" in box
    )

    page.get_by_role("link", name="查看/打印结算单").click()
    wait_for_text(page, "困难群众医疗费用一站式结算单")
    shown = {
        field: page.locator(f"[data-field={field}]").inner_text()
        for field in ("total_cost", "payouts_total", "self_pay")
    }
    assert shown == {
        "total_cost": yuan(TOTAL),
        "payouts_total": yuan(settlement.payouts_total),
        "self_pay": yuan(settlement.self_pay),
    }
    for key, amount in payouts.items():
        assert page.locator(f"tr[data-tier={key}] td.money").inner_text() == yuan(amount), key
    statement = page.locator(".statement").inner_text()
    assert f"其中政策范围内 {yuan(settlement.in_policy_self_pay)}" in statement
    assert f"政策范围外 {yuan(settlement.out_of_policy_self_pay)}" in statement
    assert f"{encounter.ref}-{settlement.pk}" in statement and "马德福" in statement
    assert world.household.get_poverty_status_display() in statement
    steps.shot("statement")
