"""Dashboard speed as a county's history grows (issue 5).

Builds a county (~30,000 people in 12 townships / 120 villages, their clinics, contracts,
follow-ups and illness records), then writes encounters with current settlements and their
payout lines straight into the tables (server-side INSERT … SELECT: the engine is not run),
spread over five years. At 100,000 and again at 1,000,000 encounters it rebuilds the
dashboard aggregates (timed) and times the county overview and the township table as county
staff see them (Django test client, warm runs, median), counting their queries.
Targets: 1M / 100k time ratio ≤ 1.5; queries ≤ 25 and equal at both sizes.

    .venv/bin/python benchmarks/bench_dashboards.py [--small 100000] [--large 1000000] [--keep]

Needs PostgreSQL (BENCH_DATABASE_URL or DATABASE_URL, default postgres@127.0.0.1); creates
the database ``healthaid_bench_dashboards`` afresh and drops it at the end.
"""

import argparse
import datetime
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _db import ROOT, machine, timed, use_fresh_database  # noqa: E402

DATABASE = "healthaid_bench_dashboards"
FIRST_YEAR_BACK = 4  # data from this many years before the current one, to today


def build_county(households: int):
    from django.contrib.auth import get_user_model
    from django.db import connection

    from claims.models import ServicePackage, Team
    from claims.reference import load_reference_data
    from registry import services as registry_services
    from registry.demo import synthetic_roster
    from registry.models import Profile

    user = get_user_model().objects.create_superuser("bench", password="bench-pass-123")
    Profile.objects.create(user=user, role="county")
    roster = synthetic_roster(households, seed=42, townships=12, villages_per_township=10)
    registry_services.roster_import(rows=roster, user=user, create_areas=True, skip_invalid=True)
    load_reference_data(clinics=True, demo_hospitals=True)
    from claims.models import Institution

    package = ServicePackage.objects.create(name="基础包", tier="basic", items="健康档案", price=0)
    for clinic in Institution.objects.filter(level="township", township__isnull=False):
        Team.objects.create(name=f"{clinic.name}团队", institution=clinic, township=clinic.township)
    today = datetime.date.today()
    with connection.cursor() as cur:
        # Contracts for 80 % of households (one a year of the last two), a follow-up for 70 %
        # of them, illness records for 12 % of members.
        cur.execute(
            """
            INSERT INTO claims_contract (household_id, team_id, package_id, start_date, end_date, status, notes,
                                         created_at, version)
            SELECT h.id, t.id, %s, s.start, s.start + 364,
                   CASE WHEN s.start + 364 < %s THEN 'expired' ELSE 'active' END, '', now(), 1
            FROM registry_household h
            JOIN registry_village v ON v.id = h.village_id
            JOIN claims_team t ON t.township_id = v.township_id
            CROSS JOIN LATERAL (SELECT (%s::date - 700 + (h.id * 7919 %% 330)::int) AS start) s
            WHERE h.id %% 5 <> 0""",
            [package.pk, today, today],
        )
        cur.execute("""
            INSERT INTO claims_contract (household_id, team_id, package_id, start_date, end_date, status, notes,
                                         created_at, version)
            SELECT c.household_id, c.team_id, c.package_id, c.end_date + 1, c.end_date + 365, 'active', '', now(), 1
            FROM claims_contract c WHERE c.status = 'expired'""")
        cur.execute("""
            INSERT INTO claims_followup (contract_id, member_id, date, kind, notes)
            SELECT c.id, m.id, c.start_date + (c.id % 120)::int, 'home_visit', ''
            FROM claims_contract c JOIN registry_member m ON m.household_id = c.household_id AND m.relation = 'head'
            WHERE c.id % 10 < 7""")
        cur.execute(
            """
            INSERT INTO claims_illnessrecord (member_id, diagnosis_code, diagnosis_name, diagnosed_on, treatment_way,
                                              treatment_plan, status, result, created_at, updated_at, version)
            SELECT m.id, 'I10', '高血压', %s::date - (m.id * 31 %% 1500)::int, '', '',
                   (ARRAY['pending','treating','treated','managed'])[1 + m.id %% 4], '', now(), now(), 1
            FROM registry_member m WHERE m.id %% 100 < 12""",
            [today],
        )
    return user


