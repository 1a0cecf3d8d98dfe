"""The medical-insurance catalogue (医保目录): the model's constraints, the Excel import through
the import-job pages (all or nothing, faults by row and column, the same file twice changes
nothing, a changed row updated with its history), the list page and the pickers' API for every
role, and the ``not_in_catalogue`` review rule reading it."""

import datetime
import io
from decimal import Decimal as D

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse
from openpyxl import load_workbook

from claims import catalogue, services
from claims.models import CatalogueImport, CatalogueItem, ReviewRule
from core.outbox import outbox_dispatch
from core.reader import read_rows
from registry.demo import write_xlsx
from tests.factories import CatalogueItemFactory, make_hospital_user

HEADER = ["项目编码", "项目名称", "费用类别", "医保目录类别", "单价", "单位", "启用"]
ROWS = [
    ["XY01", "头孢曲松钠注射液", "西药", "甲类", "12.5", "支", ""],
    ["JC02", "头颅CT平扫", "检查", "乙", 180, "次", "是"],
    ["CL03", "一次性输液器", "卫生材料", "C", None, "", "否"],
]


def _file(tmp_path, rows, name="目录.xlsx"):
    path = tmp_path / name
    write_xlsx(rows, path)
    return path


def _import(user, path, **kw):
    return catalogue.catalogue_import(rows=read_rows(path), user=user, source_name=path.name, **kw)


# --- model ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values",
    [
        {"code": "", "name": "空编码", "item_class": "A"},
        {"code": "X1", "name": "", "item_class": "A"},
        {"code": "X1", "name": "类别错", "item_class": "D"},
        {"code": "X1", "name": "费用类别错", "item_class": "A", "category": "food"},
        {"code": "X1", "name": "负单价", "item_class": "A", "unit_price": D("-1")},
    ],
)
def test_the_database_refuses_a_bad_item(db, values):
    with pytest.raises(IntegrityError), transaction.atomic():
        CatalogueItem.objects.create(**values)


def test_a_code_is_unique(db):
    CatalogueItemFactory(code="X1")
    with pytest.raises(IntegrityError), transaction.atomic():
        CatalogueItemFactory(code="X1")


# --- import -----------------------------------------------------------------------------------


def test_import_creates_updates_with_history_and_a_second_run_changes_nothing(county_user, tmp_path):
    path = _file(tmp_path, [HEADER, *ROWS])
    preview = _import(county_user, path, dry_run=True)
    assert (preview.created, preview.updated, preview.refused) == (3, 0, False)
    assert not CatalogueItem.objects.exists()
    report = _import(county_user, path)
    assert (report.created, report.updated, report.unchanged) == (3, 0, 0)
    items = {i.code: i for i in CatalogueItem.objects.all()}
    assert (items["XY01"].category, items["XY01"].item_class, items["XY01"].unit_price) == (
        "western_drug",
        "A",
        D("12.5000"),
    )
    assert items["XY01"].active and items["JC02"].item_class == "B" and items["JC02"].unit == "次"
    assert items["CL03"].item_class == "C" and items["CL03"].unit_price is None and not items["CL03"].active
    assert items["XY01"].history.get().history_change_reason == "医保目录导入：目录.xlsx"

    again = _import(county_user, path)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
    assert CatalogueItem.history.count() == 3

    changed = _file(tmp_path, [HEADER, ["JC02", "头颅CT平扫（64排）", "检查", "丙类", 180, "次", "是"]])
    report = _import(county_user, changed)
    assert (report.created, report.updated, report.unchanged) == (0, 1, 0)
    ct = CatalogueItem.objects.get(code="JC02")
    assert (ct.name, ct.item_class) == ("头颅CT平扫（64排）", "C")
    assert [h.item_class for h in ct.history.order_by("history_id")] == ["B", "C"]
    assert CatalogueItem.objects.count() == 3  # codes absent from a file are kept


