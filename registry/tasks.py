"""Celery tasks of the registry: thin wrappers that take ids and call a service."""

from celery import shared_task
from django.db import OperationalError, transaction

from . import services


@shared_task(bind=True, autoretry_for=(OperationalError,), retry_backoff=2, max_retries=5)
def run_roster_job(self, job_id: int, confirm: bool) -> str:
    # Safe to retry: the service locks the job and skips work already done.
    return services.roster_job_run(job_id=job_id, confirm=confirm).status


def enqueue_roster_job(job_id: int, *, confirm: bool) -> None:
    transaction.on_commit(lambda: run_roster_job.delay(job_id, confirm))
