"""Dashboard aggregates, targets, refresh runs and public notices.

The ``*Cell`` tables are summaries the dashboards read instead of the growing history of
encounters and settlements, so a page costs the same few queries whatever the county's
history. They are derived data: ``services.aggregates_refresh`` deletes and rebuilds the
affected cells in one transaction (Celery beat every 10 minutes, the 立即刷新 button, tests),
and nothing else writes them.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from registry.models import Village

from . import definitions


def _money(label, **kwargs):
    return models.DecimalField(label, max_digits=16, decimal_places=2, default=0, **kwargs)


def _count(label):
    return models.PositiveIntegerField(label, default=0)


def _village():
    return models.ForeignKey(Village, on_delete=models.CASCADE, related_name="+", verbose_name="行政村")


def _year():
    return models.PositiveSmallIntegerField("年度")


def _month():
    return models.PositiveSmallIntegerField("月份")


class RegistryCell(models.Model):
    """A village's register as it was at the end of ``year`` (31 December; today for the
    current year): households by their poverty status on that day (dated facts), the members
    who had not left the record before the year began, insured by the year's enrollment (else
    the roster's flag, as settlement reads it)."""

    village = _village()
    year = _year()
    households = _count("户数")
    households_poor = _count("未脱贫户")
    households_lifted = _count("已脱贫户")
    households_monitored = _count("监测对象户")
    members = _count("人数")
    members_insured = _count("参保人数")
    members_uninsured = _count("未参保人数")
    members_insured_unknown = _count("参保情况未知人数")

    class Meta:
        verbose_name = verbose_name_plural = "统计：建档立卡"
        constraints = [models.UniqueConstraint(fields=["year", "village"], name="registry_cell_key")]


class EncounterCell(models.Model):
    """Current encounters by village, month of the settlement date, kind and whether the
    institution is in the county."""

    village = _village()
    year = _year()
    month = _month()
    kind = models.CharField("就诊类型", max_length=20)
    in_county = models.BooleanField("县域内")
    encounters = _count("人次")
    total_cost = _money("医疗总费用")
    in_policy_cost = _money("政策范围内费用")

    class Meta:
        verbose_name = verbose_name_plural = "统计：就诊"
        constraints = [
            models.UniqueConstraint(
                fields=["year", "month", "village", "kind", "in_county"], name="encounter_cell_key"
            )
        ]


class SettlementCell(models.Model):
    """Current settlements by village, month, encounter kind and the household's poverty
    status at refresh time."""

    village = _village()
    year = _year()
    month = _month()
    kind = models.CharField("就诊类型", max_length=20)
    poverty_status = models.CharField("脱贫状态", max_length=16)
    settlements = _count("结算笔数")
    total_cost = _money("医疗总费用")
    payouts_total = _money("各项报销合计")
    self_pay = _money("个人自付")
    in_policy_self_pay = _money("政策范围内自付")

    class Meta:
        verbose_name = verbose_name_plural = "统计：结算"
        constraints = [
            models.UniqueConstraint(
                fields=["year", "month", "village", "kind", "poverty_status"], name="settlement_cell_key"
            )
        ]


class PayoutCell(models.Model):
    """Money paid by each tier and fund (lines of current settlements) by village and month."""

    village = _village()
    year = _year()
    month = _month()
    tier_key = models.CharField("层级", max_length=64)
    tier_kind = models.CharField("类型", max_length=32)
    tier_name = models.CharField("名称", max_length=100)
    fund = models.CharField("支付资金", max_length=100)
    lines = _count("笔数")
    amount = _money("金额")

    class Meta:
        verbose_name = verbose_name_plural = "统计：各层级支付"
        constraints = [
            models.UniqueConstraint(
                fields=["year", "month", "village", "tier_key", "tier_kind", "tier_name", "fund"],
                name="payout_cell_key",
            )
        ]


class IllnessCell(models.Model):
    """Illness records by village, month of diagnosis and (current) status."""

    village = _village()
    year = _year()
    month = _month()
    status = models.CharField("救治状态", max_length=16)
    records = _count("档案数")

    class Meta:
        verbose_name = verbose_name_plural = "统计：疾病救治"
        constraints = [
            models.UniqueConstraint(fields=["year", "month", "village", "status"], name="illness_cell_key")
        ]


