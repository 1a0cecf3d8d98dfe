"""Dashboard pages for the three roles: township isolation (404), supervisors read-only
(403), exports equal to the pages, public notices with objections."""

import datetime
import io
from decimal import Decimal

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from dashboards import selectors, services
from dashboards.definitions import Period, mask_name
from dashboards.models import Notice, NoticeObjection, RefreshRun, Target
from settlement.models import Settlement
from tests.dashboards.conftest import TODAY, YEAR

pytestmark = pytest.mark.django_db


@pytest.fixture
def refreshed(county):
    services.aggregates_refresh(year=YEAR)
    return county


def _month_with_settlements(village):
    settlement = (
        Settlement.objects.filter(
            is_current=True, member__household__village=village, year=YEAR, payouts_total__gt=0
        )
        .order_by("service_date")
        .first()
    )
    return settlement.service_date.month


@pytest.fixture
def notice(refreshed, areas, county_user):
    village = areas["east_village"]
    return services.notice_publish(
        user=county_user,
        village=village,
        year=YEAR,
        month=_month_with_settlements(village),
        published_on=TODAY,
        contact="0951-1234567",
    )


def _get_urls(areas, notice):
    east_village = areas["east_village"]
    return [
        reverse("dashboards:overview"),
        reverse("dashboards:overview") + f"?period=quarter&year={YEAR}&quarter=2",
        reverse("dashboards:township_table") + f"?period=month&year={YEAR}&month=3",
        reverse("dashboards:township", args=[areas["east"].pk]) + f"?year={YEAR}",
        *[
            reverse("dashboards:figure_list", args=[name]) + f"?year={YEAR}"
            for name in (
                "uninsured",
                "unsigned",
                "nofollowup",
                "illnesses",
                "out_of_county",
                "poor_inpatients",
            )
        ],
        reverse("dashboards:figure_list", args=["illnesses"]) + f"?year={YEAR}&state=treated",
        reverse("dashboards:risk_list") + f"?year={YEAR}",
        reverse("dashboards:risk_list") + f"?year={YEAR}&without_income=1",
        reverse("dashboards:targets"),
        reverse("dashboards:notice_index"),
        reverse("dashboards:notice", args=[east_village.pk, YEAR, notice.month]),
        reverse("dashboards:notice", args=[east_village.pk, YEAR, 12 if notice.month != 12 else 1]),
        reverse("dashboards:fund_use") + f"?year={YEAR}",
        reverse("dashboards:survey") + f"?year={YEAR}",
        "/api/v1/dashboards/townships/?year=2025",
    ]


def test_every_page_opens_for_every_role(client, notice, areas, county_user, township_user, supervisor):
    for user in (county_user, township_user, supervisor):
        client.force_login(user)
        for url in _get_urls(areas, notice):
            response = client.get(url)
            assert response.status_code == 200, (user.username, url)


def test_supervisor_is_refused_every_post(client, notice, areas, supervisor, county_user):
    objection = services.objection_record(
        user=county_user, notice=notice, raised_by="张三", content="金额有误", received_on=TODAY
    )
    client.force_login(supervisor)
    posts = _get_urls(areas, notice) + [
        reverse("dashboards:refresh"),
        reverse("dashboards:refresh_progress", args=[1]),
        reverse("dashboards:notice_close", args=[notice.pk]),
        reverse("dashboards:objection_create", args=[notice.pk]),
        reverse("dashboards:objection_resolve", args=[objection.pk]),
    ]
    for url in posts:
        assert client.post(url, {"resolution": "x", "raised_by": "x", "content": "x"}).status_code == 403, url
    assert not NoticeObjection.objects.filter(resolved_at__isnull=False).exists()


