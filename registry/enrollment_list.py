"""Parsing of the medical-insurance bureau's enrollment list (参保名单导入). Pure Python: no
Django imports.

One row per member and year: 证件号码, 姓名, 年度, 是否参保, the amounts (缴费标准, 个人缴费,
资助金额) and the subsidy's category and fund. :func:`parse_enrollment_list` checks each cell
and reports every fault as a :class:`RowError` (Excel row number, canonical header); the
service (``registry.services.enrollment_list_import``) finds the members by ID number and
applies the enrollment rules (``fact_services.enrollment_values``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from core.rows import RowError, cell_text, find_header, is_blank

from .idnumber import IdNumberError, validate_id_number

__all__ = [
    "CANONICAL_HEADERS",
    "HEADER_ALIASES",
    "REQUIRED_HEADERS",
    "EnrollmentRow",
    "parse_enrollment_list",
]

# (EnrollmentRow attribute, canonical header, required, aliases) in template order.
_COLUMNS = (
    ("id_number", "证件号码", True, ("身份证号", "身份证号码", "公民身份号码", "身份证件号码", "证件号")),
    ("name", "姓名", False, ("参保人姓名", "参保人")),
    ("year", "年度", True, ("参保年度", "缴费年度")),
    ("insured", "是否参保", True, ("参保状态", "是否参加城乡居民基本医疗保险")),
    ("premium", "缴费标准", False, ("保费", "个人缴费标准", "应缴金额")),
    ("personal_share", "个人缴费", False, ("个人实缴", "个人缴费金额", "个人实缴金额")),
    ("subsidy", "资助金额", False, ("资助额", "代缴金额")),
    ("subsidy_category", "资助类别", False, ("资助对象类别", "代缴类别")),
    ("subsidy_fund", "资助资金", False, ("资助资金来源", "资金来源")),
)
CANONICAL_HEADERS = [header for _, header, _, _ in _COLUMNS]
REQUIRED_HEADERS = [header for _, header, required, _ in _COLUMNS if required]
HEADER_ALIASES = {name: header for _, header, _, aliases in _COLUMNS for name in (header, *aliases)}
HEADER_OF = {attr: header for attr, header, _, _ in _COLUMNS}

INSURED = {"是": True, "已参保": True, "参保": True, "正常参保": True, "否": False, "未参保": False}
MAX_TEXT = 50

MSG_REQUIRED = "必填"


@dataclass(slots=True)
class EnrollmentRow:
    row: int
    id_number: str
    name: str
    year: int
    insured: bool
    premium: Decimal | None
    personal_share: Decimal | None
    subsidy: Decimal | None
    subsidy_category: str
    subsidy_fund: str


@dataclass
class ParsedList:
    rows: list  # EnrollmentRow, the valid rows only
    errors: list  # RowError
    total: int  # data rows
    header_row: int = 1
    refused_file: bool = False  # the header itself is wrong


def _amount(value) -> Decimal:
    text = cell_text(value).replace(",", "").replace("，", "")
    if text.endswith("元"):
        text = text[:-1]
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise ValueError("应为金额（元）") from None
    if not amount.is_finite() or amount < 0 or amount >= Decimal("1e8"):
        raise ValueError("应为不小于0的金额（元）")
    if amount != amount.quantize(Decimal("0.01")):
        raise ValueError("金额最多两位小数")
    return amount.quantize(Decimal("0.01"))


def parse_enrollment_list(rows: Iterable[Sequence[object]]) -> ParsedList:
    iterator = iter(rows)
    index, seen, mapping = find_header(iterator, HEADER_ALIASES)
    if index is None:
        return ParsedList([], [RowError(1, "", "文件为空")], 0, refused_file=True)
    header_row = index + 1
    errors: list[RowError] = []
    for header in REQUIRED_HEADERS:
        if header not in mapping:
            errors.append(RowError(header_row, header, "缺少必填列"))
    for header, columns in mapping.items():
        if len(columns) > 1:
            errors.append(RowError(header_row, header, "该列出现了多次"))
    if errors:
        return ParsedList([], errors, 0, header_row=header_row, refused_file=True)
    column = {header: columns[0] for header, columns in mapping.items()}

    def cell(row, header):
        position = column.get(header)
        return row[position] if position is not None and position < len(row) else None

    parsed: list[EnrollmentRow] = []
    seen_keys: dict[tuple[str, int], int] = {}
    total = 0
    data = [*seen[index + 1 :], *iterator]
    for number, row in enumerate(data, start=header_row + 1):
        if all(is_blank(value) for value in row):
            continue
        total += 1
        row_errors = []

        def fault(attr, message, number=number, row_errors=row_errors):
            row_errors.append(RowError(number, HEADER_OF[attr], message))

        raw_id = cell(row, "证件号码")
        id_number = ""
        if is_blank(raw_id):
            fault("id_number", MSG_REQUIRED)
        elif raw_id.__class__ is not str:
            fault("id_number", "应为文本格式的18位号码")
        else:
            try:
                id_number = validate_id_number(raw_id.strip()).number
            except IdNumberError as exc:
                fault("id_number", str(exc))
        name = cell_text(cell(row, "姓名"))
        if len(name) > MAX_TEXT:
            fault("name", f"最多{MAX_TEXT}字")
        year = 0
        year_text = cell_text(cell(row, "年度")).removesuffix("年度").removesuffix("年")
        if not year_text:
            fault("year", MSG_REQUIRED)
        elif not (year_text.isascii() and year_text.isdigit() and len(year_text) == 4):
            fault("year", f"应为四位年份（如2025），不是“{year_text}”")
        else:
            year = int(year_text)
        insured_text = cell_text(cell(row, "是否参保"))
        insured = INSURED.get(insured_text)
        if not insured_text:
            fault("insured", MSG_REQUIRED)
        elif insured is None:
            fault("insured", f"应为“是”或“否”，不是“{insured_text}”")
        amounts = {}
        for attr in ("premium", "personal_share", "subsidy"):
            value = cell(row, HEADER_OF[attr])
            amounts[attr] = None
            if not is_blank(value):
                try:
                    amounts[attr] = _amount(value)
                except ValueError as exc:
                    fault(attr, str(exc))
        texts = {}
        for attr in ("subsidy_category", "subsidy_fund"):
            texts[attr] = cell_text(cell(row, HEADER_OF[attr]))
            if len(texts[attr]) > MAX_TEXT:
                fault(attr, f"最多{MAX_TEXT}字")
        if id_number and year:
            first = seen_keys.setdefault((id_number, year), number)
            if first != number:
                fault("id_number", f"与第{first}行重复（同一人同一年度只能有一行）")
        if row_errors:
            errors.extend(row_errors)
            continue
        parsed.append(EnrollmentRow(number, id_number, name, year, insured, **amounts, **texts))
    if not total:
        errors.append(RowError(header_row, "", "没有数据行"))
        return ParsedList([], errors, 0, header_row=header_row, refused_file=True)
    return ParsedList(parsed, errors, total, header_row=header_row)
