"""Celery tasks of the claims app: thin wrappers that take ids and call a service."""

from celery import shared_task
from django.db import OperationalError

from core.imports import import_job_execute

from . import services


@shared_task(bind=True, autoretry_for=(OperationalError,), retry_backoff=2, max_retries=5)
def run_encounter_job(self, job_id: int, confirm: bool) -> str | None:
    # Safe to retry: the service locks the job and skips work already done. A delivery that
    # kills the worker is counted: the job fails after IMPORT_MAX_DELIVERIES.
    job = import_job_execute(kind="encounters", job_id=job_id, confirm=confirm)
    return job.status if job is not None else None


@shared_task(bind=True, autoretry_for=(OperationalError,), retry_backoff=2, max_retries=5)
def run_catalogue_job(self, job_id: int, confirm: bool) -> str | None:
    # As run_encounter_job: the job stack locks the job and makes a retry harmless.
    job = import_job_execute(kind="catalogue", job_id=job_id, confirm=confirm)
    return job.status if job is not None else None


@shared_task(bind=True, autoretry_for=(OperationalError,), retry_backoff=2, max_retries=5)
def expire_contracts(self) -> int:
    """Daily: contracts past their end date become 已到期 (schedule with celery beat)."""
    return services.contracts_expire()
