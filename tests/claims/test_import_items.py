"""The discharge list's second sheet, 费用明细 (one line per bill item keyed by the
住院号/流水号): itemised encounters from the import, all or nothing per file, faults naming
the sheet, row and column in Chinese, and the review run over what was written."""

from decimal import Decimal

from django.core.management import call_command
from django.urls import reverse
from openpyxl import Workbook

from claims import encounter_rows, services
from claims.models import Encounter, EncounterImport
from core.outbox import outbox_dispatch
from core.reader import read_named_rows, read_rows
from tests.claims.test_claims_import import HEADER, _row

ITEM_HEADER = ["住院号/流水号", "项目编码", "项目名称", "费用类别", "医保目录类别", "数量", "单价", "金额"]
LINES = [
    ["ZY1", "XY01", "头孢曲松", "西药", "甲类", 2, 1500, 3000],
    ["ZY1", "JC02", "头颅CT", "检查", "乙", None, None, "1500.50"],
    ["ZY1", "CL03", "材料", "卫生材料", "C", None, None, 499.5],
]


def _workbook(path, rows, lines, *, sheet="费用明细", hidden=False):
    workbook = Workbook()
    first = workbook.active
    first.title = "就诊清单"
    for row in rows:
        first.append(row)
    items = workbook.create_sheet(sheet)
    for line in lines:
        items.append(line)
    if hidden:
        items.sheet_state = "hidden"
    workbook.save(path)
    return path


def _itemised(world, ref="ZY1", **overrides):
    return _row(world, ref, **{"医疗总费用": "", "政策范围内费用": "", **overrides})


def _import(user, path, **kwargs):
    return services.encounter_import(
        rows=read_rows(path), user=user, extra_sheet=read_named_rows(path, "费用明细"), **kwargs
    )


def test_items_make_an_itemised_encounter_and_it_is_reviewed(
    world, county_user, tmp_path, settlement_spy, django_capture_on_commit_callbacks
):
    path = _workbook(
        tmp_path / "清单.xlsx", [HEADER, _itemised(world), _row(world, "ZY2")], [ITEM_HEADER, *LINES]
    )
    with django_capture_on_commit_callbacks(execute=True):  # the review follows the commit
        report = _import(county_user, path)
    assert not report.errors and report.created == 2
    stay = Encounter.objects.get(ref="ZY1")
    lines = list(
        stay.items.order_by("position").values_list("code", "item_class", "category", "amount", "quantity")
    )
    assert lines == [
        ("XY01", "A", "western_drug", Decimal("3000.00"), Decimal("2.000")),
        ("JC02", "B", "exam", Decimal("1500.50"), None),
        ("CL03", "C", "material", Decimal("499.50"), None),
    ]
    # 医疗总费用 = Σ 金额; the stored in-policy cost is the A and B lines (目录内费用).
    assert (stay.total_cost, stay.in_policy_cost) == (Decimal("5000.00"), Decimal("4500.50"))
    assert not Encounter.objects.get(ref="ZY2").items.exists()
    # The import reviewed what it wrote: 药占比 3000 / 5000 = 60% > 40%.
    assert "drug_share" in stay.review_flags.values_list("code", flat=True)
    # The same file again: nothing changes.
    again = _import(county_user, path)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    # A changed line updates the unsettled stay's bill.
    changed = [ITEM_HEADER, *LINES[:2], ["ZY1", "CL03", "材料", "卫生材料", "C", None, None, 200]]
    _workbook(path, [HEADER, _itemised(world), _row(world, "ZY2")], changed)
    assert _import(county_user, path).updated == 1
    stay.refresh_from_db()
    assert stay.total_cost == Decimal("4700.50") and stay.items.count() == 3


