"""Settlement through real Celery workers on Redis and PostgreSQL (CI runs these): the same
member-year queued many times at once, a county batch, and a batch whose worker is killed."""

import copy
import io
import time
from decimal import Decimal

import psycopg2
import pytest
from django.core.management import call_command
from django.db import connection

from benchmarks.bench_engine import generate_county_year
from settlement import engine, services, tasks
from settlement.models import Settlement, SettlementLine, SettlementRun
from settlement.synthetic import store_county_year
from tests.settlement_world import POLICY_FILE, load, stored_outputs
from tests.workers import kill_worker, require_worker_environment, start_worker, stop_worker

pytestmark = pytest.mark.integration


def _wait_for_run(run_id, timeout=180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = SettlementRun.objects.get(pk=run_id)
        if run.status in ("done", "failed"):
            return run
        time.sleep(0.2)
    run = SettlementRun.objects.get(pk=run_id)
    undone = list(run.chunks.filter(done=False).values_list("index", "attempts", "lease_owner"))
    pytest.fail(f"run {run_id} still {run.status} ({run.done}/{run.total}) after {timeout} s: {undone}")


def _one_current_per_encounter():
    from django.db.models import Count

    return (
        not Settlement.objects.filter(is_current=True)
        .values("encounter_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .exists()
    )


def test_the_same_member_year_queued_twenty_times(
    celery_worker_process, golden_world, policies, golden, county_user
):
    a = golden_world.members["A"]
    results = [tasks.settle_member_year_task.delay(a.pk, 2025) for _ in range(20)]
    outcomes = [r.get(timeout=120) for r in results]
    assert sum(o["settled"] for o in outcomes) == 3, outcomes[:2]  # settled once, by one of the twenty
    assert sum(o["unchanged"] for o in outcomes) == 19 * 3
    assert Settlement.objects.count() == 3 and _one_current_per_encounter()
    expected = {case["ref"]: case for case in golden.expected if case["ref"].startswith("A-")}
    assert stored_outputs() == expected

    # A correction, then twenty re-settlements at once: superseded exactly once each.
    from claims import services as claims_services

    a2 = golden_world.encounters["A-2"]
    claims_services.encounter_correct(
        user=county_user,
        encounter=a2,
        version=a2.version,
        reason="更正",
        changes={"total_cost": Decimal("52000.00"), "in_policy_cost": Decimal("47000.00")},
    )
    results = [tasks.settle_member_year_task.delay(a.pk, 2025) for _ in range(20)]
    outcomes = [r.get(timeout=120) for r in results]
    deadline = time.monotonic() + 30  # the two queued by the correction itself
    while Settlement.objects.count() < 5 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert Settlement.objects.count() == 5 and _one_current_per_encounter()  # A-2-R1 and the new A-3
    assert Settlement.objects.filter(is_current=False).count() == 2
    claims = copy.deepcopy(golden.claims)
    claims["encounters"][1].update(ref="A-2-R1", total_cost="52000.00", in_policy_cost="47000.00")
    claims["encounters"] = claims["encounters"][:3]
    claims["members"] = {"A": claims["members"]["A"]}
    assert stored_outputs() == {s["ref"]: s for s in engine.settle_claims(load(POLICY_FILE), claims)}
    paid = sum(line.amount for line in SettlementLine.objects.filter(settlement__is_current=True))
    assert paid == sum(Decimal(v) for s in stored_outputs().values() for v in s["payouts"].values())


@pytest.fixture
def county_year(transactional_db, county_user):
    """A synthetic county year (3,000 encounters of 800 people) and the demo policy, active."""
    require_worker_environment()
    members_raw, encounters_raw = generate_county_year(3000, 800, seed=7)
    engine_members, _ = store_county_year(members_raw, encounters_raw, user=county_user)
    policy = services.policy_import(user=county_user, document=load(POLICY_FILE))
    services.policy_activate(user=county_user, policy=policy, resettle=False)
    pure = {
        s["ref"]: s
        for s in engine.settle_claims(
            load(POLICY_FILE), {"members": engine_members, "encounters": encounters_raw}
        )
    }
    pure["_patients"] = len({e["member"] for e in encounters_raw})
    return pure


def _check_against_the_engine(run, pure):
    pure = {ref: out for ref, out in pure.items() if ref != "_patients"}
    assert run.status == "done", run.error
    assert run.result["settled"] == len(pure) and run.result["problems"] == 0
    assert Settlement.objects.count() == len(pure) and _one_current_per_encounter()
    assert stored_outputs() == pure


def test_a_county_batch_through_the_worker_equals_the_pure_engine(county_year, county_user):
    worker = start_worker(env={"SETTLEMENT_CHUNK_MEMBERS": "100", "SETTLEMENT_WORKER_PROCESSES": "1"})
    try:
        run = services.settlement_run_start(user=county_user, kind="settle_year", year=2025)
        run = _wait_for_run(run.pk)
        patients = county_year["_patients"]
        assert run.chunks.count() == -(-patients // 100) and run.done == run.total == patients
        _check_against_the_engine(run, county_year)
        # The same again: nothing changes.
        again = _wait_for_run(
            services.settlement_run_start(user=county_user, kind="resettle_year", year=2025).pk
        )
        assert again.result["unchanged"] == len(county_year) - 1 and again.result["resettled"] == 0
        assert Settlement.objects.count() == len(county_year) - 1
    finally:
        stop_worker(worker)


def test_a_worker_killed_mid_batch_a_new_one_finishes_it(county_year, county_user):
    """Two chunks are held (the test takes the advisory lock of a member in each) so both pool
    processes are stuck inside a chunk while the rest of the run is queued; the worker is then
    SIGKILLed. A new worker gets the queued chunks, and — acks_late, once Redis's visibility
    timeout (lowered here) has passed — the two that were in flight."""
    env = {"SETTLEMENT_CHUNK_MEMBERS": "50", "CELERY_VISIBILITY_TIMEOUT": "5", "CELERY_RESTORE_INTERVAL": "1"}
    settings_dict = connection.settings_dict
    blocker = psycopg2.connect(
        dbname=settings_dict["NAME"],
        user=settings_dict["USER"],
        password=settings_dict["PASSWORD"] or None,
        host=settings_dict["HOST"] or "127.0.0.1",
        port=settings_dict["PORT"] or 5432,
    )
    blocker.autocommit = True
    from settlement import selectors

    members = selectors.member_ids_to_settle(2025)
    held = [members[2 * 50 + 10], members[5 * 50 + 10]]  # inside chunks 2 and 5
    with blocker.cursor() as cursor:
        for member_id in held:
            cursor.execute("SELECT pg_advisory_lock(%s, 2025)", [member_id])
    worker = start_worker(env=env)
    try:
        run = services.settlement_run_start(user=county_user, kind="settle_year", year=2025)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            run.refresh_from_db()
            stuck = run.chunks.filter(done=False).count()
            if run.status == "running" and run.done > 0 and _blocked_backends(blocker) == 2:
                break
            time.sleep(0.1)
        else:
            pytest.fail("the run never reached the held chunks")
        kill_worker(worker)
        assert run.status == "running" and stuck >= 2
    finally:
        with blocker.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock_all()")
        blocker.close()
    done_before = SettlementRun.objects.get(pk=run.pk).done
    assert done_before < county_year["_patients"]
    worker = start_worker(env=env, purge=False)  # keep the queued chunks
    try:
        run = _wait_for_run(run.pk, timeout=240)
    finally:
        stop_worker(worker)
    assert run.done == run.total == county_year["_patients"]
    _check_against_the_engine(run, county_year)
    assert SettlementLine.objects.filter(settlement__is_current=False).count() == 0


def _wait_until_idle(timeout=180):
    """Until the broker's queue is empty and no worker runs a task."""
    from healthaid.celery import app

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with app.connection_for_read() as conn:
            queued = conn.default_channel.client.llen("celery")
        active = app.control.inspect(timeout=1).active() or {}
        if not queued and not any(active.values()):
            return
        time.sleep(0.5)
    pytest.fail(f"the worker was still busy after {timeout} s")


def _blocked_backends(conn):
    """How many database sessions wait for an advisory lock."""
    with conn.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
        return cursor.fetchone()[0]


def test_a_killed_worker_s_chunks_are_requeued_by_the_sweeper_not_after_an_hour(
    county_year, county_user, settings
):
    """As above, but Redis keeps its visibility timeout of an hour, so the two chunks in flight
    when the worker was SIGKILLed never come back by themselves: the new worker finishes the
    queued chunks and the run stalls (93 % in the issue). The sweeper (``recover_runs``, run
    here by hand as beat would every minute; leases shortened to 2 s) finds the two chunks
    not done, their lease run out and their rows held by no one, and queues them again."""
    settings.SETTLEMENT_CHUNK_LEASE_SECONDS = 2  # the sweeper runs in this process
    env = {
        "SETTLEMENT_CHUNK_MEMBERS": "50",
        "SETTLEMENT_CHUNK_LEASE_SECONDS": "2",
        "CELERY_VISIBILITY_TIMEOUT": "3600",
    }
    settings_dict = connection.settings_dict
    blocker = psycopg2.connect(
        dbname=settings_dict["NAME"],
        user=settings_dict["USER"],
        password=settings_dict["PASSWORD"] or None,
        host=settings_dict["HOST"] or "127.0.0.1",
        port=settings_dict["PORT"] or 5432,
    )
    blocker.autocommit = True
    from settlement import selectors

    members = selectors.member_ids_to_settle(2025)
    held = [members[2 * 50 + 10], members[5 * 50 + 10]]  # inside chunks 2 and 5
    with blocker.cursor() as cursor:
        for member_id in held:
            cursor.execute("SELECT pg_advisory_lock(%s, 2025)", [member_id])
    worker = start_worker(env=env)
    try:
        run = services.settlement_run_start(user=county_user, kind="settle_year", year=2025)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            run.refresh_from_db()
            if run.status == "running" and run.done > 0 and _blocked_backends(blocker) == 2:
                break
            time.sleep(0.1)
        else:
            pytest.fail("the run never reached the held chunks")
        kill_worker(worker)
    finally:
        with blocker.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock_all()")
        blocker.close()
    worker = start_worker(env=env, purge=False)  # keep the queued chunks
    try:
        # The new worker takes every queued chunk; those the killed worker had taken (the two
        # in flight, and any it had prefetched) stay undone: their messages wait for the
        # hour-long visibility timeout.
        _wait_until_idle()
        undone = set(run.chunks.filter(done=False).values_list("index", flat=True))
        assert {2, 5} <= undone
        assert SettlementRun.objects.get(pk=run.pk).status == "running"
        # The sweeper, as beat runs it (here every half second until the run is done).
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            call_command("recover_runs", stdout=io.StringIO())
            run = SettlementRun.objects.get(pk=run.pk)
            if run.status in ("done", "failed"):
                break
            time.sleep(0.5)
        else:
            pytest.fail("the sweeper did not bring the run to its end")
    finally:
        stop_worker(worker)
    assert run.done == run.total == county_year["_patients"]
    _check_against_the_engine(run, county_year)
    assert SettlementLine.objects.filter(settlement__is_current=False).count() == 0
    assert {c.index for c in run.chunks.filter(requeued__gt=0)} >= {2, 5}
    assert all(c.done and c.leased_until is None for c in run.chunks.all())
