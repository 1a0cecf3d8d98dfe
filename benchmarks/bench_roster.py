"""Roster import speed (issue 2).

Generates a 100,000-member roster (~30,000 households), then measures on the same file:
  1. openpyxl (read-only mode) merely reading every row — the yardstick;
  2. our whole import (calamine read, validation, writes with history) into PostgreSQL;
  3. the stock django-import-export ModelResource path on a 10,000-row sample.
Prints rows/s and each path's ratio to the openpyxl read time. Target: ours ≤ 1.0.

    .venv/bin/python benchmarks/bench_roster.py [--members 100000]
"""

import argparse
import datetime
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _db import machine, timed, use_fresh_database  # noqa: E402


def openpyxl_read(path):
    from openpyxl import load_workbook

    workbook = load_workbook(path, read_only=True, data_only=True)
    count = sum(1 for _ in workbook.active.iter_rows(values_only=True))
    workbook.close()
    return count


def stock_import(path, user):
    """The stock django-import-export path: a ModelResource per member, households created on
    the fly by a ForeignKey widget hook. What a straightforward implementation would do."""
    import tablib
    from import_export import fields, resources, widgets

    from registry.models import Household, Member, Village

    class HouseholdWidget(widgets.ForeignKeyWidget):
        def clean(self, value, row=None, **kwargs):
            village = Village.objects.get(name=row["行政村"], township__name=row["乡镇"])
            household, _ = Household.objects.get_or_create(
                number=str(value), defaults={"village": village, "poverty_status": "poor"}
            )
            return household

    class StockMemberResource(resources.ModelResource):
        household = fields.Field(
            attribute="household", column_name="户编号", widget=HouseholdWidget(Household)
        )
        name = fields.Field(attribute="name", column_name="姓名")
        id_number = fields.Field(attribute="id_number", column_name="证件号码")

        class Meta:
            model = Member
            import_id_fields = ["id_number"]
            fields = ("household", "name", "id_number")

        def before_save_instance(self, instance, row, **kwargs):
            from registry.idnumber import validate_id_number

            info = validate_id_number(instance.id_number)
            instance.sex, instance.birth_date = info.sex, info.birth_date
            instance.relation = {"户主": "head"}.get(row["与户主关系"], "other")

    from openpyxl import load_workbook

    workbook = load_workbook(path, read_only=True)
    rows = list(workbook.active.iter_rows(values_only=True))
    width = len(rows[0])  # a read-only sheet drops a row's empty trailing cells: pad them back
    dataset = tablib.Dataset(
        *[tuple("" if v is None else v for v in (*r, *[None] * (width - len(r)))) for r in rows[1:]],
        headers=list(rows[0]),
    )
    result = StockMemberResource().import_data(dataset, dry_run=False, raise_errors=True)
    return result.totals


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--stock-sample", type=int, default=10_000)
    args = parser.parse_args()

    use_fresh_database("healthaid_bench_roster")
    from django.contrib.auth import get_user_model

    from core.reader import read_rows
    from registry import services
    from registry.demo import synthetic_roster, write_xlsx
    from registry.models import Household, Member

    user = get_user_model().objects.create_superuser("bench", password="bench-pass-123")
    # Enough households, then cut at the household boundary nearest the wanted member count.
    rows = synthetic_roster(int(args.members / 2.5) + 10, seed=42, townships=12, villages_per_township=10)
    number = rows[0].index("户编号")
    cut = args.members + 1
    while cut < len(rows) and rows[cut][number] == rows[cut - 1][number]:
        cut += 1
    rows = rows[:cut]
    tmp = Path(tempfile.mkdtemp(prefix="bench-roster-"))
    path = tmp / "roster.xlsx"
    write_xlsx(rows, path)
    sample_path = tmp / "roster-sample.xlsx"
    write_xlsx(rows[: args.stock_sample + 1], sample_path)

    t = {}
    with timed("openpyxl", t):
        count = openpyxl_read(path)
    with timed("ours", t):
        report = services.roster_import(rows=read_rows(path), user=user, create_areas=True, skip_invalid=True)
    with timed("reimport", t):
        again = services.roster_import(rows=read_rows(path), user=user, create_areas=True, skip_invalid=True)
    members = Member.objects.count()

    # Stock path on a sample, into an empty registry (areas kept).
    Member.history.all().delete()
    Household.history.all().delete()
    Member.objects.all().delete()
    Household.objects.all().delete()
    with timed("openpyxl_sample", t):
        openpyxl_read(sample_path)
    with timed("stock_sample", t):
        stock_import(sample_path, user)

    n = count - 1
    print(f"# roster import — {datetime.date.today()} — {machine()}")
    print(
        f"rows: {n} members, {report.households_created} households created, {members} members stored, "
        f"{report.rows_skipped} rows skipped"
    )
    print(f"openpyxl read-only read:     {t['openpyxl']:.2f} s  ({n / t['openpyxl']:,.0f} rows/s)")
    print(
        f"healthaid import (all):      {t['ours']:.2f} s  ({n / t['ours']:,.0f} rows/s)  "
        f"ratio {t['ours'] / t['openpyxl']:.2f} (target ≤ 1.0)"
    )
    print(
        f"re-import, nothing changed:  {t['reimport']:.2f} s  ratio {t['reimport'] / t['openpyxl']:.2f}  "
        f"(unchanged members: {again.members_unchanged})"
    )
    ns = args.stock_sample
    print(
        f"stock django-import-export:  {t['stock_sample']:.2f} s for {ns} rows  "
        f"ratio {t['stock_sample'] / t['openpyxl_sample']:.2f} to openpyxl on the same sample"
    )


if __name__ == "__main__":
    main()
