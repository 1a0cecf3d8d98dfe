"""Exports too large for a request (docs/security.md, attack 5): a list export above
``EXPORT_ASYNC_ROWS`` rows is recorded as an ``ExportJob`` (its list's URL name and GET
parameters, its owner) and started through the outbox (topic ``core.export_job_start``, in
the transaction that creates the job); a Celery task rebuilds the list *as its owner* and
writes it with ``core.export`` into a temporary file, then stores the file on the job.

The task rebuilds the list by resolving the job's URL name to its view class and setting the
view up with a GET request of the owner and the saved parameters: the queryset is the one
the page builds (its selector, its filter set, the owner's role scoping). The view provides
``export_parts()`` → ``{"sheet", "rows", "title", "filters"}`` and refuses (``PermissionDenied``)
a user who may not read it; core imports no app.
"""

from __future__ import annotations

import logging
import tempfile

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.files import File
from django.db import transaction
from django.http import HttpRequest, QueryDict
from django.urls import resolve, reverse
from django.utils import timezone

from . import outbox
from .export import iterate, write_workbook
from .models import ExportJob

log = logging.getLogger(__name__)

START_TOPIC = "core.export_job_start"
PROGRESS_EVERY = 500  # rows between two progress updates
MSG_FAILED = "导出时发生错误，请稍后重新导出，或联系系统管理员。"


def export_is_async(row_count: int) -> bool:
    return row_count > settings.EXPORT_ASYNC_ROWS


def export_job_create(*, user, view_name: str, view_kwargs: dict, params: dict, title: str) -> ExportJob:
    """Record the export and its start (one transaction). ``params``: {name: [values]} of the
    list's GET (``export`` and ``page`` dropped). The caller is the list view: it has
    already checked that the user may read the list."""
    params = {name: list(values) for name, values in params.items() if name not in ("export", "page")}
    with transaction.atomic():
        job = ExportJob.objects.create(
            user=user, view_name=view_name, view_kwargs=view_kwargs, params=params, title=title[:100]
        )
        outbox.outbox_record(topic=START_TOPIC, key=str(job.pk), payload={"job": job.pk})
    return job


def start_export_jobs(entries) -> None:
    """The outbox handler: queue each job's task (a broker error raises: the sweeper retries)."""
    from .tasks import export_job_task  # tasks imports this module

    for entry in entries:
        export_job_task.apply_async((entry.payload["job"],), retry=False)


outbox.register_handler(START_TOPIC, start_export_jobs, batch_size=50)


def jobs_of(user):
    """The export jobs a user may see: only their own."""
    return ExportJob.objects.filter(user=user)


def _list_view(job: ExportJob):
    """The job's list view, set up with a GET request of its owner and its parameters."""
    path = reverse(job.view_name, kwargs=job.view_kwargs or None)
    match = resolve(path)
    request = HttpRequest()
    request.method = "GET"
    request.path = request.path_info = path
    request.user = job.user
    query = QueryDict(mutable=True)
    for name, values in job.params.items():
        query.setlist(name, [str(v) for v in values])
    request.GET = query
    request.resolver_match = match
    view = match.func.view_class(**match.func.view_initkwargs)
    view.setup(request, *match.args, **match.kwargs)
    return view


def _counted(rows, job_id: int):
    done = 0
    for row in rows:
        yield row
        done += 1
        if done % PROGRESS_EVERY == 0:
            ExportJob.objects.filter(pk=job_id).update(done=done, progress_at=timezone.now())


def export_job_run(*, job_id: int) -> ExportJob | None:
    """The task's body. Runs a queued job once (a duplicated task finds it taken); outside a
    transaction, so the progress the page polls is visible."""
    if not ExportJob.objects.filter(pk=job_id, status=ExportJob.Status.QUEUED).update(
        status=ExportJob.Status.RUNNING, progress_at=timezone.now()
    ):
        return ExportJob.objects.filter(pk=job_id).first()
    job = ExportJob.objects.select_related("user").get(pk=job_id)
    try:
        parts = _list_view(job).export_parts()
        rows = parts["rows"]
        job.total = rows.count() if hasattr(rows, "count") else len(rows)
        ExportJob.objects.filter(pk=job_id).update(total=job.total)
        now = timezone.localtime()
        with tempfile.TemporaryFile() as handle:
            write_workbook(
                handle,
                sheet=parts["sheet"],
                rows=_counted(iterate(rows), job_id),
                title=parts["title"],
                filters=parts.get("filters", ()),
                stamp=now.strftime("%Y-%m-%d %H:%M"),
            )
            handle.seek(0)
            job.file.save(f"{parts['title']}-{now:%Y%m%d-%H%M}.xlsx", File(handle), save=False)
    except PermissionDenied as exc:
        _fail(job, str(exc) or MSG_FAILED)
    except Exception:
        log.exception("export job %s failed", job_id)
        _fail(job, MSG_FAILED)
    else:
        job.status, job.done, job.finished_at = ExportJob.Status.DONE, job.total, timezone.now()
        job.save(update_fields=["status", "done", "total", "file", "finished_at"])
    return job


def _fail(job: ExportJob, message: str) -> None:
    job.status, job.error, job.finished_at = ExportJob.Status.FAILED, message, timezone.now()
    job.save(update_fields=["status", "error", "finished_at"])
