"""Reading uploaded .xlsx files within limits.

python-calamine (a Rust reader, ~12× faster than openpyxl) reads the cells: the roster import
must finish faster than openpyxl could merely read the file. But calamine trusts the file: a
1.8 KB sheet with one cell at XFD1048576 makes it ask for 512 GiB and abort the worker. So
before calamine sees a file, :func:`inspect` checks it with the standard library alone:

1. the file's size (``IMPORT_MAX_FILE_MB``);
2. that it is a zip whose members' uncompressed sizes stay under ``IMPORT_MAX_UNCOMPRESSED_MB``
   and ``IMPORT_MAX_RATIO`` × their compressed size (zip bombs) — the sizes a zip claims are
   not trusted either: reading stops once it passes the limit;
3. the workbook's first sheet: a hidden one is refused (the clerk would import rows they
   cannot see);
4. the sheet's real used range, from a bounded scan of its XML (every ``<row r>`` and
   ``<c r>``), not from its ``<dimension>``: more rows than ``IMPORT_MAX_ROWS``, more columns
   than ``IMPORT_MAX_COLUMNS`` or more cells than ``IMPORT_MAX_CELLS`` is refused; so is a
   formula without a cached value (it would read as empty).

Every refusal is a :class:`SpreadsheetRefused` with a Chinese message for the clerk; no
library message ("Cannot detect file format") ever reaches the page.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from dataclasses import dataclass
from xml.etree import ElementTree

from python_calamine import CalamineWorkbook

__all__ = ["Limits", "SheetInfo", "SpreadsheetRefused", "inspect", "limits", "read_named_rows", "read_rows"]

MSG_NOT_XLSX = "无法读取该文件：不是有效的 .xlsx 格式的Excel文件（旧版 .xls 或 WPS 文件请先“另存为”Excel工作簿 .xlsx 后再上传）。"

_MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_CHUNK = 1 << 20
# A cell reference: <c r="AB12" …> (any namespace prefix, r anywhere among the attributes).
# The column letters of a cell reference (attribute r="AB12"; a row's r has no letters):
# columns past Z over the whole sheet (few in real files, so few objects), A-Z on a sample.
_WIDE_REF = re.compile(rb' r="([A-Z]{2,4})[0-9]')
_CELL_REF = re.compile(rb' r="([A-Z]{1,4})[0-9]')
_ROW_REF = re.compile(rb'row\b[^>]*? r="([0-9]{1,8})"')
_CELL = re.compile(rb"<(?:\w+:)?c\b([^>]*?)(?:/>|>(.*?)</(?:\w+:)?c>)", re.S)
_FORMULA = re.compile(rb"<(?:\w+:)?f[\s>/]")
_VALUE = re.compile(rb"<(?:\w+:)?v>[^<]")
_R_ATTR = re.compile(rb'\sr="([A-Z]+[0-9]+)"')


class SpreadsheetRefused(ValueError):
    """The file is refused before (or instead of) being parsed; ``message`` is for the clerk."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int = 20 * 1024 * 1024
    max_uncompressed_bytes: int = 400 * 1024 * 1024
    max_ratio: int = 200
    max_rows: int = 200_000
    max_columns: int = 200
    max_cells: int = 5_000_000


def limits() -> Limits:
    """The limits of the settings (``IMPORT_MAX_*``)."""
    from django.conf import settings

    return Limits(
        max_file_bytes=int(settings.IMPORT_MAX_FILE_MB * 1024 * 1024),
        max_uncompressed_bytes=int(settings.IMPORT_MAX_UNCOMPRESSED_MB * 1024 * 1024),
        max_ratio=settings.IMPORT_MAX_RATIO,
        max_rows=settings.IMPORT_MAX_ROWS,
        max_columns=settings.IMPORT_MAX_COLUMNS,
        max_cells=settings.IMPORT_MAX_CELLS,
    )


@dataclass
class SheetInfo:
    name: str
    path: str  # the sheet's member in the zip
    rows: int = 0  # real used range (1-based last row / column holding a cell)
    columns: int = 0


def _column_number(letters: bytes) -> int:
    number = 0
    for ch in letters:
        number = number * 26 + (ch - 64)
    return number


def _mb(size: int) -> str:
    return f"{size / 1024 / 1024:.0f} MB" if size >= 1024 * 1024 else f"{size / 1024:.0f} KB"


def _size_of(handle) -> int:
    position = handle.tell()
    handle.seek(0, 2)
    size = handle.tell()
    handle.seek(position)
    return size


