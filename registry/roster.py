"""Parsing of roster rows (花名册导入). Pure Python: no Django imports.

The caller reads the Excel sheet (``core.reader.read_rows``) and hands over the rows:
the header row first, then one row per member. :func:`parse_roster` checks every cell,
groups the members into households and reports every fault as a :class:`RowError` with the
Excel row number and the column's canonical header. Only households whose every row is
valid are returned; the service layer writes them to the database.

Speed matters (100,000 rows must import faster than openpyxl could merely read them): the
header is resolved once into column indexes, code lists into dicts, and each row is
handled by one straight-line function producing one ``__slots__`` object.
"""

from __future__ import annotations

import gc
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from itertools import chain
from operator import itemgetter

from core.rows import (
    MAX_TITLE_ROWS,
    RowError,
    column_letter,
    find_header,
    is_blank,
    normalize_header,
    parse_date,
    parse_date_cell,
)
from core.rows import cell_text as _text

from . import codes
from .idnumber import IdNumberError, validate_id_number

_is_blank = is_blank
_parse_date = parse_date
_column_letter = column_letter

__all__ = [
    "CANONICAL_HEADERS",
    "REQUIRED_HEADERS",
    "HEADER_ALIASES",
    "HouseholdRows",
    "MemberRow",
    "ParsedRoster",
    "RowError",
    "normalize_header",
    "parse_roster",
    "serialize_households",
]

# --------------------------------------------------------------------------------------
# Columns

# (MemberRow attribute, canonical header, required, aliases) in template order.
_COLUMNS = (
    ("township", "乡镇", True, ("乡(镇)", "乡镇(街道)", "乡(镇、街道)", "所属乡镇")),
    ("village", "行政村", True, ("村", "行政村(社区)", "村(社区)", "所属行政村")),
    ("household_number", "户编号", True, ("户编码", "户码")),
    ("name", "姓名", True, ("成员姓名",)),
    (
        "id_number",
        "证件号码",
        True,
        ("身份证号", "身份证号码", "公民身份号码", "身份证件号码", "证件号码(身份证号)", "证件号"),
    ),
    ("relation", "与户主关系", True, ("与户主的关系", "家庭关系")),
    ("sex", "性别", False, ()),
    ("ethnicity", "民族", False, ()),
    ("birth_date", "出生日期", False, ("出生年月日",)),
    ("phone", "联系电话", False, ("联系方式", "电话", "手机号码")),
    ("household_attribute", "贫困户属性", False, ("户属性",)),
    ("poverty_status", "脱贫状态", True, ("贫困户状态",)),
    ("main_cause", "主要致贫原因", False, ("致贫原因",)),
    ("health_status", "健康状况", False, ()),
    (
        "insured",
        "是否参加城乡居民基本医疗保险",
        False,
        ("是否参保", "是否参加城乡居民医疗保险", "是否参加基本医疗保险"),
    ),
    ("aid_category", "救助类别", False, ("医疗救助类别",)),
    ("annual_income", "家庭年收入", False, ("年收入", "家庭年纯收入")),
    # The day a change of 脱贫状态 took effect (head's row); empty: the day of the import.
    ("effective_date", "生效日期", False, ("状态生效日期", "变动日期", "状态变动日期")),
)

CANONICAL_HEADERS = [header for _, header, _, _ in _COLUMNS]
REQUIRED_HEADERS = [header for _, header, required, _ in _COLUMNS if required]
# Normalised header text (canonical or alias) -> canonical header.
HEADER_ALIASES = {}
for _attr, _header, _required, _aliases in _COLUMNS:
    for _name in (_header, *_aliases):
        HEADER_ALIASES[_name] = _header
del _attr, _header, _required, _aliases, _name

