"""Settlement speed through the database and Celery (issue 4).

Loads a synthetic county year (``bench_engine.generate_county_year``: 100,000 encounters of
~30,000 people) into a fresh PostgreSQL database, then measures on the same encounters:
  (a) the pure engine, ``settle()`` only (best of three);
  (b) a ``settle_year`` batch run through one real Celery worker into PostgreSQL — load,
      settle, compare with what is stored, write settlements and lines —, the worker run as
      deployed (docker-compose.yml: ``--concurrency 2``, persistent database connections;
      ``--concurrency 1`` measures a single process);
  (c) a simulation run of the same year (a draft policy against what (b) stored).
Targets: (b)/(a) ≤ 4 and (c)/(a) ≤ 1.5. The stored totals are checked against (a).

    .venv/bin/python benchmarks/bench_settlement.py [--encounters N] [--members N] [--concurrency N] [--keep]

Needs PostgreSQL (BENCH_DATABASE_URL or DATABASE_URL, default postgres://postgres@127.0.0.1)
and Redis (REDIS_URL, default redis://127.0.0.1:6379/6). The database
``healthaid_bench_settlement`` is created afresh and dropped at the end unless ``--keep``.
"""

import argparse
import copy
import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _db import ROOT, drop_database, machine, use_fresh_database  # noqa: E402
from bench_engine import DEMO_POLICY, generate_county_year  # noqa: E402

DATABASE = "healthaid_bench_settlement"
TARGET_BATCH, TARGET_SIMULATE = 4.0, 1.5


def start_worker(url, redis_url, concurrency):
    # As deployed (docker-compose.yml): persistent database connections, one process per core.
    env = {"DB_CONN_MAX_AGE": "60", **os.environ, "DATABASE_URL": url, "REDIS_URL": redis_url}
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "healthaid",
            "worker",
            "--pool",
            "prefork",
            "--concurrency",
            str(concurrency),
            "--loglevel",
            "warning",
            "--without-gossip",
            "--without-mingle",
            "--hostname",
            f"bench-{os.getpid()}@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    from healthaid.celery import app

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if app.control.ping(timeout=0.5):
            return worker
        if worker.poll() is not None:
            sys.exit("the Celery worker exited at start-up")
    worker.kill()
    sys.exit("the Celery worker did not answer within 60 s")


def load_county_year(n_encounters: int, n_members: int):
    """The synthetic county year stored (COPY) in the fresh database, settled on disk before
    any clock starts. Returns (user, members_raw, encounters_raw, engine_members, load seconds)."""
    from django.contrib.auth import get_user_model
    from django.db import DatabaseError, connection

    from settlement.synthetic import store_county_year

    user = get_user_model().objects.create_superuser("bench", password="bench-pass-123")
    members_raw, encounters_raw = generate_county_year(n_encounters, n_members)
    t0 = time.perf_counter()
    engine_members, _ = store_county_year(members_raw, encounters_raw, user=user)
    t_load = time.perf_counter() - t0
    # Not part of the timings: what autovacuum does after a bulk load in production (this
    # server runs without it) — VACUUM sets the loaded rows' hint bits (otherwise the first
    # reads, in the timed runs, dirty every page of the encounter table and the disk writes
    # them back during the batch), ANALYZE tells the planner the tables' sizes; then the
    # load's writes reach the disk (CHECKPOINT, sync) before the clock starts, instead of
    # being flushed by the kernel ~30 s later, in the middle of the batch run.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
        try:
            cursor.execute("CHECKPOINT")  # superuser or pg_checkpoint only
        except DatabaseError:
            print("note: no CHECKPOINT (needs a superuser or pg_checkpoint); timings may include writeback")
    os.sync()
    return user, members_raw, encounters_raw, engine_members, t_load