def test_a_fault_on_the_items_sheet_refuses_the_whole_file(world, county_user, tmp_path, settlement_spy):
    bad = [
        ITEM_HEADER,
        LINES[0],
        ["ZY1", "JC02", "头颅CT", "检查", "丁类", None, None, 100],
        ["ZY9", "X", "", "", "A", None, None, 5],
    ]
    path = _workbook(tmp_path / "清单.xlsx", [HEADER, _itemised(world), _row(world, "ZY2")], bad)
    report = _import(county_user, path, skip_invalid=True)
    assert report.refused and not Encounter.objects.filter(ref__in=["ZY1", "ZY2"]).exists()
    shown = [str(e) for e in report.errors]
    assert "工作表「费用明细」第3行 医保目录类别: 未知的值「丁类」，应为：甲类/乙类/丙类（或A/B/C）" in shown
    assert (
        "工作表「费用明细」第4行 住院号/流水号: 就诊清单（第一个工作表）中没有这个住院号/流水号的有效行"
        in shown
    )
    assert report.as_dict()["errors"][0]["sheet"] == "费用明细"


def test_totals_and_in_policy_cost_beside_items(world, county_user, tmp_path, settlement_spy):
    rows = [
        HEADER,
        _itemised(world, **{"医疗总费用": "4999.99"}),
        _itemised(world, "ZY2", **{"政策范围内费用": "100"}),
    ]
    lines = [ITEM_HEADER, *LINES, ["ZY2", "A1", "", "", "A", None, None, 100]]
    report = _import(county_user, _workbook(tmp_path / "清单.xlsx", rows, lines))
    shown = [str(e) for e in report.errors]
    assert report.refused
    assert "第2行 医疗总费用: 医疗总费用 4999.99 与明细金额合计 5000.00 不一致" in shown
    assert "第3行 政策范围内费用: 有费用明细时不填（结算时按明细和政策目录算出）" in shown


def test_missing_columns_and_amounts_name_the_sheet(world, county_user, tmp_path, settlement_spy):
    lines = [["住院号/流水号", "项目编码", "金额"], ["ZY1", "A1", "-5"]]
    report = _import(county_user, _workbook(tmp_path / "清单.xlsx", [HEADER, _itemised(world)], lines))
    assert report.refused and "工作表「费用明细」第1行 医保目录类别: 缺少必填列" in [
        str(e) for e in report.errors
    ]
    lines = [ITEM_HEADER, ["ZY1", "A1", "", "", "A", None, None, "-5"]]
    report = _import(county_user, _workbook(tmp_path / "清单2.xlsx", [HEADER, _itemised(world)], lines))
    assert "工作表「费用明细」第2行 金额: 不能为负数" in [str(e) for e in report.errors]


def test_a_hidden_items_sheet_is_refused(tmp_path):
    import pytest

    from core.reader import SpreadsheetRefused

    path = _workbook(tmp_path / "清单.xlsx", [HEADER], [ITEM_HEADER], hidden=True)
    with pytest.raises(SpreadsheetRefused, match="费用明细"):
        read_named_rows(path, "费用明细")
    assert read_named_rows(_workbook(tmp_path / "无.xlsx", [HEADER], [], sheet="其他"), "费用明细") is None


def test_the_command_and_the_web_job_read_the_items_sheet(
    as_user, world, county_user, tmp_path, settlement_spy, django_capture_on_commit_callbacks
):
    path = _workbook(tmp_path / "清单.xlsx", [HEADER, _itemised(world)], [ITEM_HEADER, *LINES])
    call_command("import_encounters", str(path), "--dry-run", "--user", county_user.username)
    c = as_user(county_user)
    bad = _workbook(
        tmp_path / "错.xlsx",
        [HEADER, _itemised(world)],
        [ITEM_HEADER, ["ZY1", "A", "", "", "X", None, None, 1]],
    )
    with django_capture_on_commit_callbacks(execute=True):
        with bad.open("rb") as handle:
            response = c.post(reverse("claims:import_upload"), {"file": handle})
    job = EncounterImport.objects.get()
    page = c.get(response["Location"]).content.decode()
    assert job.status == "refused" and "工作表「费用明细」第2行" in page and "医保目录类别" in page
    with django_capture_on_commit_callbacks(execute=True):
        with path.open("rb") as handle:
            response = c.post(reverse("claims:import_upload"), {"file": handle})
    job = EncounterImport.objects.latest("pk")
    c.post(reverse("claims:import_confirm", args=[job.pk]))
    outbox_dispatch()
    assert Encounter.objects.get(ref="ZY1").items.count() == 3
    assert encounter_rows.ITEMS_SHEET == "费用明细"
