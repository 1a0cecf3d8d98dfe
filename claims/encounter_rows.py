"""Parsing of encounter rows (出院/就诊清单导入). Pure Python: no Django imports.

Hospitals send their discharge lists as Excel sheets, one row per visit or stay. The caller
reads the sheet (``core.reader.read_rows``) and hands over the rows, header first.
:func:`parse_encounters` checks every cell on its own (required cells, ID numbers, dates,
money, the kind of visit) and across the file (a 住院号/流水号 used twice); what needs the
database (is the person on the register, is the institution known, was the row imported
before) is the service's part. Faults are :class:`core.rows.RowError` with the Excel
row number and the column's canonical header, so both imports report alike:
``第12行 出院日期: 早于入院日期``.

The unit is the row: an encounter is written only if its row is valid.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from itertools import chain

from core.rows import MAX_TITLE_ROWS, RowError, find_header, normalize_header, parse_date_cell
from core.rows import cell_text as _text
from registry.idnumber import IdNumberError, validate_id_number

from . import codes
from .items import ItemsError, parse_item

__all__ = [
    "CANONICAL_HEADERS",
    "REQUIRED_HEADERS",
    "EncounterRow",
    "ParsedEncounters",
    "RowError",
    "encounter_faults",
    "parse_encounters",
    "serialize_encounters",
]

# (EncounterRow attribute, canonical header, required, aliases) in template order.
_COLUMNS = (
    ("ref", "住院号/流水号", True, ("住院号", "流水号", "门诊号", "就诊流水号", "住院流水号", "门诊流水号")),
    ("name", "姓名", False, ("患者姓名",)),
    ("id_number", "证件号码", True, ("身份证号", "身份证号码", "患者证件号码")),
    ("institution", "医疗机构", True, ("就诊机构", "医院", "医院名称", "医疗机构名称")),
    ("kind", "就诊类型", True, ("类别", "就诊类别", "医疗类别")),
    ("admission_date", "入院日期", True, ("就诊日期", "入院/就诊日期", "就诊/入院日期")),
    ("discharge_date", "出院日期", False, ()),
    ("diagnosis_code", "诊断编码", False, ("疾病编码", "ICD编码", "ICD-10编码", "诊断编码(ICD-10)")),
    ("diagnosis_name", "诊断名称", False, ("疾病名称", "出院诊断", "诊断")),
    ("total_cost", "医疗总费用", True, ("总费用", "住院总费用")),
    ("in_policy_cost", "政策范围内费用", True, ("政策内费用", "目录内费用", "政策范围内金额")),
    ("package", "单病种编码", False, ("单病种", "单病种定额编码")),
    ("referred", "是否按规定转诊", False, ("按规定转诊", "是否转诊")),
)
CANONICAL_HEADERS = [header for _, header, _, _ in _COLUMNS]
REQUIRED_HEADERS = [header for _, header, required, _ in _COLUMNS if required]
HEADER_ALIASES = {name: header for _, header, _, aliases in _COLUMNS for name in (header, *aliases)}
(
    COL_REF,
    COL_NAME,
    COL_ID,
    COL_INSTITUTION,
    COL_KIND,
    COL_ADMISSION,
    COL_DISCHARGE,
    COL_DIAG_CODE,
    COL_DIAG_NAME,
    COL_TOTAL,
    COL_IN_POLICY,
    COL_PACKAGE,
    COL_REFERRED,
) = CANONICAL_HEADERS
_ORDER = {header: i for i, header in enumerate(CANONICAL_HEADERS)}
_ORDER[""] = -1

# Database column lengths (claims.models.Encounter, Member, Institution).
# 住院号 up to 36 characters: a correction appends "-R1" to the 40-character reference.
_MAX_LENGTH = {
    COL_REF: 36,
    COL_NAME: 50,
    COL_INSTITUTION: 100,
    COL_DIAG_CODE: 16,
    COL_DIAG_NAME: 100,
    COL_PACKAGE: 16,
}
_MONEY_LIMIT = Decimal("10000000000")  # DECIMAL(12, 2)
_CENT = Decimal("0.01")
_MAX_TITLE_ROWS = MAX_TITLE_ROWS

_KINDS = {label: code for code, label in codes.ENCOUNTER_KINDS}
_KINDS.update(
    {
        "门诊": "outpatient",
        "普通门诊": "outpatient",
        "慢特病门诊": "outpatient_chronic",
        "门诊慢病": "outpatient_chronic",
        "门诊特殊病": "outpatient_chronic",
        "门诊特殊慢性病": "outpatient_chronic",
        "慢病门诊": "outpatient_chronic",
        "住院": "inpatient",
        "普通住院": "inpatient",
    }
)
_KIND_LABELS = "/".join(label for _, label in codes.ENCOUNTER_KINDS)
_KIND_LABEL = dict(codes.ENCOUNTER_KINDS)
_YES_NO = {"是": True, "否": False, "已转诊": True, "未转诊": False, "Y": True, "N": False}

MSG_REQUIRED = "必填"
MSG_MISSING_COLUMN = "缺少必填列"
MSG_EMPTY_FILE = "文件为空"
MSG_NO_DATA = "没有数据行"
MSG_DISCHARGE_BEFORE = "早于入院日期"
MSG_FUTURE = "不能晚于今天"
MSG_NEGATIVE = "不能为负数"
MSG_IN_POLICY_ABOVE_TOTAL = "不能大于医疗总费用"
MSG_INPATIENT_DISCHARGE = "住院记录必须填写"


@dataclass(slots=True)
class EncounterRow:
    """One valid data row; codes as in ``claims.codes``; money as Decimal with two places."""

    row: int
    ref: str
    name: str
    id_number: str
    institution: str
    kind: str
    admission_date: date
    discharge_date: date | None
    diagnosis_code: str
    diagnosis_name: str
    total_cost: Decimal
    in_policy_cost: Decimal
    package: str
    referred: bool


@dataclass
class ParsedEncounters:
    rows: list[EncounterRow]  # the valid rows, in file order
    errors: list[RowError]  # sorted by row, then column (template order)
    row_count: int  # data rows, blank rows excluded
    rejected_rows: list[int]  # Excel row numbers of the data rows not valid, ascending
    header: list[str]
    header_row: int = 1
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def has_file_error(self) -> bool:
        return any(error.column == "" or error.row <= self.header_row for error in self.errors)


def parse_money(value):
    """A cell → (Decimal with two places, None) or (None, message)."""
    cls = value.__class__
    if cls is str:
        text = value.replace(",", "").replace("，", "").strip()
        if text.endswith("元"):
            text = text[:-1].strip()
        try:
            amount = Decimal(text)
        except InvalidOperation:
            return None, "应为数字"
    elif cls is int or cls is float:
        amount = Decimal(repr(value)) if cls is float else Decimal(value)
    else:
        return None, "应为数字"
    if not amount.is_finite():
        return None, "应为数字"
    if amount < 0:
        return None, MSG_NEGATIVE
    if amount >= _MONEY_LIMIT:
        return None, "数值过大"
    cents = amount.quantize(_CENT)
    if cents != amount:
        return None, "金额最多两位小数"
    return cents, None


def encounter_faults(
    *, kind, admission_date, discharge_date, total_cost, in_policy_cost, today, discharge_unreadable=False
) -> list[tuple[str, str]]:
    """The rules between an encounter's fields, shared by the import and the entry form:
    ``[(column, message), …]``, empty when they hold. A missing value is not checked here."""
    faults = []
    if admission_date is not None and admission_date > today:
        faults.append((COL_ADMISSION, MSG_FUTURE))
    if discharge_date is not None:
        if discharge_date > today:
            faults.append((COL_DISCHARGE, MSG_FUTURE))
        elif admission_date is not None and discharge_date < admission_date:
            faults.append((COL_DISCHARGE, MSG_DISCHARGE_BEFORE))
    elif kind == "inpatient" and not discharge_unreadable:
        faults.append((COL_DISCHARGE, MSG_INPATIENT_DISCHARGE))
    for column, amount in ((COL_TOTAL, total_cost), (COL_IN_POLICY, in_policy_cost)):
        if amount is not None and amount < 0:
            faults.append((column, MSG_NEGATIVE))
    if total_cost is not None and in_policy_cost is not None and 0 <= total_cost < in_policy_cost:
        faults.append((COL_IN_POLICY, f"{MSG_IN_POLICY_ABOVE_TOTAL}（{in_policy_cost} > {total_cost}）"))
    return faults


def _find_header(iterator):
    return find_header(iterator, HEADER_ALIASES, max_title_rows=_MAX_TITLE_ROWS)


def parse_encounters(
    rows: Iterable[Sequence[object]], *, today: date | None = None, itemised: frozenset = frozenset()
) -> ParsedEncounters:
    """Parse the rows of a discharge list (header row first). ``today`` bounds every date
    (default: the current date). ``itemised``: the refs that have lines on the items sheet:
    their 医疗总费用 may be blank (the lines' sum) and their 政策范围内费用 must be (the
    settlement derives it from the lines). The cyclic garbage collector is paused meanwhile,
    as in the roster parser: many small acyclic objects, no cycles to collect."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _parse(rows, today or date.today(), itemised)
    finally:
        if was_enabled:
            gc.enable()