def test_one_fault_refuses_the_whole_file_naming_row_and_column(county_user, tmp_path):
    rows = [
        HEADER,
        ROWS[0],
        ["JC02", "", "检查", "丁类", "-3", "次", "也许"],
        ["XY01", "重复", "西药", "甲类", "", "", ""],
        ["CL03", "材料", "食品", "C", "1.23456", "", ""],
    ]
    report = _import(county_user, _file(tmp_path, rows))
    assert report.refused and not CatalogueItem.objects.exists()
    assert [str(e) for e in report.errors] == [
        "第3行 项目名称: 必填",
        "第3行 医保目录类别: 未知的值「丁类」，应为：甲类/乙类/丙类（或A/B/C）",
        "第3行 单价: 不能为负数",
        "第3行 启用: 未知的值「也许」，应为：是/否",
        "第4行 项目编码: 与第2行的项目编码重复",
        "第5行 费用类别: 未知的值「食品」，应为：西药/中成药/中药饮片/检查/化验/治疗/手术/卫生材料/床位/护理/其他",
        "第5行 单价: 最多4位小数",
    ]
    missing = _import(county_user, _file(tmp_path, [["项目编码", "项目名称"], ["X", "Y"]], "缺列.xlsx"))
    assert missing.refused and [str(e) for e in missing.errors] == ["第1行 医保目录类别: 缺少必填列"]


def test_only_county_staff_import(township_user, tmp_path):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        _import(township_user, _file(tmp_path, [HEADER, *ROWS]))


def test_web_upload_preview_confirm_and_template(
    as_user, county_user, tmp_path, django_capture_on_commit_callbacks
):
    c = as_user(county_user)
    assert c.get(reverse("claims:catalogue_import_list")).status_code == 200
    template = load_workbook(io.BytesIO(c.get(reverse("claims:catalogue_import_template")).content))
    assert [cell.value for cell in template.worksheets[0][1]] == HEADER
    path = _file(tmp_path, [HEADER, *ROWS])
    with django_capture_on_commit_callbacks(execute=True), path.open("rb") as handle:
        response = c.post(reverse("claims:catalogue_import_upload"), {"file": handle})
    assert response.status_code == 302
    job = CatalogueImport.objects.get()
    assert "预检完成" in c.get(response["Location"]).content.decode()
    assert not CatalogueItem.objects.exists()
    c.post(reverse("claims:catalogue_import_confirm", args=[job.pk]))
    outbox_dispatch()
    job.refresh_from_db()
    assert job.status == "done" and job.result["created"] == 3
    assert CatalogueItem.objects.count() == 3


def test_the_import_pages_are_county_only(as_user, township_user, supervisor):
    for user in (township_user, supervisor):
        c = as_user(user)
        assert c.get(reverse("claims:catalogue_import_list")).status_code == 403
        assert c.get(reverse("claims:catalogue_import_template")).status_code == 403


# --- list page and API -------------------------------------------------------------------------


@pytest.fixture
def items(db):
    return [
        CatalogueItemFactory(code="XY01", name="头孢曲松钠注射液", category="western_drug", item_class="A"),
        CatalogueItemFactory(code="XY02", name="阿莫西林胶囊", category="western_drug", item_class="B"),
        CatalogueItemFactory(code="JC02", name="头颅CT平扫", category="exam", item_class="B"),
        CatalogueItemFactory(code="OLD1", name="停用项目", category="other", item_class="C", active=False),
    ]


def test_list_page_filters_and_export_for_every_role(
    as_user, items, county_user, township_user, supervisor, world, django_assert_max_num_queries
):
    hospital = make_hospital_user("cashier", world.county_hospital)
    for user in (county_user, township_user, supervisor, hospital):
        c = as_user(user)
        with django_assert_max_num_queries(8):
            page = c.get(reverse("claims:catalogue_list"), {"q": "头", "item_class": "A"}).content.decode()
        assert "XY01" in page and "JC02" not in page and "XY02" not in page
    page = c.get(reverse("claims:catalogue_list"), {"active": "false"}).content.decode()
    assert "OLD1" in page and "XY01" not in page
    export = c.get(reverse("claims:catalogue_list"), {"category": "exam", "export": "xlsx"})
    sheet = load_workbook(io.BytesIO(export.getvalue())).active
    assert any(row[:4] == ("JC02", "头颅CT平扫", "检查", "乙类") for row in sheet.iter_rows(values_only=True))


