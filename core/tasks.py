from celery import shared_task

from core.retry import RETRIED

from . import outbox
from .housekeeping import housekeeping_run


@shared_task(bind=True, ignore_result=True, **RETRIED)
def outbox_dispatch_task(self, topic: str | None = None) -> int:
    return outbox.outbox_dispatch(topic=topic)


@shared_task(ignore_result=True)
def export_job_task(job_id: int) -> None:
    from .exportjobs import export_job_run

    export_job_run(job_id=job_id)


@shared_task(ignore_result=True)
def housekeeping_task() -> dict:
    return housekeeping_run()
