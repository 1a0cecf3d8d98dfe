"""Chunk leases and the sweeper (``settlement_run_recover``, ``manage.py recover_runs``): what
a killed worker left is queued again once its lease ran out, and only that."""

import datetime
import io

from django.core.management import call_command
from django.utils import timezone

from settlement import services
from settlement.models import SettlementRun
from tests.settlement_world import stored_outputs


def _lease(settings):
    return datetime.timedelta(seconds=settings.SETTLEMENT_CHUNK_LEASE_SECONDS)


def test_chunks_are_queued_again_only_once_their_lease_ran_out(golden_world, policies, county_user, settings):
    settings.SETTLEMENT_CHUNK_MEMBERS = 2
    run = services.settlement_run_start(user=county_user, kind="settle_year", year=2025, enqueue=False)
    pending = services.settlement_run_begin(run_id=run.pk)
    assert pending == [0, 1, 2, 3]
    now = timezone.now()
    # Freshly queued: leased, nothing to recover.
    assert services.settlement_run_recover(now=now) == ([], [])
    # One chunk done by a worker, the others' messages lost (the worker was killed).
    assert services.settlement_run_chunk(run_id=run.pk, index=0, task_id="t0") is True
    later = now + _lease(settings) + datetime.timedelta(seconds=1)
    assert services.settlement_run_recover(now=later) == ([], [(run.pk, 1), (run.pk, 2), (run.pk, 3)])
    # Leased again by the sweep: the next sweep leaves them alone...
    assert services.settlement_run_recover(now=later) == ([], [])
    chunk = run.chunks.get(index=1)
    assert chunk.requeued == 1 and chunk.lease_owner == "" and chunk.leased_until > later
    # ...until that lease runs out too.
    much_later = later + _lease(settings) + datetime.timedelta(seconds=1)
    assert services.settlement_run_recover(now=much_later)[1] == [(run.pk, 1), (run.pk, 2), (run.pk, 3)]
    for index in (1, 2, 3):
        assert services.settlement_run_chunk(run_id=run.pk, index=index, task_id=f"t{index}") is True
    run.refresh_from_db()
    assert run.status == "done" and run.done == run.total == 6
    done = run.chunks.get(index=1)
    assert done.leased_until is None and done.attempts == 1 and "t1" in done.lease_owner
    # A re-queued chunk that had in fact been done is skipped; a done run has nothing to recover.
    assert services.settlement_run_chunk(run_id=run.pk, index=1, task_id="again") is False
    assert services.settlement_run_recover(now=much_later + _lease(settings) * 2) == ([], [])


def test_recover_runs_finishes_a_run_whose_tasks_were_lost(
    golden_world, policies, county_user, golden, settings
):
    """Eager Celery (no Redis): the command queues, and so runs, what was stalled."""
    settings.SETTLEMENT_CHUNK_MEMBERS = 2
    settings.SETTLEMENT_CHUNK_LEASE_SECONDS = 0
    # A run whose start task was lost: still queued.
    lost = services.settlement_run_start(user=county_user, kind="settle_year", year=2025, enqueue=False)
    out = io.StringIO()
    call_command("recover_runs", stdout=out)
    assert "批量任务启动 1 个" in out.getvalue()
    lost.refresh_from_db()
    assert lost.status == "done" and lost.done == lost.total == 6
    expected = {case["ref"]: case for case in golden.expected if case["ref"] != "F-3"}
    assert stored_outputs() == expected
    # A run split into chunks whose messages were lost.
    run = services.settlement_run_start(user=county_user, kind="resettle_year", year=2025, enqueue=False)
    services.settlement_run_begin(run_id=run.pk)
    out = io.StringIO()
    call_command("recover_runs", stdout=out)
    assert "分片 4 个" in out.getvalue()
    run.refresh_from_db()
    assert run.status == "done" and run.result["unchanged"] == 14 and run.result["settled"] == 0
    assert stored_outputs() == expected
    out = io.StringIO()
    call_command("recover_runs", stdout=out)
    assert "批量任务启动 0 个，分片 0 个" in out.getvalue()
    assert SettlementRun.objects.filter(status="done").count() == 2