def test_api_lists_for_pickers_and_writes_nothing(
    as_user, items, township_user, supervisor, county_user, world, django_assert_max_num_queries
):
    hospital = make_hospital_user("cashier", world.county_hospital)
    for user in (township_user, supervisor, hospital, county_user):
        c = as_user(user)
        with django_assert_max_num_queries(6):
            response = c.get("/api/v1/claims/catalogue-items/", {"q": "XY"})
        assert response.status_code == 200
        body = response.json()["results"]
        assert [(i["code"], i["item_class"], i["category"]) for i in body] == [
            ("XY01", "A", "western_drug"),
            ("XY02", "B", "western_drug"),
        ]
        assert c.get("/api/v1/claims/catalogue-items/", {"q": "阿莫西林"}).json()["count"] == 1
        created = c.post("/api/v1/claims/catalogue-items/", {"code": "N1"}, content_type="application/json")
        assert created.status_code in (403, 405)
    assert CatalogueItem.objects.count() == 4


# --- the review rule ---------------------------------------------------------------------------


def _itemised(user, world, codes, admitted=datetime.date(2025, 3, 1)):
    return services.encounter_create(
        user=user,
        member=world.east_head,
        institution=world.county_hospital,
        kind="inpatient",
        admission_date=admitted,
        discharge_date=admitted + datetime.timedelta(days=5),
        diagnosis_code="K35.8",
        items=[{"code": code, "class": "A", "category": "surgery", "amount": "1000.00"} for code in codes],
    )[0]


CATALOGUE_CASES = [
    # (active catalogue codes, codes typed on the rule, the encounter's codes, flagged codes or None)
    (["XY01", "JC02"], "", ["XY01", "JC02"], None),
    (["XY01", "JC02"], "", ["XY01", "ZZ99"], ["ZZ99"]),
    (["XY01"], "LOCAL1", ["XY01", "LOCAL1"], None),  # typed codes add to the catalogue
    ([], "", ["ZZ99"], None),  # no catalogue, no typed codes: the rule is off
    ([], "XY01", ["ZZ99"], ["ZZ99"]),  # no catalogue: the typed codes alone, as before
]


@pytest.mark.parametrize(("catalogue_codes", "typed", "bill", "flagged"), CATALOGUE_CASES)
def test_not_in_catalogue_reads_the_active_catalogue(
    world, township_user, settlement_spy, catalogue_codes, typed, bill, flagged
):
    for code in catalogue_codes:
        CatalogueItemFactory(code=code)
    CatalogueItemFactory(code="ZZ99", active=False)  # withdrawn: out of the catalogue
    ReviewRule.objects.filter(code="not_in_catalogue").update(catalogue_codes=typed)
    encounter = _itemised(township_user, world, bill)
    flags = encounter.review_flags.filter(code="not_in_catalogue")
    if flagged is None:
        assert not flags.exists()
    else:
        message = flags.get().message
        assert all(code in message for code in flagged)
        assert not any(code in message for code in set(bill) - set(flagged))


def test_review_reads_the_catalogue_once_per_call(
    world, township_user, settlement_spy, django_assert_num_queries
):
    CatalogueItemFactory.create_batch(50)
    CatalogueItemFactory(code="XY01")
    small = services.review_settings(item_codes=["XY01", "ZZ99"])
    assert "XY01" in small.catalogue_codes and "ZZ99" not in small.catalogue_codes
    # The encounter's codes, one more, and the two lines a review makes from totals (ZD-IN,
    # ZD-OUT): not the whole catalogue.
    assert len(small.catalogue_codes) <= 5 and {"ZD-IN", "ZD-OUT"} <= small.catalogue_codes
    with django_assert_num_queries(2):  # the rules, the catalogue
        whole = services.review_settings()
    assert len(whole.catalogue_codes) == 51 + 2
    with django_assert_num_queries(1):  # no items: no catalogue query
        services.review_settings(item_codes=[])


def test_the_years_bulk_review_flags_codes_not_in_the_catalogue(world, township_user, settlement_spy):
    from claims.review import review_year

    CatalogueItemFactory(code="XY01")
    _itemised(township_user, world, ["XY01"])
    other = _itemised(township_user, world, ["XY01", "ZZ99"], admitted=datetime.date(2025, 6, 1))
    other.review_flags.all().delete()
    result = review_year(year=2025)
    assert result.by_rule.get("not_in_catalogue") == 1
    assert other.review_flags.filter(code="not_in_catalogue").exists()


