"""Daily housekeeping of the shared kernel's own records (beat ``core-housekeeping``, or
``python manage.py housekeeping``):

* idempotency keys older than ``IDEMPOTENCY_KEY_DAYS`` are forgotten — a client retries a
  request within minutes, a double click within seconds; keeping every key for ever only grows
  a table that each create request reads;
* an export job still 正在导出 with no progress for ``EXPORT_STALL_MINUTES`` lost its worker
  (killed, out of memory, redeployed): it is marked failed with a message asking to export again,
  instead of showing a progress bar that never moves;
* export jobs older than ``EXPORT_RETENTION_DAYS`` are deleted with their files (「我的导出」
  promises that many days; the files hold personal data and should not pile up in media).

Each step is one statement or one small loop and may run again at any time (idempotent).
"""

from __future__ import annotations

import datetime
import logging

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from .models import ExportJob, IdempotencyKey

log = logging.getLogger(__name__)

MSG_STALLED = "导出中断（后台处理进程已退出），请回到列表重新导出。"


def idempotency_keys_expire(*, before: datetime.datetime) -> int:
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=before).delete()
    return deleted


def export_jobs_fail_stalled(*, before: datetime.datetime) -> int:
    """Running jobs whose last sign of life is older than ``before`` become failed. A job that
    has not started yet (排队中) is the outbox's to start, not ours to fail."""
    stalled = Q(progress_at__lt=before) | Q(progress_at__isnull=True, created_at__lt=before)
    return ExportJob.objects.filter(stalled, status=ExportJob.Status.RUNNING).update(
        status=ExportJob.Status.FAILED, error=MSG_STALLED, finished_at=timezone.now()
    )


def export_jobs_expire(*, before: datetime.datetime) -> int:
    """Delete finished jobs created before ``before`` and their files."""
    count = 0
    old = ExportJob.objects.filter(created_at__lt=before).exclude(
        status__in=[ExportJob.Status.QUEUED, ExportJob.Status.RUNNING]
    )
    for job in old.iterator():
        if job.file:
            # The file first: a record without its file is harmless, a file without a record is
            # personal data nobody will ever delete.
            job.file.delete(save=False)
        job.delete()
        count += 1
    return count


def housekeeping_run(*, now: datetime.datetime | None = None) -> dict[str, int]:
    now = now or timezone.now()
    done = {
        "idempotency_keys": idempotency_keys_expire(
            before=now - datetime.timedelta(days=settings.IDEMPOTENCY_KEY_DAYS)
        ),
        "stalled_exports": export_jobs_fail_stalled(
            before=now - datetime.timedelta(minutes=settings.EXPORT_STALL_MINUTES)
        ),
        "expired_exports": export_jobs_expire(
            before=now - datetime.timedelta(days=settings.EXPORT_RETENTION_DAYS)
        ),
    }
    log.info("housekeeping: %s", done)
    return done