def run_and_wait(start):
    """(seconds from queueing the run to its end, the run)."""
    from settlement.models import SettlementRun

    began = time.perf_counter()
    run = start()
    while True:
        status = SettlementRun.objects.filter(pk=run.pk).values_list("status", flat=True).get()
        if status in ("done", "failed"):
            elapsed = time.perf_counter() - began
            run.refresh_from_db()
            if status == "failed":
                sys.exit(f"run {run.pk} failed: {run.error}")
            return elapsed, run
        time.sleep(0.02)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--encounters", type=int, default=100_000)
    parser.add_argument("--members", type=int, default=30_000)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=2,
        help="worker processes of the one Celery worker (default 2, as deployed)",
    )
    args = parser.parse_args()

    redis_url = os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/6")
    url = use_fresh_database(DATABASE)
    from django.db.models import Sum

    from healthaid.celery import app
    from settlement import engine, services
    from settlement.models import Settlement, SettlementLine

    user, members_raw, encounters_raw, engine_members, t_load = load_county_year(
        args.encounters, args.members
    )
    document = json.loads(DEMO_POLICY.read_text(encoding="utf-8"))
    policy = services.policy_import(user=user, document=document)
    services.policy_activate(user=user, policy=policy, resettle=False)
    draft_doc = copy.deepcopy(document)
    draft_doc.update(code="bench-draft-2025", name="模拟草稿")
    draft_doc["tiers"][2]["overrides"][2]["set"]["rate"] = {"flat": 0.80}
    draft = services.policy_import(user=user, document=draft_doc)

    # (a) the pure engine on the same encounters (members as the registry presents them).
    compiled = engine.compile_policy(document)
    members = engine.parse_members(engine_members)
    encounters = engine.parse_encounters(encounters_raw)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        results = engine.settle(compiled, members, encounters)
        times.append(time.perf_counter() - t0)
    t_engine = min(times)

    app.control.purge()
    worker = start_worker(url, redis_url, args.concurrency)
    try:
        t_batch, run = run_and_wait(
            lambda: services.settlement_run_start(user=user, kind="settle_year", year=2025)
        )
        t_simulate, sim = run_and_wait(
            lambda: services.settlement_run_start(user=user, kind="simulate", year=2025, policy=draft)
        )
    finally:
        worker.terminate()
        worker.wait(timeout=30)

    # Honesty: what the batch stored is what the engine computes.
    stored_paid = SettlementLine.objects.filter(settlement__is_current=True).aggregate(s=Sum("amount"))["s"]
    stored_self = Settlement.objects.filter(is_current=True).aggregate(s=Sum("self_pay"))["s"]
    pure_paid = engine.format_cents(sum(sum(s.payout_cents) for s in results))
    pure_self = engine.format_cents(sum(s.self_pay_cents for s in results))
    settled = Settlement.objects.count()
    lines = SettlementLine.objects.count()
    chunks, sim_chunks = run.chunks.count(), sim.chunks.count()
    first_chunk = run.chunks.order_by("finished_at").values_list("finished_at", flat=True).first()
    in_worker = (run.finished_at - run.created_at).total_seconds()
    if not args.keep:
        drop_database(url)

    n = len(encounters)
    print(f"# settlement through PostgreSQL and Celery — {datetime.date.today()} — {machine()}")
    print(
        f"input: {n:,} encounters of {len(set(e['member'] for e in encounters_raw)):,} patients "
        f"({len(members_raw):,} members); stored with COPY in {t_load:.1f} s"
    )
    print(
        f"(a) pure engine settle():        {t_engine:.3f} s  ({n / t_engine:,.0f} encounters/s; runs "
        + ", ".join(f"{t:.3f}" for t in times)
        + ")"
    )
    print(
        f"(b) settle_year run, 1 worker, {args.concurrency} process{'es' if args.concurrency > 1 else ''}: {t_batch:.3f} s  ({n / t_batch:,.0f} encounters/s)  "
        f"ratio {t_batch / t_engine:.2f} (target ≤ {TARGET_BATCH})  — {chunks} chunks, "
        f"{settled:,} settlements, {lines:,} lines; {in_worker:.3f} s from the run's creation to its end, "
        f"first chunk done after {(first_chunk - run.created_at).total_seconds():.3f} s"
    )
    print(
        f"(c) simulation run, same worker: {t_simulate:.3f} s  ({n / t_simulate:,.0f} encounters/s)  "
        f"ratio {t_simulate / t_engine:.2f} (target ≤ {TARGET_SIMULATE})  — {sim_chunks} chunks"
    )
    print(
        f"check: funds pay {stored_paid} stored vs {pure_paid} engine; self-pay {stored_self} vs {pure_self}; "
        f"run result settled={run.result['settled']}, problems={run.result['problems']}"
    )
    if str(stored_paid) != pure_paid or str(stored_self) != pure_self or settled != n:
        sys.exit("MISMATCH between the stored settlements and the pure engine")


if __name__ == "__main__":
    main()
