"""The county's medical-insurance catalogue (医保目录): its Excel import and what the review
reads of it.

The import (kind ``catalogue`` of the shared import-job stack, ``core.imports``) is county
staff's: all or nothing per file (one fault anywhere and nothing is written; the report names
the row and column). A code not yet in the catalogue is created; a code present is updated
when a field differs (name, category, class, unit price, unit, active), with its history
(simple_history, the uploader and the file as the reason); an identical row is left alone, so
importing the same file again changes nothing. Codes absent from the file are kept as they
are: a file may hold a part of the catalogue; an item is withdrawn by importing it with
启用 = 否.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from core.imports import ImportReport
from registry import roles

from . import catalogue_rows, codes
from .models import CatalogueImport, CatalogueItem
from .services import ClaimsError

_FIELDS = ("name", "category", "item_class", "unit_price", "unit", "active")


@dataclass
class CatalogueReport(ImportReport):
    """What a catalogue import did (or, in a dry run, would do)."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0


def catalogue_import(
    *,
    rows,
    user,
    dry_run: bool = False,
    skip_invalid: bool = False,
    source_name: str = "",
    progress=None,
) -> CatalogueReport:
    """Import a catalogue file (see the module). ``skip_invalid`` is not offered: a catalogue
    file is imported whole or not at all."""
    roles.require_county(user)
    report_progress = progress or (lambda stage, done, total: None)
    report = CatalogueReport(dry_run=dry_run)
    report_progress("校验", 0, 1)
    parsed = catalogue_rows.parse_catalogue(rows)
    report.rows, report.header_row = parsed.total, parsed.header_row
    report.errors = parsed.errors
    report.rejected_rows = sorted({e.row for e in parsed.errors if e.row > parsed.header_row})
    report.rows_skipped = len(report.rejected_rows)
    if parsed.errors:
        report.refused = True
        return report
    reason = f"医保目录导入：{source_name}"[:100] if source_name else "医保目录导入"
    with transaction.atomic():
        wanted = [row.code for row in parsed.rows]
        existing = {}
        for start in range(0, len(wanted), 2000):
            for item in CatalogueItem.objects.select_for_update().filter(
                code__in=wanted[start : start + 2000]
            ):
                existing[item.code] = item
        new, changed = [], []
        for done, row in enumerate(parsed.rows):
            if done % 1000 == 0:
                report_progress("写入", done, len(parsed.rows))
            values = row.values()
            item = existing.get(row.code)
            if item is None:
                new.append(CatalogueItem(code=row.code, **values))
            elif any(getattr(item, name) != value for name, value in values.items()):
                for name, value in values.items():
                    setattr(item, name, value)
                changed.append(item)
        report.created, report.updated = len(new), len(changed)
        report.unchanged = len(parsed.rows) - len(new) - len(changed)
        if not dry_run:
            if new:
                bulk_create_with_history(
                    new, CatalogueItem, batch_size=1000, default_user=user, default_change_reason=reason
                )
            if changed:
                bulk_update_with_history(
                    changed,
                    CatalogueItem,
                    list(_FIELDS),
                    batch_size=1000,
                    default_user=user,
                    default_change_reason=reason,
                )
    return report


def catalogue_job_create(*, user, uploaded_file) -> CatalogueImport:
    """Store an uploaded catalogue file and start its preview (through the outbox)."""
    from core.imports import import_job_create

    roles.require_county(user)
    return import_job_create(kind="catalogue", user=user, uploaded_file=uploaded_file, error=ClaimsError)


def catalogue_job_confirm(*, user, job: CatalogueImport) -> CatalogueImport:
    from core.imports import import_job_confirm

    roles.require_county(user)
    return import_job_confirm(job=job, error=ClaimsError)


def catalogue_template_workbook() -> bytes:
    """A blank catalogue file: the headers, one example row, the code column as text, dropdowns
    on 费用类别, 医保目录类别 and 启用, and a sheet explaining each column."""
    from core.export import TemplateColumn, template_workbook

    columns = [
        TemplateColumn(
            "项目编码", "医保目录的项目编码，文件中不能重复（本列为文本格式）", "XY0001", True, text=True
        ),
        TemplateColumn("项目名称", "不超过100个字", "阿莫西林胶囊", True),
        TemplateColumn(
            "费用类别",
            "西药、检查、化验等",
            "西药",
            choices=tuple(label for _, label in codes.ITEM_CATEGORIES),
        ),
        TemplateColumn("医保目录类别", "甲类/乙类/丙类（或A/B/C）", "甲类", True, ("甲类", "乙类", "丙类")),
        TemplateColumn("单价", "单位：元，可不填；最多4位小数", "12.50"),
        TemplateColumn("单位", "如：盒、支、次", "盒"),
        TemplateColumn("启用", "是/否，不填为是；停用的项目在审核时视为目录外", "是", choices=("是", "否")),
    ]
    assert [c.header for c in columns] == catalogue_rows.CANONICAL_HEADERS
    return template_workbook(title="医保目录", columns=columns)