def _read_member(archive: zipfile.ZipFile, name: str, limit: int) -> bytes:
    with archive.open(name) as member:
        data = member.read(limit + 1)
    if len(data) > limit:
        raise SpreadsheetRefused("文件内容解压后过大，疑似异常文件，已拒绝。")
    return data


def inspect(handle, lim: Limits | None = None, *, scan: bool = True, named: str | None = None) -> SheetInfo:
    """Check an uploaded file (a binary file object, rewound afterwards) within ``lim``.
    ``scan=False`` skips the scan of the sheet's cells (a quick check at upload time).
    ``named``: check the sheet of that name instead of the first one (``SheetInfo`` with an
    empty path when the workbook has none of that name)."""
    lim = lim or limits()
    handle.seek(0)
    size = _size_of(handle)
    if size > lim.max_file_bytes:
        raise SpreadsheetRefused(
            f"文件过大（{_mb(size)}），最大允许 {_mb(lim.max_file_bytes)}。请分批导入，或删除无关的工作表和格式后再上传。"
        )
    if size == 0:
        raise SpreadsheetRefused("文件为空。")
    try:
        archive = zipfile.ZipFile(handle)
        infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
        raise SpreadsheetRefused(MSG_NOT_XLSX) from None
    try:
        total = 0
        for info in infos:
            total += info.file_size
            if total > lim.max_uncompressed_bytes:
                raise SpreadsheetRefused(
                    f"文件内容解压后过大（超过 {_mb(lim.max_uncompressed_bytes)}），疑似异常文件，已拒绝。"
                )
            if info.file_size > 1024 * 1024 and info.file_size > lim.max_ratio * max(info.compress_size, 1):
                raise SpreadsheetRefused("文件压缩比异常（疑似“压缩炸弹”），已拒绝。")
        sheet = _first_sheet(archive, lim) if named is None else _named_sheet(archive, named)
        if scan and sheet.path:
            _scan(archive, sheet, lim)
    except SpreadsheetRefused:
        raise
    except (
        zipfile.BadZipFile,
        KeyError,
        ElementTree.ParseError,
        OSError,
        ValueError,
        EOFError,
        RuntimeError,
    ):
        raise SpreadsheetRefused(MSG_NOT_XLSX) from None
    finally:
        handle.seek(0)
    return sheet


_SMALL = 8 * 1024 * 1024


def _sheets(archive: zipfile.ZipFile) -> list:
    workbook = ElementTree.fromstring(_read_member(archive, "xl/workbook.xml", _SMALL))
    sheets = workbook.findall(f"{{{_MAIN_NS}}}sheets/{{{_MAIN_NS}}}sheet")
    if not sheets:
        raise SpreadsheetRefused("工作簿中没有工作表。")
    return sheets


def _first_sheet(archive: zipfile.ZipFile, lim: Limits) -> SheetInfo:
    first = _sheets(archive)[0]
    name = first.get("name", "")
    if first.get("state") in ("hidden", "veryHidden"):
        raise SpreadsheetRefused(
            f"第一个工作表「{name}」是隐藏的：系统只导入第一个工作表，请取消隐藏或把要导入的数据移到第一个工作表后再上传。"
        )
    return _sheet_info(archive, first)


def _named_sheet(archive: zipfile.ZipFile, wanted: str) -> SheetInfo:
    """The sheet called ``wanted`` (spaces ignored); a hidden one is refused as the first is."""
    for sheet in _sheets(archive):
        name = sheet.get("name", "")
        if "".join(name.split()) == wanted:
            if sheet.get("state") in ("hidden", "veryHidden"):
                raise SpreadsheetRefused(
                    f"工作表「{name}」是隐藏的：系统会导入它，请取消隐藏、核对内容后再上传。"
                )
            return _sheet_info(archive, sheet)
    return SheetInfo(name=wanted, path="")


def _sheet_info(archive: zipfile.ZipFile, sheet) -> SheetInfo:
    name = sheet.get("name", "")
    rel_id = sheet.get(f"{{{_REL_NS}}}id")
    rels = ElementTree.fromstring(_read_member(archive, "xl/_rels/workbook.xml.rels", _SMALL))
    target = None
    for rel in rels.findall(f"{{{_PKG_REL_NS}}}Relationship"):
        if rel.get("Id") == rel_id:
            target = rel.get("Target", "")
    if not target:
        raise SpreadsheetRefused(MSG_NOT_XLSX)
    path = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join("xl", target))
    archive.getinfo(path)  # KeyError -> not an xlsx
    return SheetInfo(name=name, path=path)


