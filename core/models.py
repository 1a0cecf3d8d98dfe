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
