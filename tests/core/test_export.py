"""core.export: every cell is data, numbers are numbers, the sheet looks as offices expect."""

import io
import zipfile
from datetime import date, datetime
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from core.export import FORMULA_TRIGGERS, Sheet, TemplateColumn, template_workbook, workbook_bytes, write_rows
from tests.sheets import EVIL


def _book(data):
    return load_workbook(io.BytesIO(data))


@pytest.mark.parametrize("first", FORMULA_TRIGGERS)
def test_strings_starting_with_a_formula_trigger_stay_strings(first):
    value = f"{first}1+2"
    data = workbook_bytes(sheet=[("姓名", "name")], rows=[{"name": value}], title="名单")
    cell = _book(data).active["A3"]
    assert cell.data_type == "s" and cell.quotePrefix
    assert cell.value.strip() == value.strip()  # (XML reads a lone CR back as a line break)
    xml = zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml")
    assert b"<f>" not in xml and b"<f " not in xml


def test_hyperlink_formula_is_written_as_text_not_formula():
    data = workbook_bytes(
        sheet=[("姓名", "name"), ("备注", "note")], rows=[{"name": EVIL, "note": "正常"}], title="名单"
    )
    sheet = _book(data).active
    assert sheet["A3"].value == EVIL and sheet["A3"].data_type == "s" and sheet["A3"].quotePrefix
    assert not sheet["B3"].quotePrefix  # ordinary text is not marked
    assert b"<f>" not in zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml")


def test_layout_types_and_formats():
    rows = [
        {
            "name": "王秀英",
            "money": Decimal("1234567.5"),
            "count": 12345,
            "day": date(2025, 3, 1),
            "when": datetime(2025, 3, 1, 8, 30),
            "year": 2025,
            "flag": True,
            "empty": None,
        }
    ]
    spec = [
        ("姓名", "name"),
        ("医疗总费用", "money"),
        ("人数", "count"),
        ("日期", "day"),
        ("时间", "when"),
        ("年度", "year"),
        ("参保", "flag"),
        ("空", "empty"),
    ]
    data = workbook_bytes(
        sheet=spec,
        rows=rows,
        title="就诊记录[2025]",
        filters=[("乡镇", "城关镇"), ("年度", "2025")],
        stamp="x",
    )
    sheet = _book(data).active
    assert sheet.title == "就诊记录2025"  # named after the list; [] are not allowed in names
    assert "城关镇" in sheet["A1"].value and "筛选条件" in sheet["A1"].value
    assert [c.value for c in sheet[2]] == [h for h, _ in spec]
    assert all(c.font.b for c in sheet[2])
    assert sheet.freeze_panes == "A3"
    assert sheet.print_title_rows == "$2:$2"
    assert sheet.page_setup.orientation == "landscape" and str(sheet.page_setup.paperSize) == "9"
    assert sheet.page_setup.fitToWidth == 1 and sheet.sheet_properties.pageSetUpPr.fitToPage
    name, money, count, day, when, year, flag, empty = sheet[3]
    assert money.data_type == "n" and money.value == 1234567.5 and money.number_format == "#,##0.00"
    assert count.value == 12345 and count.number_format == "#,##0"
    assert day.is_date and day.value == datetime(2025, 3, 1) and day.number_format == "yyyy-mm-dd"
    assert when.is_date and when.value == datetime(2025, 3, 1, 8, 30)
    assert year.value == 2025 and year.number_format == "0"  # a year has no thousands separator
    assert flag.value == "是" and empty.value is None
    # Wide enough for the content: 14 digits of money with separators, Chinese headers count double.
    assert sheet.column_dimensions["B"].width >= len("1,234,567.50")
    assert sheet.column_dimensions["A"].width >= 6


def test_rows_are_streamed_from_an_iterator():
    produced = []

    def rows():
        for i in range(1000):
            produced.append(i)
            yield {"n": i}

    data = workbook_bytes(sheet=Sheet([("序号", "n")]), rows=rows(), title="t", title_row=False)
    sheet = _book(data).active
    assert sheet.max_row == 1001 and sheet["A1001"].value == 999 and sheet.freeze_panes == "A2"


def test_write_rows_rejected_rows_layout_keeps_header_in_row_one():
    data = write_rows(
        ["姓名", "错误原因"], [[EVIL, "必填"]], sheet_title="未导入的行", highlight_column="错误原因"
    )
    sheet = _book(data).active
    assert [c.value for c in sheet[1]] == ["姓名", "错误原因"]
    assert sheet["A2"].data_type == "s" and sheet["A2"].value == EVIL


def test_template_has_text_id_column_dropdowns_example_and_notes():
    data = template_workbook(
        title="花名册",
        columns=[
            TemplateColumn("姓名", "成员姓名", "张三", True),
            TemplateColumn("证件号码", "18位", "640221196003150013", True, text=True),
            TemplateColumn("性别", "男/女", "男", choices=("男", "女")),
        ],
    )
    book = _book(data)
    sheet = book["花名册"]
    assert [c.value for c in sheet[1]] == ["姓名", "证件号码", "性别"]
    assert sheet["B2"].value == "640221196003150013" and sheet["B2"].data_type == "s"
    assert sheet["B3"].number_format == "@"
    validations = sheet.data_validations.dataValidation
    assert len(validations) == 1 and validations[0].type == "list" and "C2" in str(validations[0].sqref)
    notes = book["填写说明"]
    assert [notes.cell(row=r, column=1).value for r in (2, 3, 4)] == ["姓名", "证件号码", "性别"]
    assert notes["D4"].value == "男/女"
