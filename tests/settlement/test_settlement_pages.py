"""The settlement pages: who may see and do what, the statement's figures (against the golden
cases' expected file, never the code's output), the ledger's sums (computed here from the
rows), policy import refusals, batch runs and simulation through the pages, and query counts
that do not grow with the rows."""

import copy
import datetime
import json
import re
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from settlement import services
from settlement.models import FundTransfer, Policy, Settlement, SettlementLine, SettlementRun
from tests.factories import EncounterFactory, HouseholdFactory, MemberFactory, make_settlement
from tests.settlement_world import settle_all

D = Decimal
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def yuan(text):
    return f"{D(text):,.2f}"


def login(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def settled(golden_world, policies):
    settle_all(golden_world)
    return golden_world


def current(ref):
    return Settlement.objects.get(encounter__ref=ref, is_current=True)


def draft_document(document):
    doc = copy.deepcopy(document)
    doc["code"], doc["name"] = "draft-2025", "2025年度调整草案"
    doc["tiers"][1]["rate"]["bands"] = [[50000, 0.65], [100000, 0.75], [None, 0.85]]
    return doc


# --- who sees what ------------------------------------------------------------------------------

READ_PAGES = ["settlement:settlement_list", "settlement:problem_list", "settlement:policy_list"]
COUNTY_PAGES = ["settlement:policy_import", "settlement:run_list", "settlement:simulate"]


@pytest.mark.parametrize("who", ["county_user", "supervisor", "township_user"])
def test_pages_render_for_the_right_roles(client, settled, policies, request, who):
    user = request.getfixturevalue(who)
    login(client, user)
    east = current("A-2")
    policy = policies[2025]
    for name in READ_PAGES:
        assert client.get(reverse(name)).status_code == 200, name
    assert client.get(reverse("settlement:statement", args=[east.pk])).status_code == 200
    assert client.get(reverse("settlement:policy_detail", args=[policy.pk])).status_code == 200
    assert client.get(reverse("settlement:policy_export", args=[policy.pk])).status_code == 200
    county_only = 200 if who == "county_user" else 403
    for name in COUNTY_PAGES:
        assert client.get(reverse(name)).status_code == county_only, name
    assert client.get(reverse("settlement:policy_edit", args=[policy.pk])).status_code == county_only
    assert client.get(reverse("settlement:ledger")).status_code == (403 if who == "township_user" else 200)
    run = services.settlement_run_start(
        user=request.getfixturevalue("county_user"), kind="settle_year", year=2025, enqueue=False
    )
    assert client.get(reverse("settlement:run_detail", args=[run.pk])).status_code == county_only
    assert client.get(reverse("settlement:run_progress", args=[run.pk])).status_code == county_only


def test_township_user_gets_404_for_another_townships_settlement(client, settled, township_user):
    login(client, township_user)
    west = Settlement.objects.filter(member=settled.members["D"]).first()
    assert client.get(reverse("settlement:statement", args=[west.pk])).status_code == 404
    page = client.get(reverse("settlement:settlement_list"))
    refs = {s.encounter.ref for s in page.context["object_list"]}
    assert refs and all(ref[0] in "ABC" for ref in refs)
    export = client.get(reverse("settlement:settlement_list") + "?export=xlsx")
    assert export["Content-Type"] == XLSX


def test_supervisor_is_refused_every_post(client, settled, supervisor, policies, document):
    login(client, supervisor)
    policy = policies[2025]
    before = (Policy.objects.count(), SettlementRun.objects.count(), FundTransfer.objects.count())
    posts = [
        (reverse("settlement:policy_import"), {"text": json.dumps(draft_document(document))}),
        (
            reverse("settlement:policy_edit", args=[policy.pk]),
            {"text": json.dumps(document), "resettle": "on"},
        ),
        (reverse("settlement:policy_activate", args=[policy.pk]), {}),
        (
            reverse("settlement:ledger"),
            {
                "fund": "城乡居民医保基金",
                "year": 2025,
                "month": 1,
                "amount": "1.00",
                "paid_on": "2025-02-01",
                "reference": "X",
            },
        ),
        (reverse("settlement:run_start"), {"kind": "settle_year", "year": 2025}),
        (reverse("settlement:simulate"), {"policy": policy.pk, "year": 2025}),
    ]
    for url, data in posts:
        assert client.post(url, data).status_code == 403, url
    assert (Policy.objects.count(), SettlementRun.objects.count(), FundTransfer.objects.count()) == before


def test_township_user_is_refused_county_actions(client, settled, township_user, policies):
    login(client, township_user)
    policy = policies[2025]
    for url in (
        reverse("settlement:policy_activate", args=[policy.pk]),
        reverse("settlement:run_start"),
        reverse("settlement:ledger"),
        reverse("settlement:policy_import"),
    ):
        assert client.post(url, {}).status_code == 403, url


# --- the statement ------------------------------------------------------------------------------


def _cell(html, attr, value):
    match = re.search(
        rf'<tr data-tier="{value}">.*?<td class="money">([^<]*)</td>'
        if attr == "tier"
        else rf'data-field="{value}">([^<]*)<',
        html,
        re.S,
    )
    return match.group(1).strip() if match else None


@pytest.mark.parametrize("ref", ["A-2", "A-3", "C-1"])
def test_statement_shows_the_golden_numbers(client, settled, county_user, golden, ref):
    expected = {row["ref"]: row for row in golden.expected}[ref]
    login(client, county_user)
    html = client.get(reverse("settlement:statement", args=[current(ref).pk])).content.decode()
    assert _cell(html, "field", "total_cost") == yuan(expected["total_cost"])
    assert _cell(html, "field", "self_pay") == yuan(expected["self_pay"])
    for key, amount in expected["payouts"].items():
        assert _cell(html, "tier", key) == yuan(amount), key
    assert _cell(html, "field", "payouts_total") == yuan(sum(D(v) for v in expected["payouts"].values()))
    assert yuan(expected["in_policy_self_pay"]) in html and yuan(expected["out_of_policy_self_pay"]) in html
    # The A4 print rules live in static/css/pages.css (no inline style: docs/security.md).
    assert "患者（或家属）签字" in html and "css/pages.css" in html and "demo-county-2025" in html
    assert "@page" in (settings.BASE_DIR / "static" / "css" / "pages.css").read_text(encoding="utf-8")
    member = settled.members[ref[0]]
    assert member.id_number not in html  # masked on paper


def test_encounter_page_links_its_statement(client, settled, township_user):
    login(client, township_user)
    encounter = settled.encounters["A-2"]
    html = client.get(reverse("claims:encounter_detail", args=[encounter.pk])).content.decode()
    assert reverse("settlement:statement", args=[current("A-2").pk]) in html


def test_member_page_shows_the_year_so_far(client, settled, township_user, golden):
    login(client, township_user)
    member = settled.members["A"]
    html = client.get(reverse("registry:member_detail", args=[member.pk]) + "?year=2025").content.decode()
    in_2025 = {
        e["ref"] for e in golden.claims["encounters"] if e["member"] == "A" and e["date"].startswith("2025")
    }
    basic = sum(D(r["payouts"]["basic"]) for r in golden.expected if r["ref"] in in_2025)
    assert "2025年度一站式结算累计" in html
    assert yuan(basic) in html


# --- the ledger ---------------------------------------------------------------------------------


def test_ledger_totals_are_the_lines_and_transfers(client, settled, county_user, supervisor):
    institution = current("A-2").institution
    login(client, county_user)
    response = client.post(
        reverse("settlement:ledger") + "?year=2025",
        {
            "fund": "城乡居民医保基金",
            "institution": institution.pk,
            "year": 2025,
            "month": 5,
            "amount": "10000.00",
            "paid_on": "2025-06-10",
            "reference": "拨-2025-001",
            "note": "",
        },
    )
    assert response.status_code == 302
    services.fund_transfer_record(
        user=county_user,
        fund="医疗救助资金专户",
        institution=institution,
        year=2025,
        month=9,
        amount="500.50",
        paid_on=datetime.date(2025, 10, 1),
        reference="拨-2",
    )
    owed = sum(
        (l.amount for l in SettlementLine.objects.filter(settlement__is_current=True, settlement__year=2025)),
        D("0.00"),
    )
    paid = sum((t.amount for t in FundTransfer.objects.filter(year=2025)), D("0.00"))
    assert paid == D("10500.50")
    login(client, supervisor)
    for period in ("month", "quarter"):
        page = client.get(reverse("settlement:ledger"), {"year": 2025, "period": period})
        html = page.content.decode()
        assert re.search(r'data-total="owed">([^<]*)<', html).group(1) == yuan(owed)
        assert re.search(r'data-total="paid">([^<]*)<', html).group(1) == yuan(paid)
        assert re.search(r'data-total="outstanding">([^<]*)<', html).group(1) == yuan(owed - paid)
        rows = page.context["ledger"]["rows"]
        assert sum((r["owed"] for r in rows), D(0)) == owed
    basic = sum(
        (
            l.amount
            for l in SettlementLine.objects.filter(
                settlement__is_current=True,
                settlement__year=2025,
                fund="城乡居民医保基金",
                settlement__institution=institution,
            )
        ),
        D(0),
    )
    page = client.get(
        reverse("settlement:ledger"),
        {"year": 2025, "fund": "城乡居民医保基金", "institution": institution.pk},
    )
    assert page.context["ledger"]["totals"] == {
        "owed": basic,
        "paid": D("10000.00"),
        "outstanding": basic - 10000,
    }
    export = client.get(reverse("settlement:ledger"), {"year": 2025, "export": "xlsx"})
    assert export["Content-Type"] == XLSX


def test_transfer_with_an_unknown_fund_is_refused(client, settled, county_user):
    login(client, county_user)
    response = client.post(
        reverse("settlement:ledger") + "?year=2025",
        {
            "fund": "城乡居民医保基金",
            "institution": current("A-2").institution.pk,
            "year": 2025,
            "month": 5,
            "amount": "-3",
            "paid_on": "2025-06-10",
            "reference": "x",
        },
    )
    assert response.status_code == 200 and not FundTransfer.objects.exists()


# --- policies -----------------------------------------------------------------------------------


def test_policy_import_refuses_an_invalid_document_naming_the_field(client, county_user, document):
    login(client, county_user)
    bad = copy.deepcopy(document)
    bad["tiers"][1]["rate"]["bands"] = [[50000, 0.6], [40000, 0.7], [None, 0.8]]
    response = client.post(reverse("settlement:policy_import"), {"text": json.dumps(bad)})
    assert response.status_code == 200
    assert "tiers[1].rate.bands" in response.content.decode()
    assert not Policy.objects.exists()
    response = client.post(reverse("settlement:policy_import"), {"text": '{"code": "x",'})
    assert "JSON格式错误" in response.content.decode() and not Policy.objects.exists()


def test_policy_import_by_upload_then_detail_edit_export(client, county_user, document):
    from django.core.files.uploadedfile import SimpleUploadedFile

    login(client, county_user)
    upload = SimpleUploadedFile(
        "p.json", json.dumps(document, ensure_ascii=False).encode(), "application/json"
    )
    response = client.post(reverse("settlement:policy_import"), {"file": upload})
    policy = Policy.objects.get(code=document["code"])
    assert response.status_code == 302 and policy.status == "draft"
    html = client.get(reverse("settlement:policy_detail", args=[policy.pk])).content.decode()
    assert "当患者为建档立卡未脱贫、防止返贫监测对象时" in html and "城乡居民医保基金" in html
    edited = copy.deepcopy(document)
    edited["name"] = "改过的名称"
    response = client.post(reverse("settlement:policy_edit", args=[policy.pk]), {"text": json.dumps(edited)})
    assert response.status_code == 302
    exported = json.loads(client.get(reverse("settlement:policy_export", args=[policy.pk])).content)
    assert exported == edited


def test_editing_an_active_policy_asks_to_resettle_then_lists_differences(
    client, settled, county_user, policies, django_capture_on_commit_callbacks
):
    login(client, county_user)
    policy = policies[2025]
    doc = services.policy_export(code=policy.code)
    doc["tiers"][2]["overrides"][2]["set"]["rate"] = {"flat": 0.9}  # 低保: 75% → 90%
    url = reverse("settlement:policy_edit", args=[policy.pk])
    response = client.post(url, {"text": json.dumps(doc)})
    assert response.status_code == 200 and "请确认" in response.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"text": json.dumps(doc), "resettle": "on"})
    run = SettlementRun.objects.get(kind="resettle_year")
    assert response.status_code == 302 and response["Location"] == reverse(
        "settlement:run_detail", args=[run.pk]
    )
    page = client.get(response["Location"])
    people = page.context["people"]
    assert people and all(p["self_pay_difference"] <= 0 for p in people)
    assert "退还" in page.content.decode()
    assert client.get(response["Location"] + "?export=xlsx")["Content-Type"] == XLSX
    resettled = current("A-2")
    html = client.get(reverse("settlement:statement", args=[resettled.pk])).content.decode()
    assert "重新结算差额" in html
    old = resettled.supersedes
    html = client.get(reverse("settlement:statement", args=[old.pk])).content.decode()
    assert "已作废" in html and reverse("settlement:statement", args=[resettled.pk]) in html


