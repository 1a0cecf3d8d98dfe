"""Celery tasks of settlement: thin wrappers that take ids and call a service.

Every task is safe to run twice or concurrently (acks_late redelivers a task whose worker
was killed): ``settle_member_year`` works under the member-year's advisory lock and writes
only what changed; a run's chunk records its completion in the same transaction as its
settlements."""

from celery import shared_task

from core.retry import RETRIED, TRANSIENT_ERRORS

from . import services

# Queued by the outbox handlers (handlers.py), never imported by services.py: services record
# in the outbox what must be queued, so the dependency runs one way (tasks → services).


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
