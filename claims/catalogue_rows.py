"""Parsing of the county's medical-insurance catalogue file (医保目录导入). Pure Python: no
Django imports.

One row per item: 项目编码, 项目名称, 费用类别, 医保目录类别 (甲类/乙类/丙类 or A/B/C), 单价,
单位, 启用 (是/否, blank: 是). :func:`parse_catalogue` checks every cell and reports each fault
as a :class:`RowError` (Excel row number, canonical header); a code twice in the file is a
fault of its second row. The service (``claims.catalogue.catalogue_import``) writes the rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import chain

from core.rows import RowError, cell_text, find_header, is_blank

from . import codes
from .encounter_rows import CATEGORY_OF, CLASS_OF
from .items import ItemsError, decimal_value

# (CatalogueRow attribute, canonical header, required, aliases) in template order.
_COLUMNS = (
    ("code", "项目编码", True, ("项目代码", "医保项目编码", "收费项目编码", "编码")),
    ("name", "项目名称", True, ("收费项目名称", "名称", "通用名")),
    ("category", "费用类别", False, ("费用分类", "类别")),
    ("item_class", "医保目录类别", True, ("目录类别", "甲乙丙类", "医保类别", "收费类别")),
    ("unit_price", "单价", False, ("单价(元)", "参考单价")),
    ("unit", "单位", False, ("计价单位", "包装单位")),
    ("active", "启用", False, ("是否启用", "状态")),
)
CANONICAL_HEADERS = [header for _, header, _, _ in _COLUMNS]
REQUIRED_HEADERS = [header for _, header, required, _ in _COLUMNS if required]
HEADER_ALIASES = {name: header for _, header, _, aliases in _COLUMNS for name in (header, *aliases)}
MAX_LENGTH = {"code": 50, "name": 100, "unit": 20}
ACTIVE = {"是": True, "启用": True, "有效": True, "否": False, "停用": False, "无效": False}


@dataclass(frozen=True, slots=True)
class CatalogueRow:
    row: int
    code: str
    name: str
    category: str
    item_class: str
    unit_price: Decimal | None
    unit: str
    active: bool

    def values(self) -> dict:
        """The model's fields (all but the code)."""
        return {
            "name": self.name,
            "category": self.category,
            "item_class": self.item_class,
            "unit_price": self.unit_price,
            "unit": self.unit,
            "active": self.active,
        }


@dataclass
class ParsedCatalogue:
    rows: list  # CatalogueRow, the valid rows only
    errors: list  # RowError
    total: int  # data rows
    header_row: int = 1
    refused_file: bool = False  # the header itself is wrong


def _cell(text: str, key: str):
    """A non-blank cell's text → the row's value; raises ValueError with a Chinese message."""
    if key in MAX_LENGTH and len(text) > MAX_LENGTH[key]:
        raise ValueError(f"不能超过{MAX_LENGTH[key]}个字")
    if key == "item_class":
        value = CLASS_OF.get(text.upper() if text.isascii() else text)
        if value is None:
            raise ValueError(f"未知的值「{text}」，应为：甲类/乙类/丙类（或A/B/C）")
        return value
    if key == "category":
        value = CATEGORY_OF.get(text)
        if value is None:
            raise ValueError(
                f"未知的值「{text}」，应为：{'/'.join(label for _, label in codes.ITEM_CATEGORIES)}"
            )
        return value
    if key == "unit_price":
        try:
            return decimal_value(text.replace(",", "").removesuffix("元"), key, places=4, required=True)
        except ItemsError as exc:
            raise ValueError(exc.message) from None
    if key == "active":
        if text not in ACTIVE:
            raise ValueError(f"未知的值「{text}」，应为：是/否")
        return ACTIVE[text]
    return text


def parse_catalogue(rows: Iterable[Sequence[object]]) -> ParsedCatalogue:
    iterator = iter(rows)
    index, seen, mapping = find_header(iterator, HEADER_ALIASES)
    if index is None:
        return ParsedCatalogue([], [RowError(1, "", "文件为空")], 0, refused_file=True)
    header_row = index + 1
    errors = [RowError(header_row, h, "缺少必填列") for h in REQUIRED_HEADERS if h not in mapping]
    errors += [
        RowError(header_row, h, "该列出现了多次") for h, columns in mapping.items() if len(columns) > 1
    ]
    if errors:
        return ParsedCatalogue([], errors, 0, header_row=header_row, refused_file=True)
    positions = [mapping[h][0] if h in mapping else None for h in CANONICAL_HEADERS]
    parsed, first_row, total = [], {}, 0
    for number, row in enumerate(chain(seen[index + 1 :], iterator), start=header_row + 1):
        cells = [row[i] if i is not None and i < len(row) else None for i in positions]
        if all(is_blank(cell) for cell in cells):
            continue
        total += 1
        values, bad = {}, False
        for (key, header, required, _), cell in zip(_COLUMNS, cells):
            if is_blank(cell):
                if required:
                    errors.append(RowError(number, header, "必填"))
                    bad = True
                values[key] = None if key == "unit_price" else True if key == "active" else ""
                continue
            try:
                values[key] = _cell(cell_text(cell), key)
            except ValueError as exc:
                errors.append(RowError(number, header, str(exc)))
                bad = True
        if bad:
            continue
        code = values["code"]
        if code in first_row:
            errors.append(RowError(number, "项目编码", f"与第{first_row[code]}行的项目编码重复"))
            continue
        first_row[code] = number
        parsed.append(CatalogueRow(row=number, **values))
    if not total:
        errors.append(RowError(header_row + 1, "", "没有数据行"))
    order = {h: i for i, h in enumerate(CANONICAL_HEADERS)}
    errors.sort(key=lambda e: (e.row, order.get(e.column, -1)))
    return ParsedCatalogue(parsed, errors, total, header_row=header_row)
