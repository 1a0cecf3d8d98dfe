"""Celery tasks of the registry: thin wrappers that take ids and call a service."""

from celery import shared_task

from core.imports import import_job_execute
from core.retry import RETRIED


@shared_task(bind=True, **RETRIED)
def run_roster_job(self, job_id: int, confirm: bool) -> str | None:
    # Safe to retry: the service locks the job and skips work already done, and the import is one
    # transaction, so a lost database connection or a failed progress write (Redis restarting)
    # rolls it back whole; the job stays 正在导入 and the retry imports the file from the start.
    # A delivery that kills the worker is counted: the job fails after IMPORT_MAX_DELIVERIES.
    job = import_job_execute(kind="roster", job_id=job_id, confirm=confirm)
    return job.status if job is not None else None


@shared_task(bind=True, **RETRIED)
def run_enrollment_job(self, job_id: int, confirm: bool) -> str | None:
    # Safe to retry, like the roster job: the job is locked and the import is one transaction.
    job = import_job_execute(kind="enrollments", job_id=job_id, confirm=confirm)
    return job.status if job is not None else None
