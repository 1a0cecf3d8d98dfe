from celery import shared_task

from healthaid.celery import RETRIED

from . import outbox


@shared_task(bind=True, **RETRIED)
def outbox_dispatch_task(self, topic: str | None = None) -> int:
    return outbox.outbox_dispatch(topic=topic)
