"""What every import parser shares: row errors, cell conversion, header finding. Pure Python,
no Django imports (the roster and encounter parsers are pure modules built on this one).

A parser gets the rows of a sheet (lists of cell values as python-calamine returns them:
str, float, int, bool, date, datetime, None), finds the header among the first rows (a few
title rows above it are passed over), maps each header cell through its aliases to a
canonical column, and reports every fault as a :class:`RowError` with the Excel row number.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date, datetime

__all__ = [
    "MAX_TITLE_ROWS",
    "RowError",
    "cell_text",
    "column_letter",
    "find_header",
    "is_blank",
    "normalize_header",
    "parse_date",
    "parse_date_cell",
]

# How many non-blank rows above the header may be title rows (e.g. "××县建档立卡花名册").
MAX_TITLE_ROWS = 5


@dataclass(frozen=True, slots=True)
class RowError:
    row: int  # Excel row number: the header is row 1, the first data row 2
    column: str  # canonical header, or "" for a fault of the whole file
    message: str
    sheet: str = ""  # another sheet than the first (e.g. 费用明细); "" for the first

    def __str__(self):
        where = f"工作表「{self.sheet}」" if self.sheet else ""
        if self.column:
            return f"{where}第{self.row}行 {self.column}: {self.message}"
        return f"{where}第{self.row}行: {self.message}"

    def as_dict(self):
        out = {"row": self.row, "column": self.column, "message": self.message}
        if self.sheet:
            out["sheet"] = self.sheet
        return out


def normalize_header(cell) -> str:
    """A header cell without any whitespace (full-width spaces and line breaks included),
    full-width forms made half-width (``乡（镇）`` → ``乡(镇)``) and without the ``*`` that
    templates put on required columns."""
    if cell is None:
        return ""
    text = "".join(str(cell).split())
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)  # full-width ＊ and brackets
    return text.strip("*")


def cell_text(value) -> str:
    """Cell value -> stripped text; whole numbers lose their ``.0``."""
    if value is None:
        return ""
    cls = value.__class__
    if cls is str:
        return value.strip()
    if cls is float:
        if value.is_integer():
            return str(int(value))
        return repr(value)
    if cls is datetime:
        return (
            value.date().isoformat()
            if not (value.hour or value.minute or value.second)
            else value.isoformat(" ")
        )
    if cls is date:
        return value.isoformat()
    if cls is bool:
        return "是" if value else "否"
    return str(value).strip()


def is_blank(value) -> bool:
    return value is None or (value.__class__ is str and not value.strip())


def parse_date(text: str) -> date | None:
    """``YYYY-MM-DD``, ``YYYY/MM/DD``, ``YYYY.MM.DD`` (month and day may have one digit,
    a time after a space is ignored), ``YYYYMMDD`` and ``YYYY年MM月DD日``; None if not a date."""
    if len(text) == 8 and text.isdigit() and text.isascii():
        parts = (text[:4], text[4:6], text[6:])
    else:
        day, _, time = text.partition(" ")
        if ":" in time:  # a date-time typed as text: "1960-03-15 00:00:00"
            text = day
        if not text.isascii():
            text = unicodedata.normalize("NFKC", text)
            if text.endswith("日") and "年" in text and "月" in text:
                text = text[:-1].replace("年", "-").replace("月", "-")
        sep = text[4:5]
        if sep not in ("-", "/", "."):
            return None
        parts = text.split(sep)
        if len(parts) != 3 or len(parts[0]) != 4 or not (1 <= len(parts[1]) <= 2 and 1 <= len(parts[2]) <= 2):
            return None
        if not all(part.isascii() and part.isdigit() for part in parts):
            return None
    try:
        return date(int(parts[0]), int(parts[1]), int(parts[2]))
    except ValueError:
        return None


def parse_date_cell(value) -> date | None:
    """A cell (text, date, date-time, or a number like 19600315) → date, or None (unreadable)."""
    cls = value.__class__
    if cls is date:
        return value
    if cls is datetime:
        return value.date()
    if cls is str:
        return parse_date(value.strip())
    if (cls is int or cls is float) and 19000101 <= value <= 99991231 and value == int(value):
        return parse_date(str(int(value)))
    return None


def column_letter(index: int) -> str:
    """0 → A, 25 → Z, 26 → AA."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def map_header(row, aliases: dict[str, str]) -> dict[str, list[int]]:
    """{canonical header: [column indexes]} of the cells of ``row`` that name a known column."""
    mapping: dict[str, list[int]] = {}
    for index, cell in enumerate(row):
        canonical = aliases.get(normalize_header(cell))
        if canonical is not None:
            mapping.setdefault(canonical, []).append(index)
    return mapping


def find_header(iterator, aliases: dict[str, str], *, max_title_rows: int = MAX_TITLE_ROWS):
    """-> (index of the header in ``seen`` or None, seen, mapping): ``seen`` holds the rows
    read so far, ``mapping`` is {canonical header: [column indexes]}. A few title rows above
    the header (non-blank rows naming no known column) are passed over; if none of the first
    rows names a known column, the first non-blank row is the header (and the missing columns
    are reported by the caller)."""
    seen = []
    first_non_blank = None
    non_blank = 0
    for row in iterator:
        seen.append(row)
        if all(is_blank(cell) for cell in row):
            continue
        mapping = map_header(row, aliases)
        if mapping:
            return len(seen) - 1, seen, mapping
        if first_non_blank is None:
            first_non_blank = len(seen) - 1
        non_blank += 1
        if non_blank >= max_title_rows:
            break
    return first_non_blank, seen, {}
