"""Import jobs: one spreadsheet upload → preview → confirm → import flow, whatever is imported.

An app plugs a *kind* in (``register_import_kind`` in its ``AppConfig.ready``): its concrete
``core.models.ImportJob`` model, its Celery task, and ``process(job, rows, confirm,
progress)`` — the parser and committer, returning a report (``refused``, ``errors``,
``rejected_rows``, ``header_row``, ``as_dict()``). Everything else is here, once:

* ``import_job_create``: a quick check of the file (size, zip, hidden sheet: refused uploads
  are never stored), the job row, and its start recorded in the outbox in the same
  transaction (topic ``core.import_job_start``): a broker outage delays the preview, never
  loses it, and the upload never answers 500;
* ``import_job_run`` (the task's body): reads the file within limits (``core.reader``),
  calls the kind, writes the report and, once, the file of rejected rows; a refused file is
  deleted;
* ``import_job_delivered``: the poison-message guard;
* ``import_job_confirm``, ``import_job_progress``.

Rejected rows (issue 10, flow 4): when a file is refused in the default all-or-nothing mode,
the file offered back is the *whole* file with an error column (faulty rows first, their
original row number kept), because nothing was imported and a clerk who fixes and uploads
it again must import every household. In skip-invalid mode only the rows not imported are
offered back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, fields

from django.conf import settings
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from . import outbox, reader
from .export import write_rows
from .models import ImportJob
from .rows import RowError

log = logging.getLogger(__name__)

START_TOPIC = "core.import_job_start"
ERROR_COLUMN = "错误原因"
ROW_COLUMN = "原行号"

ProgressCallback = Callable[[str, int, int], None]


@dataclass
class ImportReport:
    """What an import did (or, in a dry run, would do): the fields every import kind reports.
    Each kind's report adds its own counts; ``as_dict`` (stored on the job) writes every field,
    row faults (``RowError``) as dicts."""

    dry_run: bool
    refused: bool = False
    rows: int = 0
    rows_skipped: int = 0
    errors: list = field(default_factory=list)  # RowError
    rejected_rows: list = field(default_factory=list)  # Excel row numbers not imported
    header_row: int = 1  # title rows may stand above the header

    def as_dict(self) -> dict:
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}


def _plain(value):
    if isinstance(value, list):
        return [item.as_dict() if hasattr(item, "as_dict") else item for item in value]
    return value


class ImportJobError(Exception):
    """A refused import-job action; ``message`` is for the user."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class ImportKind:
    key: str  # "roster", "encounters"
    model: type[ImportJob]
    task: object  # a Celery task taking (job_id, confirm)
    # The importer: process(rows=, user=, dry_run=, skip_invalid=, source_name=, progress=,
    # **options) -> report; parses, checks and (unless dry_run) writes.
    process: Callable
    # The report's class: report_class(dry_run=, refused=True, errors=) for a file not read.
    report_class: type
    options: tuple[str, ...] = ()  # fields of the job handed to the importer as they are
    # A sheet read beside the first when the workbook has it (by name, e.g. 费用明细): handed
    # to the importer as ``extra_sheet=(name, rows)``, None when absent.
    extra_sheet: str | None = None

    def empty_report(self, dry_run: bool, errors: list[RowError]):
        return self.report_class(dry_run=dry_run, refused=True, errors=errors)


_KINDS: dict[str, ImportKind] = {}


def register_import_kind(key: str, model, task, process, report_class, options=(), extra_sheet=None) -> None:
    """Called from an ``AppConfig.ready``: plug a kind of import into the job stack."""
    _KINDS[key] = ImportKind(key, model, task, process, report_class, tuple(options), extra_sheet)


def import_kind(key: str) -> ImportKind:
    return _KINDS[key]


def import_kind_of(job: ImportJob) -> ImportKind:
    for kind in _KINDS.values():
        if isinstance(job, kind.model):
            return kind
    raise LookupError(type(job).__name__)


# --- create and start -------------------------------------------------------------------------


def import_job_preflight(*, uploaded_file, error: type[Exception] = ImportJobError) -> None:
    """The checks an upload passes before it is stored (size, zip, sizes, hidden sheet); the
    scan of the cells waits for the task. Raises ``error`` with a Chinese message."""
    try:
        reader.inspect(uploaded_file, scan=False)
    except reader.SpreadsheetRefused as exc:
        raise error(exc.message) from None


def import_job_create(
    *, kind: str, user, uploaded_file, error: type[Exception] = ImportJobError, **options
) -> ImportJob:
    """Store the upload as a job and record its start in the outbox (same transaction).
    The caller (the app's service) checks the role and names its domain error (``error``)."""
    import_job_preflight(uploaded_file=uploaded_file, error=error)
    spec = import_kind(kind)
    with transaction.atomic():
        job = spec.model.objects.create(
            file=uploaded_file, original_name=uploaded_file.name[:255], uploaded_by=user, **options
        )
        _record_start(kind, job.pk, confirm=False)
    return job


