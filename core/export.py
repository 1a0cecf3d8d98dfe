"""Every Excel file the application writes: list exports, report tables, templates and the
files of rejected rows. One writer, so every file looks the way a county office expects and
every cell is written as data.

* The sheet is named after the list; row 1 is a title naming the list, the filters applied
  and the time of export; row 2 the header (bold, frozen, repeated on every printed page);
  A4 landscape, fit to the page width.
* Numbers are numbers: money and decimals ``#,##0.00``, counts ``#,##0``, years plain;
  dates are dates (``yyyy-mm-dd``). Columns are as wide as their content (measured on the
  first rows; Chinese characters count double).
* Formula injection (OWASP "CSV injection"): a string is always a string cell — openpyxl
  would make ``=HYPERLINK(…)`` a formula — and a string starting with ``= + - @``, a tab or
  a carriage return is also marked quote-prefixed (Excel's own ``'``), so no spreadsheet
  evaluates it, now or when someone edits the cell.
* Bounded memory: openpyxl's write-only mode into a temporary file, rows taken from an
  iterator; the response streams the file.

Pure apart from Django's ``FileResponse`` (and forms, to describe filters): no app imports.
"""

from __future__ import annotations

import re
import tempfile
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from itertools import chain, islice
from operator import attrgetter
from urllib.parse import quote

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.properties import PageSetupProperties

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

MONEY_FORMAT = "#,##0.00"
COUNT_FORMAT = "#,##0"
PLAIN_FORMAT = "0"
PCT_FORMAT = "0.0"
DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
TEXT_FORMAT = "@"

# Characters that make a spreadsheet read a cell as a formula (OWASP).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_SAMPLE_ROWS = 300  # rows measured for column widths
_MIN_WIDTH, _MAX_WIDTH = 6, 60
_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")

KINDS = ("", "text", "int", "plain", "money", "decimal", "pct", "date", "datetime")


@dataclass(frozen=True)
class Column:
    """One column of an export: ``get(row)`` gives the value; ``kind`` chooses the number
    format ("" = by the value's type; "plain" = a whole number without separators, e.g. a
    year; "pct" = one decimal; "text" = always text)."""

    header: str
    get: Callable[[object], object]
    kind: str = ""


def _getter(path: str) -> Callable[[object], object]:
    attr = attrgetter(path)

    def get(row):
        if isinstance(row, dict):
            return row.get(path)
        try:
            return attr(row)
        except AttributeError:  # a None on the way (e.g. no institution)
            return None

    return get


def column(header: str, value: str | Callable, kind: str = "") -> Column:
    """``value``: a dotted attribute path (or a dict key) or a callable taking the row."""
    if not kind and (header.endswith("年度") or header.endswith("年份")):
        kind = "plain"
    return Column(header, _getter(value) if isinstance(value, str) else value, kind)


class Sheet:
    """The columns of one export: ``Sheet([(header, path or callable[, kind]), …])``."""

    def __init__(self, spec: Iterable[Column | Sequence]):
        self.columns = [item if isinstance(item, Column) else column(*item) for item in spec]

    @property
    def headers(self) -> list[str]:
        return [c.header for c in self.columns]

    def values(self, rows: Iterable) -> Iterable[list]:
        getters = [c.get for c in self.columns]
        for row in rows:
            yield [get(row) for get in getters]


# --- cells ------------------------------------------------------------------------------------


def safe_text(value: str) -> str:
    """Text a worksheet can hold (XML control characters removed)."""
    return ILLEGAL_CHARACTERS_RE.sub("", value)


def text_cell(sheet, value: str) -> WriteOnlyCell:
    """A string cell that no spreadsheet evaluates, whatever the string."""
    cell = WriteOnlyCell(sheet)
    cell._value = safe_text(value)  # not .value: its setter turns "=…" into a formula
    cell.data_type = "s"
    if value.startswith(FORMULA_TRIGGERS):
        cell.quotePrefix = True
    return cell