def test_township_user_sees_only_own_township(client, notice, areas, township_user, county_user):
    west_village = areas["west_village"]
    west_notice = services.notice_publish(
        user=county_user,
        village=west_village,
        year=YEAR,
        month=_month_with_settlements(west_village),
        published_on=TODAY,
    )
    west_objection = services.objection_record(
        user=county_user, notice=west_notice, raised_by="李四", content="不是本人", received_on=TODAY
    )
    client.force_login(township_user)
    assert client.get(reverse("dashboards:township", args=[areas["west"].pk])).status_code == 404
    assert client.get(reverse("dashboards:notice", args=[west_village.pk, YEAR, 3])).status_code == 404
    assert client.get(reverse("dashboards:fund_use") + f"?township={areas['west'].pk}").status_code == 404
    assert (
        client.post(
            reverse("dashboards:objection_create", args=[west_notice.pk]),
            {"raised_by": "x", "content": "x", "received_on": TODAY},
        ).status_code
        == 404
    )
    assert (
        client.post(
            reverse("dashboards:objection_resolve", args=[west_objection.pk]), {"resolution": "x"}
        ).status_code
        == 403
    )
    overview = client.get(reverse("dashboards:overview") + f"?year={YEAR}").content.decode()
    assert "城关镇" in overview and "北关乡" not in overview
    api = client.get("/api/v1/dashboards/townships/?year=2025").json()
    assert [t["name"] for t in api["townships"]] == ["城关镇"]
    notices = client.get(reverse("dashboards:notice_index")).content.decode()
    assert west_village.name not in notices
    # Lists asked for another township's village show nothing of it.
    for name in ("uninsured", "unsigned", "illnesses", "out_of_county", "poor_inpatients"):
        page = client.get(
            reverse("dashboards:figure_list", args=[name]), {"year": YEAR, "village": west_village.pk}
        ).content.decode()
        assert west_village.name not in page.split("<table")[1], name
    for url in (
        reverse("dashboards:figure_list", args=["out_of_county"]) + f"?year={YEAR}&export=list",
        reverse("dashboards:survey") + f"?year={YEAR}&export=survey",
        reverse("dashboards:risk_list") + f"?year={YEAR}&export=risk",
    ):
        sheet = load_workbook(io.BytesIO(client.get(url).getvalue())).active
        assert all(row[0] == "城关镇" for row in sheet.iter_rows(min_row=3, values_only=True)), url
    # Writes a clinic may not do.
    assert (
        client.post(
            reverse("dashboards:notice", args=[areas["east_village"].pk, YEAR, 1]),
            {"published_on": TODAY, "objection_days": 7},
        ).status_code
        == 403
    )
    assert client.post(reverse("dashboards:refresh")).status_code == 403
    assert client.post(reverse("dashboards:targets"), {"insured_rate": "50"}).status_code == 403


def _sheet(response):
    """The rows of an export under its title row (the list's name and filters)."""
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    rows = [
        list(row) for row in load_workbook(io.BytesIO(response.getvalue())).active.iter_rows(values_only=True)
    ]
    assert "筛选条件" in rows[0][0]
    return rows[1:]


def test_overview_export_holds_the_page_figures(client, refreshed, county_user):
    client.force_login(county_user)
    period = Period("year", YEAR)
    board = selectors.board(county_user, period, on=TODAY)
    rows = _sheet(client.get(reverse("dashboards:township_table") + f"?year={YEAR}&export=comparison"))
    header, body = rows[0], rows[1:]
    assert header[0] == "乡镇" and header[3].startswith("参保率")
    by_name = {row[0]: row for row in body}
    for group in board.groups:
        row = by_name[group.name]
        figures = group.figures
        assert row[1] == figures.households and row[2] == figures.members
        assert Decimal(str(row[3])) == figures.insured_rate
        assert row[12] == figures.encounters
        assert Decimal(str(row[13])) == figures.total_cost
        assert Decimal(str(row[15])) == figures.payouts_total
        page = client.get(reverse("dashboards:township_table") + f"?year={YEAR}").content.decode()
        assert f"{figures.total_cost:,.2f}" in page and f"{figures.payouts_total:,.2f}" in page
    assert by_name["合计"][12] == board.total.encounters
    payers = _sheet(client.get(reverse("dashboards:overview") + f"?year={YEAR}&export=payers"))
    assert {row[0]: Decimal(str(row[1])) for row in payers[1:-1]} == dict(board.funds())
    assert Decimal(str(payers[-1][1])) == board.total.settled_cost
    trend = _sheet(client.get(reverse("dashboards:overview") + f"?year={YEAR}&export=trend"))
    assert sum(row[1] for row in trend[1:]) == board.total.encounters
    assert client.get(reverse("dashboards:overview") + "?export=nothing").status_code == 404


def test_behind_target_rows_are_highlighted(client, refreshed, county_user):
    services.targets_update(user=county_user, values={"insured_rate": Decimal("100")})
    client.force_login(county_user)
    page = client.get(reverse("dashboards:township_table") + f"?year={YEAR}").content.decode()
    board = selectors.board(county_user, Period("year", YEAR), on=TODAY)
    behind = [g for g in board.groups if g.misses]
    assert behind and page.count('class="behind-target"') == len(behind)


def test_targets_page_saves_for_county_staff(client, county_user):
    client.force_login(county_user)
    data = {
        "insured_rate": "99.5",
        "treatment_rate": "90",
        "signing_rate": "95",
        "in_county_rate": "90",
        "self_pay_ratio": "10",
    }
    assert client.post(reverse("dashboards:targets"), data).status_code == 302
    assert Target.objects.get(key="insured_rate").value == Decimal("99.5")
    assert selectors.targets()["signing_rate"] == Decimal("95")
    assert client.post(reverse("dashboards:targets"), {**data, "signing_rate": "120"}).status_code == 200