def _record_start(kind: str, job_id: int, *, confirm: bool) -> None:
    step = "import" if confirm else "preview"
    outbox.outbox_record(
        topic=START_TOPIC,
        key=f"{kind}:{job_id}:{step}",  # per kind: roster job 5 and encounter job 5 are two jobs
        payload={"kind": kind, "job": job_id, "confirm": confirm},
    )


def start_jobs(entries) -> None:
    """The outbox handler: queue each job's task. A broker error raises, so the entries stay
    pending and the sweeper tries again."""
    for entry in entries:
        spec = _KINDS.get(entry.payload.get("kind"))
        if spec is None:
            continue
        spec.task.apply_async((entry.payload["job"], entry.payload["confirm"]), retry=False)


outbox.register_handler(START_TOPIC, start_jobs, batch_size=50)


def import_job_confirm(*, job: ImportJob, error: type[Exception] = ImportJobError) -> ImportJob:
    """Previewed → importing, and the import recorded in the outbox. The caller checks roles."""
    spec = import_kind_of(job)
    with transaction.atomic():
        updated = spec.model.objects.filter(pk=job.pk, status=ImportJob.Status.PREVIEWED).update(
            status=ImportJob.Status.IMPORTING, deliveries=0
        )
        if not updated:
            raise error("该文件不处于待确认状态，不能导入。")
        _record_start(spec.key, job.pk, confirm=True)
    job.refresh_from_db()
    return job


# --- progress ---------------------------------------------------------------------------------


def _progress_key(kind: str, job_id: int) -> str:
    return f"import-progress-{kind}-{job_id}"


def job_progress_callback(kind: str, job_id: int) -> ProgressCallback:
    # Through the cache (Redis in production): the job row is locked inside the import's
    # transaction, where a poller could not see its updates.
    def report(stage: str, done: int, total: int) -> None:
        cache.set(_progress_key(kind, job_id), (stage, int(100 * done / total) if total else 0), 3600)

    return report


def import_job_progress(*, job: ImportJob) -> tuple[str, int]:
    if not job.running:
        return job.get_status_display(), 100
    stage = cache.get(_progress_key(import_kind_of(job).key, job.pk))
    if stage:
        return stage
    if job.status == ImportJob.Status.PREVIEWING:
        return "排队中，等待后台处理…", 0
    return job.get_status_display(), 0


# --- the task's body --------------------------------------------------------------------------


MSG_POISON = (
    "后台处理该文件时进程多次异常退出（已尝试{n}次），已停止处理。"
    "请检查文件是否过大或损坏（可另存为新的 .xlsx 后重试），或联系系统管理员。"
)


def import_job_delivered(*, kind: str, job_id: int) -> bool:
    """Count a delivery of the job's task, committed at once (before any work). Returns False
    — and fails the job — when earlier deliveries never finished ``IMPORT_MAX_DELIVERIES``
    times: the task kills its worker, and must not be retried forever."""
    spec = import_kind(kind)
    limit = settings.IMPORT_MAX_DELIVERIES
    with transaction.atomic():
        spec.model.objects.filter(pk=job_id).update(deliveries=F("deliveries") + 1)
        job = spec.model.objects.filter(pk=job_id).only("status", "deliveries").first()
        if job is None:
            return False
        if job.running and job.deliveries > limit:
            message = MSG_POISON.format(n=job.deliveries - 1)
            spec.model.objects.filter(pk=job_id, status=job.status).update(
                status=ImportJob.Status.FAILED,
                finished_at=timezone.now(),
                **{
                    "result" if job.status == ImportJob.Status.IMPORTING else "preview": {
                        **spec.empty_report(True, [RowError(0, "", message)]).as_dict()
                    }
                },
            )
            log.error("import job %s:%s failed after %s unfinished deliveries", kind, job_id, job.deliveries)
            return False
    return True


def import_job_finished_delivery(*, kind: str, job_id: int) -> None:
    """The task returned (or raised): its delivery did not kill the worker."""
    import_kind(kind).model.objects.filter(pk=job_id).update(deliveries=0)


def import_job_execute(*, kind: str, job_id: int, confirm: bool):
    """What a job's Celery task does: the poison guard around :func:`import_job_run`."""
    if not import_job_delivered(kind=kind, job_id=job_id):
        return None
    try:
        return import_job_run(kind=kind, job_id=job_id, confirm=confirm)
    finally:
        try:
            import_job_finished_delivery(kind=kind, job_id=job_id)
        except Exception:  # the database is gone: the retry counts again, as it should
            log.warning("import job %s:%s: could not reset its delivery count", kind, job_id, exc_info=True)


