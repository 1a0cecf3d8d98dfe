from django.conf import settings
from django.db import models
from django.db.models import Q


class OutboxEntry(models.Model):
    """Work that one transaction owes to another part of the system, written in that same
    transaction (the outbox pattern): the change and the promise to act on it commit together
    or not at all, so a broker outage can delay the work but never lose it.

    A lower app records an entry (``core.outbox.outbox_record``); the app that does the work
    registers a handler for the topic in its ``AppConfig.ready``; ``core.outbox.outbox_dispatch``
    hands pending entries to their handler (right after the commit, and again every minute by
    beat, so whatever a broker outage left behind is picked up)."""

    topic = models.CharField("主题", max_length=64)
    key = models.CharField("键", max_length=200)
    payload = models.JSONField("内容", default=dict, blank=True)
    created_at = models.DateTimeField("记录时间", auto_now_add=True)
    attempts = models.PositiveIntegerField("失败次数", default=0)
    last_error = models.TextField("最近错误", blank=True)
    done_at = models.DateTimeField("完成时间", null=True, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "待办事件"
        constraints = [
            # One pending entry per key: recording the same work twice before it is done
            # records it once.
            models.UniqueConstraint(
                fields=["topic", "key"],
                condition=Q(done_at__isnull=True),
                name="core_outbox_one_pending_per_key",
            ),
        ]
        indexes = [
            models.Index(
                fields=["topic", "id"], condition=Q(done_at__isnull=True), name="core_outbox_pending"
            ),
        ]

    def __str__(self):
        return f"{self.topic}:{self.key}"


class ImportJob(models.Model):
    """One uploaded spreadsheet and what became of it: preview, then import (abstract: the
    roster import and the encounter import are its concrete kinds, see ``core.imports``).

    ``deliveries`` counts the deliveries of the job's current task that never finished: a
    task that killed its worker (out of memory, a crash in a native reader) is redelivered by
    the broker; after ``IMPORT_MAX_DELIVERIES`` the job fails instead of killing another."""

    class Status(models.TextChoices):
        PREVIEWING = "previewing", "正在预检"
        PREVIEWED = "previewed", "预检完成，待确认"
        REFUSED = "refused", "已拒绝（有错误）"
        IMPORTING = "importing", "正在导入"
        DONE = "done", "导入完成"
        FAILED = "failed", "处理失败"

    RUNNING = (Status.PREVIEWING, Status.IMPORTING)

    original_name = models.CharField("文件名", max_length=255)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, verbose_name="上传人")
    created_at = models.DateTimeField("上传时间", auto_now_add=True)
    status = models.CharField("状态", max_length=16, choices=Status.choices, default=Status.PREVIEWING)
    preview = models.JSONField("预检结果", null=True, blank=True)
    result = models.JSONField("导入结果", null=True, blank=True)
    finished_at = models.DateTimeField("完成时间", null=True, blank=True)
    rejected_file = models.FileField("错误行文件", upload_to="rejected/%Y/%m/", blank=True)
    deliveries = models.PositiveIntegerField("未完成的投递次数", default=0)

    class Meta:
        abstract = True
        ordering = ["-created_at"]

    def __str__(self):
        return self.original_name

    @property
    def running(self) -> bool:
        return self.status in self.RUNNING

    @property
    def report(self) -> dict | None:
        return self.result or self.preview


class IdempotencyKey(models.Model):
    """A request that must take effect once: its key (the API's ``Idempotency-Key`` header, a
    page form's one-time token), unique per user and operation, recorded in the transaction
    that does the work (``core.idempotency.once``). A repeated request finds the key and gets
    the first request's result; concurrent duplicates wait on the unique index until the first
    commits (or rolls back: then the next one does the work)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name="用户"
    )
    scope = models.CharField("操作", max_length=64)
    key = models.CharField("幂等键", max_length=200)
    fingerprint = models.CharField("请求摘要", max_length=64)
    result_id = models.BigIntegerField("结果记录", null=True, blank=True)
    created_at = models.DateTimeField("时间", auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "幂等请求"
        constraints = [
            models.UniqueConstraint(fields=["user", "scope", "key"], name="core_idempotency_key_unique"),
        ]

    def __str__(self):
        return f"{self.scope}:{self.key}"


class ExportJob(models.Model):
    """A list export too large to write in the request (``EXPORT_ASYNC_ROWS``): the list's URL
    name and GET parameters, rebuilt by a Celery task as its owner (``core.exportjobs``), the
    workbook it wrote, and its progress. Only the owner sees it."""

    class Status(models.TextChoices):
        QUEUED = "queued", "排队中"
        RUNNING = "running", "正在导出"
        DONE = "done", "导出完成"
        FAILED = "failed", "导出失败"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name="导出人"
    )
    view_name = models.CharField("列表", max_length=100)
    view_kwargs = models.JSONField("列表参数", default=dict, blank=True)
    params = models.JSONField("筛选条件", default=dict, blank=True)  # {name: [values]} of the GET
    title = models.CharField("名称", max_length=100)
    status = models.CharField("状态", max_length=16, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField("总行数", default=0)
    done = models.PositiveIntegerField("已写行数", default=0)
    file = models.FileField("文件", upload_to="exports/%Y/%m/", blank=True)
    error = models.TextField("错误", blank=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    # Set when the task takes the job and at each progress update: a running job whose
    # worker died stops moving it, and housekeeping marks it failed (core.housekeeping).
    progress_at = models.DateTimeField("最近进展", null=True, blank=True)
    finished_at = models.DateTimeField("完成时间", null=True, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "导出任务"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["queued", "running", "done", "failed"]), name="core_export_job_status"
            ),
        ]

    def __str__(self):
        return f"{self.title} ({self.pk})"

    @property
    def running(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)

    @property
    def percent(self) -> int:
        if not self.running:
            return 100
        return int(100 * self.done / self.total) if self.total else 0