def add_encounters(count: int, offset: int):
    """``count`` more current encounters, each with a current settlement and its lines."""
    from django.db import connection

    from settlement.models import Policy

    today = datetime.date.today()
    start = datetime.date(today.year - FIRST_YEAR_BACK, 1, 1)
    days = (today - start).days
    document = json.loads((ROOT / "fixtures/policies/demo-county-2025.json").read_text())
    for year in range(start.year, today.year + 1):
        Policy.objects.get_or_create(
            code=f"bench-{year}",
            defaults={"name": f"基准测试政策{year}", "year": year, "status": "active", "document": document},
        )
    with connection.cursor() as cur:
        cur.execute("SELECT coalesce(max(id), 0) FROM claims_encounter")
        last_encounter = cur.fetchone()[0]
        cur.execute("SELECT coalesce(max(id), 0) FROM settlement_settlement")
        last_settlement = cur.fetchone()[0]
        # Random members and institutions through arrays; kinds 45 / 30 / 25 %.
        cur.execute(
            """
            WITH m AS (SELECT array_agg(id ORDER BY id) a FROM registry_member),
                 i AS (SELECT array_agg(id ORDER BY id) a FROM claims_institution),
                 g AS (SELECT n, random() r1, random() r2, random() r3, random() r4, random() r5
                       FROM generate_series(%s + 1, %s + %s) n)
            INSERT INTO claims_encounter (ref, member_id, institution_id, kind, admission_date, discharge_date,
                                          diagnosis_code, diagnosis_name, total_cost, in_policy_cost, package,
                                          referred, is_current, created_at, updated_at, version,
                                          duplicate_reason)
            SELECT 'B' || lpad(n::text, 9, '0'),
                   m.a[1 + floor(r1 * cardinality(m.a))::int],
                   i.a[1 + floor(r2 * cardinality(i.a))::int],
                   k.kind, d.day, CASE WHEN k.kind = 'inpatient' THEN d.day + 1 + floor(r4 * 9)::int END,
                   'I10', '', c.cost, round(c.cost * 0.8, 2), '', true, true, now(), now(), 1, ''
            FROM g CROSS JOIN m CROSS JOIN i
            CROSS JOIN LATERAL (SELECT CASE WHEN r3 < 0.45 THEN 'outpatient' WHEN r3 < 0.75 THEN 'outpatient_chronic'
                                            ELSE 'inpatient' END AS kind) k
            CROSS JOIN LATERAL (SELECT %s::date + floor(r5 * %s)::int AS day) d
            CROSS JOIN LATERAL (SELECT round((CASE WHEN k.kind = 'inpatient' THEN 6000 ELSE 150 END
                                              * exp((r4 - 0.5) * 1.6))::numeric, 2) AS cost) c
        """,
            [offset, offset, count, start, days - 12],
        )
        cur.execute(
            """
            INSERT INTO settlement_settlement (encounter_id, member_id, institution_id, year, service_date, policy_id,
                                               policy_version, total_cost, payouts_total, self_pay, in_policy_self_pay,
                                               out_of_policy_self_pay, is_current, self_pay_difference, computed_at,
                                               task_id)
            SELECT e.id, e.member_id, e.institution_id, extract(year FROM e.service_date), e.service_date, p.id, 1,
                   e.total_cost, x.paid, e.total_cost - x.paid,
                   LEAST(GREATEST(e.in_policy_cost - x.paid, 0), e.total_cost - x.paid),
                   e.total_cost - x.paid - LEAST(GREATEST(e.in_policy_cost - x.paid, 0), e.total_cost - x.paid),
                   true, 0, now(), ''
            FROM claims_encounter e
            JOIN settlement_policy p ON p.year = extract(year FROM e.service_date) AND p.status = 'active'
            CROSS JOIN LATERAL (SELECT round(e.in_policy_cost * (0.55 + (e.id %% 40) / 100.0), 2) AS paid) x
            WHERE e.id > %s""",
            [last_encounter],
        )
        # Lines: basic insurance for everybody; catastrophic and medical aid for chronic and
        # inpatient care; the backstop for inpatients. The last line takes the rounding rest.
        cur.execute(
            """
            INSERT INTO settlement_settlementline (settlement_id, position, tier_key, tier_kind, tier_name, fund,
                                                   amount, difference)
            SELECT s.id, t.position, t.key, t.kind, t.name, t.fund,
                   CASE WHEN t.position = n.lines THEN s.payouts_total - trunc(s.payouts_total / n.lines, 2)
                        * (n.lines - 1) ELSE trunc(s.payouts_total / n.lines, 2) END, 0
            FROM settlement_settlement s JOIN claims_encounter e ON e.id = s.encounter_id
            CROSS JOIN LATERAL (SELECT CASE e.kind WHEN 'outpatient' THEN 1 WHEN 'outpatient_chronic' THEN 2
                                                   ELSE 4 END AS lines) n
            JOIN (VALUES (1, 'basic', 'basic_insurance', '城乡居民基本医疗保险', '城乡居民医保基金'),
                         (2, 'catastrophic', 'catastrophic_insurance', '城乡居民大病保险', '大病保险承办机构'),
                         (3, 'medical_aid', 'medical_aid', '城乡医疗救助', '医疗救助资金专户'),
                         (4, 'backstop', 'backstop', '政府兜底保障', '县级健康扶贫兜底资金'))
                 AS t(position, key, kind, name, fund) ON t.position <= n.lines
            WHERE s.id > %s""",
            [last_settlement],
        )
        cur.execute("ANALYZE")