def _parse(rows, today, itemised=frozenset()):
    iterator = iter(rows)
    header_index, seen, mapping = _find_header(iterator)
    if header_index is None:
        return ParsedEncounters([], [RowError(1, "", MSG_EMPTY_FILE)], 0, [], [])
    header = ["" if cell is None else _text(cell) for cell in seen[header_index]]
    header_row = header_index + 1
    ignored = [cell for cell in header if cell and normalize_header(cell) not in HEADER_ALIASES]
    source = chain(seen[header_index + 1 :], iterator)

    errors = []
    for canonical in CANONICAL_HEADERS:
        indexes = mapping.get(canonical, ())
        if not indexes and canonical in REQUIRED_HEADERS:
            errors.append(RowError(header_row, canonical, MSG_MISSING_COLUMN))
        if len(indexes) > 1:
            errors.append(
                RowError(header_row, canonical, f"重复的列（第{indexes[0] + 1}列与第{indexes[1] + 1}列）")
            )
    if errors:
        rejected = [
            n
            for n, row in enumerate(source, start=header_row + 1)
            if any(cell is not None and _text(cell) for cell in row)
        ]
        return ParsedEncounters([], errors, len(rejected), rejected, header, header_row, ignored)

    # Column index per attribute (None when the optional column is absent).
    index = [mapping[header][0] if header in mapping else None for _, header, _, _ in _COLUMNS]
    valid, rejected, row_count = [], [], 0
    first_ref_row: dict[str, int] = {}
    duplicates: dict[str, list[int]] = {}
    for row_number, row in enumerate(source, start=header_row + 1):
        width = len(row)
        cells = [row[i] if i is not None and i < width else None for i in index]
        if all(cell is None or (cell.__class__ is str and not cell.strip()) for cell in cells):
            continue
        row_count += 1
        errs: list[tuple[str, str]] = []
        parsed = _parse_row(row_number, cells, today, errs, itemised)
        ref = parsed.ref if parsed is not None else _cell_text(cells[0])
        if ref:
            first = first_ref_row.setdefault(ref, row_number)
            if first != row_number:
                duplicates.setdefault(ref, [first]).append(row_number)
        if errs:
            errors.extend(RowError(row_number, column, message) for column, message in errs)
            rejected.append(row_number)
        else:
            valid.append(parsed)
    if not row_count:
        return ParsedEncounters(
            [], [RowError(header_row + 1, "", MSG_NO_DATA)], 0, [], header, header_row, ignored
        )

    if duplicates:
        bad = set()
        for numbers in duplicates.values():
            for number in numbers:
                others = "、".join(str(other) for other in numbers if other != number)
                errors.append(RowError(number, COL_REF, f"与第{others}行重复"))
                bad.add(number)
        valid = [row for row in valid if row.row not in bad]
        rejected = sorted(set(rejected) | bad)
    errors.sort(key=lambda e: (e.row, _ORDER[e.column]))
    return ParsedEncounters(valid, errors, row_count, rejected, header, header_row, ignored)


