"""The outbox on the real database: recorded with the transaction, one pending entry per key,
handed to the topic's handler, kept with its error when the handler fails."""

import pytest
from django.db import transaction

from core import outbox
from core.models import OutboxEntry

TOPIC = "tests.outbox"


@pytest.fixture
def handled():
    seen = []
    failing = {"on": False}

    def handle(entries):
        if failing["on"]:
            raise RuntimeError("下游暂不可用")
        seen.extend(entry.key for entry in entries)

    outbox.register_handler(TOPIC, handle, batch_size=2)
    yield seen, failing
    outbox._HANDLERS.pop(TOPIC, None)


@pytest.mark.django_db(transaction=True)
def test_entries_roll_back_with_their_transaction(handled):
    with pytest.raises(RuntimeError), transaction.atomic():
        outbox.outbox_record(topic=TOPIC, key="a")
        raise RuntimeError("the change failed")
    assert not OutboxEntry.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_committed_entries_are_dispatched_once_per_key(handled):
    seen, _ = handled
    with transaction.atomic():
        for key in ["a", "b", "a", "c", "b"]:
            outbox.outbox_record(topic=TOPIC, key=key)
        assert OutboxEntry.objects.count() == 3
    # Celery is eager in tests: the commit kicked the dispatch.
    assert sorted(seen) == ["a", "b", "c"]
    assert outbox.pending(TOPIC).count() == 0
    assert outbox.outbox_dispatch(topic=TOPIC) == 0


@pytest.mark.django_db(transaction=True)
def test_a_failing_handler_leaves_entries_pending_with_the_error(handled):
    seen, failing = handled
    failing["on"] = True
    outbox.outbox_record(topic=TOPIC, key="a")
    entry = OutboxEntry.objects.get()
    assert entry.done_at is None and entry.attempts == 1 and "下游暂不可用" in entry.last_error
    # Once done, the same key can be recorded again as new work.
    failing["on"] = False
    assert outbox.outbox_dispatch(topic=TOPIC) == 1
    assert seen == ["a"]
    outbox.outbox_record(topic=TOPIC, key="a")
    assert seen == ["a", "a"] and OutboxEntry.objects.filter(key="a").count() == 2
