"""Aid applications (救助申请): a case per member and event, its out-of-county invoices
(零星报销), its documents, and each step of its workflow; and the public holidays and adjusted
working days the deadline is counted with (data, seeded from the State Council's notices)."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from claims.models import Encounter
from registry.models import Member


class AidKind(models.TextChoices):
    APPLIED = "applied", "依申请医疗救助"
    TILTED = "tilted", "倾斜救助"
    SCATTERED = "scattered", "零星报销"
    CHARITY = "charity", "慈善帮扶"


class AidStatus(models.TextChoices):
    RECEIVED = "received", "已受理"
    TOWNSHIP_REVIEWED = "township_reviewed", "乡镇已审核"
    APPROVED = "approved", "县级已审批（待给付）"
    PAID = "paid", "已给付"
    RETURNED = "returned", "已退回"
    REFUSED = "refused", "不予救助"


# The statuses whose deadline still runs (受理 to 给付).
OPEN_STATUSES = (AidStatus.RECEIVED, AidStatus.TOWNSHIP_REVIEWED, AidStatus.APPROVED)


class Applicant(models.TextChoices):
    SELF = "self", "本人申请"
    PROXY = "proxy", "村干部代办"


class AidApplication(models.Model):
    number = models.CharField("申请编号", max_length=40, unique=True)
    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="aid_applications", verbose_name="申请人"
    )
    kind = models.CharField("救助类型", max_length=16, choices=AidKind.choices)
    status = models.CharField("状态", max_length=20, choices=AidStatus.choices, default=AidStatus.RECEIVED)
    reason = models.CharField("申请事由", max_length=500)
    encounters = models.ManyToManyField(
        Encounter, blank=True, related_name="aid_applications", verbose_name="涉及的就诊"
    )
    applicant = models.CharField("申请方式", max_length=8, choices=Applicant.choices, default=Applicant.SELF)
    proxy_name = models.CharField("代办人姓名", max_length=50, blank=True)
    proxy_phone = models.CharField("代办人电话", max_length=20, blank=True)
    received_on = models.DateField("受理日期")
    due_on = models.DateField("给付期限")
    amount = models.DecimalField("救助金额", max_digits=12, decimal_places=2, null=True, blank=True)
    calculation = models.JSONField("计算过程", null=True, blank=True)
    paid_on = models.DateField("给付日期", null=True, blank=True)
    payment_reference = models.CharField("给付凭证号", max_length=100, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name="录入人"
    )
    created_at = models.DateTimeField("录入时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)
    version = models.PositiveIntegerField("版本", default=1)
    history = HistoricalRecords(excluded_fields=["updated_at"])

    class Meta:
        verbose_name = verbose_name_plural = "救助申请"
        indexes = [models.Index(fields=["status", "due_on"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(applicant="self") | (~Q(proxy_name="") & ~Q(proxy_phone="")),
                name="aid_proxy_named",
            ),
            models.CheckConstraint(
                condition=Q(amount__isnull=True) | Q(amount__gte=0), name="aid_amount_not_negative"
            ),
            models.CheckConstraint(
                condition=~Q(status="paid") | (Q(paid_on__isnull=False) & Q(amount__isnull=False)),
                name="aid_paid_has_date_and_amount",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["approved", "paid"]) | Q(amount__isnull=False),
                name="aid_approved_has_amount",
            ),
            models.CheckConstraint(
                condition=Q(due_on__gte=models.F("received_on")), name="aid_due_after_received"
            ),
            models.CheckConstraint(
                condition=Q(status__in=[s.value for s in AidStatus]), name="aid_status_known"
            ),
            models.CheckConstraint(condition=Q(kind__in=[k.value for k in AidKind]), name="aid_kind_known"),
        ]

    def __str__(self):
        return f"{self.number} {self.member.name}"


class AidInvoice(models.Model):
    """One invoice of a stay outside the county (零星报销)."""

    application = models.ForeignKey(
        AidApplication, on_delete=models.CASCADE, related_name="invoices", verbose_name="救助申请"
    )
    hospital = models.CharField("县外医疗机构", max_length=100)
    invoice_number = models.CharField("发票号", max_length=50, blank=True)
    admission_date = models.DateField("入院日期")
    discharge_date = models.DateField("出院日期")
    amount = models.DecimalField("发票金额", max_digits=12, decimal_places=2)
    created_at = models.DateTimeField("录入时间", auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "零星报销发票"
        ordering = ["admission_date", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="aid_invoice_amount_positive"),
            models.CheckConstraint(
                condition=Q(discharge_date__gte=models.F("admission_date")), name="aid_invoice_dates_ordered"
            ),
        ]


class DocumentKind(models.TextChoices):
    INVOICE = "invoice", "发票"
    DISCHARGE = "discharge", "出院小结"
    OTHER = "other", "其他材料"


class AidDocument(models.Model):
    """A scan or photo (JPEG, PNG or PDF, checked by content). Stored in MEDIA_ROOT under a
    random name, served only through the role-checked document view."""

    application = models.ForeignKey(
        AidApplication, on_delete=models.CASCADE, related_name="documents", verbose_name="救助申请"
    )
    kind = models.CharField("材料类型", max_length=12, choices=DocumentKind.choices)
    file = models.FileField("文件", upload_to="private/aid/", max_length=200)
    content_type = models.CharField("文件类型", max_length=40)
    size = models.PositiveIntegerField("大小（字节）")
    original_name = models.CharField("原文件名", max_length=200)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name="上传人"
    )
    uploaded_at = models.DateTimeField("上传时间", auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "申请材料"
        ordering = ["uploaded_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(content_type__in=["image/jpeg", "image/png", "application/pdf"]),
                name="aid_document_type_known",
            ),
        ]

    @property
    def is_image(self) -> bool:
        return self.content_type.startswith("image/")


class StepAction(models.TextChoices):
    SUBMIT = "submit", "受理"
    RESUBMIT = "resubmit", "重新受理"
    TOWNSHIP_REVIEW = "township_review", "乡镇审核"
    COUNTY_APPROVE = "county_approve", "县级审批"
    PAY = "pay", "给付"
    PAYMENT_RETURNED = "payment_returned", "退票"
    RETURN = "return", "退回"
    REFUSE = "refuse", "不予救助"


class AidStep(models.Model):
    """One step of an application's workflow: what was done, on which day, by whom."""

    application = models.ForeignKey(
        AidApplication, on_delete=models.CASCADE, related_name="steps", verbose_name="救助申请"
    )
    action = models.CharField("环节", max_length=20, choices=StepAction.choices)
    from_status = models.CharField("原状态", max_length=20, choices=AidStatus.choices, blank=True)
    to_status = models.CharField("新状态", max_length=20, choices=AidStatus.choices)
    on = models.DateField("日期")
    at = models.DateTimeField("办理时间", auto_now_add=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name="经办人"
    )
    note = models.CharField("意见/原因", max_length=500, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "办理环节"
        ordering = ["at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(action__in=["return", "refuse", "payment_returned"]) | ~Q(note=""),
                name="aid_step_reason_given",
            ),
        ]


class HolidayKind(models.TextChoices):
    HOLIDAY = "holiday", "放假"
    WORKDAY = "workday", "调休上班"


class Holiday(models.Model):
    """A public holiday (a weekday off) or an adjusted working day (调休: a weekend day worked)."""

    date = models.DateField("日期", unique=True)
    kind = models.CharField("类型", max_length=8, choices=HolidayKind.choices)
    name = models.CharField("节日", max_length=50)
    history = HistoricalRecords()

    class Meta:
        verbose_name = verbose_name_plural = "节假日与调休"
        ordering = ["date"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["holiday", "workday"]), name="aid_holiday_kind_known"
            ),
        ]

    def __str__(self):
        return f"{self.date:%Y-%m-%d} {self.name}（{self.get_kind_display()}）"
