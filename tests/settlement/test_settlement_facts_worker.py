"""Dated facts through a real Celery worker on Redis and PostgreSQL: a county batch settles on
the facts of the day of care, and a later 脱贫 re-settles only the stays after its date."""

import datetime
import time

import pytest

from registry import fact_services
from settlement import services, tasks
from settlement.models import Settlement, SettlementRun
from tests.settlement.test_settlement_facts import _current, _record_history
from tests.settlement_world import stored_outputs

pytestmark = pytest.mark.integration


def _wait_for_run(run_id, timeout=180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = SettlementRun.objects.get(pk=run_id)
        if run.status in ("done", "failed"):
            return run
        time.sleep(0.2)
    pytest.fail(f"run {run_id} not finished after {timeout} s")


def test_batch_on_dated_facts_then_a_later_change(
    celery_worker_process, facts_world, policies, county_user, facts_golden
):
    _record_history(county_user, facts_world.members)
    run = services.settlement_run_start(user=county_user, kind=SettlementRun.Kind.SETTLE_YEAR, year=2025)
    run = _wait_for_run(run.pk)
    assert run.status == "done", run.error
    assert stored_outputs() == facts_golden.expected
    before = _current()

    # L is lifted out of monitoring on 1 December: F-1…F-4 are all before it.
    el = facts_world.members["L"]
    fact_services.household_status_change(
        user=county_user,
        household=el.household,
        poverty_status="lifted",
        effective_from=datetime.date(2025, 12, 1),
        reason="解除监测",
    )
    # What settlement's outbox handler queues for the change: L's member-years from that day.
    outcome = tasks.settle_member_year_task.delay(el.pk, 2025).get(timeout=120)
    assert outcome["unchanged"] == 4 and outcome["resettled"] == 0
    assert _current() == before and Settlement.objects.count() == 7