def time_pages(user, runs: int):
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(user)
    out = {}
    for name, url in (("overview", "/dashboards/"), ("townships", "/dashboards/townships/")):
        assert client.get(url).status_code == 200  # first (cold) run not counted
        reset_queries()  # a request clears the log as it starts: begin from an empty one
        with CaptureQueriesContext(connection) as captured:
            client.get(url)
        queries = len(captured)  # now: the log is a view that the next request clears
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            response = client.get(url)
            times.append(time.perf_counter() - started)
            assert response.status_code == 200
        out[name] = (statistics.median(times), queries)
    return out


def drop_database(url):
    from urllib.parse import urlparse

    import psycopg2
    from django.db import connections

    connections.close_all()
    conn = psycopg2.connect(urlparse(url)._replace(path="/postgres").geturl())
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    conn.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--households", type=int, default=9_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args()

    url = use_fresh_database(DATABASE)
    from dashboards import services
    from registry.models import Member, Village

    t = {}
    sizes = {}
    try:
        with timed("county", t):
            user = build_county(args.households)
        today = datetime.date.today()
        years = list(range(today.year - FIRST_YEAR_BACK, today.year + 1))
        done = 0
        for label, size in (("small", args.small), ("large", args.large)):
            with timed(f"generate_{label}", t):
                add_encounters(size - done, done)
            done = size
            with timed(f"refresh_{label}", t):
                services.aggregates_refresh(years=years)
            sizes[label] = time_pages(user, args.runs)
        people, villages = Member.objects.count(), Village.objects.count()
    finally:
        if not args.keep:
            drop_database(url)

    print(f"# dashboards — {datetime.date.today()} — {machine()}")
    print(
        f"county: {people:,} people in {villages} villages, built in {t['county']:.1f} s; "
        f"encounters over {FIRST_YEAR_BACK + 1} years, each with a current settlement and 1–4 payout lines"
    )
    for label, size in (("small", args.small), ("large", args.large)):
        print(
            f"{size:>9,} encounters: generated in {t[f'generate_{label}']:.1f} s, "
            f"aggregates refreshed ({len(years)} years) in {t[f'refresh_{label}']:.1f} s"
        )
    ok = True
    for page in ("overview", "townships"):
        (small_time, small_queries), (large_time, large_queries) = sizes["small"][page], sizes["large"][page]
        ratio = large_time / small_time
        ok &= ratio <= 1.5 and small_queries == large_queries <= 25
        print(
            f"{page:<10} {args.small:,}: {small_time * 1000:.1f} ms, {small_queries} queries | "
            f"{args.large:,}: {large_time * 1000:.1f} ms, {large_queries} queries | "
            f"ratio {ratio:.2f} (target ≤ 1.5; queries ≤ 25, equal)"
        )
    if not ok:
        sys.exit("dashboard targets missed")


if __name__ == "__main__":
    main()
