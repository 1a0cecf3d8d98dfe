"""The registry (建档立卡): areas, poor households, their members, and who may see what."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Length
from django.db.models.lookups import Exact
from simple_history.models import HistoricalRecords

from core.models import ImportJob

from . import codes


def _text_choices(name, table):
    # Build TextChoices from the Django-free code lists, so stored codes and Chinese labels
    # have one source shared with the roster parser and the settlement engine.
    return models.TextChoices(name, [(code.upper(), (code, label)) for code, label, _ in table])


HouseholdAttribute = _text_choices("HouseholdAttribute", codes.HOUSEHOLD_ATTRIBUTES)
PovertyStatus = _text_choices("PovertyStatus", codes.POVERTY_STATUSES)
MainCause = _text_choices("MainCause", codes.MAIN_CAUSES)
Relation = _text_choices("Relation", codes.RELATIONS)
HealthStatus = _text_choices("HealthStatus", codes.HEALTH_STATUSES)
AidCategory = _text_choices("AidCategory", codes.AID_CATEGORIES)
Sex = _text_choices("Sex", codes.SEXES)


class Role(models.TextChoices):
    COUNTY = "county", "县级工作人员"
    TOWNSHIP = "township", "乡镇卫生院"
    SUPERVISOR = "supervisor", "督查领导"
    # 定点医疗机构: bound to one institution by claims.InstitutionUser (claims is above the
    # registry); sees only its institution's encounters, settlements and statements.
    HOSPITAL = "hospital", "定点医疗机构"


class Township(models.Model):
    name = models.CharField("乡镇", max_length=50, unique=True)
    code = models.CharField("区划代码", max_length=12, blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = verbose_name_plural = "乡镇"
        ordering = ["name"]

    def __str__(self):
        return self.name


class Village(models.Model):
    township = models.ForeignKey(
        Township, on_delete=models.PROTECT, related_name="villages", verbose_name="乡镇"
    )
    name = models.CharField("行政村", max_length=50)
    history = HistoricalRecords()

    class Meta:
        verbose_name = verbose_name_plural = "行政村"
        ordering = ["township__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["township", "name"], name="village_unique_in_township")
        ]

    def __str__(self):
        return (
            f"{self.township.name}{self.name}" if not self.name.startswith(self.township.name) else self.name
        )


class Household(models.Model):
    number = models.CharField("户编号", max_length=30, unique=True)
    village = models.ForeignKey(
        Village, on_delete=models.PROTECT, related_name="households", verbose_name="行政村"
    )
    phone = models.CharField("联系电话", max_length=30, blank=True)
    attribute = models.CharField(
        "贫困户属性", max_length=16, choices=HouseholdAttribute.choices, default="general"
    )
    poverty_status = models.CharField("脱贫状态", max_length=16, choices=PovertyStatus.choices)
    main_cause = models.CharField("主要致贫原因", max_length=16, choices=MainCause.choices, blank=True)
    annual_income = models.DecimalField(
        "家庭年收入(元)", max_digits=12, decimal_places=2, null=True, blank=True
    )
    # Optimistic locking: a form carries the version it was opened at; saving over a newer
    # version is refused (see services.household_update).
    version = models.PositiveIntegerField("版本", default=1)
    created_at = models.DateTimeField("建档时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)
    history = HistoricalRecords(excluded_fields=["updated_at"])

    class Meta:
        verbose_name = verbose_name_plural = "贫困户"
        ordering = ["number"]
        indexes = [models.Index(fields=["poverty_status"]), models.Index(fields=["village", "number"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(annual_income__isnull=True) | Q(annual_income__gte=0),
                name="household_income_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(attribute__in=HouseholdAttribute.values), name="household_attribute_valid"
            ),
            models.CheckConstraint(
                condition=Q(poverty_status__in=PovertyStatus.values), name="household_status_valid"
            ),
        ]

    def __str__(self):
        return self.number


class Member(models.Model):
    household = models.ForeignKey(
        Household, on_delete=models.PROTECT, related_name="members", verbose_name="所在户"
    )
    name = models.CharField("姓名", max_length=50)
    id_number = models.CharField("证件号码", max_length=18, unique=True)
    # Derived from the ID number when the member is saved through the services; stored
    # because lists filter and sort by them.
    sex = models.CharField("性别", max_length=1, choices=Sex.choices)
    birth_date = models.DateField("出生日期")
    relation = models.CharField("与户主关系", max_length=16, choices=Relation.choices)
    ethnicity = models.CharField("民族", max_length=20, blank=True)
    phone = models.CharField("联系电话", max_length=30, blank=True)
    health_status = models.CharField(
        "健康状况", max_length=16, choices=HealthStatus.choices, default="healthy"
    )
    insured = models.BooleanField("参加城乡居民基本医疗保险", null=True, blank=True)
    aid_category = models.CharField("救助类别", max_length=16, choices=AidCategory.choices, default="none")
    version = models.PositiveIntegerField("版本", default=1)
    created_at = models.DateTimeField("建档时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)
    history = HistoricalRecords(excluded_fields=["updated_at"])

    class Meta:
        verbose_name = verbose_name_plural = "家庭成员"
        ordering = ["household__number", "id"]
        indexes = [models.Index(fields=["name"]), models.Index(fields=["household", "relation"])]
        constraints = [
            models.CheckConstraint(
                condition=Exact(Length("id_number"), 18), name="member_id_number_18_chars"
            ),
            models.CheckConstraint(condition=Q(sex__in=Sex.values), name="member_sex_valid"),
            models.CheckConstraint(condition=Q(relation__in=Relation.values), name="member_relation_valid"),
            models.CheckConstraint(
                condition=Q(aid_category__in=AidCategory.values), name="member_aid_category_valid"
            ),
            models.CheckConstraint(
                condition=Q(health_status__in=HealthStatus.values), name="member_health_status_valid"
            ),
            # At most one head per household; "exactly one" is checked by the import.
            models.UniqueConstraint(
                fields=["household"], condition=Q(relation="head"), name="member_one_head_per_household"
            ),
        ]

    def __str__(self):
        return self.name


class Profile(models.Model):
    """A user's role; a township clinic's user is bound to one township."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile")
    role = models.CharField("角色", max_length=16, choices=Role.choices)
    township = models.ForeignKey(
        Township, on_delete=models.PROTECT, null=True, blank=True, verbose_name="所属乡镇"
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name = verbose_name_plural = "用户角色"
        constraints = [
            models.CheckConstraint(
                condition=(Q(role="township") & Q(township__isnull=False))
                | (~Q(role="township") & Q(township__isnull=True)),
                name="profile_township_iff_township_role",
            ),
        ]

    def __str__(self):
        return f"{self.user} ({self.get_role_display()})"


class RosterImport(ImportJob):
    """One uploaded roster file and what became of it (preview, then import)."""

    file = models.FileField("名册文件", upload_to="rosters/%Y/%m/", blank=True)
    create_areas = models.BooleanField("自动创建未知的乡镇和村", default=False)
    skip_invalid = models.BooleanField("跳过有错误的户，导入其余", default=False)

    class Meta(ImportJob.Meta):
        verbose_name = verbose_name_plural = "名册导入"


class EnrollmentImport(ImportJob):
    """One uploaded enrollment list (参保名单, from the medical-insurance bureau)."""

    file = models.FileField("参保名单文件", upload_to="enrollments/%Y/%m/", blank=True)
    skip_invalid = models.BooleanField("跳过有错误的行，导入其余", default=False)

    class Meta(ImportJob.Meta):
        verbose_name = verbose_name_plural = "参保名单导入"


# --- dated facts (动态管理): what was true from which day on ----------------------------------------
#
# A household's poverty status and a member's aid category are histories of periods: each row
# says "from ``effective_from`` on, the value is …" until the next row of the same household
# (member). The current columns (``Household.poverty_status``, ``Member.aid_category``) are kept
# in step by the services as "the fact as of today", so code that only needs today reads them.
# Settlement reads the fact on the day of care (``registry.facts.FactBook``). See docs/registry.md.


class StatusEvent(models.TextChoices):
    INITIAL = "initial", "初始登记"
    ENROLL = "enroll", "纳入"
    LIFT = "lift", "脱贫"
    RELAPSE = "relapse", "返贫"
    MONITOR = "monitor", "监测纳入"
    UNMONITOR = "unmonitor", "解除监测"


class AidEvent(models.TextChoices):
    INITIAL = "initial", "初始登记"
    GRANT = "grant", "认定"
    CHANGE = "change", "变更"
    WITHDRAW = "withdraw", "取消"


class ExitReason(models.TextChoices):
    DEATH = "death", "死亡"
    MOVED = "moved", "迁出"
    OTHER = "other", "其他"


class HouseholdStatusPeriod(models.Model):
    household = models.ForeignKey(
        Household, on_delete=models.PROTECT, related_name="status_periods", verbose_name="贫困户"
    )
    poverty_status = models.CharField("脱贫状态", max_length=16, choices=PovertyStatus.choices)
    event = models.CharField("变动类型", max_length=16, choices=StatusEvent.choices)
    effective_from = models.DateField("生效日期")
    reason = models.CharField("原因", max_length=200)
    document_number = models.CharField("文号", max_length=100, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, verbose_name="登记人"
    )
    created_at = models.DateTimeField("登记时间", auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = verbose_name_plural = "脱贫状态变动"
        ordering = ["household", "-effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["household", "effective_from"], name="status_period_one_per_date"
            ),
            models.CheckConstraint(
                condition=Q(poverty_status__in=PovertyStatus.values), name="status_period_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(event__in=StatusEvent.values), name="status_period_event_valid"
            ),
            models.CheckConstraint(condition=~Q(reason=""), name="status_period_reason_required"),
        ]

    def __str__(self):
        return f"{self.household_id} {self.effective_from} {self.poverty_status}"


class MemberAidPeriod(models.Model):
    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="aid_periods", verbose_name="成员"
    )
    aid_category = models.CharField("救助类别", max_length=16, choices=AidCategory.choices)
    event = models.CharField("变动类型", max_length=16, choices=AidEvent.choices)
    effective_from = models.DateField("生效日期")
    reason = models.CharField("原因", max_length=200)
    document_number = models.CharField("文号", max_length=100, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, verbose_name="登记人"
    )
    created_at = models.DateTimeField("登记时间", auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = verbose_name_plural = "救助类别变动"
        ordering = ["member", "-effective_from"]
        constraints = [
            models.UniqueConstraint(fields=["member", "effective_from"], name="aid_period_one_per_date"),
            models.CheckConstraint(
                condition=Q(aid_category__in=AidCategory.values), name="aid_period_category_valid"
            ),
            models.CheckConstraint(condition=Q(event__in=AidEvent.values), name="aid_period_event_valid"),
            models.CheckConstraint(condition=~Q(reason=""), name="aid_period_reason_required"),
        ]

    def __str__(self):
        return f"{self.member_id} {self.effective_from} {self.aid_category}"


class MemberExit(models.Model):
    """A member who left the household's record (死亡, 迁出, 其他) on ``left_on``. The member
    row stays (settlements and history point to it); care after that day is not settled."""

    member = models.OneToOneField(Member, on_delete=models.PROTECT, related_name="exit", verbose_name="成员")
    left_on = models.DateField("减员日期")
    reason = models.CharField("减员原因", max_length=16, choices=ExitReason.choices)
    note = models.CharField("说明", max_length=200, blank=True)
    document_number = models.CharField("文号", max_length=100, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, verbose_name="登记人"
    )
    created_at = models.DateTimeField("登记时间", auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = verbose_name_plural = "成员减员"
        constraints = [
            models.CheckConstraint(
                condition=Q(reason__in=ExitReason.values), name="member_exit_reason_valid"
            ),
        ]

    def __str__(self):
        return f"{self.member_id} {self.left_on} {self.reason}"


class Enrollment(models.Model):
    """参保 and 参保资助 of one member for one year: insured or not, the premium, the part the
    person paid and the subsidy (government's part), its category and the fund that paid it.
    Amounts are null together when only "insured or not" is known (premium = personal share +
    subsidy otherwise)."""

    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="enrollments", verbose_name="成员"
    )
    year = models.PositiveSmallIntegerField("参保年度")
    insured = models.BooleanField("已参保")
    premium = models.DecimalField("个人缴费标准(元)", max_digits=10, decimal_places=2, null=True, blank=True)
    personal_share = models.DecimalField(
        "个人实缴(元)", max_digits=10, decimal_places=2, null=True, blank=True
    )
    subsidy = models.DecimalField("资助金额(元)", max_digits=10, decimal_places=2, null=True, blank=True)
    subsidy_category = models.CharField("资助类别", max_length=50, blank=True)
    subsidy_fund = models.CharField("资助资金", max_length=50, blank=True)
    source = models.CharField("来源", max_length=100, blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, verbose_name="登记人"
    )
    updated_at = models.DateTimeField("更新时间", auto_now=True)
    history = HistoricalRecords(excluded_fields=["updated_at"])

    class Meta:
        verbose_name = verbose_name_plural = "参保登记"
        ordering = ["member", "-year"]
        constraints = [
            models.UniqueConstraint(fields=["member", "year"], name="enrollment_one_per_member_year"),
            models.CheckConstraint(condition=Q(year__gte=2000, year__lte=2100), name="enrollment_year_valid"),
            models.CheckConstraint(
                condition=(Q(premium__isnull=True) & Q(personal_share__isnull=True) & Q(subsidy__isnull=True))
                | (
                    Q(premium__isnull=False)
                    & Q(personal_share__gte=0)
                    & Q(subsidy__gte=0)
                    & Q(premium=models.F("personal_share") + models.F("subsidy"))
                ),
                name="enrollment_premium_is_share_plus_subsidy",
            ),
            models.CheckConstraint(
                condition=Q(subsidy__isnull=True) | Q(subsidy=0) | ~Q(subsidy_fund=""),
                name="enrollment_subsidy_names_fund",
            ),
        ]
        indexes = [models.Index(fields=["year", "insured"])]

    def __str__(self):
        return f"{self.member_id} {self.year} {'参保' if self.insured else '未参保'}"