def data_cell(sheet, value, kind: str = ""):
    """A typed, formatted cell for ``value`` (never a formula)."""
    if value is None or value == "":
        return None
    if kind == "text" or isinstance(value, str):
        return text_cell(sheet, value if isinstance(value, str) else str(value))
    if isinstance(value, bool):
        return text_cell(sheet, "是" if value else "否")
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            from django.utils import timezone

            value = timezone.localtime(value).replace(tzinfo=None)
        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = DATETIME_FORMAT
        return cell
    if isinstance(value, date):
        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = DATE_FORMAT
        return cell
    if isinstance(value, (int, float, Decimal)):
        cell = WriteOnlyCell(sheet, value=value)
        if kind == "plain":
            cell.number_format = PLAIN_FORMAT
        elif kind == "pct":
            cell.number_format = PCT_FORMAT
        elif isinstance(value, int) and kind not in ("money", "decimal"):
            cell.number_format = COUNT_FORMAT
        else:
            cell.number_format = MONEY_FORMAT
        return cell
    if isinstance(value, time):
        return text_cell(sheet, value.strftime("%H:%M"))
    return text_cell(sheet, str(value))


def display_width(value) -> int:
    """Roughly how many character widths the value takes in a cell."""
    if value is None:
        return 0
    if isinstance(value, Decimal | float):
        text = f"{value:,.2f}"
    elif isinstance(value, int) and not isinstance(value, bool):
        text = f"{value:,}"
    elif isinstance(value, datetime):
        text = "2025-01-01 00:00"
    elif isinstance(value, date):
        text = "2025-01-01"
    else:
        text = str(value)
    longest = max(text.split("\n"), key=len) if "\n" in text else text
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in longest)


def sheet_name(title: str) -> str:
    return _BAD_SHEET_CHARS.sub("", title).strip("'")[:31] or "Sheet1"


# --- workbooks --------------------------------------------------------------------------------


def write_workbook(
    target,
    *,
    sheet: Sheet | Sequence[Column | Sequence],
    rows: Iterable,
    title: str,
    filters: Sequence[tuple[str, str]] = (),
    title_row: bool = True,
    highlight_column: str | None = None,
    stamp: str | None = None,
) -> None:
    """Write one sheet to ``target`` (a path or a binary file object).

    ``rows`` are objects (or dicts) the sheet's columns read. ``title_row=False`` writes the
    header in row 1 (files meant to be uploaded again: templates, rejected rows)."""
    if not isinstance(sheet, Sheet):
        sheet = Sheet(sheet)
    columns = sheet.columns
    workbook = Workbook(write_only=True)
    ws = workbook.create_sheet(sheet_name(title))

    values = sheet.values(rows)
    sample = list(islice(values, _SAMPLE_ROWS))
    for index, col in enumerate(columns, start=1):
        widest = max([display_width(col.header) + 2, *(display_width(r[index - 1]) for r in sample)])
        ws.column_dimensions[get_column_letter(index)].width = min(max(widest + 2, _MIN_WIDTH), _MAX_WIDTH)

    header_row = 2 if title_row else 1
    ws.freeze_panes = f"A{header_row + 1}"
    ws.print_title_rows = f"{header_row}:{header_row}"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = "9"  # A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)

    if title_row:
        caption = title
        if filters:
            caption += "　筛选条件：" + "；".join(f"{label}：{value}" for label, value in filters)
        else:
            caption += "　筛选条件：无（全部记录）"
        if stamp:
            caption += f"　导出时间：{stamp}"
        cell = text_cell(ws, caption)
        cell.font = Font(bold=True, size=12)
        ws.append([cell])

    bold = Font(bold=True)
    grey = PatternFill("solid", fgColor="FFEDEDED")
    red = PatternFill("solid", fgColor="FFFFD7D7")
    wrap = Alignment(vertical="center", wrap_text=True)
    header = []
    for col in columns:
        cell = text_cell(ws, col.header)
        cell.font = bold
        cell.fill = red if col.header == highlight_column else grey
        cell.alignment = wrap
        header.append(cell)
    ws.append(header)

    kinds = [col.kind for col in columns]
    for values_row in chain(sample, values):
        ws.append([data_cell(ws, value, kind) for value, kind in zip(values_row, kinds)])
    workbook.save(target)


