"""Stored policies, settlements and the fund ledger.

The calculation itself is the pure module ``engine.py``; these models keep what it decided,
with which policy, when and by which task, and what changed when an encounter was
re-settled."""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from simple_history.models import HistoricalRecords

from claims.models import Encounter, Institution
from registry.models import Member


def _sums_to(total, *parts):
    """``total = Σ parts`` as a CHECK. Amounts have two decimals, so "within a tenth of a cent"
    is exact equality on PostgreSQL's NUMERIC, and also holds on SQLite, which keeps
    decimals as binary floats (the zero-setup database of `make run`)."""
    summed = sum((F(p) for p in parts[1:]), F(parts[0]))
    tolerance = Decimal("0.001")
    return Q(**{f"{total}__gte": summed - tolerance}) & Q(**{f"{total}__lte": summed + tolerance})


class PolicyStatus(models.TextChoices):
    DRAFT = "draft", "草稿"
    ACTIVE = "active", "生效"
    RETIRED = "retired", "停用"


class Policy(models.Model):
    """A county's yearly policy document (settlement-contract.md); one active per year."""

    Status = PolicyStatus  # for templates: ``policy.status == policy.Status.ACTIVE``

    code = models.CharField("政策编码", max_length=64, unique=True)
    name = models.CharField("政策名称", max_length=200)
    year = models.PositiveIntegerField("年度")
    status = models.CharField("状态", max_length=16, choices=PolicyStatus.choices, default=PolicyStatus.DRAFT)
    document = models.JSONField("政策文件")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="导入人",
    )
    created_at = models.DateTimeField("导入时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)
    history = HistoricalRecords(excluded_fields=["updated_at"])

    class Meta:
        verbose_name = verbose_name_plural = "结算政策"
        ordering = ["-year", "code"]
        constraints = [
            models.UniqueConstraint(
                fields=["year"], condition=Q(status="active"), name="policy_one_active_per_year"
            ),
            models.CheckConstraint(condition=Q(status__in=PolicyStatus.values), name="policy_status_valid"),
        ]

    def __str__(self):
        return f"{self.name}（{self.code}）"


class SettlementRun(models.Model):
    """A batch operation started by county staff: settle a year, re-settle a year after a
    policy correction, or simulate a draft policy over a past year."""

    class Kind(models.TextChoices):
        SETTLE_YEAR = "settle_year", "结算全年"
        RESETTLE_YEAR = "resettle_year", "全年重新结算"
        SIMULATE = "simulate", "政策模拟"

    class Status(models.TextChoices):
        QUEUED = "queued", "排队中"
        RUNNING = "running", "进行中"
        DONE = "done", "已完成"
        FAILED = "failed", "失败"

    kind = models.CharField("类型", max_length=20, choices=Kind.choices)
    year = models.PositiveIntegerField("年度")
    policy = models.ForeignKey(
        Policy,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="runs",
        verbose_name="政策（模拟时为草稿）",
    )
    status = models.CharField("状态", max_length=16, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField("总数", default=0)
    done = models.PositiveIntegerField("已完成", default=0)
    result = models.JSONField("结果", null=True, blank=True)
    error = models.TextField("错误", blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name="发起人"
    )
    created_at = models.DateTimeField("发起时间", auto_now_add=True)
    finished_at = models.DateTimeField("完成时间", null=True, blank=True)
    # Set when the sweeper queued the start of a run still queued (its start task was lost).
    leased_until = models.DateTimeField("租约到期", null=True, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "批量结算任务"
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.get_kind_display()} {self.year}"


class SettlementRunChunk(models.Model):
    """One slice of a run's members, settled by one Celery task. The chunk's ``done`` flag and
    partial result are written in the same transaction as its settlements, so a redelivered
    task (acks_late after a worker was killed) neither counts its members twice nor loses them."""

    run = models.ForeignKey(
        SettlementRun, on_delete=models.CASCADE, related_name="chunks", verbose_name="批量任务"
    )
    index = models.PositiveIntegerField("序号")
    member_ids = models.JSONField("成员")
    done = models.BooleanField("已完成", default=False)
    result = models.JSONField("部分结果", null=True, blank=True)
    task_id = models.CharField("计算任务", max_length=64, blank=True)
    finished_at = models.DateTimeField("完成时间", null=True, blank=True)
    # The lease (services.settlement_run_recover): a chunk not done whose lease has run out and
    # whose row no transaction holds locked is queued again by the sweeper.
    leased_until = models.DateTimeField("租约到期", null=True, blank=True)
    lease_owner = models.CharField("租约持有者", max_length=200, blank=True)
    attempts = models.PositiveIntegerField("执行次数", default=0)
    requeued = models.PositiveIntegerField("重新排队次数", default=0)

    class Meta:
        verbose_name = verbose_name_plural = "批量结算分片"
        ordering = ["run", "index"]
        constraints = [
            models.UniqueConstraint(fields=["run", "index"], name="settlement_run_chunk_unique_index")
        ]

    def __str__(self):
        return f"{self.run} #{self.index}"


class Settlement(models.Model):
    """One encounter's split between the payers. Immutable once written: a re-settlement that
    changes anything writes a new current row and marks this one superseded."""

    # Checked by triggers, not a FOREIGN KEY (migration 0007, PostgreSQL): the
    # constraint's per-row check at commit (a probe and a row lock of the encounter per
    # settlement) cost a year's run ~0.5 s per 100,000 settlements; one anti-join per COPY
    # statement checks the same. Its index is the one-current-per-encounter constraint's.
    encounter = models.ForeignKey(
        Encounter,
        on_delete=models.PROTECT,
        related_name="settlements",
        verbose_name="就诊记录",
        db_constraint=False,
        db_index=False,
    )
    # Denormalised from the encounter (immutable here) so a member's year and the ledger are
    # read without joins. No FOREIGN KEY constraints and few indexes, for the batch's speed: why,
    # and what keeps them right, in docs/settlement.md ("Settlement rows: constraints and indexes").
    member = models.ForeignKey(
        Member,
        on_delete=models.PROTECT,
        related_name="settlements",
        verbose_name="患者",
        db_constraint=False,
        db_index=False,
    )
    institution = models.ForeignKey(
        Institution,
        on_delete=models.PROTECT,
        related_name="settlements",
        verbose_name="医疗机构",
        db_constraint=False,
        db_index=False,
    )
    year = models.PositiveIntegerField("结算年度")
    service_date = models.DateField("结算日期")
    policy = models.ForeignKey(
        Policy,
        on_delete=models.PROTECT,
        related_name="settlements",
        verbose_name="适用政策",
        db_constraint=False,
        db_index=False,
    )
    policy_version = models.PositiveIntegerField(
        "政策版本", default=1, help_text="结算时政策的修改次数（历史记录条数）"
    )
    total_cost = models.DecimalField("医疗总费用", max_digits=12, decimal_places=2)
    payouts_total = models.DecimalField("各项报销合计", max_digits=12, decimal_places=2)
    self_pay = models.DecimalField("个人自付", max_digits=12, decimal_places=2)
    in_policy_self_pay = models.DecimalField("政策范围内自付", max_digits=12, decimal_places=2)
    out_of_policy_self_pay = models.DecimalField("政策范围外自付", max_digits=12, decimal_places=2)
    is_current = models.BooleanField("当前有效", default=True)
    superseded_by = models.OneToOneField(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="supersedes",
        verbose_name="被重新结算为",
    )
    # For a re-settlement: new self-pay minus the superseded one's (negative: 退还 to the patient).
    self_pay_difference = models.DecimalField("个人自付差额", max_digits=12, decimal_places=2, default=0)
    # Itemised encounters only (None otherwise): Σ 违规扣除 of the bill, borne by the institution;
    # ``total_cost`` is then the net total that was settled.
    deducted = models.DecimalField("违规扣除", max_digits=12, decimal_places=2, null=True, blank=True)
    computed_at = models.DateTimeField("计算时间", auto_now_add=True)
    task_id = models.CharField("计算任务", max_length=64, blank=True)
    run = models.ForeignKey(
        SettlementRun,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="settlements",
        verbose_name="批量任务",
        db_constraint=False,
        db_index=False,
    )

    class Meta:
        verbose_name = verbose_name_plural = "结算记录"
        ordering = ["-service_date", "-id"]
        indexes = [
            # Not partial: it also serves every read by member (see above).
            models.Index(fields=["member", "year"], name="settlement_member_year"),
            models.Index(
                fields=["year", "institution"], condition=Q(is_current=True), name="settlement_current_ledger"
            ),
        ]
        constraints = [
            # At most one current settlement per encounter: current rows share the key
            # (encounter, 0); a superseded row's key holds its own id, so it never collides.
            models.UniqueConstraint(
                F("encounter"),
                models.Case(
                    models.When(is_current=True, then=models.Value(0)),
                    default=F("id"),
                    output_field=models.BigIntegerField(),
                ),
                name="settlement_one_current_per_encounter",
            ),
            models.CheckConstraint(
                condition=Q(payouts_total__gte=0)
                & Q(in_policy_self_pay__gte=0)
                & Q(out_of_policy_self_pay__gte=0),
                name="settlement_amounts_not_negative",
            ),
            models.CheckConstraint(
                condition=_sums_to("self_pay", "in_policy_self_pay", "out_of_policy_self_pay"),
                name="settlement_self_pay_is_its_parts",
            ),
            models.CheckConstraint(
                condition=_sums_to("total_cost", "payouts_total", "self_pay"),
                name="settlement_payouts_plus_self_pay_is_total",
            ),
            models.CheckConstraint(
                condition=Q(deducted__isnull=True) | Q(deducted__gte=0),
                name="settlement_deducted_not_negative",
            ),
        ]

    def __str__(self):
        return f"{self.encounter.ref} 结算"


class SettlementLine(models.Model):
    """One tier's payout in a settlement, with the fund that pays it."""

    # No index of its own: the unique (settlement, tier_key) constraint's index serves every
    # lookup by settlement, and one index fewer is cheaper for the batch's bulk inserts.
    # No database FOREIGN KEY either (db_constraint=False): checking it cost a batch a probe
    # and a row lock of the settlement per line at commit (~0.4 s per 100,000 settlements).
    # A line is only written by batch.settle_members, in the transaction that writes its
    # settlement just before (the id taken from the sequence there); settlements are never
    # deleted (immutable; notices PROTECT them), and Django's CASCADE still removes the lines
    # of a settlement deleted through the ORM.
    settlement = models.ForeignKey(
        Settlement,
        on_delete=models.CASCADE,
        related_name="lines",
        verbose_name="结算记录",
        db_index=False,
        db_constraint=False,
    )
    position = models.PositiveSmallIntegerField("顺序")
    tier_key = models.CharField("层级", max_length=64)
    tier_kind = models.CharField("类型", max_length=32)
    tier_name = models.CharField("名称", max_length=100)
    fund = models.CharField("支付资金", max_length=100)
    amount = models.DecimalField("金额", max_digits=12, decimal_places=2)
    # For a re-settlement: this amount minus the superseded settlement's (positive: 补付 by the fund).
    difference = models.DecimalField("差额", max_digits=12, decimal_places=2, default=0)

    class Meta:
        verbose_name = verbose_name_plural = "结算明细"
        ordering = ["settlement", "position"]
        constraints = [
            models.UniqueConstraint(fields=["settlement", "tier_key"], name="settlement_line_unique_tier"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="settlement_line_amount_not_negative"),
        ]

    def __str__(self):
        return f"{self.tier_name} {self.amount}"


class SettlementProblem(models.Model):
    """An encounter that could not be settled, with the reason ("needs attention")."""

    class Reason(models.TextChoices):
        NO_POLICY = "no_policy", "该年度没有生效的结算政策"
        NOT_INSURED = "not_insured", "患者未参加基本医疗保险"
        INVALID = "invalid", "就诊数据无法结算"

    encounter = models.OneToOneField(
        Encounter, on_delete=models.CASCADE, related_name="settlement_problem", verbose_name="就诊记录"
    )
    reason = models.CharField("原因", max_length=20, choices=Reason.choices)
    detail = models.TextField("说明", blank=True)
    noticed_at = models.DateTimeField("发现时间", auto_now=True)

    class Meta:
        verbose_name = verbose_name_plural = "待处理结算"
        ordering = ["-noticed_at"]

    def __str__(self):
        return f"{self.encounter.ref}: {self.get_reason_display()}"


class FundTransfer(models.Model):
    """Money a fund paid to an institution for a period (定期拨付)."""

    fund = models.CharField("支付资金", max_length=100)
    institution = models.ForeignKey(
        Institution, on_delete=models.PROTECT, related_name="fund_transfers", verbose_name="医疗机构"
    )
    year = models.PositiveIntegerField("年度")
    month = models.PositiveSmallIntegerField("月份")
    amount = models.DecimalField("拨付金额", max_digits=14, decimal_places=2)
    paid_on = models.DateField("拨付日期")
    reference = models.CharField("凭证号", max_length=100)
    note = models.CharField("备注", max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name="登记人"
    )
    created_at = models.DateTimeField("登记时间", auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = verbose_name_plural = "基金拨付"
        ordering = ["-paid_on", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="fund_transfer_amount_positive"),
            models.CheckConstraint(
                condition=Q(month__gte=1) & Q(month__lte=12), name="fund_transfer_month_valid"
            ),
        ]

    def __str__(self):
        return f"{self.fund} → {self.institution} {self.year}-{self.month:02d}: {self.amount}"
