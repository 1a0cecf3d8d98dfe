"""Celery tasks of the claims app: thin wrappers that take ids and call a service."""

from celery import shared_task
from django.db import OperationalError, transaction

from . import services


@shared_task(bind=True, autoretry_for=(OperationalError,), retry_backoff=2, max_retries=5)
def run_encounter_job(self, job_id: int, confirm: bool) -> str:
    # Safe to retry: the service locks the job and skips work already done.
    return services.encounter_job_run(job_id=job_id, confirm=confirm).status


@shared_task(bind=True, autoretry_for=(OperationalError,), retry_backoff=2, max_retries=5)
def expire_contracts(self) -> int:
    """Daily: contracts past their end date become 已到期 (schedule with celery beat)."""
    return services.contracts_expire()


def enqueue_encounter_job(job_id: int, *, confirm: bool) -> None:
    transaction.on_commit(lambda: run_encounter_job.delay(job_id, confirm))
