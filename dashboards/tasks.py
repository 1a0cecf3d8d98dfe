"""Celery tasks of the dashboards: thin wrappers around the refresh service."""

from celery import shared_task
from django.db import transaction

from . import services


@shared_task
def run_refresh(run_id: int) -> str:
    """A refresh county staff asked for (立即刷新). Not retried: the schedule runs again soon."""
    return services.refresh_run_execute(run_id=run_id).status


@shared_task
def refresh_aggregates() -> str:
    """The beat schedule's refresh of this year and last (settings.CELERY_BEAT_SCHEDULE)."""
    return services.refresh_run_execute().status


def enqueue_refresh(run_id: int) -> None:
    transaction.on_commit(lambda: run_refresh.delay(run_id))