def test_refresh_button_runs_the_task(client, refreshed, county_user, django_capture_on_commit_callbacks):
    client.force_login(county_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("dashboards:refresh"), {"year": YEAR, "next": "/dashboards/?year=2025"}
        )
    assert response.status_code == 302 and response["Location"] == "/dashboards/?year=2025"
    run = RefreshRun.objects.get()
    assert run.status == "done" and run.years == [YEAR] and run.requested_by == county_user
    progress = client.get(reverse("dashboards:refresh_progress", args=[run.pk])).json()
    assert progress["done"] is True and progress["percent"] == 100
    page = client.get(reverse("dashboards:overview") + f"?year={YEAR}").content.decode()
    assert "数据更新于" in page


def test_notice_page_masks_names_and_matches_its_export(client, notice, county_user):
    client.force_login(county_user)
    url = reverse("dashboards:notice", args=[notice.village_id, notice.year, notice.month])
    page = client.get(url).content.decode()
    assert "王秀英" not in page and "王五" not in page
    assert all(entry.masked_name in page for entry in notice.entries.all())
    rows = _sheet(client.get(url + "?export=notice"))
    header, body, footer = rows[0], rows[1:-1], rows[-1]
    entries = list(notice.entries.order_by("position"))
    assert len(body) == len(entries)
    for row, entry in zip(body, entries):
        assert row[1] == entry.masked_name and row[1] in ("王*英", "王*")
        assert Decimal(str(row[6])) == entry.total_cost
        assert Decimal(str(row[-2])) == entry.payouts_total and Decimal(str(row[-1])) == entry.self_pay
        for fund, amount in entry.payouts.items():
            assert Decimal(str(row[header.index(fund + "(元)")])) == Decimal(amount)
        assert f"{entry.total_cost:,.2f}" in page
    assert Decimal(str(footer[-2])) == sum(e.payouts_total for e in entries)
    settled = Settlement.objects.filter(
        is_current=True,
        member__household__village=notice.village,
        year=YEAR,
        service_date__month=notice.month,
        payouts_total__gt=0,
    )
    assert len(entries) == settled.count()
    assert sum(e.payouts_total for e in entries) == sum(s.payouts_total for s in settled)


def test_notice_preview_then_publish_then_objections(client, refreshed, areas, county_user, township_user):
    village = areas["east_village"]
    month = _month_with_settlements(village)
    url = reverse("dashboards:notice", args=[village.pk, YEAR, month])
    client.force_login(county_user)
    assert "预览" in client.get(url).content.decode()
    response = client.post(url, {"published_on": TODAY.isoformat(), "objection_days": 7, "contact": "123"})
    assert response.status_code == 302
    notice = Notice.objects.get(village=village, year=YEAR, month=month)
    assert notice.objection_deadline == TODAY + datetime.timedelta(days=6)
    assert notice.entries.count() > 0 and notice.funds
    # Publishing twice, or a month not over, is refused.
    with pytest.raises(services.DashboardError):
        services.notice_publish(user=county_user, village=village, year=YEAR, month=month)
    with pytest.raises(services.DashboardError):
        services.notice_publish(user=county_user, village=village, year=TODAY.year, month=TODAY.month)

    # A re-settlement after publication leaves the notice as posted, flagged.
    from tests.factories import make_settlement

    entry = notice.entries.order_by("position").first()
    make_settlement(
        entry.settlement.encounter, {"basic_insurance": Decimal("1.00")}, replaces=entry.settlement
    )
    page = client.get(url).content.decode()
    assert "已重新计算" in page and f"{entry.payouts_total:,.2f}" in page

    client.force_login(township_user)
    response = client.post(
        reverse("dashboards:objection_create", args=[notice.pk]),
        {"entry": entry.pk, "raised_by": "村民张某", "content": "该户不是本村的", "received_on": TODAY},
    )
    assert response.status_code == 302
    objection = NoticeObjection.objects.get()
    assert objection.entry == entry and objection.recorded_by == township_user
    with pytest.raises(services.DashboardError):  # received outside the objection period
        services.objection_record(
            user=township_user,
            notice=notice,
            raised_by="x",
            content="x",
            received_on=TODAY - datetime.timedelta(days=1),
        )

    client.force_login(county_user)
    with pytest.raises(services.DashboardError):  # period still running
        services.notice_close(user=county_user, notice=notice)
    client.post(
        reverse("dashboards:objection_resolve", args=[objection.pk]), {"resolution": "经核实，信息无误"}
    )
    objection.refresh_from_db()
    assert objection.resolved and objection.resolved_by == county_user
    later = notice.objection_deadline + datetime.timedelta(days=1)
    from django.utils import timezone

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            timezone,
            "now",
            lambda: datetime.datetime(later.year, later.month, later.day, 12, tzinfo=datetime.UTC),
        )
        assert services.notice_close(user=county_user, notice=notice).status == "closed"