class ContractCell(models.Model):
    """Family-doctor contracts by village and month: households with a contract in force on
    the month's measuring day (definitions.measuring_day), contracts started in the month,
    those whose first 90 days are over, and those of them without a follow-up in it."""

    village = _village()
    year = _year()
    month = _month()
    households_signed = _count("签约户数")
    contracts_started = _count("新签约份数")
    contracts_due = _count("满90天份数")
    contracts_without_followup = _count("签而不约份数")

    class Meta:
        verbose_name = verbose_name_plural = "统计：家庭医生签约"
        constraints = [models.UniqueConstraint(fields=["year", "month", "village"], name="contract_cell_key")]


class MemberYearCell(models.Model):
    """One member's current settlements of a year, summed: the 因病返贫 risk list reads it."""

    member = models.ForeignKey(
        "registry.Member", on_delete=models.CASCADE, related_name="+", verbose_name="成员"
    )
    village = _village()
    year = _year()
    settlements = _count("结算笔数")
    total_cost = _money("医疗总费用")
    self_pay = _money("个人自付")

    class Meta:
        verbose_name = verbose_name_plural = "统计：个人年度自付"
        constraints = [models.UniqueConstraint(fields=["year", "member"], name="member_year_cell_key")]
        indexes = [models.Index(fields=["year", "village"])]


class RiskCell(models.Model):
    """A village's count of members at 因病返贫 risk in a year, and of members with self-pay
    whose household has no income recorded (they cannot be judged)."""

    village = _village()
    year = _year()
    members_at_risk = _count("返贫风险人数")
    members_without_income = _count("无收入信息人数")

    class Meta:
        verbose_name = verbose_name_plural = "统计：因病返贫风险"
        constraints = [models.UniqueConstraint(fields=["year", "village"], name="risk_cell_key")]


class RefreshRun(models.Model):
    """One rebuild of the aggregates: by the beat schedule or a county user's 立即刷新."""

    class Status(models.TextChoices):
        QUEUED = "queued", "排队中"
        RUNNING = "running", "正在刷新"
        DONE = "done", "已完成"
        FAILED = "failed", "失败"

    years = models.JSONField("年度")
    status = models.CharField("状态", max_length=16, choices=Status.choices, default=Status.QUEUED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="发起人",
        help_text="空：定时任务",
    )
    created_at = models.DateTimeField("发起时间", auto_now_add=True)
    started_at = models.DateTimeField("开始时间", null=True, blank=True)
    finished_at = models.DateTimeField("完成时间", null=True, blank=True)
    cells = models.PositiveIntegerField("统计行数", default=0)
    error = models.TextField("错误", blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "统计刷新"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "-finished_at"])]

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.get_status_display()}"

    @property
    def seconds(self):
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class YearStamp(models.Model):
    """When a year's cells (and the register's) were last rebuilt in full: the pages'
    "数据更新于 …". A refresh of only some villages leaves it alone."""

    year = models.PositiveSmallIntegerField("年度", unique=True)
    refreshed_at = models.DateTimeField("更新时间")
    run = models.ForeignKey(
        RefreshRun,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="刷新任务",
    )

    class Meta:
        verbose_name = verbose_name_plural = "统计更新时间"

    def __str__(self):
        return f"{self.year}: {self.refreshed_at}"


class Target(models.Model):
    """A target county staff set (percentages); keys and directions: definitions.TARGETS."""

    key = models.CharField(
        "指标", max_length=32, unique=True, choices=[(spec.key, spec.label) for spec in definitions.TARGETS]
    )
    value = models.DecimalField("目标值(%)", max_digits=5, decimal_places=1)
    label = models.CharField("名称", max_length=50)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="修改人",
    )
    updated_at = models.DateTimeField("修改时间", auto_now=True)

    class Meta:
        verbose_name = verbose_name_plural = "考核目标"
        ordering = ["key"]
        constraints = [
            models.CheckConstraint(condition=Q(value__gte=0) & Q(value__lte=100), name="target_percent")
        ]

    def __str__(self):
        return f"{self.label} {self.value}%"


