"""Throughput of the pure settlement engine on a synthetic county year.

Run from the project root:  .venv/bin/python benchmarks/bench_engine.py [--encounters N]
No Django involved. Target (issue requirement): ≥ 100,000 encounters/s on one core.

``generate_county_year`` is reusable by other benchmarks (Celery path, simulations): it returns
``(members_raw, encounters_raw)`` in the claims JSON shape, deterministic for a given seed.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from settlement.engine import compile_policy, parse_encounters, parse_members, settle  # noqa: E402

DEMO_POLICY = ROOT / "fixtures" / "policies" / "demo-county-2025.json"
TARGET_PER_SECOND = 100_000

# (value, weight) mixes, roughly what the county reports describe: a quarter of members are
# registered poor, most encounters are outpatient and local, stays go up the hierarchy.
_POVERTY = [("poor", 25), ("monitored", 10), ("lifted", 35), ("none", 30)]
_AID = [("none", 76), ("dibao", 15), ("dibao_edge", 5), ("tekun", 3), ("orphan", 1)]
_KIND = [("outpatient", 45), ("outpatient_chronic", 30), ("inpatient", 25)]
_LEVEL_BY_KIND = {
    "outpatient": [("village", 50), ("township", 40), ("county", 10)],
    "outpatient_chronic": [("township", 50), ("county", 40), ("city", 10)],
    "inpatient": [("township", 30), ("county", 40), ("city", 18), ("province", 9), ("out_of_province", 3)],
}
# Median cost (yuan) and spread (lognormal sigma) per kind.
_COST = {"outpatient": (120, 0.8), "outpatient_chronic": (350, 0.7), "inpatient": (9000, 1.0)}
_DISEASES = [
    "I10",
    "E11.9",
    "J18.9",
    "I21.0",
    "I63.9",
    "C16.9",
    "C34.1",
    "N18.5",
    "F20.0",
    "K35.8",
    "O80",
    "M17.1",
    "J44.1",
    "I50.0",
    "K74.6",
]


def _pick(rng, mix):
    values, weights = zip(*mix)
    return rng.choices(values, weights)[0]


def generate_county_year(n_encounters=100_000, n_members=30_000, seed=20250101, year=2025):
    """A deterministic synthetic county year: (members_raw, encounters_raw), claims JSON shape.

    Amounts are strings with two decimals; a few encounters are non-designated, unreferred or
    single-disease packages; some members visit many times, most a few.
    """
    rng = random.Random(seed)
    members = {}
    for m in range(n_members):
        members[f"M{m:06d}"] = {"poverty_status": _pick(rng, _POVERTY), "aid_category": _pick(rng, _AID)}
    keys = list(members)
    # Skewed visit frequency: the chronically ill come back often.
    weights = [rng.paretovariate(1.5) for _ in keys]
    chosen = rng.choices(keys, weights, k=n_encounters)
    start = datetime.date(year, 1, 1).toordinal()
    days = datetime.date(year, 12, 31).toordinal() - start + 1
    encounters = []
    for i, member in enumerate(chosen):
        kind = _pick(rng, _KIND)
        level = _pick(rng, _LEVEL_BY_KIND[kind])
        median, sigma = _COST[kind]
        total = max(1.0, rng.lognormvariate(0, sigma) * median)
        total_cents = int(round(total * 100))
        in_share = 1.0 if rng.random() < 0.4 else rng.uniform(0.7, 1.0)
        in_cents = int(total_cents * in_share)
        enc = {
            "ref": f"E{i:07d}",
            "member": member,
            "date": datetime.date.fromordinal(start + rng.randrange(days)).isoformat(),
            "kind": kind,
            "level": level,
            "total_cost": f"{total_cents // 100}.{total_cents % 100:02d}",
            "in_policy_cost": f"{in_cents // 100}.{in_cents % 100:02d}",
        }
        if rng.random() < 0.03:
            enc["designated"] = False
        if level in ("city", "province", "out_of_province") and rng.random() < 0.1:
            enc["referred"] = False
        if kind != "outpatient" or rng.random() < 0.3:
            enc["disease_code"] = rng.choice(_DISEASES)
        if kind == "inpatient" and rng.random() < 0.03:
            enc["package"] = rng.choice(["K35", "O80"])
        encounters.append(enc)
    return members, encounters


def _pin_one_core():
    try:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        return True
    except (AttributeError, OSError):
        return False


def _loop_seconds():
    """A yardstick of the core's speed today, printed beside the engine's figure."""
    start, total = time.perf_counter(), 0
    for i in range(10_000_000):
        total += i
    return time.perf_counter() - start


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--encounters", type=int, default=100_000)
    ap.add_argument("--members", type=int, default=30_000)
    ap.add_argument("--seed", type=int, default=20250101)
    ap.add_argument("--repeat", type=int, default=3, help="settle() runs; best is reported")
    args = ap.parse_args(argv)

    pinned = _pin_one_core()
    doc = json.loads(DEMO_POLICY.read_text(encoding="utf-8"))
    t0 = time.perf_counter()
    members_raw, encounters_raw = generate_county_year(args.encounters, args.members, args.seed)
    t_gen = time.perf_counter() - t0

    t0 = time.perf_counter()
    policy = compile_policy(doc)
    t_compile = time.perf_counter() - t0
    t0 = time.perf_counter()
    members = parse_members(members_raw)
    encounters = parse_encounters(encounters_raw)
    t_parse = time.perf_counter() - t0

    times = []
    for _ in range(max(1, args.repeat)):
        t0 = time.perf_counter()
        results = settle(policy, members, encounters)
        times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    rendered = [s.as_dict() for s in results]
    t_render = time.perf_counter() - t0

    n = len(encounters)
    best, first = min(times), times[0]
    rate = n / best
    paid = sum(sum(s.payout_cents) for s in results) / 100
    total = sum(s.total_cost_cents for s in results) / 100
    print(f"date            {datetime.datetime.now().isoformat(timespec='seconds')}")
    print(
        f"python          {platform.python_version()} on {platform.machine()}, "
        f"{'pinned to one core' if pinned else 'not pinned'}"
    )
    print(
        f"machine speed   {_loop_seconds():.2f} s for a 10,000,000-step Python loop (this VM's speed "
        f"varies from day to day: compare engine figures taken with similar loop times)"
    )
    print(
        f"input           {n:,} encounters, {len(members):,} members (seed {args.seed}), "
        f"generated in {t_gen:.2f} s"
    )
    print(f"compile policy  {t_compile * 1e3:.2f} ms")
    print(f"parse claims    {t_parse:.3f} s  ({n / t_parse:,.0f} encounters/s)")
    print(
        f"settle()        best {best:.3f} s, first {first:.3f} s  (runs: "
        + ", ".join(f"{t:.3f}" for t in times)
        + ")"
    )
    print(f"as_dict()       {t_render:.3f} s  ({n / t_render:,.0f} encounters/s)")
    print(f"funds pay       {paid:,.2f} of {total:,.2f} yuan ({paid / total:.1%}); {len(rendered):,} outputs")
    print(
        f"THROUGHPUT      {rate:,.0f} encounters/s = {rate / TARGET_PER_SECOND:.2f} × target "
        f"({TARGET_PER_SECOND:,}/s) {'OK' if rate >= TARGET_PER_SECOND else 'BELOW TARGET'}"
    )
    return 0 if rate >= TARGET_PER_SECOND else 1


if __name__ == "__main__":
    sys.exit(main())