(
    COL_TOWNSHIP,
    COL_VILLAGE,
    COL_HOUSEHOLD,
    COL_NAME,
    COL_ID,
    COL_RELATION,
    COL_SEX,
    COL_ETHNICITY,
    COL_BIRTH,
    COL_PHONE,
    COL_ATTRIBUTE,
    COL_STATUS,
    COL_CAUSE,
    COL_HEALTH,
    COL_INSURED,
    COL_AID,
    COL_INCOME,
    COL_EFFECTIVE,
) = CANONICAL_HEADERS

_COLUMN_ORDER = {header: i for i, header in enumerate(CANONICAL_HEADERS)}
_COLUMN_ORDER[""] = -1

# Lengths of the database columns (registry.models); longer text is refused here rather
# than failing in the middle of the database writes.
_MAX_LENGTH = {
    COL_TOWNSHIP: 50,
    COL_VILLAGE: 50,
    COL_HOUSEHOLD: 30,
    COL_NAME: 50,
    COL_ETHNICITY: 20,
    COL_PHONE: 30,
}
# Household.annual_income is DECIMAL(12, 2).
_INCOME_LIMIT = Decimal("10000000000")
_CENT = Decimal("0.01")
_CACHEABLE = (str, float)
_MAX_TITLE_ROWS = MAX_TITLE_ROWS
# The earliest effective date of a status change (registry.facts.FACTS_START: periods start there).
_EARLIEST_EFFECTIVE = date(2014, 1, 2)

# Code lists: cell text -> code, and the message listing the accepted labels.
_ATTRIBUTES = codes.label_to_code(codes.HOUSEHOLD_ATTRIBUTES)
_STATUSES = codes.label_to_code(codes.POVERTY_STATUSES)
_CAUSES = codes.label_to_code(codes.MAIN_CAUSES)
_RELATIONS = codes.label_to_code(codes.RELATIONS)
_HEALTH = codes.label_to_code(codes.HEALTH_STATUSES)
_AIDS = codes.label_to_code(codes.AID_CATEGORIES)
_SEXES = codes.label_to_code(codes.SEXES)
_INSURED = {"是": True, "已参保": True, "否": False, "未参保": False}
_DEFAULT_AID = codes.DEFAULT_AID_CATEGORY_BY_ATTRIBUTE


def _expected(table):
    return "/".join(label for _, label, _ in table)


_EXPECTED = {
    COL_ATTRIBUTE: _expected(codes.HOUSEHOLD_ATTRIBUTES),
    COL_STATUS: _expected(codes.POVERTY_STATUSES),
    COL_CAUSE: _expected(codes.MAIN_CAUSES),
    COL_RELATION: _expected(codes.RELATIONS),
    COL_HEALTH: _expected(codes.HEALTH_STATUSES),
    COL_AID: _expected(codes.AID_CATEGORIES),
    COL_SEX: _expected(codes.SEXES),
    COL_INSURED: "是/否",
}
_SEX_LABELS = codes.labels(codes.SEXES)

MSG_REQUIRED = "必填"
MSG_MISSING_COLUMN = "缺少必填列"
MSG_EMPTY_FILE = "文件为空"
MSG_NO_DATA = "没有数据行"
MSG_ID_NOT_TEXT = "应为文本格式的18位号码"
MSG_NO_HEAD = "该户没有户主"


# --------------------------------------------------------------------------------------
# Results


@dataclass(slots=True)
class MemberRow:
    """One data row. Codes as in ``registry.codes``; a field whose cell is invalid is None
    (such a row never reaches the database). ``sex`` and ``birth_date`` are taken from the
    ID number when their cells are empty. ``aid_category`` of a row whose cell is empty is
    filled from its household's attribute once the household is complete."""

    row: int
    township: str
    village: str
    household_number: str
    name: str
    id_number: str | None
    relation: str | None
    sex: str | None
    birth_date: date | None
    ethnicity: str
    phone: str
    household_attribute: str | None
    poverty_status: str | None
    main_cause: str | None  # "" when empty
    health_status: str | None
    insured: bool | None
    aid_category: str | None
    annual_income: Decimal | None
    effective_date: date | None = None