def test_the_demo_catalogue_holds_the_golden_cases_codes(db, county_user):
    import json
    from pathlib import Path

    from claims.demo import load_demo_catalogue

    assert load_demo_catalogue(user=county_user) > 0
    assert load_demo_catalogue(user=county_user) == 0  # loading again adds nothing
    cases = Path("/work/shared/settlement-cases/demo-county-2025-items.claims.json")
    if cases.exists():
        found = {}

        def walk(node):
            if isinstance(node, dict):
                if "code" in node and "class" in node:
                    found[node["code"]] = node["class"]
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)

        walk(json.loads(cases.read_text()))
        stored = dict(CatalogueItem.objects.values_list("code", "item_class"))
        assert {code: cls for code, cls in found.items() if code != "X1"} == stored


# --- the entry page's 费用明细 -------------------------------------------------------------------


def _entry(world, lines, **extra):
    form = {
        "member_query": world.east_head.id_number,
        "institution": world.county_hospital.pk,
        "kind": "inpatient",
        "admission_date": "2025-04-01",
        "discharge_date": "2025-04-05",
        "diagnosis_code": "K35.8",
        "referred": "on",
        "items-TOTAL_FORMS": "8",
        "items-INITIAL_FORMS": "0",
        "items-MIN_NUM_FORMS": "0",
        "items-MAX_NUM_FORMS": "200",
        **extra,
    }
    for n, line in enumerate(lines):
        form.update({f"items-{n}-{key}": value for key, value in line.items()})
    return form


def test_the_entry_page_takes_items_and_derives_the_totals(
    as_user, world, township_user, settlement_spy, django_assert_max_num_queries
):
    from claims.models import Encounter

    CatalogueItemFactory(code="XY01", name="头孢曲松钠注射液", item_class="A", category="western_drug")
    c = as_user(township_user)
    url = reverse("claims:encounter_create")
    with django_assert_max_num_queries(12):
        page = c.get(url).content.decode()
    assert 'id="item-rows"' in page and 'value="XY01"' in page and "catalogue-picker.js" in page
    lines = [
        {"code": "XY01", "item_class": "A", "category": "western_drug", "quantity": "2", "amount": "30.00"},
        {"code": "ZZ99", "name": "自费材料", "item_class": "C", "amount": "70.50"},
    ]
    response = c.post(url, _entry(world, lines))
    assert response.status_code == 302, response.context["form"].errors
    encounter = Encounter.objects.get(pk=response["Location"].rstrip("/").rsplit("/", 1)[1])
    # 医疗总费用 = 30.00 + 70.50; the stored in-policy cost is the class A line (目录内费用).
    assert (encounter.total_cost, encounter.in_policy_cost) == (D("100.50"), D("30.00"))
    assert list(encounter.items.values_list("code", "item_class")) == [("XY01", "A"), ("ZZ99", "C")]
    flag = encounter.review_flags.get(code="not_in_catalogue")
    assert "ZZ99" in flag.message and "XY01" not in flag.message


def test_the_entry_page_shows_a_bad_line_on_its_row(as_user, world, township_user, settlement_spy):
    c = as_user(township_user)
    url = reverse("claims:encounter_create")
    lines = [{"code": "XY01", "item_class": "A", "amount": "10"}, {"code": "XY02", "amount": "5"}]
    response = c.post(url, _entry(world, lines))
    assert response.status_code == 200
    form = response.context["form"]
    assert form.bill.forms[1].errors["item_class"]
    assert "费用明细第2行目录类别" in response.content.decode()
    response = c.post(url, _entry(world, lines[:1], in_policy_cost="10"))
    assert "有费用明细时不能再填政策范围内费用" in response.content.decode()
    # Without the rows (an older page): both totals are required as before.
    plain = {k: v for k, v in _entry(world, []).items() if not k.startswith("items-")}
    response = c.post(url, plain)
    assert response.status_code == 200 and "请填写医疗总费用" in response.content.decode()
