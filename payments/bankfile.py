"""The bank's payment file of a batch (代发文件), in the layout set for the bank in the database
(``BankFileLayout``: format, encoding, header row, ordered columns). Excel through
``core.export`` and CSV through ``core.export.csv_bytes``: both formula-safe. The only place
account numbers are written in full."""

from __future__ import annotations

from core.export import Sheet, csv_bytes, workbook_bytes

from .models import ColumnField, FileFormat, LineStatus

_KIND = {ColumnField.AMOUNT: "money", ColumnField.SEQ: "plain", ColumnField.ACCOUNT_NUMBER: "text"}


def file_rows(batch) -> list[dict]:
    """The lines the bank is to pay (pending), numbered from 1 in line order."""
    rows = []
    for seq, line in enumerate(batch.lines.filter(status=LineStatus.PENDING).order_by("position"), start=1):
        rows.append(
            {
                ColumnField.SEQ: seq,
                ColumnField.ACCOUNT_NUMBER: line.account_number,
                ColumnField.ACCOUNT_NAME: line.account_name,
                ColumnField.BANK_NAME: line.bank_name,
                ColumnField.AMOUNT: line.amount,
                ColumnField.PURPOSE: line.purpose,
                ColumnField.REFERENCE: f"P{batch.pk}-{line.position}",
                ColumnField.PAYEE_KIND: line.get_kind_display(),
            }
        )
    return rows


def render(batch, layout) -> tuple[bytes, str]:
    columns = list(layout.columns.order_by("position"))
    rows = file_rows(batch)
    stem = f"代发-{layout.bank_name}-{batch.fund.code}-{batch.year}{batch.month:02d}-{batch.pk}"
    if layout.file_format == FileFormat.CSV:
        content = csv_bytes(
            headers=[c.header for c in columns] if layout.header_row else None,
            rows=([row[c.field] for c in columns] for row in rows),
            encoding=layout.encoding,
        )
        return content, f"{stem}.csv"
    sheet = Sheet([(c.header, (lambda r, f=c.field: r[f]), _KIND.get(c.field, "")) for c in columns])
    content = workbook_bytes(
        sheet=sheet, rows=rows, title=f"{batch.fund.name}{batch.year}年{batch.month}月代发", title_row=False
    )
    return content, f"{stem}.xlsx"