def workbook_bytes(**kwargs) -> bytes:
    """``write_workbook`` into memory (small files: templates, tests)."""
    import io

    buffer = io.BytesIO()
    write_workbook(buffer, **kwargs)
    return buffer.getvalue()


def content_disposition(filename: str) -> str:
    return f"attachment; filename*=UTF-8''{quote(filename)}"


def xlsx_file_response(handle, filename: str):
    """Stream an open binary file (rewound) as an .xlsx download."""
    from django.http import FileResponse

    handle.seek(0)
    response = FileResponse(handle, content_type=XLSX)
    response["Content-Disposition"] = content_disposition(filename)
    return response


def export_response(*, filename: str, **kwargs):
    """Write the workbook to a temporary file and stream it: memory stays bounded by the
    write-only writer, whatever the number of rows."""
    from django.utils import timezone

    kwargs.setdefault("stamp", timezone.localtime().strftime("%Y-%m-%d %H:%M"))
    handle = tempfile.TemporaryFile()
    write_workbook(handle, **kwargs)
    return xlsx_file_response(handle, filename)


def iterate(queryset, chunk_size: int = 2000):
    """Rows of a queryset without holding them all (prefetches run per chunk)."""
    if hasattr(queryset, "iterator"):
        return queryset.iterator(chunk_size=chunk_size)
    return queryset


# --- filters ----------------------------------------------------------------------------------


def describe_filters(form) -> list[tuple[str, str]]:
    """(label, value) of every filter a valid filter form applies, for the title row."""
    if form is None or not form.is_valid():
        return []
    out = []
    for name, value in form.cleaned_data.items():
        if value in (None, "", [], ()) or (
            hasattr(value, "__len__") and not isinstance(value, str) and not value
        ):
            continue
        field = form.fields[name]
        label = str(field.label or name)
        out.append((label, _filter_value(field, value)))
    return out


def _filter_value(field, value) -> str:
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, slice):  # range filters
        parts = [str(v) for v in (value.start, value.stop) if v is not None]
        return "～".join(parts)
    if isinstance(value, (list, tuple, set)) or hasattr(value, "model"):
        return "、".join(_filter_value(field, v) for v in value)
    choices = getattr(field, "choices", None)
    if choices and isinstance(value, str):
        try:
            labels = {str(k): str(v) for k, v in choices if not isinstance(v, (list, tuple))}
        except (TypeError, ValueError):
            labels = {}
        if value in labels:
            return labels[value]
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def write_rows(
    header: Sequence[str], rows: Iterable[Sequence], *, sheet_title: str, highlight_column=None
) -> bytes:
    """A plain table (header in row 1, no title row): files meant to be uploaded again."""
    sheet = Sheet([Column(str(name), _index(i)) for i, name in enumerate(header)])
    return workbook_bytes(
        sheet=sheet, rows=rows, title=sheet_title, title_row=False, highlight_column=highlight_column
    )


def _index(i: int):
    return lambda row: row[i] if i < len(row) else None


# --- blank templates --------------------------------------------------------------------------


@dataclass(frozen=True)
class TemplateColumn:
    """One column of a blank import template."""

    header: str
    note: str  # what to write, for the explanation sheet
    example: object = ""
    required: bool = False
    choices: tuple[str, ...] = ()  # a dropdown of these labels
    text: bool = False  # formatted as text (ID numbers: Excel would round 18 digits)


