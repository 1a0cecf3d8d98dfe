"""Reading and writing .xlsx files.

Reading uses python-calamine (a Rust reader, ~12× faster than openpyxl) because the roster
import must finish faster than openpyxl could merely read the file; writing uses openpyxl's
write-only mode (templates, rejected rows). Exports of lists go through django-import-export.
"""

import io

from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill
from python_calamine import CalamineError, CalamineWorkbook


class ExcelReadError(ValueError):
    pass


def read_rows(source):
    """All rows of the first sheet, from A1 (so list index + 1 is the Excel row number).
    ``source`` is a path or a binary file object."""
    try:
        if isinstance(source, (str, bytes)) or hasattr(source, "__fspath__"):
            workbook = CalamineWorkbook.from_path(str(source))
        else:
            workbook = CalamineWorkbook.from_filelike(source)
        sheet = workbook.get_sheet_by_index(0)
        rows = sheet.to_python(skip_empty_area=False)
    except (CalamineError, ValueError, OSError) as exc:  # calamine raises a few kinds
        raise ExcelReadError("无法读取Excel文件（请上传 .xlsx 格式）。") from exc
    except Exception as exc:  # zip / xml errors of a file that is not xlsx at all
        raise ExcelReadError("无法读取Excel文件（请上传 .xlsx 格式）。") from exc
    return rows


def write_rows(header, rows, *, sheet_title="Sheet1", highlight_column=None):
    """An .xlsx file (bytes) with a bold header; ``highlight_column`` (a header name) is
    filled in light red, used for the error column of rejected rows."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(sheet_title)
    from openpyxl.cell import WriteOnlyCell

    bold = Font(bold=True)
    red = PatternFill("solid", fgColor="FFD7D7")
    header_cells = []
    for name in header:
        cell = WriteOnlyCell(sheet, value=name)
        cell.font = bold
        if name == highlight_column:
            cell.fill = red
        header_cells.append(cell)
    sheet.append(header_cells)
    for row in rows:
        sheet.append(list(row))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