@dataclass(slots=True)
class HouseholdRows:
    """A valid household; the household-level fields are those of its head's row."""

    number: str
    township: str
    village: str
    head: MemberRow
    members: list[MemberRow]  # head included, in row order
    attribute: str
    poverty_status: str
    main_cause: str
    phone: str
    annual_income: Decimal | None
    effective_date: date | None = None  # of a change of poverty_status; None: the import's day


@dataclass
class ParsedRoster:
    households: list[HouseholdRows]  # the valid ones, in order of their first row
    errors: list[RowError]  # sorted by row, then column (template order)
    row_count: int  # data rows, blank rows excluded
    rejected_rows: list[int]  # Excel row numbers of the data rows not imported, ascending
    header: list[str]  # the header cells as found (None -> "")
    header_row: int = 1
    ignored_columns: list[str] = field(default_factory=list)  # header cells not understood

    @property
    def member_count(self):
        return sum(len(household.members) for household in self.households)

    @property
    def has_file_error(self):
        """True when the file as a whole could not be read (header, empty file)."""
        return any(error.column == "" or error.row <= self.header_row for error in self.errors)


# --------------------------------------------------------------------------------------
# Cells


def _lookup(table, text):
    """Slow path of a code lookup: ignore inner spaces and full-width forms."""
    text = unicodedata.normalize("NFKC", "".join(text.split()))
    return table.get(text)


def _unknown(column, text):
    return f"未知的值「{text}」，应为：{_EXPECTED[column]}"


def _parse_income(value):
    """-> (Decimal or None, error message or None)."""
    cls = value.__class__
    if cls is str:
        text = value.replace(",", "").replace("，", "")
        if text.endswith("元"):
            text = text[:-1].strip()
        try:
            amount = Decimal(text)
        except InvalidOperation:
            return None, "应为数字"
    elif cls is int or cls is float:
        try:
            amount = Decimal(repr(value)) if cls is float else Decimal(value)
        except InvalidOperation:  # pragma: no cover - repr of a float always parses
            return None, "应为数字"
    else:
        return None, "应为数字"
    if not amount.is_finite():
        return None, "应为数字"
    if amount < 0:
        return None, "不能为负数"
    if amount >= _INCOME_LIMIT:
        return None, "数值过大"
    return amount.quantize(_CENT, rounding=ROUND_HALF_UP), None


# --------------------------------------------------------------------------------------
# The header


def _find_header(iterator):
    return find_header(iterator, HEADER_ALIASES, max_title_rows=_MAX_TITLE_ROWS)


def _header_errors(header_row, header, mapping):
    errors = []
    for canonical in CANONICAL_HEADERS:
        indexes = mapping.get(canonical, ())
        if not indexes and canonical in REQUIRED_HEADERS:
            errors.append(RowError(header_row, canonical, MSG_MISSING_COLUMN))
        first = indexes[0] if indexes else None
        for other in indexes[1:]:
            errors.append(
                RowError(
                    header_row,
                    canonical,
                    f"重复的列：{_column_letter(first)}列「{_text(header[first])}」与{_column_letter(other)}列「{_text(header[other])}」",
                )
            )
    return errors


# --------------------------------------------------------------------------------------
# Parsing