# --- batch runs and simulation -------------------------------------------------------------------


def test_batch_run_from_the_page_with_progress(
    client, golden_world, policies, county_user, django_capture_on_commit_callbacks
):
    login(client, county_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("settlement:run_start"), {"kind": "settle_year", "year": 2025})
    run = SettlementRun.objects.get()
    assert response["Location"] == reverse("settlement:run_detail", args=[run.pk])
    progress = client.get(reverse("settlement:run_progress", args=[run.pk])).json()
    assert progress == {"percent": 100, "stage": "已完成", "done": True, "redirect": None}
    html = client.get(response["Location"]).content.decode()
    assert "ha-progress" not in html and "新结算" in html
    assert Settlement.objects.filter(year=2025, is_current=True).count() == run.result["settled"] > 0


def test_progress_of_a_queued_run(client, policies, county_user):
    login(client, county_user)
    run = services.settlement_run_start(user=county_user, kind="settle_year", year=2025, enqueue=False)
    assert client.get(reverse("settlement:run_progress", args=[run.pk])).json()["done"] is False
    assert "ha-progress" in client.get(reverse("settlement:run_detail", args=[run.pk])).content.decode()


def test_simulation_from_the_page(client, settled, county_user, document, django_capture_on_commit_callbacks):
    login(client, county_user)
    draft = services.policy_import(user=county_user, document=draft_document(document))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("settlement:simulate"), {"policy": draft.pk, "year": 2025})
    run = SettlementRun.objects.get(kind="simulate")
    assert run.status == "done"
    page = client.get(response["Location"])
    html = page.content.decode()
    assert 'id="chart-funds"' in html and 'id="chart-bands"' in html and "echarts.min.js" in html
    labels = [r["label"] for r in page.context["rows"]]
    assert "大病保险承办机构支出（元）" in labels
    stored = sum(
        (
            l.amount
            for l in SettlementLine.objects.filter(
                settlement__is_current=True, settlement__year=2025, fund="大病保险承办机构"
            )
        ),
        D(0),
    )
    row = next(r for r in page.context["rows"] if r["label"] == "大病保险承办机构支出（元）")
    assert D(row["stored"]) == stored and D(row["draft"]) > stored
    assert client.get(response["Location"] + "?export=xlsx")["Content-Type"] == XLSX


