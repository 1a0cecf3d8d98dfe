"""Settlement's side of the outbox (core/outbox.py): the work that registry and claims record
and settlement does. Registered in ``SettlementConfig.ready``; dispatched after the commit
that recorded it, every minute by beat, and by ``manage.py settle_pending``.

Each handler only *queues* Celery tasks (``settle_member_year(s)_task``, ``start_run``), in
the dispatch transaction: when the broker is down the handler raises, the entries stay
pending and the next sweep queues them again. Queuing twice is harmless: every settlement
task is idempotent (it writes only what changed, under the member-year's advisory lock)."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from contextlib import contextmanager

from django.conf import settings

from claims.events import MEMBER_YEAR_CHANGED
from core.models import OutboxEntry
from core.outbox import register_handler
from registry.events import MEMBER_FACTS_CHANGED

from . import selectors, tasks
from .events import RUN_STARTED

_watchers: list[list] = []


@contextmanager
def watch():
    """Collect what the handlers queue meanwhile (``settle_pending`` prints it): a list of
    ``("member_years", year, member_ids)`` and ``("run", run_id)``."""
    seen: list = []
    _watchers.append(seen)
    try:
        yield seen
    finally:
        _watchers.remove(seen)


def _saw(item) -> None:
    for seen in _watchers:
        seen.append(item)


def queue_member_years(pairs: Iterable[tuple[int, int]]) -> list[tuple[int, list[int]]]:
    """Queue the settlement of (member id, year) pairs: grouped by year, in tasks of up to
    ``SETTLEMENT_CHUNK_MEMBERS`` members, so an import that touches 20,000 member-years queues
    a dozen tasks, not 20,000. Returns the (year, member ids) of each task queued."""
    by_year: dict[int, set[int]] = {}
    for member_id, year in pairs:
        by_year.setdefault(year, set()).add(member_id)
    size = settings.SETTLEMENT_CHUNK_MEMBERS
    queued = []
    for year, members in sorted(by_year.items()):
        member_ids = sorted(members)
        for start in range(0, len(member_ids), size):
            chunk = member_ids[start : start + size]
            if len(chunk) == 1:
                tasks.settle_member_year_task.delay(chunk[0], year)
            else:
                tasks.settle_member_years_task.delay(chunk, year)
            queued.append((year, chunk))
            _saw(("member_years", year, chunk))
    return queued


def member_years_changed(entries: list[OutboxEntry]) -> None:
    """claims: encounters of these member-years were entered, corrected or imported."""
    queue_member_years((entry.payload["member_id"], entry.payload["year"]) for entry in entries)


def member_facts_changed(entries: list[OutboxEntry]) -> None:
    """registry: facts the engine reads (poverty status, aid category, enrolment) changed for
    some members or a household from a date on: the member-years with current encounters on
    or after that date are settled again."""
    pairs: set[tuple[int, int]] = set()
    for entry in entries:
        payload = entry.payload
        since = payload.get("effective_from")
        pairs |= selectors.member_years_with_encounters(
            member_ids=payload.get("member_ids"),
            household_id=payload.get("household_id"),
            since=datetime.date.fromisoformat(since) if since else None,
        )
    queue_member_years(pairs)


def run_started(entries: list[OutboxEntry]) -> None:
    """A batch run was created: its first task cuts it into chunks (``tasks.start_run``)."""
    for entry in entries:
        tasks.start_run.delay(entry.payload["run_id"])
        _saw(("run", entry.payload["run_id"]))


TOPICS = (MEMBER_YEAR_CHANGED, MEMBER_FACTS_CHANGED, RUN_STARTED)


def register() -> None:
    # One dispatch batch may hold a whole import's member-years: queued in chunks as above.
    register_handler(MEMBER_YEAR_CHANGED, member_years_changed, batch_size=10_000)
    register_handler(MEMBER_FACTS_CHANGED, member_facts_changed)
    register_handler(RUN_STARTED, run_started, batch_size=50)
