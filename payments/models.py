"""Funds, their income, bank accounts of payees, bank file layouts and payment batches (拨付).

A batch line's *source* (an institution's outstanding ledger cell, a re-settlement refund, an
aid application) is named by ``source_key``; the partial unique index
``payment_line_source_once`` lets a source be in at most one line that was not returned (退票),
so nothing is paid twice whatever the services do (docs/payments.md)."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from simple_history.models import HistoricalRecords

from claims.models import Institution
from registry.models import Household, Member, Township
from settlement.models import FundTransfer


class Fund(models.Model):
    """A payer fund (专款专用). ``name`` is the fund as the policy's tiers and the enrollment's
    subsidy name it (``SettlementLine.fund``, ``Enrollment.subsidy_fund``)."""

    code = models.CharField("资金编码", max_length=32, unique=True)
    name = models.CharField("资金名称", max_length=100, unique=True)
    note = models.CharField("说明", max_length=200, blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = verbose_name_plural = "资金账户"
        ordering = ["code"]

    def __str__(self):
        return self.name


class IncomeKind(models.TextChoices):
    APPROPRIATION = "appropriation", "财政拨款"
    HIGHER_GRANT = "higher_grant", "上级补助"
    DONATION = "donation", "社会捐赠"
    INTEREST = "interest", "利息收入"
    OTHER = "other", "其他收入"


class FundIncome(models.Model):
    """Money that came into a fund (its year is the year of ``received_on``)."""

    fund = models.ForeignKey(Fund, on_delete=models.PROTECT, related_name="incomes", verbose_name="资金")
    kind = models.CharField("收入类型", max_length=20, choices=IncomeKind.choices)
    received_on = models.DateField("到账日期")
    amount = models.DecimalField("金额", max_digits=14, decimal_places=2)
    document_number = models.CharField("文号/凭证号", max_length=100)
    note = models.CharField("备注", max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name="登记人"
    )
    created_at = models.DateTimeField("登记时间", auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = verbose_name_plural = "资金收入"
        ordering = ["-received_on", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="fund_income_amount_positive"),
            models.CheckConstraint(condition=Q(kind__in=IncomeKind.values), name="fund_income_kind_valid"),
        ]

    def __str__(self):
        return f"{self.fund} {self.get_kind_display()} {self.amount}"


class AccountKind(models.TextChoices):
    SOCIAL_CARD = "social_card", "社保卡"
    YIKATONG = "yikatong", "一卡通"
    BANK_CARD = "bank_card", "银行卡"


class BankAccount(models.Model):
    """A household's (``member`` empty) or a member's account people are paid into. The number
    is shown masked everywhere (``payments.masking``); only the bank file carries it in full."""

    household = models.ForeignKey(
        Household, on_delete=models.PROTECT, related_name="bank_accounts", verbose_name="贫困户"
    )
    member = models.ForeignKey(
        Member,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="bank_accounts",
        verbose_name="持卡成员",
        help_text="留空：全户共用的账户。",
    )
    kind = models.CharField("账户类型", max_length=20, choices=AccountKind.choices)
    bank_name = models.CharField("开户银行", max_length=100)
    account_name = models.CharField("户名", max_length=50)
    account_number = models.CharField("账号", max_length=32)
    active = models.BooleanField("在用", default=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name="登记人"
    )
    updated_at = models.DateTimeField("更新时间", auto_now=True)
    history = HistoricalRecords(excluded_fields=["updated_at"])

    class Meta:
        verbose_name = verbose_name_plural = "银行账户"
        ordering = ["household", "member", "-active", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["household"],
                condition=Q(active=True, member__isnull=True),
                name="bank_account_one_active_per_household",
            ),
            models.UniqueConstraint(
                fields=["member"],
                condition=Q(active=True, member__isnull=False),
                name="bank_account_one_active_per_member",
            ),
            models.CheckConstraint(condition=Q(kind__in=AccountKind.values), name="bank_account_kind_valid"),
        ]

    def __str__(self):
        from .masking import mask_account_number

        return f"{self.account_name} {mask_account_number(self.account_number)}"


class InstitutionAccount(models.Model):
    """The account an institution's payments go to."""

    institution = models.OneToOneField(
        Institution, on_delete=models.PROTECT, related_name="bank_account", verbose_name="医疗机构"
    )
    bank_name = models.CharField("开户银行", max_length=100)
    account_name = models.CharField("户名", max_length=100)
    account_number = models.CharField("账号", max_length=32)
    history = HistoricalRecords()

    class Meta:
        verbose_name = verbose_name_plural = "医疗机构收款账户"

    def __str__(self):
        return str(self.institution)