class Notice(models.Model):
    """A village's monthly public notice (公示) of reimbursed patients, as published: the
    entries are copied at publication so what was posted stays on record."""

    class Status(models.TextChoices):
        PUBLISHED = "published", "公示中"
        CLOSED = "closed", "公示结束"

    village = models.ForeignKey(
        Village, on_delete=models.PROTECT, related_name="notices", verbose_name="行政村"
    )
    year = _year()
    month = _month()
    status = models.CharField("状态", max_length=16, choices=Status.choices, default=Status.PUBLISHED)
    published_on = models.DateField("公示日期")
    objection_days = models.PositiveSmallIntegerField("公示期(天)", default=definitions.NOTICE_OBJECTION_DAYS)
    contact = models.CharField("异议受理电话", max_length=60, blank=True)
    # The payers' columns in the order of the policy's tiers (entries keep {fund: amount}).
    funds = models.JSONField("支付资金列", default=list)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name="发布人"
    )
    published_at = models.DateTimeField("发布时间", auto_now_add=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="结束人",
    )
    closed_at = models.DateTimeField("结束时间", null=True, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "公示"
        ordering = ["-year", "-month", "village__township__name", "village__name"]
        constraints = [
            models.UniqueConstraint(fields=["village", "year", "month"], name="notice_one_per_village_month"),
            models.CheckConstraint(condition=Q(month__gte=1) & Q(month__lte=12), name="notice_month_valid"),
            models.CheckConstraint(condition=Q(objection_days__gte=1), name="notice_objection_days_positive"),
        ]

    def __str__(self):
        return f"{self.village} {self.year}年{self.month}月公示"

    @property
    def objection_deadline(self):
        import datetime

        return self.published_on + datetime.timedelta(days=self.objection_days - 1)


class NoticeEntry(models.Model):
    """One reimbursed patient's line on a published notice (name already masked)."""

    notice = models.ForeignKey(Notice, on_delete=models.CASCADE, related_name="entries", verbose_name="公示")
    position = models.PositiveIntegerField("序号")
    settlement = models.ForeignKey(
        "settlement.Settlement", on_delete=models.PROTECT, related_name="+", verbose_name="结算记录"
    )
    masked_name = models.CharField("姓名", max_length=50)
    institution = models.CharField("医疗机构", max_length=100)
    kind = models.CharField("就诊类型", max_length=20)
    admission_date = models.DateField("入院/就诊日期")
    discharge_date = models.DateField("出院日期", null=True, blank=True)
    total_cost = models.DecimalField("医疗总费用", max_digits=12, decimal_places=2)
    # {fund: "amount"}: the funds of the county's policy vary, so the columns do too; amounts
    # are kept as decimal strings (never floats).
    payouts = models.JSONField("各项报销")
    payouts_total = models.DecimalField("报销合计", max_digits=12, decimal_places=2)
    self_pay = models.DecimalField("个人自付", max_digits=12, decimal_places=2)

    class Meta:
        verbose_name = verbose_name_plural = "公示明细"
        ordering = ["notice", "position"]
        constraints = [models.UniqueConstraint(fields=["notice", "position"], name="notice_entry_position")]

    def __str__(self):
        return f"{self.masked_name} {self.institution}"


class NoticeObjection(models.Model):
    """An objection or complaint against a notice (optionally one entry) and its answer."""

    notice = models.ForeignKey(
        Notice, on_delete=models.CASCADE, related_name="objections", verbose_name="公示"
    )
    entry = models.ForeignKey(
        NoticeEntry,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="objections",
        verbose_name="针对的公示条目",
    )
    raised_by = models.CharField("反映人", max_length=50)
    contact = models.CharField("联系方式", max_length=60, blank=True)
    received_on = models.DateField("受理日期")
    content = models.TextField("异议内容")
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name="登记人"
    )
    recorded_at = models.DateTimeField("登记时间", auto_now_add=True)
    resolution = models.TextField("处理结果", blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="答复人",
    )
    resolved_at = models.DateTimeField("答复时间", null=True, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "公示异议"
        ordering = ["received_on", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(resolved_at__isnull=True) | ~Q(resolution=""),
                name="objection_resolution_when_resolved",
            ),
        ]

    def __str__(self):
        return f"{self.raised_by}：{self.content[:20]}"

    @property
    def resolved(self):
        return self.resolved_at is not None
