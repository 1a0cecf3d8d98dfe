"""Bulk automatic review speed (issue 14): ``claims.review.review_year`` over a county year.

Loads the synthetic county year of the settlement benchmark (``bench_engine.generate_county_year``:
100,000 encounters of ~30,000 people) into a fresh PostgreSQL database, then measures on the
same encounters:
  (a) the pure engine, ``settle()`` only (best of three), as in bench_settlement;
  (b) ``review_year(year=2025)``: load the year's encounters (and items) from PostgreSQL, run
      every enabled rule over them, write the flags (COPY) — the first run, which writes them all;
  (c) the same again: nothing changed, nothing written (load, review, compare).
Target: (b)/(a) ≤ 2. ``--profile`` prints the top of a cProfile of (b) instead of timing it
twice (the machine is shared: profile, don't re-run).

    .venv/bin/python benchmarks/bench_review.py [--encounters N] [--members N] [--profile] [--keep]

Needs PostgreSQL (BENCH_DATABASE_URL or DATABASE_URL, default postgres://postgres@127.0.0.1).
The database ``healthaid_bench_review`` is created afresh and dropped at the end unless ``--keep``.
"""

import argparse
import cProfile
import datetime
import io
import json
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _db import drop_database, machine, use_fresh_database  # noqa: E402
from bench_engine import DEMO_POLICY  # noqa: E402
from bench_settlement import load_county_year  # noqa: E402

DATABASE = "healthaid_bench_review"
TARGET = 2.0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--encounters", type=int, default=100_000)
    parser.add_argument("--members", type=int, default=30_000)
    parser.add_argument("--profile", action="store_true", help="print a cProfile of (b)")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args()

    url = use_fresh_database(DATABASE)
    from claims import review
    from claims.models import ReviewFlag
    from settlement import engine

    _, members_raw, encounters_raw, engine_members, t_load = load_county_year(args.encounters, args.members)

    # (a) the pure engine on the same encounters.
    document = json.loads(DEMO_POLICY.read_text(encoding="utf-8"))
    compiled = engine.compile_policy(document)
    members = engine.parse_members(engine_members)
    encounters = engine.parse_encounters(encounters_raw)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        engine.settle(compiled, members, encounters)
        times.append(time.perf_counter() - t0)
    t_engine = min(times)

    # (b) the first bulk review (writes every flag).
    profile = cProfile.Profile() if args.profile else None
    t0 = time.perf_counter()
    if profile:
        profile.enable()
    first = review.review_year(year=2025)
    if profile:
        profile.disable()
    t_review = time.perf_counter() - t0
    # (c) again: nothing to write.
    t0 = time.perf_counter()
    second = review.review_year(year=2025)
    t_again = time.perf_counter() - t0
    stored = ReviewFlag.objects.count()
    if not args.keep:
        drop_database(url)

    n = len(encounters)
    print(f"# bulk automatic review through PostgreSQL — {datetime.date.today()} — {machine()}")
    print(f"input: {n:,} encounters ({len(members_raw):,} members); stored with COPY in {t_load:.1f} s")
    print(
        f"(a) pure engine settle():     {t_engine:.3f} s  (runs " + ", ".join(f"{t:.3f}" for t in times) + ")"
    )
    print(
        f"(b) review_year, first run:   {t_review:.3f} s  ({n / t_review:,.0f} encounters/s)  "
        f"ratio {t_review / t_engine:.2f} (target ≤ {TARGET})  — {first.flagged:,} encounters flagged, "
        f"{first.flags:,} flags {dict(sorted(first.by_rule.items()))}"
        + ("  [under cProfile: slower than plain]" if profile else "")
    )
    print(
        f"(c) review_year, unchanged:   {t_again:.3f} s  ratio {t_again / t_engine:.2f}  — "
        f"{second.changed} encounters rewritten"
    )
    if profile:
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(25)
        print(out.getvalue())
    if stored != first.flags or second.changed != 0 or first.encounters != n:
        sys.exit("MISMATCH: flags stored, rewritten on the second run, or encounters reviewed")
    if not profile and t_review / t_engine > TARGET:
        print(f"MISSED: ratio {t_review / t_engine:.2f} > {TARGET}")


if __name__ == "__main__":
    main()