# --- query counts ---------------------------------------------------------------------------------


def _settlements(n, village):
    for _i in range(n):
        household = HouseholdFactory(village=village)
        member = MemberFactory(household=household)
        encounter = EncounterFactory(
            member=member, kind="inpatient", total_cost=D("1000.00"), in_policy_cost=D("900.00")
        )
        make_settlement(encounter, {"basic_insurance": D("500.00"), "medical_aid": D("100.00")})


@pytest.mark.parametrize("who", ["county_user", "township_user"])
def test_list_and_export_queries_do_not_grow_with_rows(client, areas, request, who):
    login(client, request.getfixturevalue(who))
    counts = []
    for n in (2, 12):
        _settlements(n if not counts else n - 2, areas["east_village"])
        url = reverse("settlement:settlement_list")
        with CaptureQueriesContext(connection) as page:
            assert client.get(url).status_code == 200
        with CaptureQueriesContext(connection) as export:
            assert client.get(url + "?export=xlsx")["Content-Type"] == XLSX
        counts.append((len(page), len(export)))
        assert len(client.get(url).context["object_list"]) == n
    assert counts[0] == counts[1]


def test_settlement_export_writes_a_formula_name_as_text(client, settled, county_user):
    from registry.models import Member
    from tests.sheets import EVIL, assert_evil_is_text

    Member.objects.filter(pk=settled.members["A"].pk).update(name=EVIL)
    login(client, county_user)
    sheet = assert_evil_is_text(client.get(reverse("settlement:settlement_list") + "?export=xlsx"))
    assert sheet.title == "一站式结算记录"
    header = [cell.value for cell in sheet[2]]
    payout = sheet.cell(row=3, column=header.index("报销合计") + 1)
    assert payout.data_type == "n" and payout.number_format == "#,##0.00"
