"""Celery tasks of settlement: thin wrappers that take ids and call a service.

Every task is safe to run twice or concurrently (acks_late redelivers a task whose worker
was killed): ``settle_member_year`` works under the member-year's advisory lock and writes
only what changed; a run's chunk records its completion in the same transaction as its
settlements."""

from celery import shared_task
from django.conf import settings
from django.db import transaction

from healthaid.celery import RETRIED, TRANSIENT_ERRORS

from . import selectors, services

# Fields of the registry that change a settlement: the engine's member facts and enrolment.
SETTLEMENT_FACTS = frozenset({"poverty_status", "aid_category", "insured"})


@shared_task(bind=True, **RETRIED)
def settle_member_year_task(self, member_id: int, year: int) -> dict:
    return services.settle_member_year(
        member_id=member_id, year=year, task_id=self.request.id or ""
    ).to_json()


@shared_task(bind=True, **RETRIED)
def settle_member_years_task(self, member_ids: list[int], year: int) -> dict:
    return services.settle_member_years(
        member_ids=member_ids, year=year, task_id=self.request.id or ""
    ).to_json()


@shared_task(bind=True, **RETRIED)
def start_run(self, run_id: int) -> int:
    pending = services.settlement_run_begin(run_id=run_id)
    for index in pending:
        run_chunk.delay(run_id, index)
    return len(pending)


@shared_task(bind=True, **RETRIED)
def run_chunk(self, run_id: int, index: int) -> bool:
    try:
        return services.settlement_run_chunk(run_id=run_id, index=index, task_id=self.request.id or "")
    except TRANSIENT_ERRORS:
        # Retried (a deadlock, a lost connection). InterfaceError too: a closed connection must
        # not fail the run below (and settlement_run_fail could not write with it anyway).
        raise
    except Exception as exc:
        # Anything else will fail again: stop the run rather than leave it running for ever.
        services.settlement_run_fail(run_id=run_id, error=f"分片{index}: {exc!r}")
        raise


@shared_task(**RETRIED)
def recover_runs() -> dict:
    """Beat, every ``SETTLEMENT_SWEEP_SECONDS``: queue again what a killed worker left stalled."""
    return requeue_stalled_runs()


def requeue_stalled_runs() -> dict:
    """Queue the runs and chunks ``services.settlement_run_recover`` found stalled (their new
    lease is committed first: if queuing fails, the next sweep tries again)."""
    runs, chunks = services.settlement_run_recover()
    for run_id in runs:
        start_run.delay(run_id)
    for run_id, index in chunks:
        run_chunk.delay(run_id, index)
    return {"runs": runs, "chunks": [list(pair) for pair in chunks]}


class _MemberYears:
    """The member-years queued by one transaction, sent when it commits: grouped by year, in
    tasks of up to ``SETTLEMENT_CHUNK_MEMBERS`` members, so an import that touches 20,000
    member-years queues a dozen tasks, not 20,000."""

    def __init__(self):
        self.pairs = set()

    def __call__(self):
        by_year = {}
        for member_id, year in self.pairs:
            by_year.setdefault(year, []).append(member_id)
        size = settings.SETTLEMENT_CHUNK_MEMBERS
        for year, member_ids in sorted(by_year.items()):
            member_ids.sort()
            for start in range(0, len(member_ids), size):
                chunk = member_ids[start : start + size]
                if len(chunk) == 1:
                    settle_member_year_task.delay(chunk[0], year)
                else:
                    settle_member_years_task.delay(chunk, year)


def enqueue_member_year(member_id: int, year: int) -> None:
    """Queue (after commit) the settlement of one member's encounters of one year. Calls
    within one transaction are gathered into one batch (see ``_MemberYears``)."""
    connection = transaction.get_connection()
    if connection.in_atomic_block:
        # The batch this transaction already queued, if any (a rolled-back savepoint drops
        # its callbacks from this list, so a batch found here will run at commit).
        for _, callback, _ in connection.run_on_commit:
            if isinstance(callback, _MemberYears):
                callback.pairs.add((member_id, year))
                return
    batch = _MemberYears()
    batch.pairs.add((member_id, year))
    transaction.on_commit(batch)


def enqueue_run(run_id: int) -> None:
    transaction.on_commit(lambda: start_run.delay(run_id))


def enqueue_registry_change(
    *, changed, member_id: int | None = None, household_id: int | None = None
) -> None:
    """Called by the registry's services after a member or household was saved: when a fact
    the settlement depends on changed (``SETTLEMENT_FACTS``), queue the member-years that
    have encounters."""
    if not SETTLEMENT_FACTS.intersection(changed):
        return
    member_ids = [member_id] if member_id is not None else None
    for member, year in sorted(
        selectors.member_years_with_encounters(member_ids=member_ids, household_id=household_id)
    ):
        enqueue_member_year(member, year)