def _refuse_range(sheet: SheetInfo, lim: Limits, row: int, column: int) -> None:
    from .rows import column_letter

    if row > lim.max_rows or column > lim.max_columns or row * column > lim.max_cells:
        raise SpreadsheetRefused(
            f"工作表「{sheet.name}」的使用范围过大（至 {column_letter(column - 1)}{row}，即 {row} 行 × {column} 列），"
            f"最多允许 {lim.max_rows} 行、{lim.max_columns} 列。请删除表格末尾或右侧多余的行列（包括只有格式的空单元格）后再上传。"
        )


def _scan(archive: zipfile.ZipFile, sheet: SheetInfo, lim: Limits) -> None:
    """The sheet's real used range and formulas without a value, reading the XML in chunks
    (memory stays at a few megabytes, whatever the sheet)."""
    max_row = max_col = counted = 0
    read = 0
    tail = b""
    with archive.open(sheet.path) as member:
        while True:
            chunk = member.read(_CHUNK)
            read += len(chunk)
            if read > lim.max_uncompressed_bytes:
                raise SpreadsheetRefused("文件内容解压后过大，疑似异常文件，已拒绝。")
            data = tail + chunk
            if chunk:
                cut = data.rfind(b"row>") + 4  # after a row tag: no cell is cut in two
                if cut == 3:
                    cut = 0
                if not cut and len(data) > 16 * _CHUNK:
                    raise SpreadsheetRefused("工作表中有一行内容过大，疑似异常文件，已拒绝。")
                body, tail = data[:cut], data[cut:]
            else:
                body, tail = data, b""
            if body:
                rows = _ROW_REF.findall(body)
                if rows:
                    max_row = max(max_row, max(map(int, rows)))
                else:  # rows without their number: count them
                    counted += body.count(b"row>") // 2
                    max_row = max(max_row, counted)
                letters = set(_WIDE_REF.findall(body))
                letters.update(_CELL_REF.findall(body[-65536:] if max_col else body))
                if letters:
                    max_col = max(max_col, max(_column_number(c) for c in letters))
                _refuse_range(sheet, lim, max_row, max(max_col, 1))
                if b"<f" in body or b":f>" in body or b":f " in body:
                    _check_formulas(body)
            if not chunk:
                break
    sheet.rows, sheet.columns = max_row, max_col


def _check_formulas(body: bytes) -> None:
    for attrs, inner in _CELL.findall(body):
        if inner and _FORMULA.search(inner) and not _VALUE.search(inner):
            ref = _R_ATTR.search(b" " + attrs)
            where = ref.group(1).decode() if ref else ""
            raise SpreadsheetRefused(
                f"单元格 {where} 是公式但没有计算结果（文件不是由Excel保存的）：请用Excel打开后保存，"
                "或把公式列“复制 → 选择性粘贴为数值”后再上传。"
            )


def read_rows(source, lim: Limits | None = None) -> list[list]:
    """All rows of the first sheet, from A1 (list index + 1 is the Excel row number), after
    :func:`inspect`. ``source`` is a path or a binary file object. Raises SpreadsheetRefused."""
    if isinstance(source, (str, bytes)) or hasattr(source, "__fspath__"):
        with open(source, "rb") as handle:
            return read_rows(handle, lim)
    sheet = inspect(source, lim)
    if not sheet.rows:
        return []
    try:
        workbook = CalamineWorkbook.from_filelike(source)
        rows = workbook.get_sheet_by_index(0).to_python(skip_empty_area=False)
    except Exception:  # calamine's own messages are English and technical
        raise SpreadsheetRefused(MSG_NOT_XLSX) from None
    return rows


def read_named_rows(source, name: str, lim: Limits | None = None) -> tuple[str, list[list]] | None:
    """All rows of the sheet called ``name`` (e.g. 「费用明细」 beside a discharge list), after
    the same checks as the first sheet (:func:`inspect` with ``named``); None when the
    workbook has no sheet of that name. Returns (the sheet's name as written, rows)."""
    if isinstance(source, (str, bytes)) or hasattr(source, "__fspath__"):
        with open(source, "rb") as handle:
            return read_named_rows(handle, name, lim)
    sheet = inspect(source, lim, named=name)
    if not sheet.path:
        return None
    if not sheet.rows:
        return sheet.name, []
    try:
        workbook = CalamineWorkbook.from_filelike(source)
        found = next(n for n in workbook.sheet_names if "".join(n.split()) == name)
        rows = workbook.get_sheet_by_name(found).to_python(skip_empty_area=False)
    except Exception:  # calamine's own messages are English and technical
        raise SpreadsheetRefused(MSG_NOT_XLSX) from None
    finally:
        source.seek(0)
    return found, rows
