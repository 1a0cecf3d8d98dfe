"""Encounter import speed (issue 3).

Builds a county (a roster of ~20,000 people, its clinics and hospitals), writes a 50,000-row
discharge list, then measures on the same file:
  1. openpyxl (read-only mode) merely reading every row — the yardstick;
  2. our whole import (calamine read, validation, lookups, writes with history) into PostgreSQL;
  3. importing the same file again (nothing changes, nothing is written).
Prints rows/s and the ratio to the openpyxl read time. Target: ours ≤ 1.0.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/healthaid_bench_claims \\
        .venv/bin/python benchmarks/bench_encounters.py [--rows 50000]

The script creates the database ``healthaid_bench_claims`` afresh, migrates it, and drops it
at the end (``--keep`` keeps it).
"""

import argparse
import datetime
import math
import random
import sys
import tempfile
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _db import machine, timed, use_fresh_database  # noqa: E402

DATABASE = "healthaid_bench_claims"
_KINDS = (("outpatient", 45), ("outpatient_chronic", 30), ("inpatient", 25))
_DIAGNOSES = ("I10", "E11.9", "J18.9", "I21.0", "I63.9", "C16.9", "C34.1", "N18.5", "F20.0", "K35.8", "J06.9")


def openpyxl_read(path):
    from openpyxl import load_workbook

    workbook = load_workbook(path, read_only=True, data_only=True)
    count = sum(1 for _ in workbook.active.iter_rows(values_only=True))
    workbook.close()
    return count


def discharge_list(n, members, institutions, seed=7):
    """``n`` valid encounter rows (claims.encounter_rows.EncounterRow) of 2025."""
    from claims.encounter_rows import EncounterRow

    rng = random.Random(seed)
    kinds, weights = zip(*_KINDS)
    start = datetime.date(2025, 1, 1)
    rows = []
    for i in range(n):
        name, id_number = rng.choice(members)
        kind = rng.choices(kinds, weights)[0]
        admission = start + datetime.timedelta(days=rng.randrange(330))
        discharge = admission + datetime.timedelta(days=rng.randint(1, 20)) if kind == "inpatient" else None
        total = Decimal(
            str(round(rng.lognormvariate(math.log(6000 if kind == "inpatient" else 150), 0.8), 2))
        )
        in_policy = (total * Decimal(str(round(rng.uniform(0.6, 1.0), 2)))).quantize(Decimal("0.01"))
        rows.append(
            EncounterRow(
                i + 2,
                f"ZY2025{i:08d}",
                name,
                id_number,
                rng.choice(institutions),
                kind,
                admission,
                discharge,
                rng.choice(_DIAGNOSES),
                "",
                total,
                in_policy,
                "",
                rng.random() > 0.05,
            )
        )
    return rows


def drop_database(url):
    from urllib.parse import urlparse

    import psycopg2
    from django.db import connections

    connections.close_all()
    admin = urlparse(url)._replace(path="/postgres").geturl()
    conn = psycopg2.connect(admin)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    conn.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--households", type=int, default=8_000)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args()

    url = use_fresh_database(DATABASE)
    from django.contrib.auth import get_user_model

    from claims import services
    from claims.encounter_rows import serialize_encounters
    from claims.models import Encounter, Institution
    from claims.reference import load_reference_data
    from core.reader import read_rows
    from registry import services as registry_services
    from registry.demo import synthetic_roster, write_xlsx
    from registry.models import Member

    user = get_user_model().objects.create_superuser("bench", password="bench-pass-123")
    roster = synthetic_roster(args.households, seed=42, townships=12, villages_per_township=10)
    registry_services.roster_import(rows=roster, user=user, create_areas=True, skip_invalid=True)
    load_reference_data(clinics=True, demo_hospitals=True)
    members = list(Member.objects.values_list("name", "id_number"))
    institutions = list(Institution.objects.values_list("name", flat=True))
    rows = serialize_encounters(discharge_list(args.rows, members, institutions))
    path = Path(tempfile.mkdtemp(prefix="bench-encounters-")) / "discharge-list.xlsx"
    write_xlsx(rows, path)

    # Settling the recorded member-years is the settlement app's work (its own benchmark), done
    # by workers after the import: here the outbox entries are recorded (inside the import's
    # transaction, so timed) and counted, and the handler does nothing.
    # The same for the automatic review of the years written (claims.handlers, after the commit).
    from claims.events import MEMBER_YEAR_CHANGED, REVIEW_YEAR_REQUESTED
    from core import outbox
    from core.models import OutboxEntry

    outbox.register_handler(MEMBER_YEAR_CHANGED, lambda entries: None)
    outbox.register_handler(REVIEW_YEAR_REQUESTED, lambda entries: None)

    t = {}
    try:
        with timed("openpyxl", t):
            count = openpyxl_read(path)
        with timed("ours", t):
            report = services.encounter_import(rows=read_rows(path), user=user, source_name=path.name)
        with timed("reimport", t):
            again = services.encounter_import(rows=read_rows(path), user=user, source_name=path.name)
        stored = Encounter.objects.count()
        queued = OutboxEntry.objects.filter(topic=MEMBER_YEAR_CHANGED).values_list("key", flat=True)
    finally:
        if not args.keep:
            drop_database(url)

    n = count - 1
    print(f"# encounter import — {datetime.date.today()} — {machine()}")
    print(
        f"rows: {n} encounters of {len(members)} registered people; created {report.created}, stored {stored}, "
        f"refused={report.refused}, {len(queued)} member-years queued for settlement (not settled here)"
    )
    print(f"openpyxl read-only read:     {t['openpyxl']:.2f} s  ({n / t['openpyxl']:,.0f} rows/s)")
    print(
        f"healthaid import (all):      {t['ours']:.2f} s  ({n / t['ours']:,.0f} rows/s)  "
        f"ratio {t['ours'] / t['openpyxl']:.2f} (target ≤ 1.0)"
    )
    print(
        f"re-import, nothing changed:  {t['reimport']:.2f} s  ratio {t['reimport'] / t['openpyxl']:.2f}  "
        f"(unchanged: {again.unchanged})"
    )
    if report.refused or report.created != n:
        sys.exit("the benchmark file did not import cleanly: " + "; ".join(str(e) for e in report.errors[:5]))


if __name__ == "__main__":
    main()