def parse_roster(rows: Iterable[Sequence[object]], *, today: date | None = None) -> ParsedRoster:
    """Parse the rows of a roster sheet (header row first). ``today`` bounds birth dates
    (default: the current date).

    The cyclic garbage collector is paused meanwhile: the parse allocates hundreds of
    thousands of small acyclic objects, and the collections they trigger would cost a
    quarter of the time."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _parse_roster(rows, today or date.today())
    finally:
        if was_enabled:
            gc.enable()


def _parse_roster(rows, today):
    iterator = iter(rows)
    header_index, seen, mapping = _find_header(iterator)
    if header_index is None:
        return ParsedRoster([], [RowError(1, "", MSG_EMPTY_FILE)], 0, [], [])
    header = seen[header_index]
    header_row = header_index + 1
    header_cells = ["" if cell is None else cell if cell.__class__ is str else _text(cell) for cell in header]
    ignored = [cell for cell in header_cells if cell.strip() and normalize_header(cell) not in HEADER_ALIASES]
    source = chain(seen[header_index + 1 :], iterator)
    first_data_row = header_row + 1

    errors = _header_errors(header_row, header, mapping)
    if errors:
        row_count = 0
        rejected = []
        for row_number, row in enumerate(source, start=first_data_row):
            if not all(_is_blank(cell) for cell in row):
                row_count += 1
                rejected.append(row_number)
        return ParsedRoster([], errors, row_count, rejected, header_cells, header_row, ignored)

    members, errors, bad_rows, relation_errors = _parse_rows(
        source, first_data_row, len(header), mapping, today
    )
    if not members:
        return ParsedRoster(
            [], [RowError(header_row + 1, "", MSG_NO_DATA)], 0, [], header_cells, header_row, ignored
        )

    _check_duplicate_ids(members, errors, bad_rows)
    households, rejected = _group(members, errors, bad_rows, relation_errors)
    order = _COLUMN_ORDER
    errors.sort(key=lambda e: (e.row, order[e.column]))
    return ParsedRoster(households, errors, len(members), rejected, header_cells, header_row, ignored)


def _parse_rows(source, first_row, width, mapping, today):
    """Check every cell of every non-blank row -> (members, errors, rows with errors,
    rows with an error in 与户主关系)."""
    pad = width  # index of the extra None appended to rows when an optional column is absent
    indexes = [mapping[header][0] if header in mapping else pad for header in CANONICAL_HEADERS]
    any_absent = pad in indexes
    getter = itemgetter(*indexes)
    need = max(indexes) + 1

    members = []
    errors = []
    bad_rows = set()
    relation_errors = set()
    add_error = errors.append
    attributes, statuses, causes, relations = _ATTRIBUTES, _STATUSES, _CAUSES, _RELATIONS
    healths, aids, sexes, insured_map = _HEALTH, _AIDS, _SEXES, _INSURED
    max_length = _MAX_LENGTH
    text = _text
    new_member = MemberRow
    income_cache = {}  # cell value (str or float only: True == 1 == 1.0) -> (Decimal, message)

    for row_number, row in enumerate(source, start=first_row):
        if any_absent:
            row = (*row[:width], *(None,) * (width - len(row)), None)
        elif len(row) < need:
            row = (*row, *(None,) * (need - len(row)))
        (
            township,
            village,
            number,
            name,
            id_cell,
            relation,
            sex,
            ethnicity,
            birth_cell,
            phone,
            attribute,
            status,
            cause,
            health,
            insured_cell,
            aid,
            income_cell,
            effective_cell,
        ) = getter(row)

        # Plain text cells (str is by far the most common case).
        township = township.strip() if township.__class__ is str else text(township)
        village = village.strip() if village.__class__ is str else text(village)
        name = name.strip() if name.__class__ is str else text(name)
        relation = relation.strip() if relation.__class__ is str else text(relation)
        sex = sex.strip() if sex.__class__ is str else text(sex)
        ethnicity = ethnicity.strip() if ethnicity.__class__ is str else text(ethnicity)
        phone = phone.strip() if phone.__class__ is str else text(phone)
        attribute = attribute.strip() if attribute.__class__ is str else text(attribute)
        status = status.strip() if status.__class__ is str else text(status)
        cause = cause.strip() if cause.__class__ is str else text(cause)
        health = health.strip() if health.__class__ is str else text(health)
        aid = aid.strip() if aid.__class__ is str else text(aid)
        # Cells whose type matters: keep non-text values, blank -> "".
        number_is_float = number.__class__ is float
        number = number.strip() if number.__class__ is str else text(number)
        if id_cell.__class__ is str:
            id_cell = id_cell.strip()
        elif id_cell is None:
            id_cell = ""
        if birth_cell.__class__ is str:
            birth_cell = birth_cell.strip()
        elif birth_cell is None:
            birth_cell = ""
        if insured_cell.__class__ is str:
            insured_cell = insured_cell.strip()
        elif insured_cell is None:
            insured_cell = ""
        if income_cell.__class__ is str:
            income_cell = income_cell.strip()
        elif income_cell is None:
            income_cell = ""

        if (
            township
            == village
            == number
            == name
            == id_cell
            == relation
            == sex
            == ethnicity
            == birth_cell
            == phone
            == attribute
            == status
            == cause
            == health
            == insured_cell
            == aid
            == income_cell
            == ""
        ):
            continue  # a blank row (cells of unknown columns do not count)

        errs = []
        err = errs.append

        # Required text.
        if not township:
            err((COL_TOWNSHIP, MSG_REQUIRED))
        if not village:
            err((COL_VILLAGE, MSG_REQUIRED))
        if not number:
            err((COL_HOUSEHOLD, MSG_REQUIRED))
        elif number_is_float and len(number) > 15:
            err((COL_HOUSEHOLD, "数字超过15位，Excel已丢失精度，请把该列设为文本格式"))
        if not name:
            err((COL_NAME, MSG_REQUIRED))
        if (
            len(township) > 50
            or len(village) > 50
            or len(number) > 30
            or len(name) > 50
            or len(ethnicity) > 20
            or len(phone) > 30
        ):
            for column, value in (
                (COL_TOWNSHIP, township),
                (COL_VILLAGE, village),
                (COL_HOUSEHOLD, number),
                (COL_NAME, name),
                (COL_ETHNICITY, ethnicity),
                (COL_PHONE, phone),
            ):
                if len(value) > max_length[column]:
                    err((column, f"过长（最多{max_length[column]}个字符）"))

        # ID number, and sex / birth date agreeing with it.
        info = None
        id_number = None
        if id_cell.__class__ is not str:
            err((COL_ID, MSG_ID_NOT_TEXT))
        elif not id_cell:
            err((COL_ID, MSG_REQUIRED))
        else:
            try:
                info = validate_id_number(id_cell, today=today)
            except IdNumberError as exc:
                err((COL_ID, exc.message))
            else:
                id_number = info.number

        if sex:
            sex_code = sexes.get(sex)
            if sex_code is None:
                sex_code = _lookup(sexes, sex)
                if sex_code is None:
                    err((COL_SEX, _unknown(COL_SEX, sex)))
            if sex_code is not None and info is not None and sex_code != info.sex:
                err((COL_SEX, f"与证件号码不符（证件号码为{_SEX_LABELS[info.sex]}）"))
        else:
            sex_code = info.sex if info is not None else None

        if birth_cell == "":
            birth = info.birth_date if info is not None else None
        else:
            birth = parse_date_cell(birth_cell)
            if birth is None:
                err((COL_BIRTH, f"无法识别的日期「{text(birth_cell)}」，应为YYYY-MM-DD"))
            elif info is not None and birth != info.birth_date:
                err((COL_BIRTH, f"与证件号码不符（证件号码为{info.birth_date.isoformat()}）"))

        # Code lists.
        if relation:
            relation_code = relations.get(relation)
            if relation_code is None:
                relation_code = _lookup(relations, relation)
                if relation_code is None:
                    err((COL_RELATION, _unknown(COL_RELATION, relation)))
        else:
            relation_code = None
            err((COL_RELATION, MSG_REQUIRED))

        if status:
            status_code = statuses.get(status)
            if status_code is None:
                status_code = _lookup(statuses, status)
                if status_code is None:
                    err((COL_STATUS, _unknown(COL_STATUS, status)))
        else:
            status_code = None
            err((COL_STATUS, MSG_REQUIRED))

        if attribute:
            attribute_code = attributes.get(attribute)
            if attribute_code is None:
                attribute_code = _lookup(attributes, attribute)
                if attribute_code is None:
                    err((COL_ATTRIBUTE, _unknown(COL_ATTRIBUTE, attribute)))
        else:
            attribute_code = "general"

        if cause:
            cause_code = causes.get(cause)
            if cause_code is None:
                cause_code = _lookup(causes, cause)
                if cause_code is None:
                    err((COL_CAUSE, _unknown(COL_CAUSE, cause)))
        else:
            cause_code = ""

        if health:
            health_code = healths.get(health)
            if health_code is None:
                health_code = _lookup(healths, health)
                if health_code is None:
                    err((COL_HEALTH, _unknown(COL_HEALTH, health)))
        else:
            health_code = "healthy"

        if aid:
            aid_code = aids.get(aid)
            if aid_code is None:
                aid_code = _lookup(aids, aid)
                if aid_code is None:
                    err((COL_AID, _unknown(COL_AID, aid)))
        else:
            aid_code = None  # filled from the household's attribute later

        if insured_cell == "":
            insured = None
        elif insured_cell.__class__ is bool:
            insured = insured_cell
        else:
            insured = insured_map.get(insured_cell) if insured_cell.__class__ is str else None
            if insured is None:
                if insured_cell.__class__ is str:
                    insured = _lookup(insured_map, insured_cell)
                if insured is None:
                    err((COL_INSURED, _unknown(COL_INSURED, text(insured_cell))))

        if income_cell == "":
            income = None
        else:
            # Every member's row repeats the household's income: parse each value once.
            cached = income_cache.get(income_cell) if income_cell.__class__ in _CACHEABLE else None
            if cached is None:
                cached = _parse_income(income_cell)
                if income_cell.__class__ in _CACHEABLE:
                    income_cache[income_cell] = cached
            income, message = cached
            if message is not None:
                err((COL_INCOME, message))

        if effective_cell is None or effective_cell == "":
            effective = None
        else:
            effective = parse_date_cell(effective_cell)
            if effective is None:
                err((COL_EFFECTIVE, "应为日期（YYYY-MM-DD）"))
            elif effective > today:
                err((COL_EFFECTIVE, "不能晚于今天（变动生效后再导入）"))
            elif effective < _EARLIEST_EFFECTIVE:
                err((COL_EFFECTIVE, f"不能早于{_EARLIEST_EFFECTIVE:%Y年%m月%d日}"))

        member = new_member(
            row_number,
            township,
            village,
            number,
            name,
            id_number,
            relation_code,
            sex_code,
            birth,
            ethnicity,
            phone,
            attribute_code,
            status_code,
            cause_code,
            health_code,
            insured,
            aid_code,
            income,
            effective,
        )
        members.append(member)
        if errs:
            bad_rows.add(row_number)
            for column, message in errs:
                add_error(RowError(row_number, column, message))
                if column == COL_RELATION:
                    relation_errors.add(row_number)
    return members, errors, bad_rows, relation_errors


def _check_duplicate_ids(members, errors, bad_rows):
    first_row = {}
    duplicated = {}
    for member in members:
        id_number = member.id_number
        if id_number is None:
            continue
        first = first_row.setdefault(id_number, member.row)
        if first != member.row:
            duplicated.setdefault(id_number, [first]).append(member.row)
    for rows in duplicated.values():
        for row in rows:
            others = "、".join(str(other) for other in rows if other != row)
            errors.append(RowError(row, COL_ID, f"证件号码与第{others}行重复"))
            bad_rows.add(row)


def _group(members, errors, bad_rows, relation_errors):
    """Household checks -> (valid households, rejected row numbers)."""
    by_number = {}
    rejected = []
    for member in members:
        if member.household_number:
            by_number.setdefault(member.household_number, []).append(member)
        else:
            rejected.append(member.row)  # 户编号 is missing: already an error on the row

    households = []
    add_error = errors.append
    for number, rows in by_number.items():
        heads = [member for member in rows if member.relation == "head"]
        if not heads:
            for member in rows:
                if member.row not in relation_errors:
                    add_error(RowError(member.row, COL_RELATION, MSG_NO_HEAD))
                    bad_rows.add(member.row)
        elif len(heads) > 1:
            message = f"该户有{len(heads)}个户主"
            for head in heads:
                add_error(RowError(head.row, COL_RELATION, message))
                bad_rows.add(head.row)

        reference = heads[0] if heads else rows[0]
        where = (
            f"户主行（第{reference.row}行）" if heads else f"本户第{reference.row}行"
        )  # the row compared with
        for member in rows:
            if member is reference:
                continue
            if member.township and reference.township and member.township != reference.township:
                add_error(RowError(member.row, COL_TOWNSHIP, f"与{where}的「{reference.township}」不一致"))
                bad_rows.add(member.row)
            if member.village and reference.village and member.village != reference.village:
                add_error(RowError(member.row, COL_VILLAGE, f"与{where}的「{reference.village}」不一致"))
                bad_rows.add(member.row)

        if len(heads) != 1 or any(member.row in bad_rows for member in rows):
            rejected.extend(member.row for member in rows)
            continue
        head = heads[0]
        attribute = head.household_attribute
        default_aid = _DEFAULT_AID[attribute]
        for member in rows:
            if member.aid_category is None:
                member.aid_category = default_aid
        households.append(
            HouseholdRows(
                number,
                head.township,
                head.village,
                head,
                rows,
                attribute,
                head.poverty_status,
                head.main_cause,
                head.phone,
                head.annual_income,
                head.effective_date,
            )
        )
    rejected.sort()
    return households, rejected


# --------------------------------------------------------------------------------------
# Back to rows


_LABELS = {
    "relation": codes.labels(codes.RELATIONS),
    "sex": codes.labels(codes.SEXES),
    "household_attribute": codes.labels(codes.HOUSEHOLD_ATTRIBUTES),
    "poverty_status": codes.labels(codes.POVERTY_STATUSES),
    "main_cause": codes.labels(codes.MAIN_CAUSES),
    "health_status": codes.labels(codes.HEALTH_STATUSES),
    "aid_category": codes.labels(codes.AID_CATEGORIES),
}


def serialize_households(households: Iterable[HouseholdRows]) -> list[list]:
    """The header (CANONICAL_HEADERS) and one row per member with Chinese labels: the
    inverse of :func:`parse_roster` for valid households. Household-level columns are
    written from the household on every member's row, as the national system exports them."""
    labels = _LABELS
    out = [list(CANONICAL_HEADERS)]
    for household in households:
        attribute = labels["household_attribute"][household.attribute]
        status = labels["poverty_status"][household.poverty_status]
        cause = labels["main_cause"][household.main_cause] if household.main_cause else ""
        income = str(household.annual_income) if household.annual_income is not None else ""
        for member in household.members:
            out.append(
                [
                    household.township,
                    household.village,
                    household.number,
                    member.name,
                    member.id_number,
                    labels["relation"][member.relation],
                    labels["sex"][member.sex],
                    member.ethnicity,
                    member.birth_date.isoformat(),
                    household.phone if member is household.head else member.phone,
                    attribute,
                    status,
                    cause,
                    labels["health_status"][member.health_status],
                    "" if member.insured is None else ("是" if member.insured else "否"),
                    labels["aid_category"][member.aid_category],
                    income,
                    household.effective_date.isoformat() if household.effective_date else "",
                ]
            )
    return out
