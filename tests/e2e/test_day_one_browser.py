"""A new clinic user's first visit entry in a real browser at 1366×768: picking a suggested
patient whose label is longer than 50 characters saves, the encounter page follows its
settlement by itself (no reload by the clerk), and the encounter list scrolls sideways with
its first column fixed and its cells unwrapped."""

import datetime
import time
from decimal import Decimal

from django.urls import reverse

from claims.models import Encounter
from settlement.models import Settlement
from tests.e2e.conftest import login, pick_patient, wait_for_text
from tests.e2e.test_clinic_day import DIAGNOSIS, HOSPITAL, clinic_day  # noqa: F401 (fixture)


def test_first_visit_entry_at_1366(live_app, browser_page, steps, clinic_day):  # noqa: F811
    page, world = browser_page, clinic_day
    page.set_viewport_size({"width": 1366, "height": 768})
    village = world.household.village
    village.name = "城关镇第一行政村东片区下属自然村"
    village.save()
    login(page, live_app, "clinic")

    page.goto(live_app + reverse("claims:encounter_create"))
    pick_patient(page, world.patient.name)
    assert len(page.get_by_label("患者").input_value()) > 50
    page.get_by_label("医疗机构").select_option(label=HOSPITAL)
    page.get_by_label("就诊类型").select_option(label="住院")
    page.get_by_label("入院日期").fill((world.discharged - datetime.timedelta(days=3)).isoformat())
    page.get_by_label("出院日期").fill(world.discharged.isoformat())
    page.get_by_label("诊断编码").fill(DIAGNOSIS)
    page.get_by_label("医疗总费用").fill("9000.00")
    page.get_by_label("政策范围内费用").fill("8000.00")
    page.get_by_role("button", name="保存").click()
    wait_for_text(page, "就诊记录 HA")
    encounter = Encounter.objects.get(member=world.patient)
    assert encounter.total_cost == Decimal("9000.00")
    steps.shot("saved")
    # The worker settles the stay (however long a busy machine takes); the page, untouched
    # by the clerk, then reloads itself within a few seconds.
    deadline = time.monotonic() + 300
    while not Settlement.objects.filter(encounter=encounter, is_current=True).exists():
        assert time.monotonic() < deadline, "not settled within 300 s"
        time.sleep(0.5)
    wait_for_text(page, "查看/打印结算单", timeout=20_000)
    steps.shot("settled")

    page.goto(live_app + reverse("claims:encounter_list"))
    first_cell = page.locator(".table-responsive table tbody tr td").first
    style = first_cell.evaluate("e => [getComputedStyle(e).position, getComputedStyle(e).whiteSpace]")
    assert style == ["sticky", "nowrap"]
    steps.shot("list")
