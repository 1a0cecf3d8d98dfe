"""A supervisor (督查领导) reads the dashboard in a real browser, against gunicorn: a county
figure, the township row, the drill-down to the township's villages and from a village to
its people — every number checked against counts made here from the rows."""

import datetime
import re
from decimal import Decimal

import pytest
from django.utils import timezone

from claims.models import Encounter
from registry.models import Household, Member
from tests.dashboards.conftest import YEAR, build_county, expected
from tests.e2e.conftest import login, open_menu, wait_for_text


@pytest.fixture
def supervised_county(areas, supervisor):
    """The dashboards tests' small county (城关镇 and 北关乡, two villages each, people with
    encounters, settlements, illnesses and contracts in YEAR), its aggregates refreshed."""
    from dashboards.services import aggregates_refresh

    build_county(
        townships=2,
        villages_per_township=2,
        households_per_village=4,
        encounters_per_member=3,
        township_objects=[areas["east"], areas["west"]],
    )
    aggregates_refresh(years=sorted({YEAR, timezone.localdate().year}))
    return areas


def _number(text):
    text = text.strip().replace(",", "")
    return Decimal(text) if "." in text else int(text)


def _card(page, label):
    """The figure of the overview card headed ``label``."""
    card = page.locator(".dash-card").filter(
        has=page.locator(".small.text-muted", has_text=re.compile(f"^{label}"))
    )
    return _number(card.locator(".fs-4").inner_text())


def _table(page, key="comparison"):
    """{first cell: {column label: cell locator}} of a dashboard table's body."""
    table = page.locator(f"table[data-table={key}]")
    labels = [th.strip() for th in table.locator("thead th").all_inner_texts()]
    rows = {}
    for row in table.locator("tbody tr").all():
        cells = row.locator("td").all()
        rows[cells[0].inner_text().strip()] = dict(zip(labels, cells))
    return rows


def _figures(cells, *labels):
    return {label: _number(cells[label].inner_text()) for label in labels}


def test_supervisor_drills_down_from_county_to_village_people(
    live_app, browser_page, steps, supervised_county
):
    page, east = browser_page, supervised_county["east"]
    today = timezone.localdate()
    login(page, live_app, "leader")
    steps.shot("logged-in")

    open_menu(page, "统计与公示", "统计概览")
    wait_for_text(page, "全县统计概览")
    assert "数据更新于" in page.content()
    assert (_card(page, "在册户数"), _card(page, "在册人数")) == (
        Household.objects.count(),
        Member.objects.count(),
    )
    assert not page.get_by_role("button", name="立即刷新").count()  # read-only: no refresh for a supervisor
    steps.shot("overview-this-year")

    # The year the county's encounters fall in, chosen in the period form.
    period = page.get_by_role("form", name="统计周期")
    period.get_by_label("统计周期").select_option(label="全年")
    period.get_by_label("年度").select_option(label=f"{YEAR}年")
    period.get_by_role("button", name="查询").click()
    page.wait_for_url(re.compile(f"year={YEAR}"))
    county = expected(None, datetime.date(YEAR, 1, 1), datetime.date(YEAR, 12, 31), today=today)
    assert county["encounters"] > 0 and county["payouts_total"] > 0
    assert (_card(page, "就诊人次"), _card(page, r"报销合计\(元\)")) == (
        county["encounters"],
        county["payouts_total"],
    )
    township = expected(east, datetime.date(YEAR, 1, 1), datetime.date(YEAR, 12, 31), today=today)
    row = _table(page)[east.name]
    assert _figures(row, "户数", "人数", "就诊人次", "疾病档案", "签约户数", "报销合计") == {
        "户数": township["households"],
        "人数": township["members"],
        "就诊人次": township["encounters"],
        "疾病档案": township["illnesses_identified"],
        "签约户数": township["households_signed"],
        "报销合计": township["payouts_total"],
    }
    steps.shot("overview-year")

    # Township row → its villages.
    row["乡镇"].get_by_role("link", name=east.name).click()
    wait_for_text(page, f"{east.name} · 各行政村")
    villages = _table(page)
    assert set(villages) == set(east.villages.values_list("name", flat=True))
    for village in east.villages.all():
        people = Member.objects.filter(household__village=village)
        assert _figures(villages[village.name], "户数", "人数", "就诊人次") == {
            "户数": Household.objects.filter(village=village).count(),
            "人数": people.count(),
            "就诊人次": Encounter.objects.filter(
                member__household__village=village, is_current=True, service_date__year=YEAR
            ).count(),
        }, village.name
    steps.shot("township-villages")

    # A village's 人数 → the register's list of its people.
    village = east.villages.order_by("name").first()
    people = Member.objects.filter(household__village=village)
    villages[village.name]["人数"].get_by_role("link").click()
    wait_for_text(page, "家庭成员")
    assert f"village={village.pk}" in page.url
    assert page.locator(".pagination-bar strong").first.inner_text() == str(people.count())
    listed = page.locator("table tbody tr")
    assert listed.count() == people.count()
    assert set(listed.locator("td:nth-child(5)").all_inner_texts()) == {village.name}
    assert sorted(listed.locator("td:nth-child(3)").all_inner_texts()) == sorted(
        people.values_list("household__number", flat=True)
    )
    steps.shot("village-people")