class FileFormat(models.TextChoices):
    XLSX = "xlsx", "Excel（.xlsx）"
    CSV = "csv", "CSV（.csv）"


class FileEncoding(models.TextChoices):
    UTF8_BOM = "utf-8-sig", "UTF-8（带BOM）"
    UTF8 = "utf-8", "UTF-8"
    GBK = "gbk", "GBK"


class BankFileLayout(models.Model):
    """How one bank wants its payment file: format, encoding (CSV), header row and columns."""

    name = models.CharField("版式名称", max_length=100, unique=True)
    bank_name = models.CharField("银行", max_length=100)
    file_format = models.CharField("文件格式", max_length=8, choices=FileFormat.choices, default="xlsx")
    encoding = models.CharField(
        "编码（CSV）", max_length=16, choices=FileEncoding.choices, default="utf-8-sig"
    )
    header_row = models.BooleanField("首行为表头", default=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = verbose_name_plural = "银行代发文件版式"
        ordering = ["name"]

    def __str__(self):
        return self.name


class ColumnField(models.TextChoices):
    SEQ = "seq", "序号"
    ACCOUNT_NUMBER = "account_number", "账号"
    ACCOUNT_NAME = "account_name", "户名"
    BANK_NAME = "bank_name", "开户银行"
    AMOUNT = "amount", "金额（元）"
    PURPOSE = "purpose", "用途"
    REFERENCE = "reference", "业务编号"
    PAYEE_KIND = "payee_kind", "收款类型"


class BankFileColumn(models.Model):
    layout = models.ForeignKey(
        BankFileLayout, on_delete=models.CASCADE, related_name="columns", verbose_name="版式"
    )
    position = models.PositiveSmallIntegerField("列序")
    header = models.CharField("表头", max_length=50)
    field = models.CharField("内容", max_length=20, choices=ColumnField.choices)

    class Meta:
        verbose_name = verbose_name_plural = "代发文件列"
        ordering = ["layout", "position"]
        constraints = [
            models.UniqueConstraint(fields=["layout", "position"], name="bank_file_column_unique_position"),
            models.CheckConstraint(
                condition=Q(field__in=ColumnField.values), name="bank_file_column_field_valid"
            ),
        ]

    def __str__(self):
        return f"{self.position}. {self.header}"


class BatchStatus(models.TextChoices):
    DRAFT = "draft", "已起草"
    CHECKED = "checked", "已复核"
    APPROVED = "approved", "已审批"
    EXPORTED = "exported", "已导出"
    CLOSED = "closed", "已完成"
    CANCELLED = "cancelled", "已作废"


class PaymentBatch(models.Model):
    """One fund's payments of a month (拨付批次). Drafted, checked by another person, approved
    by a third (the database refuses a checker equal to the drafter, an approver equal to the
    checker), exported as the bank's file, then each line paid or returned."""

    Status = BatchStatus

    fund = models.ForeignKey(Fund, on_delete=models.PROTECT, related_name="batches", verbose_name="资金")
    year = models.PositiveIntegerField("年度")
    month = models.PositiveSmallIntegerField("月份")
    status = models.CharField("状态", max_length=16, choices=BatchStatus.choices, default=BatchStatus.DRAFT)
    note = models.CharField("备注", max_length=200, blank=True)
    drafted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name="起草人"
    )
    drafted_at = models.DateTimeField("起草时间", auto_now_add=True)
    checked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="复核人",
    )
    checked_at = models.DateTimeField("复核时间", null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="审批人",
    )
    approved_at = models.DateTimeField("审批时间", null=True, blank=True)
    # Approval over the fund's available balance: the shortfall and the approver's reason.
    overdraft = models.DecimalField("超支金额", max_digits=14, decimal_places=2, null=True, blank=True)
    override_reason = models.CharField("超支审批理由", max_length=200, blank=True)
    layout = models.ForeignKey(
        BankFileLayout,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="代发版式",
    )
    exported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="导出人",
    )
    exported_at = models.DateTimeField("导出时间", null=True, blank=True)
    cancel_reason = models.CharField("作废原因", max_length=200, blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = verbose_name_plural = "拨付批次"
        ordering = ["-year", "-month", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(month__gte=1) & Q(month__lte=12), name="payment_batch_month_valid"
            ),
            models.CheckConstraint(
                condition=Q(status__in=BatchStatus.values), name="payment_batch_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(checked_by__isnull=True) | ~Q(checked_by=F("drafted_by")),
                name="payment_batch_checker_not_drafter",
            ),
            models.CheckConstraint(
                condition=Q(approved_by__isnull=True) | ~Q(approved_by=F("checked_by")),
                name="payment_batch_approver_not_checker",
            ),
            models.CheckConstraint(
                condition=Q(overdraft__isnull=True) | ~Q(override_reason=""),
                name="payment_batch_overdraft_has_reason",
            ),
        ]

    def __str__(self):
        return f"{self.fund} {self.year}年{self.month}月 第{self.pk}批"