def _cell_text(value) -> str:
    return value.strip() if value.__class__ is str else _text(value)


def _parse_row(row_number, cells, today, errs, itemised=frozenset()):
    (
        ref,
        name,
        id_cell,
        institution,
        kind,
        admission,
        discharge,
        diag_code,
        diag_name,
        total,
        in_policy,
        package,
        referred,
    ) = cells
    err = errs.append

    ref = _cell_text(ref)
    name = _cell_text(name)
    institution = _cell_text(institution)
    diag_code = _cell_text(diag_code).upper().replace(" ", "")
    diag_name = _cell_text(diag_name)
    package = _cell_text(package).upper()
    for column, value in ((COL_REF, ref), (COL_INSTITUTION, institution)):
        if not value:
            err((column, MSG_REQUIRED))
    for column, value in (
        (COL_REF, ref),
        (COL_NAME, name),
        (COL_INSTITUTION, institution),
        (COL_DIAG_CODE, diag_code),
        (COL_DIAG_NAME, diag_name),
        (COL_PACKAGE, package),
    ):
        if len(value) > _MAX_LENGTH[column]:
            err((column, f"过长（最多{_MAX_LENGTH[column]}个字符）"))

    id_number = None
    if id_cell is None or (id_cell.__class__ is str and not id_cell.strip()):
        err((COL_ID, MSG_REQUIRED))
    elif id_cell.__class__ is not str:
        err((COL_ID, "应为文本格式的18位号码"))
    else:
        try:
            id_number = validate_id_number(id_cell.strip(), today=today).number
        except IdNumberError as exc:
            err((COL_ID, exc.message))

    kind_text = _cell_text(kind)
    kind_code = _KINDS.get(kind_text.replace(" ", "")) if kind_text else None
    if not kind_text:
        err((COL_KIND, MSG_REQUIRED))
    elif kind_code is None:
        err((COL_KIND, f"未知的值「{kind_text}」，应为：{_KIND_LABELS}"))

    admission_date = discharge_date = None
    if admission is None or _cell_text(admission) == "":
        err((COL_ADMISSION, MSG_REQUIRED))
    else:
        admission_date = parse_date_cell(admission.strip() if admission.__class__ is str else admission)
        if admission_date is None:
            err((COL_ADMISSION, f"无法识别的日期「{_cell_text(admission)}」，应为YYYY-MM-DD"))
    discharge_given = discharge is not None and _cell_text(discharge) != ""
    if discharge_given:
        discharge_date = parse_date_cell(discharge.strip() if discharge.__class__ is str else discharge)
        if discharge_date is None:
            err((COL_DISCHARGE, f"无法识别的日期「{_cell_text(discharge)}」，应为YYYY-MM-DD"))

    amounts = []
    billed = ref in itemised
    for column, value in ((COL_TOTAL, total), (COL_IN_POLICY, in_policy)):
        if value is None or (value.__class__ is str and not value.strip()):
            if not billed:
                err((column, MSG_REQUIRED))
            amounts.append(None)
            continue
        if billed and column == COL_IN_POLICY:
            err((column, f"有{ITEMS_SHEET}时不填（结算时按明细和政策目录算出）"))
            amounts.append(None)
            continue
        amount, message = parse_money(value)
        if message:
            err((column, message))
        amounts.append(amount)
    total_cost, in_policy_cost = amounts
    errs.extend(
        encounter_faults(
            kind=kind_code,
            admission_date=admission_date,
            discharge_date=discharge_date,
            total_cost=total_cost,
            in_policy_cost=in_policy_cost,
            today=today,
            discharge_unreadable=discharge_given and discharge_date is None,
        )
    )

    referred_text = _cell_text(referred)
    if referred_text == "":
        referred_flag = True
    elif referred.__class__ is bool:
        referred_flag = referred
    else:
        referred_flag = _YES_NO.get(referred_text.upper() if referred_text.isascii() else referred_text)
        if referred_flag is None:
            err((COL_REFERRED, f"未知的值「{referred_text}」，应为：是/否"))

    if errs:
        return None
    return EncounterRow(
        row_number,
        ref,
        name,
        id_number,
        institution,
        kind_code,
        admission_date,
        discharge_date,
        diag_code,
        diag_name,
        total_cost,
        in_policy_cost,
        package,
        referred_flag,
    )


