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