def template_workbook(*, title: str, columns: Sequence[TemplateColumn], rows: int = 2000) -> bytes:
    """A blank import template: the header (required columns marked ``*`` and shaded), one
    example row, text format and dropdowns on the first ``rows`` data rows, and a second sheet
    explaining every column. Small, so written with openpyxl's normal mode (data validation,
    column styles)."""
    import io

    from openpyxl.comments import Comment
    from openpyxl.worksheet.datavalidation import DataValidation

    workbook = Workbook()
    ws = workbook.active
    ws.title = sheet_name(title)
    notes = workbook.create_sheet("填写说明")
    lists = workbook.create_sheet("代码表")
    lists.sheet_state = "hidden"

    bold = Font(bold=True)
    required_fill = PatternFill("solid", fgColor="FFFFE699")
    optional_fill = PatternFill("solid", fgColor="FFEDEDED")
    example_font = Font(italic=True, color="FF808080")
    list_column = 0
    for index, col in enumerate(columns, start=1):
        letter = get_column_letter(index)
        header = ws.cell(row=1, column=index, value=col.header)
        header.font = bold
        header.fill = required_fill if col.required else optional_fill
        header.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        header.comment = Comment(col.note, "模板")
        example = ws.cell(row=2, column=index)
        if isinstance(col.example, str):
            example._value, example.data_type = col.example, "s"
        else:
            example.value = col.example
            if isinstance(col.example, date):
                example.number_format = DATE_FORMAT
        example.font = example_font
        width = max(
            display_width(col.header), display_width(col.example), *(display_width(c) for c in col.choices)
        )
        ws.column_dimensions[letter].width = min(max(width + 4, 10), 40)
        if col.text:
            ws.column_dimensions[letter].number_format = TEXT_FORMAT
            for row in range(2, rows + 2):
                ws.cell(row=row, column=index).number_format = TEXT_FORMAT
        if col.choices:
            list_column += 1
            list_letter = get_column_letter(list_column)
            lists.cell(row=1, column=list_column, value=col.header)
            for offset, choice in enumerate(col.choices, start=2):
                lists.cell(row=offset, column=list_column, value=choice)
            source = f"代码表!${list_letter}$2:${list_letter}${len(col.choices) + 1}"
            validation = DataValidation(
                type="list",
                formula1=source,
                allow_blank=not col.required,
                showErrorMessage=True,
                errorTitle="无效的值",
                error=f"「{col.header}」只能从下拉列表中选择：{'/'.join(col.choices)}",
                promptTitle=col.header,
                prompt="请从下拉列表中选择",
            )
            validation.add(f"{letter}2:{letter}{rows + 1}")
            ws.add_data_validation(validation)
    ws.freeze_panes = "A2"
    ws.print_title_rows = "1:1"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = "9"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)

    for index, text in enumerate(("列名", "是否必填", "填写说明", "可选的值", "示例"), start=1):
        notes.cell(row=1, column=index, value=text).font = bold
    for row, col in enumerate(columns, start=2):
        notes.cell(row=row, column=1, value=col.header)
        notes.cell(row=row, column=2, value="必填" if col.required else "选填")
        notes.cell(row=row, column=3, value=col.note)
        notes.cell(row=row, column=4, value="/".join(col.choices))
        example = notes.cell(row=row, column=5)
        example._value, example.data_type = str(col.example), "s"
    last = len(columns) + 3
    notes.cell(row=last, column=1, value="说明").font = bold
    notes.cell(
        row=last,
        column=3,
        value="第2行是示例，导入前请删除或覆盖。带颜色的列为必填列；有下拉列表的列只能选择列表中的值。",
    )
    for letter, width in zip("ABCDE", (22, 10, 60, 50, 24)):
        notes.column_dimensions[letter].width = width
    notes.freeze_panes = "A2"
    for cell in notes["C"] + notes["D"]:
        cell.alignment = Alignment(wrap_text=True, vertical="top")

    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# --- CSV --------------------------------------------------------------------------------------


def csv_field(value) -> str:
    """One CSV field that no spreadsheet evaluates (OWASP "CSV injection"): text starting with
    ``= + - @``, a tab or a carriage return gets Excel's ``'`` in front; numbers are written
    plainly (``Decimal`` as is: ``1234.50``), dates ``yyyy-mm-dd``, nothing as empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, (int, Decimal)):
        return str(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    text = safe_text(str(value))
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def csv_bytes(
    *, headers: Sequence[str] | None, rows: Iterable[Sequence], encoding: str = "utf-8-sig"
) -> bytes:
    """A CSV file (CRLF, every field through ``csv_field``) in ``encoding``; a character the
    encoding lacks (GBK) is refused (``UnicodeEncodeError``) rather than silently replaced."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    if headers is not None:
        writer.writerow([csv_field(h) for h in headers])
    for row in rows:
        writer.writerow([csv_field(v) for v in row])
    return buffer.getvalue().encode(encoding)