def serialize_encounters(rows: Iterable[EncounterRow]) -> list[list]:
    """The header (CANONICAL_HEADERS) and one row per encounter with Chinese labels: the
    inverse of :func:`parse_encounters` for valid rows (used by tests, the benchmark and the
    demo files)."""
    out = [list(CANONICAL_HEADERS)]
    for r in rows:
        out.append(
            [
                r.ref,
                r.name,
                r.id_number,
                r.institution,
                _KIND_LABEL[r.kind],
                r.admission_date,
                r.discharge_date,
                r.diagnosis_code,
                r.diagnosis_name,
                float(r.total_cost),
                float(r.in_policy_cost),
                r.package,
                "是" if r.referred else "否",
            ]
        )
    return out


# --- the sheet of items (费用明细) beside the discharge list --------------------------------------

ITEMS_SHEET = "费用明细"
# (contract key, canonical header, required, aliases) in template order.
_ITEM_COLUMNS = (
    ("ref", "住院号/流水号", True, _COLUMNS[0][3]),
    ("code", "项目编码", True, ("项目代码", "医保项目编码", "收费项目编码", "编码")),
    ("name", "项目名称", False, ("收费项目名称", "名称")),
    ("category", "费用类别", False, ("费用分类", "类别")),
    ("class", "医保目录类别", True, ("目录类别", "甲乙丙类", "医保类别", "收费类别")),
    ("quantity", "数量", False, ()),
    ("unit_price", "单价", False, ("单价(元)",)),
    ("amount", "金额", True, ("金额(元)", "费用金额", "总金额")),
)
ITEM_HEADERS = [header for _, header, _, _ in _ITEM_COLUMNS]
_ITEM_REQUIRED = [header for _, header, required, _ in _ITEM_COLUMNS if required]
_ITEM_ALIASES = {name: header for _, header, _, aliases in _ITEM_COLUMNS for name in (header, *aliases)}
_ITEM_HEADER_OF = {key: header for key, header, _, _ in _ITEM_COLUMNS}
_ITEM_ORDER = {header: i for i, header in enumerate(ITEM_HEADERS)}
_ITEM_ORDER[""] = -1
_CLASSES = {
    "A": "A",
    "B": "B",
    "C": "C",
    "甲": "A",
    "乙": "B",
    "丙": "C",
    "甲类": "A",
    "乙类": "B",
    "丙类": "C",
}
_CATEGORIES = {label: code for code, label in codes.ITEM_CATEGORIES}
_CATEGORIES.update({code: code for code, _ in codes.ITEM_CATEGORIES})
# What a cell may say for a class or a category (shared with the catalogue's parser).
CLASS_OF, CATEGORY_OF = _CLASSES, _CATEGORIES


