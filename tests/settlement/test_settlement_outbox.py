"""Settlement caused through the outbox (core/outbox.py): claims records the member-year in
the encounter's transaction, settlement's handler queues the settling.

Eager (no Redis): saving an encounter settles it by the time the request returns. With a
real worker and a broker that is down when the encounter is saved: the API still answers
201, the encounter reports 结算排队中 and its outbox entry waits; once the broker is back,
``settle_pending`` has it settled, once."""

import signal
import time
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from claims.events import MEMBER_YEAR_CHANGED
from core.models import OutboxEntry
from settlement.models import Settlement
from tests.faults.test_faults import own_redis  # noqa: F401  (fixture)
from tests.settlement_world import stored_outputs
from tests.workers import start_worker, stop_worker

NEW_STAY = {
    "kind": "inpatient",
    "admission_date": "2025-11-14",
    "discharge_date": "2025-11-20",  # after A's golden stays: theirs do not change
    "diagnosis_code": "I21.0",
    "total_cost": "8000.00",
    "in_policy_cost": "7000.00",
}


def _post_stay(client, user, world):
    client.force_login(user)
    a = world.members["A"]
    return client.post(
        "/api/v1/claims/encounters/",
        {"member": a.pk, "institution": world.encounters["A-2"].institution_id, **NEW_STAY},
        content_type="application/json",
    )


def _golden_a(golden):
    return {case["ref"]: case for case in golden.expected if case["ref"].startswith("A-")}


@pytest.mark.django_db(transaction=True)
def test_an_encounter_saved_through_the_api_is_settled_through_the_outbox(
    client, golden_world, policies, golden, county_user
):
    response = _post_stay(client, county_user, golden_world)
    assert response.status_code == 201, response.content
    data = response.json()
    # Eager Celery: the commit kicked the dispatch, the handler queued the member-year, settled.
    assert data["settlement_state"] == "已结算"
    assert not OutboxEntry.objects.filter(done_at__isnull=True).exists()
    assert OutboxEntry.objects.get(topic=MEMBER_YEAR_CHANGED).key == f"{golden_world.members['A'].pk}:2025"
    new = Settlement.objects.get(encounter_id=data["id"], is_current=True)
    assert new.total_cost == 8000
    stored = stored_outputs()
    assert {ref: stored[ref] for ref in _golden_a(golden)} == _golden_a(golden)


def _list_states(client, user):
    client.force_login(user)
    page = client.get(reverse("claims:encounter_list")).content.decode()
    return {state: page.count(f">{state}</span>") for state in ("已结算", "结算排队中", "待结算")}


def test_settle_pending_queues_what_the_outbox_holds(client, golden_world, policies, golden, county_user):
    from claims import events

    # Recorded in a transaction that never commits here (the test's): nothing kicked it.
    events.record_member_years_changed(pairs=[(golden_world.members["A"].pk, 2025)])
    assert not Settlement.objects.exists()
    # A's three stays wait in the outbox; the twelve others were never recorded.
    assert _list_states(client, county_user) == {"已结算": 0, "结算排队中": 3, "待结算": 12}
    out = StringIO()
    call_command("settle_pending", stdout=out)
    assert "2025年度：1 人排入结算" in out.getvalue() and "剩余 0 条" in out.getvalue()
    assert stored_outputs() == _golden_a(golden)
    assert _list_states(client, county_user) == {"已结算": 3, "结算排队中": 0, "待结算": 12}
    out = StringIO()
    call_command("settle_pending", stdout=out)
    assert "已处理 0 条待办事件" in out.getvalue()


@pytest.mark.integration
def test_with_the_broker_down_the_api_answers_and_settle_pending_settles_once_it_is_back(
    transactional_db,
    own_redis,  # noqa: F811  (the fixture imported above)
    client,
    golden_world,
    policies,
    golden,
    county_user,  # noqa: F811
):
    from healthaid.celery import app

    worker = start_worker(env={"REDIS_URL": own_redis.url})
    try:
        own_redis.stop(signal.SIGKILL)
        response = _post_stay(client, county_user, golden_world)
        assert response.status_code == 201, response.content
        data = response.json()
        assert data["settlement_state"] == "结算排队中"
        entry = OutboxEntry.objects.get(topic=MEMBER_YEAR_CHANGED)
        assert entry.done_at is None and entry.key == f"{golden_world.members['A'].pk}:2025"
        assert not Settlement.objects.exists()

        own_redis.start()
        deadline = time.monotonic() + 120
        while not app.control.ping(timeout=1):
            assert time.monotonic() < deadline, "the worker did not reconnect to the broker"
        out = StringIO()
        call_command("settle_pending", stdout=out)
        assert "2025年度：1 人排入结算" in out.getvalue(), out.getvalue()
        deadline = time.monotonic() + 120
        while Settlement.objects.filter(member=golden_world.members["A"]).count() < 4:
            assert time.monotonic() < deadline, "the pending member-year was not settled"
            time.sleep(0.2)
        entry.refresh_from_db()
        assert entry.done_at is not None
        # Once: another sweep finds nothing to queue, and every encounter of A has one
        # settlement (a duplicate task would find nothing to change: never a second row).
        call_command("settle_pending", stdout=StringIO())
        a_settlements = Settlement.objects.filter(member=golden_world.members["A"])
        assert a_settlements.count() == 4 and a_settlements.filter(is_current=True).count() == 4
        assert a_settlements.get(encounter_id=data["id"]).total_cost == 8000
        stored = stored_outputs()
        assert {ref: stored[ref] for ref in _golden_a(golden)} == _golden_a(golden)
        response = client.get(f"/api/v1/claims/encounters/{data['id']}/")
        assert response.json()["settlement_state"] == "已结算"
    finally:
        stop_worker(worker)
