"""Celery tasks of the registry: thin wrappers that take ids and call a service."""

from celery import shared_task
from django.db import transaction

from core.retry import RETRIED

from . import services


@shared_task(bind=True, **RETRIED)
def run_roster_job(self, job_id: int, confirm: bool) -> str:
    # Safe to retry: the service locks the job and skips work already done, and the import is one
    # transaction, so a lost database connection or a failed progress write (Redis restarting)
    # rolls it back whole; the job stays 正在导入 and the retry imports the file from the start.
    return services.roster_job_run(job_id=job_id, confirm=confirm).status


def enqueue_roster_job(job_id: int, *, confirm: bool) -> None:
    transaction.on_commit(lambda: run_roster_job.delay(job_id, confirm))
