"""The same stay sent many times at once, against a live server on PostgreSQL with a real
Celery worker (CI runs these): duplicates are serialised by the database, so one encounter and
one current settlement come out, and a reference raced for never answers 500."""

import threading
import time
from decimal import Decimal

import pytest
import requests

from claims.models import Encounter
from claims.services import DUPLICATE_REF_TOWNSHIP
from settlement import services as settlement_services
from settlement.models import Settlement
from tests.factories import HouseholdFactory, InstitutionFactory, MemberFactory, make_user
from tests.settlement_world import POLICY_FILE, load
from tests.workers import require_worker_environment

pytestmark = pytest.mark.integration

API = "/api/v1/claims/encounters/"
PASSWORD = "race-pass-123"


@pytest.fixture
def race(areas, county_user, celery_worker_process, live_server):
    require_worker_environment()
    policy = settlement_services.policy_import(user=county_user, document=load(POLICY_FILE))
    settlement_services.policy_activate(user=county_user, policy=policy, resettle=False)
    clinic = make_user("race-clinic", "township", township=areas["east"], password=PASSWORD)
    household = HouseholdFactory(village=areas["east_village"], number="R001")
    members = [
        MemberFactory(household=household, name=f"患者{i}", relation="head" if i == 0 else "other")
        for i in range(10)
    ]
    hospital = InstitutionFactory(name="县人民医院", level="county")
    return clinic, members, hospital, live_server.url


def _stay(member, hospital, **overrides):
    data = {
        "member": member.pk,
        "institution": hospital.pk,
        "kind": "inpatient",
        "admission_date": "2025-05-01",
        "discharge_date": "2025-05-09",
        "total_cost": "28937.28",
        "in_policy_cost": "25000.00",
        "diagnosis_code": "I63.9",
    }
    data.update(overrides)
    return data


def _at_once(url, user, bodies, headers=None):
    """POST every body at the same moment, one thread each; the responses in order."""
    barrier = threading.Barrier(len(bodies))
    responses = [None] * len(bodies)

    def send(i):
        session = requests.Session()
        session.auth = (user.username, PASSWORD)
        barrier.wait()
        responses[i] = session.post(url + API, json=bodies[i], headers=headers or {}, timeout=120)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return responses


def _settled(encounter, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if Settlement.objects.filter(encounter=encounter, is_current=True).exists():
            return
        time.sleep(0.2)
    pytest.fail(f"{encounter.ref} was not settled by the worker within {timeout} s")


def test_ten_identical_stays_at_once_give_one_encounter_and_one_settlement(race):
    clinic, members, hospital, url = race
    member = members[0]
    responses = _at_once(url, clinic, [_stay(member, hospital)] * 10)
    codes = sorted(r.status_code for r in responses)
    assert codes == [201] + [409] * 9, [r.text[:200] for r in responses]
    assert all("疑似重复录入" in r.json()["detail"] for r in responses if r.status_code == 409)
    encounter = Encounter.objects.get(member=member)
    assert encounter.total_cost == Decimal("28937.28")
    _settled(encounter)
    assert Settlement.objects.filter(encounter__member=member, is_current=True).count() == 1


def test_ten_retries_with_one_idempotency_key_replay_the_first(race):
    clinic, members, hospital, url = race
    member = members[1]
    responses = _at_once(url, clinic, [_stay(member, hospital)] * 10, headers={"Idempotency-Key": "stay-1"})
    assert [r.status_code for r in responses] == [201] * 10, [r.text[:200] for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 9
    encounter = Encounter.objects.get(member=member)
    _settled(encounter)
    assert Settlement.objects.filter(encounter__member=member, is_current=True).count() == 1


def test_one_reference_sent_for_ten_patients_at_once_never_answers_500(race):
    clinic, members, hospital, url = race
    bodies = [
        _stay(m, hospital, ref="ZY-RACE-1", total_cost=f"{1000 + i}.00", in_policy_cost="900.00")
        for i, m in enumerate(members)
    ]
    responses = _at_once(url, clinic, bodies)
    codes = sorted(r.status_code for r in responses)
    assert codes == [201] + [400] * 9, [r.text[:200] for r in responses]
    # A clinic is told the reference cannot be used, not whether it exists (no oracle).
    assert all(r.json()["ref"][0] == DUPLICATE_REF_TOWNSHIP for r in responses if r.status_code == 400)
    assert Encounter.objects.filter(ref="ZY-RACE-1").count() == 1
