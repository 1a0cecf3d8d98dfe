"""The 费用明细 rows of the encounter entry page in a real browser: a code typed is looked up
in the medical-insurance catalogue (API), a catalogue code fills its line, an unknown code shows
「不在目录内」 before saving, the encounter is saved with its lines and totals from them, and the
review flags the unknown code after."""

import datetime
from decimal import Decimal

from django.utils import timezone
from playwright.sync_api import expect

from claims.models import Encounter
from claims.reference import load_reference_data
from tests.e2e.conftest import login, pick_patient, wait_for_text
from tests.factories import CatalogueItemFactory, HouseholdFactory, MemberFactory

HOSPITAL = "平罗县人民医院"


def test_clinic_picks_items_from_the_catalogue(live_app, browser_page, steps, areas, township_user):
    load_reference_data(clinics=True, demo_hospitals=True)
    household = HouseholdFactory(village=areas["east_village"], number="640221001009", poverty_status="poor")
    patient = MemberFactory(household=household, name="马德福", relation="head")
    CatalogueItemFactory(
        code="XY01",
        name="头孢曲松钠注射液",
        category="western_drug",
        item_class="B",
        unit_price=Decimal("15"),
    )
    discharged = timezone.localdate() - datetime.timedelta(days=2)
    page = browser_page
    login(page, live_app, "clinic")
    page.goto(live_app + "/claims/encounters/new/")
    pick_patient(page, patient.name)
    page.get_by_label("医疗机构").select_option(label=HOSPITAL)
    page.get_by_label("就诊类型").select_option(label="住院")
    page.get_by_label("入院日期").fill((discharged - datetime.timedelta(days=3)).isoformat())
    page.get_by_label("出院日期").fill(discharged.isoformat())
    page.get_by_label("诊断编码").fill("K35.8")

    first = page.get_by_label("费用明细第1行项目编码")
    first.press_sequentially("XY01", delay=50)
    first.blur()
    # expect() polls without eval (the page's CSP forbids it; wait_for_function's string needs it).
    expect(page.locator("[name=items-0-name]")).to_have_value("头孢曲松钠注射液", timeout=30_000)
    assert page.get_by_label("费用明细第1行目录类别").input_value() == "B"
    assert page.get_by_label("费用明细第1行单价").input_value() == "15.0000"
    page.get_by_label("费用明细第1行数量").fill("2")
    expect(page.locator("[name=items-0-amount]")).to_have_value("30.00")

    second = page.get_by_label("费用明细第2行项目编码")
    second.press_sequentially("ZZ99", delay=50)
    second.blur()
    page.locator("[data-item-row]").nth(1).locator("[data-item-warning]").wait_for(state="visible")
    page.get_by_label("费用明细第2行目录类别").select_option("C")
    page.get_by_label("费用明细第2行金额").fill("70.50")
    assert page.locator("[data-item-total]").inner_text() == "100.50"
    steps.shot("items")
    page.get_by_role("button", name="保存").click()
    wait_for_text(page, "就诊记录 HA")
    encounter = Encounter.objects.get(member=patient)
    assert encounter.total_cost == Decimal("100.50")
    assert list(encounter.items.values_list("code", "name", "item_class", "amount")) == [
        ("XY01", "头孢曲松钠注射液", "B", Decimal("30.00")),
        ("ZZ99", "", "C", Decimal("70.50")),
    ]
    assert encounter.review_flags.filter(code="not_in_catalogue", message__contains="ZZ99").exists()