def test_notice_close_needs_every_objection_answered(notice, county_user):
    services.objection_record(
        user=county_user, notice=notice, raised_by="张三", content="x", received_on=TODAY
    )
    later = notice.objection_deadline + datetime.timedelta(days=1)
    from django.utils import timezone

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            timezone,
            "now",
            lambda: datetime.datetime(later.year, later.month, later.day, 12, tzinfo=datetime.UTC),
        )
        with pytest.raises(services.DashboardError, match="未答复"):
            services.notice_close(user=county_user, notice=notice)


def test_fund_use_export_matches_the_dashboard(client, refreshed, county_user):
    client.force_login(county_user)
    rows = _sheet(client.get(reverse("dashboards:fund_use") + f"?year={YEAR}&export=funds"))
    header, year_total = rows[0], rows[13]
    board = selectors.board(county_user, Period("year", YEAR), on=TODAY)
    for fund, amount in board.funds()[:-1]:
        assert Decimal(str(year_total[header.index(fund + "(元)")])) == amount
    assert Decimal(str(year_total[header.index("个人自付(元)")])) == board.total.self_pay
    assert year_total[1] == board.total.settlements


def test_survey_export_layout_and_figures(client, refreshed, county_user):
    client.force_login(county_user)
    rows = _sheet(client.get(reverse("dashboards:survey") + f"?year={YEAR}&export=survey"))
    assert rows[0][:8] == ["乡镇", "村", "户编号", "姓名", "证件号码", "疾病名称", "确诊日期", "确诊机构"]
    assert rows[0][8:15] == [
        "医疗总费用(元)",
        "基本医保(元)",
        "大病保险(元)",
        "医疗救助(元)",
        "其他保障(元)",
        "个人自付(元)",
        "救治结果",
    ]
    from claims.models import IllnessRecord

    assert len(rows) - 1 == IllnessRecord.objects.values("member").distinct().count()
    for row in rows[1:]:
        assert "*" * 13 in row[4]
        if row[-1] == "结算":
            parts = [Decimal(str(v)) for v in row[9:14]]
            assert sum(parts) == Decimal(str(row[8]))  # the payers and the patient share the whole cost


def test_figure_list_behind_in_county_rate(client, refreshed, county_user):
    client.force_login(county_user)
    period = Period("year", YEAR)
    board = selectors.board(county_user, period, on=TODAY)
    rows = _sheet(
        client.get(reverse("dashboards:figure_list", args=["out_of_county"]) + f"?year={YEAR}&export=list")
    )
    assert len(rows) - 1 == board.total.encounters_out_of_county
    rows = _sheet(
        client.get(reverse("dashboards:figure_list", args=["nofollowup"]) + f"?year={YEAR}&export=list")
    )
    assert len(rows) - 1 == board.total.contracts_without_followup
    rows = _sheet(
        client.get(reverse("dashboards:figure_list", args=["unsigned"]) + f"?year={YEAR}&export=list")
    )
    assert len(rows) - 1 == board.total.households_unsigned
    rows = _sheet(client.get(reverse("dashboards:risk_list") + f"?year={YEAR}&export=risk"))
    assert len(rows) - 1 == board.total.members_at_risk
    assert client.get(reverse("dashboards:figure_list", args=["nothing"])).status_code == 404


def test_mask_name():
    assert mask_name("王秀英") == "王*英"
    assert mask_name("王五") == "王*"
    assert mask_name("欧阳秀英") == "欧*英"
    assert mask_name(" 李 ") == "*"
    assert mask_name("") == ""


def test_notice_fund_columns_follow_the_tiers():
    from dashboards.selectors import NoticeRow, fund_columns

    def row(payouts, positions):
        return NoticeRow(
            1,
            "王*",
            "医院",
            "outpatient",
            TODAY,
            None,
            Decimal("1"),
            payouts,
            Decimal("1"),
            Decimal("0"),
            fund_positions=positions,
        )

    rows = [
        row({"医疗救助资金专户": Decimal("1")}, {"医疗救助资金专户": 3}),
        row(
            {"城乡居民医保基金": Decimal("1"), "医疗救助资金专户": Decimal("1")},
            {"城乡居民医保基金": 1, "医疗救助资金专户": 3},
        ),
    ]
    assert fund_columns(rows) == ["城乡居民医保基金", "医疗救助资金专户"]


def test_survey_and_risk_exports_write_a_formula_name_as_text(client, refreshed, county_user):
    from registry.models import Member
    from tests.sheets import EVIL, assert_evil_is_text

    Member.objects.update(name=EVIL)
    client.force_login(county_user)
    for url in (
        reverse("dashboards:survey") + f"?year={YEAR}&export=survey",
        reverse("dashboards:risk_list") + f"?year={YEAR}&export=risk",
    ):
        assert_evil_is_text(client.get(url))