@dataclass
class ParsedItems:
    sheet: str
    by_ref: dict  # {ref: [(Excel row, item dict in the contract's shape), …]} in file order
    errors: list[RowError]  # each with ``sheet``
    row_count: int
    header_row: int = 1


def parse_item_rows(rows: Iterable[Sequence[object]], *, sheet: str = ITEMS_SHEET) -> ParsedItems:
    """Parse the items sheet (header first; one row per bill line, keyed by the encounter's
    住院号/流水号). Each line is checked as the contract checks an item (``claims.items``):
    faults name the sheet, the Excel row and the column. Classes may be written A/B/C or
    甲/乙/丙(类), categories by their Chinese name (西药, 检查, …) or code."""

    def fault(row, column, message):
        return RowError(row, column, message, sheet)

    iterator = iter(rows)
    header_index, seen, mapping = find_header(iterator, _ITEM_ALIASES, max_title_rows=_MAX_TITLE_ROWS)
    if header_index is None:
        return ParsedItems(sheet, {}, [fault(1, "", MSG_EMPTY_FILE)], 0)
    header_row = header_index + 1
    errors = [fault(header_row, h, MSG_MISSING_COLUMN) for h in _ITEM_REQUIRED if h not in mapping]
    if errors:
        return ParsedItems(sheet, {}, errors, 0, header_row)
    index = [mapping[h][0] if h in mapping else None for h in ITEM_HEADERS]
    by_ref: dict = {}
    count = 0
    for number, row in enumerate(chain(seen[header_index + 1 :], iterator), start=header_row + 1):
        width = len(row)
        cells = [row[i] if i is not None and i < width else None for i in index]
        if all(cell is None or (cell.__class__ is str and not cell.strip()) for cell in cells):
            continue
        count += 1
        raw, bad = {}, False
        for (key, header, required, _), cell in zip(_ITEM_COLUMNS, cells):
            blank = cell is None or (cell.__class__ is str and not cell.strip())
            if blank:
                if required:
                    errors.append(fault(number, header, MSG_REQUIRED))
                    bad = True
                continue
            text = _cell_text(cell)
            if key == "class":
                value = _CLASSES.get(text.upper() if text.isascii() else text)
                if value is None:
                    errors.append(
                        fault(number, header, f"未知的值「{text}」，应为：甲类/乙类/丙类（或A/B/C）")
                    )
                    bad = True
                    continue
            elif key == "category":
                value = _CATEGORIES.get(text)
                if value is None:
                    allowed = "/".join(label for _, label in codes.ITEM_CATEGORIES)
                    errors.append(fault(number, header, f"未知的值「{text}」，应为：{allowed}"))
                    bad = True
                    continue
            elif key == "amount":
                value, message = parse_money(cell)
                if message:
                    errors.append(fault(number, header, message))
                    bad = True
                    continue
                value = str(value)
            elif key in ("quantity", "unit_price"):
                value = repr(cell) if cell.__class__ is float else text.replace(",", "")
            else:
                value = text
            raw[key] = value
        if bad:
            continue
        ref = raw.pop("ref")
        try:
            parse_item(raw, 0)
        except ItemsError as exc:
            field_name = exc.path.rsplit(".", 1)[-1]
            errors.append(fault(number, _ITEM_HEADER_OF.get(field_name, ""), exc.message))
            continue
        by_ref.setdefault(ref, []).append((number, raw))
    if not count:
        errors.append(fault(header_row + 1, "", MSG_NO_DATA))
    errors.sort(key=lambda e: (e.row, _ITEM_ORDER[e.column]))
    return ParsedItems(sheet, by_ref, errors, count, header_row)


def error_order(error: RowError) -> tuple:
    """How a report lists faults: the first sheet's, then another sheet's; by row, then column."""
    order = _ITEM_ORDER if error.sheet else _ORDER
    return (error.sheet, error.row, order.get(error.column, len(order)))