class LineKind(models.TextChoices):
    INSTITUTION = "institution", "医疗机构拨付"
    REFUND = "refund", "重新结算退还"
    AID = "aid", "医疗救助给付"


class LineStatus(models.TextChoices):
    PENDING = "pending", "待支付"
    PAID = "paid", "已支付"
    RETURNED = "returned", "退票"


class PaymentLine(models.Model):
    """One payment of a batch: to an institution or a person, from one source."""

    Status = LineStatus

    batch = models.ForeignKey(
        PaymentBatch, on_delete=models.CASCADE, related_name="lines", verbose_name="批次"
    )
    position = models.PositiveIntegerField("序号")
    kind = models.CharField("类型", max_length=16, choices=LineKind.choices)
    source_key = models.CharField("款项来源", max_length=120)
    # An institution's ledger cell can be paid again after a re-settlement raised it: each
    # payment of the cell takes the next number (the service), two concurrent drafts collide.
    source_seq = models.PositiveIntegerField("来源序号", default=0)
    institution = models.ForeignKey(
        Institution,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="医疗机构",
    )
    member = models.ForeignKey(
        Member,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="payment_lines",
        verbose_name="收款人",
    )
    # The member's township when the line was drafted: what a clinic's scope reads.
    township = models.ForeignKey(
        Township, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name="乡镇"
    )
    period_year = models.PositiveIntegerField("所属年度")
    period_month = models.PositiveSmallIntegerField("所属月份")
    payee_name = models.CharField("收款方", max_length=100)
    account = models.ForeignKey(
        BankAccount,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="收款账户",
    )
    bank_name = models.CharField("开户银行", max_length=100, blank=True)
    account_name = models.CharField("户名", max_length=100, blank=True)
    account_number = models.CharField("账号", max_length=32, blank=True)
    amount = models.DecimalField("金额", max_digits=14, decimal_places=2)
    purpose = models.CharField("用途", max_length=200)
    status = models.CharField("状态", max_length=16, choices=LineStatus.choices, default=LineStatus.PENDING)
    paid_on = models.DateField("支付日期", null=True, blank=True)
    bank_reference = models.CharField("银行流水号", max_length=100, blank=True)
    returned_on = models.DateField("退票日期", null=True, blank=True)
    return_reason = models.CharField("退票原因", max_length=200, blank=True)
    transfer = models.ForeignKey(
        FundTransfer,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="拨付登记",
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name = verbose_name_plural = "拨付明细"
        ordering = ["batch", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["source_key", "source_seq"],
                condition=~Q(status="returned"),
                name="payment_line_source_once",
            ),
            models.UniqueConstraint(fields=["batch", "position"], name="payment_line_unique_position"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_line_amount_positive"),
            models.CheckConstraint(condition=Q(kind__in=LineKind.values), name="payment_line_kind_valid"),
            models.CheckConstraint(
                condition=~Q(status="paid") | (Q(paid_on__isnull=False) & ~Q(bank_reference="")),
                name="payment_line_paid_has_reference",
            ),
            models.CheckConstraint(
                condition=~Q(status="returned") | (Q(returned_on__isnull=False) & ~Q(return_reason="")),
                name="payment_line_returned_has_reason",
            ),
        ]
        indexes = [models.Index(fields=["township", "status"], name="payment_line_township")]

    def __str__(self):
        return f"{self.batch} #{self.position} {self.payee_name} {self.amount}"
