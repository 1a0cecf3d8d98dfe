"""Two county staff draft the same fund's batch at the same moment (PostgreSQL): the second
draft waits on the partial unique index for the first's lines and is refused, so no source is
in two batches. Sequenced by the database, not by time: the first transaction commits only
once the second is seen waiting for a lock."""

import threading
import time

import pytest
from django.db import connection, connections, transaction

from payments import services
from payments.models import PaymentBatch, PaymentLine

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks of PostgreSQL")


def _someone_waits_for_a_lock(timeout=60) -> None:
    deadline = time.monotonic() + timeout
    with connections["default"].cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.05)
    raise AssertionError("the second draft never waited for the first")


def test_two_drafts_at_once_one_is_refused(transactional_db, world):
    outcome = {}
    release = threading.Event()

    def first():
        try:
            with transaction.atomic():
                outcome["first"] = services.batch_draft(
                    user=world["drafter"], fund=world["fund"], year=2025, month=2
                )
                release.wait(60)
        finally:
            connections["default"].close()

    def second():
        try:
            outcome["second"] = services.batch_draft(
                user=world["checker"], fund=world["fund"], year=2025, month=2
            )
        except services.PaymentsError as exc:
            outcome["second"] = exc
        finally:
            connections["default"].close()

    a = threading.Thread(target=first)
    a.start()
    while "first" not in outcome and a.is_alive():
        time.sleep(0.02)
    b = threading.Thread(target=second)
    b.start()
    _someone_waits_for_a_lock()
    release.set()
    a.join(60)
    b.join(60)
    assert isinstance(outcome["second"], services.PaymentsError) and outcome["second"].code == "conflict"
    assert PaymentBatch.objects.count() == 1
    assert PaymentLine.objects.count() == outcome["first"].lines.count() == 3
