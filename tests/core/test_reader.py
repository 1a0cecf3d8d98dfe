"""core.reader: hostile spreadsheets are refused before calamine reads them.

The bombs run in a child process whose address space is limited (``RLIMIT_AS``), so a
regression aborts the child, not the machine."""

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from core.reader import MSG_NOT_XLSX, Limits, SpreadsheetRefused, read_rows

ROOT = Path(__file__).resolve().parents[2]

_CT = (
    '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/worksheets/sheet2.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    "</Types>"
)
_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
)
_WB_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
    '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet2.xml"/>'
    "</Relationships>"
)


def _cell(ref, text):
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


def xlsx(path, cells, *, dimension="A1:B2", hidden_first=False, extra=None):
    """A minimal workbook: sheet 1 holds ``cells`` (raw XML of the rows), sheet 2 one cell."""
    state = ' state="hidden"' if hidden_first else ""
    workbook = (
        '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
        f'<sheet name="隐藏表" sheetId="1"{state} r:id="rId1"/><sheet name="第二表" sheetId="2" r:id="rId2"/>'
        "</sheets></workbook>"
    )

    def sheet(dim, rows):
        return (
            '<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            f'<dimension ref="{dim}"/><sheetData>{rows}</sheetData></worksheet>'
        )

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", _CT)
        z.writestr("_rels/.rels", _RELS)
        z.writestr("xl/workbook.xml", workbook)
        z.writestr("xl/_rels/workbook.xml.rels", _WB_RELS)
        z.writestr("xl/worksheets/sheet1.xml", sheet(dimension, cells))
        z.writestr("xl/worksheets/sheet2.xml", sheet("A1", f'<row r="1">{_cell("A1", "二")}</row>'))
        for name, data in (extra or {}).items():
            z.writestr(name, data)
    return path


def _in_child(path, memory_mb=1024):
    """read_rows(path) in a child limited to ``memory_mb`` of address space -> (exit code, result)."""
    code = f"""
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, ({memory_mb} * 1024 * 1024, {memory_mb} * 1024 * 1024))
sys.path.insert(0, {str(ROOT)!r})
from core.reader import Limits, SpreadsheetRefused, read_rows
try:
    rows = read_rows({str(path)!r}, Limits())
except SpreadsheetRefused as exc:
    print(json.dumps({{"refused": exc.message}}))
else:
    print(json.dumps({{"rows": len(rows), "width": max((len(r) for r in rows), default=0)}}))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    result = json.loads(done.stdout.strip().splitlines()[-1]) if done.stdout.strip() else None
    return done.returncode, result


def test_one_cell_at_xfd1048576_is_refused_without_reading_it(tmp_path):
    path = xlsx(
        tmp_path / "far.xlsx",
        f'<row r="1">{_cell("A1", "x")}</row><row r="1048576">{_cell("XFD1048576", "x")}</row>',
        dimension="A1:XFD1048576",
    )
    assert path.stat().st_size < 3000
    code, result = _in_child(path)
    assert code == 0, "the reader crashed its process"
    assert "使用范围过大" in result["refused"] and "XFD1048576" in result["refused"]


def test_a_lying_dimension_reads_only_the_real_cells(tmp_path):
    path = xlsx(
        tmp_path / "dim.xlsx",
        f'<row r="1">{_cell("A1", "姓名")}{_cell("B1", "证件号码")}</row><row r="2">{_cell("A2", "王")}</row>',
        dimension="A1:Q1048576",
    )
    code, result = _in_child(path, memory_mb=768)
    assert code == 0 and result == {"rows": 2, "width": 2}


def test_too_many_rows_or_columns_are_refused(tmp_path):
    rows = "".join(f'<row r="{n}">{_cell(f"A{n}", n)}</row>' for n in range(1, 12))
    path = xlsx(tmp_path / "rows.xlsx", rows)
    with pytest.raises(SpreadsheetRefused, match="11 行"):
        read_rows(path, Limits(max_rows=10))
    path = xlsx(tmp_path / "cols.xlsx", f'<row r="1">{_cell("A1", 1)}{_cell("AB1", 2)}</row>')
    with pytest.raises(SpreadsheetRefused, match="28 列"):
        read_rows(path, Limits(max_columns=27))
    assert read_rows(path, Limits(max_columns=28))[0][27] == "2"


def test_a_zip_bomb_is_refused_by_its_ratio(tmp_path):
    path = xlsx(
        tmp_path / "bomb.xlsx",
        f'<row r="1">{_cell("A1", "x")}</row>',
        extra={"xl/media/zeros.bin": b"\0" * (50 * 1024 * 1024)},
    )
    assert path.stat().st_size < 200_000
    code, result = _in_child(path, memory_mb=768)
    assert code == 0 and "压缩" in result["refused"]
    with pytest.raises(SpreadsheetRefused, match="解压后过大"):
        read_rows(path, Limits(max_uncompressed_bytes=10 * 1024 * 1024, max_ratio=10**9))


def test_a_big_file_of_zeros_is_refused_by_its_size(tmp_path):
    path = tmp_path / "zeros.xlsx"
    path.write_bytes(b"\0" * (2 * 1024 * 1024))
    with pytest.raises(SpreadsheetRefused, match="文件过大"):
        read_rows(path, Limits(max_file_bytes=1024 * 1024))
    with pytest.raises(SpreadsheetRefused) as refused:
        read_rows(path, Limits())
    assert refused.value.message == MSG_NOT_XLSX  # not calamine's "Cannot detect file format"


def test_text_and_xls_files_get_a_chinese_message(tmp_path):
    for data in (b"name,id\n1,2\n", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600):
        path = tmp_path / "x.xlsx"
        path.write_bytes(data)
        with pytest.raises(SpreadsheetRefused) as refused:
            read_rows(path, Limits())
        assert "Cannot" not in refused.value.message and ".xlsx" in refused.value.message


def test_a_hidden_first_sheet_is_refused(tmp_path):
    path = xlsx(tmp_path / "hidden.xlsx", f'<row r="1">{_cell("A1", "x")}</row>', hidden_first=True)
    with pytest.raises(SpreadsheetRefused, match="隐藏"):
        read_rows(path, Limits())
    visible = xlsx(tmp_path / "visible.xlsx", f'<row r="1">{_cell("A1", "x")}</row>')
    assert read_rows(visible, Limits()) == [["x"]]


def test_a_formula_without_cached_value_is_refused_and_one_with_a_value_is_read(tmp_path):
    bare = xlsx(
        tmp_path / "bare.xlsx",
        f'<row r="1">{_cell("A1", "金额")}</row><row r="2"><c r="A2"><f>1+1</f></c></row>',
    )
    with pytest.raises(SpreadsheetRefused, match="A2.*公式"):
        read_rows(bare, Limits())
    cached = xlsx(
        tmp_path / "cached.xlsx",
        f'<row r="1">{_cell("A1", "金额")}</row><row r="2"><c r="A2"><f>1+1</f><v>2</v></c></row>',
    )
    assert read_rows(cached, Limits()) == [["金额"], [2.0]]


def test_a_file_object_is_read_like_a_path(tmp_path):
    path = xlsx(
        tmp_path / "ok.xlsx", f'<row r="1">{_cell("A1", "姓名")}</row><row r="2">{_cell("A2", "王")}</row>'
    )
    assert read_rows(io.BytesIO(path.read_bytes()), Limits()) == [["姓名"], ["王"]]