def import_job_run(*, kind: str, job_id: int, confirm: bool) -> ImportJob:
    """Preview (``confirm=False``) or import a job's file.

    Idempotent and safe to run twice at once: the job row is locked for the whole run and
    its status written in the same transaction as the import, so a retried or duplicated
    task finds the job already done and returns it unchanged."""
    spec = import_kind(kind)
    wanted = ImportJob.Status.IMPORTING if confirm else ImportJob.Status.PREVIEWING
    with transaction.atomic():
        job = spec.model.objects.select_for_update().get(pk=job_id)
        if job.status != wanted:
            return job
        rows = extra = None
        try:
            if not job.file:
                raise reader.SpreadsheetRefused("上传的文件已不存在，请重新上传。")
            with job.file.open("rb") as handle:
                rows = reader.read_rows(handle)
                if spec.extra_sheet:
                    extra = {"extra_sheet": reader.read_named_rows(handle, spec.extra_sheet)}
        except reader.SpreadsheetRefused as exc:
            report = spec.empty_report(not confirm, [RowError(1, "", exc.message)])
        else:
            report = spec.process(
                rows=rows,
                user=job.uploaded_by,
                dry_run=not confirm,
                skip_invalid=job.skip_invalid,
                source_name=job.original_name,
                progress=job_progress_callback(kind, job_id),
                **{name: getattr(job, name) for name in spec.options},
                **(extra or {}),
            )
        if report.refused:
            job.status = ImportJob.Status.REFUSED
        else:
            job.status = ImportJob.Status.DONE if confirm else ImportJob.Status.PREVIEWED
        data = report.as_dict()
        if rows is not None:
            whole = report.refused and not job.skip_invalid
            content = rejected_rows_workbook(rows=rows, report=data, whole_file=whole)
            data["rejected_file_whole"] = whole
            if content is not None:
                stem = job.original_name.rsplit(".", 1)[0][:80]
                name = f"{stem}-{'错误标注' if whole else '未导入的行'}.xlsx"
                if job.rejected_file:
                    _delete_after_commit(job.rejected_file.storage, job.rejected_file.name)
                job.rejected_file.save(name, ContentFile(content), save=False)
        setattr(job, "result" if confirm else "preview", data)
        job.finished_at = timezone.now() if confirm or report.refused else None
        if report.refused and job.file:
            # A refused upload is not kept: the clerk has the error file (or the message).
            _delete_after_commit(job.file.storage, job.file.name)
            job.file = ""
        job.save()
    return job


def _delete_after_commit(storage, name: str) -> None:
    transaction.on_commit(lambda: storage.delete(name))


# --- rejected rows ----------------------------------------------------------------------------


def rejected_rows_workbook(*, rows: list, report: dict, whole_file: bool) -> bytes | None:
    """The file offered back after a preview or an import, or None when no row is at fault.

    ``whole_file``: every data row of the file, with the error column — faulty rows first,
    in file order, then the others — and the original row number; fix and upload it again.
    Otherwise: only the rows not imported, with their reasons."""
    header_row = report.get("header_row", 1)
    rejected = set(report.get("rejected_rows", []))
    if not rejected or len(rows) < header_row:
        return None
    reasons: dict[int, list[str]] = {}
    for error in report.get("errors", []):
        if error.get("sheet"):
            continue  # a fault of another sheet (费用明细): the report lists it, not this file
        if error["row"] > header_row:
            reasons.setdefault(error["row"], []).append(
                f"{error['column']}: {error['message']}" if error["column"] else error["message"]
            )
    if not reasons:
        return None  # the header itself is wrong: the page says what to fix
    header = ["" if cell is None else str(cell) for cell in rows[header_row - 1]]
    width = len(header)
    faulty, companions, others = [], [], []  # rows at fault, rows rejected with them, the rest
    for number, row in enumerate(rows[header_row:], start=header_row + 1):
        cells = list(row[:width]) + [None] * (width - len(row))
        if number in reasons:
            faulty.append([*cells, "；".join(reasons[number]), number])
        elif number in rejected:
            companions.append([*cells, "同户其他行有错误，整户未导入", number])
        elif whole_file and any(cell not in (None, "") for cell in cells):
            others.append([*cells, "", number])
    return write_rows(
        [*header, ERROR_COLUMN, ROW_COLUMN],
        faulty + companions + others,
        sheet_title="错误标注" if whole_file else "未导入的行",
        highlight_column=ERROR_COLUMN,
    )
