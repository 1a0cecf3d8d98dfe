"""The outbox: how a change records, in its own transaction, the work it causes elsewhere.

Why: a lower app (registry, claims) must cause work in a higher one (settlement) without
importing it, and that work must survive a broker outage. So the lower app records a fact
(``outbox_record(topic=…, key=…)``) in the transaction that changes the data; the higher app
registers a handler for the topic (``register_handler`` in its ``AppConfig.ready``). After the
commit a dispatch task is queued; if the broker is down the request still succeeds and the
entry waits for the sweeper (beat every minute; ``manage.py outbox_dispatch`` by hand, or
``manage.py settle_pending`` for settlement's topics).

A handler receives a list of pending entries of its topic and must be idempotent: an entry
is marked done only after its handler returned, so a crash means it runs again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from .models import OutboxEntry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Handler:
    handle: Callable[[list[OutboxEntry]], None]
    batch_size: int


_HANDLERS: dict[str, _Handler] = {}


def register_handler(
    topic: str, handle: Callable[[list[OutboxEntry]], None], *, batch_size: int = 500
) -> None:
    """Called from an ``AppConfig.ready``: ``handle(entries)`` does (or queues) the work."""
    _HANDLERS[topic] = _Handler(handle, batch_size)


def topics() -> list[str]:
    return sorted(_HANDLERS)


class _Kick:
    """The topics one transaction recorded, kicked once when it commits."""

    def __init__(self):
        self.topics: set[str] = set()
        self.ran = False  # (tests' captured callbacks stay in run_on_commit after running)

    def __call__(self):
        self.ran = True
        for topic in sorted(self.topics):
            kick(topic)


def outbox_record(*, topic: str, key: str, payload: dict | None = None) -> None:
    """Record work owed, inside the caller's transaction (one pending entry per topic and key)."""
    outbox_record_many(topic=topic, entries=[(key, payload)])


def outbox_record_many(*, topic: str, entries: Iterable[tuple[str, dict | None]]) -> None:
    rows = [OutboxEntry(topic=topic, key=key, payload=payload or {}) for key, payload in entries]
    if not rows:
        return
    # A pending entry of the same key stands for this one (partial unique index).
    OutboxEntry.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
    connection = transaction.get_connection()
    if connection.in_atomic_block:
        for _, callback, _ in connection.run_on_commit:
            if isinstance(callback, _Kick) and not callback.ran:
                callback.topics.add(topic)
                return
    batch = _Kick()
    batch.topics.add(topic)
    transaction.on_commit(batch)


def kick(topic: str) -> None:
    """Ask a worker to dispatch ``topic`` now. Never raises: when the broker is unreachable
    the entries wait for the sweeper, and the caller (a web request) answers at once."""
    from .tasks import outbox_dispatch_task  # tasks imports this module

    try:
        # No retry of the publish, no result to subscribe to: with the broker down this fails
        # at once (the broker's connect and socket time-outs bound it, see settings).
        outbox_dispatch_task.apply_async((topic,), retry=False, ignore_result=True)
    except Exception:  # the broker is down or slow: the sweeper will find the entries
        log.warning("outbox: could not queue dispatch of %s; the sweeper will", topic, exc_info=True)


def pending(topic: str | None = None):
    entries = OutboxEntry.objects.filter(done_at__isnull=True)
    return entries.filter(topic=topic) if topic else entries


def outbox_dispatch(*, topic: str | None = None, max_batches: int = 1000) -> int:
    """Hand pending entries to their handlers, oldest first; returns how many were done.

    Each batch is locked (``SKIP LOCKED``: two sweepers share the work), handled and marked
    done in one transaction. A batch whose handler raises stays pending with its error and
    failure count kept, and that topic is left for the next sweep."""
    done = 0
    for name in [topic] if topic else topics():
        handler = _HANDLERS.get(name)
        if handler is None:
            continue
        for _ in range(max_batches):
            with transaction.atomic():
                batch = list(
                    pending(name).select_for_update(skip_locked=True).order_by("id")[: handler.batch_size]
                )
                if not batch:
                    break
                ids = [entry.pk for entry in batch]
                try:
                    with transaction.atomic():
                        handler.handle(batch)
                except Exception as exc:
                    log.warning("outbox: handler of %s failed", name, exc_info=True)
                    for entry in batch:
                        entry.attempts += 1
                        entry.last_error = repr(exc)[:2000]
                    OutboxEntry.objects.bulk_update(batch, ["attempts", "last_error"])
                    break
                OutboxEntry.objects.filter(pk__in=ids).update(done_at=timezone.now())
                done += len(batch)
    return done
