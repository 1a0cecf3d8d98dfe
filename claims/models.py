"""Reference data (institutions, disease catalogue) and encounters (就诊记录).

Illness records, family-doctor teams, packages, contracts and follow-ups are added by the
claims issue; encounters are what settlement splits between the payers."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from simple_history.models import HistoricalRecords

from core.models import ImportJob
from registry.models import Member, Township

from . import codes, review_rules


def _choices(name, table):
    return models.TextChoices(name, [(code.upper(), (code, label)) for code, label in table])


InstitutionLevel = models.TextChoices(
    "InstitutionLevel", [(c.upper(), (c, label)) for c, label in codes.INSTITUTION_LEVELS]
)
EncounterKind = models.TextChoices(
    "EncounterKind", [(c.upper(), (c, label)) for c, label in codes.ENCOUNTER_KINDS]
)
DiseaseGroup = models.TextChoices(
    "DiseaseGroup", [(c.upper(), (c, label)) for c, label in codes.DISEASE_GROUPS]
)
TreatmentWay = models.TextChoices(
    "TreatmentWay", [(c.upper(), (c, label)) for c, label in codes.TREATMENT_WAYS]
)
IllnessStatus = _choices("IllnessStatus", codes.ILLNESS_STATUSES)
ScreeningRound = _choices("ScreeningRound", codes.SCREENING_ROUNDS)
TeamRole = _choices("TeamRole", codes.TEAM_ROLES)
PackageTier = _choices("PackageTier", codes.PACKAGE_TIERS)
ContractStatus = _choices("ContractStatus", codes.CONTRACT_STATUSES)
FollowUpKind = _choices("FollowUpKind", codes.FOLLOWUP_KINDS)
ItemClass = models.TextChoices("ItemClass", [(c, (c, label)) for c, label in codes.ITEM_CLASSES])
ItemCategory = _choices("ItemCategory", codes.ITEM_CATEGORIES)


class Institution(models.Model):
    name = models.CharField("医疗机构", max_length=100, unique=True)
    code = models.CharField("机构编码", max_length=30, blank=True)
    level = models.CharField("级别", max_length=20, choices=InstitutionLevel.choices)
    designated = models.BooleanField("定点机构", default=True)
    township = models.ForeignKey(
        Township,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="institutions",
        verbose_name="所在乡镇",
        help_text="乡镇卫生院和村卫生室填写；县级及以上留空。",
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name = verbose_name_plural = "医疗机构"
        ordering = ["level", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(level__in=InstitutionLevel.values), name="institution_level_valid"
            )
        ]

    def __str__(self):
        return self.name


class Disease(models.Model):
    """A catalogue entry; an encounter's diagnosis matches it by ICD-10 code prefix."""

    code = models.CharField("ICD-10编码", max_length=16, unique=True)
    name = models.CharField("疾病名称", max_length=100)
    group = models.CharField("分组", max_length=16, choices=DiseaseGroup.choices)
    treatment_way = models.CharField("救治方式", max_length=32, choices=TreatmentWay.choices, blank=True)
    lists = models.CharField(
        "所属名录", max_length=100, blank=True, help_text="例如：2017国家9种,2018国家21种"
    )
    prefixes = models.CharField(
        "匹配编码前缀",
        max_length=200,
        blank=True,
        help_text="诊断编码以其中任一前缀开头即匹配本病种，用逗号分隔，如 A15,A16；留空则按编码（J60-J65 这样的范围逐个展开）。",
    )
    active = models.BooleanField("本县名录启用", default=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = verbose_name_plural = "病种目录"
        ordering = ["code"]

    def __str__(self):
        return f"{self.code} {self.name}"


class Encounter(models.Model):
    """A visit or hospital stay entered by a clinic. Editable until settled; a correction of a
    settled encounter is a new row that ``supersedes`` the old one, which stays visible."""

    ref = models.CharField("就诊流水号", max_length=40, unique=True)
    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="encounters", verbose_name="患者"
    )
    institution = models.ForeignKey(
        Institution, on_delete=models.PROTECT, related_name="encounters", verbose_name="医疗机构"
    )
    kind = models.CharField("就诊类型", max_length=20, choices=EncounterKind.choices)
    admission_date = models.DateField("就诊/入院日期")
    discharge_date = models.DateField("出院日期", null=True, blank=True)
    # The settlement date keys the yearly accumulators: discharge for a stay, else the visit.
    service_date = models.GeneratedField(
        expression=Coalesce("discharge_date", "admission_date"),
        output_field=models.DateField(),
        db_persist=True,
        verbose_name="结算日期",
    )
    diagnosis_code = models.CharField("诊断编码(ICD-10)", max_length=16, blank=True)
    diagnosis_name = models.CharField("诊断名称", max_length=100, blank=True)
    total_cost = models.DecimalField("医疗总费用", max_digits=12, decimal_places=2)
    in_policy_cost = models.DecimalField("政策范围内费用", max_digits=12, decimal_places=2)
    package = models.CharField("单病种定额编码", max_length=16, blank=True)
    referred = models.BooleanField("按规定转诊", default=True)
    supersedes = models.OneToOneField(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="superseded_by",
        verbose_name="更正的原记录",
    )
    is_current = models.BooleanField("当前有效", default=True)
    # Kept when staff confirmed an encounter identical (member, institution, kind, dates, total)
    # to a current one as a real second visit: why it is not a duplicate entry.
    duplicate_reason = models.CharField("确认非重复录入的原因", max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="录入人",
    )
    created_at = models.DateTimeField("录入时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)
    version = models.PositiveIntegerField("版本", default=1)
    history = HistoricalRecords(excluded_fields=["updated_at"])

    class Meta:
        verbose_name = verbose_name_plural = "就诊记录"
        ordering = ["-admission_date", "-id"]
        indexes = [
            models.Index(fields=["member", "service_date"]),
            models.Index(fields=["institution", "service_date"]),
            # The review's outlier groups (claims.services.encounter_review): one kind, a
            # diagnosis category (LIKE 'K35%': pattern ops on PostgreSQL), one year.
            models.Index(
                fields=["kind", "diagnosis_code", "service_date"],
                name="encounter_review_group",
                opclasses=["varchar_ops", "varchar_pattern_ops", "date_ops"],
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(total_cost__gte=0), name="encounter_total_not_negative"),
            models.CheckConstraint(
                condition=Q(in_policy_cost__gte=0) & Q(in_policy_cost__lte=F("total_cost")),
                name="encounter_in_policy_within_total",
            ),
            models.CheckConstraint(
                condition=Q(discharge_date__isnull=True) | Q(discharge_date__gte=F("admission_date")),
                name="encounter_discharge_after_admission",
            ),
            models.CheckConstraint(condition=Q(kind__in=EncounterKind.values), name="encounter_kind_valid"),
        ]

    def __str__(self):
        return self.ref


class EncounterItem(models.Model):
    """One line of an encounter's itemised bill (费用明细). With items, the encounter's total is
    Σ amount and settlement derives the in-policy cost from the classes under the year's policy
    catalogue; ``deducted`` (违规扣除) is borne by the institution, not by funds or patient."""

    encounter = models.ForeignKey(
        Encounter, on_delete=models.CASCADE, related_name="items", verbose_name="就诊记录"
    )
    position = models.PositiveIntegerField("序号")
    code = models.CharField("项目编码", max_length=50)
    name = models.CharField("项目名称", max_length=100, blank=True)
    category = models.CharField("费用类别", max_length=20, choices=ItemCategory.choices, blank=True)
    item_class = models.CharField("医保目录类别", max_length=1, choices=ItemClass.choices)
    quantity = models.DecimalField("数量", max_digits=12, decimal_places=3, null=True, blank=True)
    unit_price = models.DecimalField("单价", max_digits=12, decimal_places=4, null=True, blank=True)
    amount = models.DecimalField("金额", max_digits=12, decimal_places=2)
    deducted = models.DecimalField("违规扣除", max_digits=12, decimal_places=2, default=0)

    class Meta:
        verbose_name = verbose_name_plural = "费用明细"
        ordering = ["encounter", "position"]
        constraints = [
            models.UniqueConstraint(fields=["encounter", "position"], name="encounter_item_position_unique"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="encounter_item_amount_not_negative"),
            models.CheckConstraint(
                condition=Q(deducted__gte=0) & Q(deducted__lte=F("amount")),
                name="encounter_item_deducted_within_amount",
            ),
            models.CheckConstraint(
                condition=Q(item_class__in=ItemClass.values), name="encounter_item_class_valid"
            ),
            models.CheckConstraint(
                condition=Q(category="") | Q(category__in=ItemCategory.values),
                name="encounter_item_category_valid",
            ),
            models.CheckConstraint(
                condition=Q(quantity__isnull=True) | Q(quantity__gte=0),
                name="encounter_item_quantity_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(unit_price__isnull=True) | Q(unit_price__gte=0),
                name="encounter_item_unit_price_not_negative",
            ),
        ]

    def __str__(self):
        return f"{self.code} {self.name}".strip()


class CatalogueItem(models.Model):
    """One item of the county's medical-insurance catalogue (医保目录项目): what a code is, its
    cost category and catalogue class (甲/乙/丙, the items' A/B/C). Clinics pick items from it;
    the review rule ``not_in_catalogue`` flags bill codes that are not active in it. Imported
    from Excel by county staff (``claims.catalogue``)."""

    code = models.CharField("项目编码", max_length=50, unique=True)
    name = models.CharField("项目名称", max_length=100)
    category = models.CharField("费用类别", max_length=20, choices=ItemCategory.choices, blank=True)
    item_class = models.CharField("医保目录类别", max_length=1, choices=ItemClass.choices)
    unit_price = models.DecimalField("单价", max_digits=12, decimal_places=4, null=True, blank=True)
    unit = models.CharField("单位", max_length=20, blank=True)
    active = models.BooleanField("启用", default=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = verbose_name_plural = "医保目录项目"
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=~Q(code=""), name="catalogue_item_code_not_blank"),
            models.CheckConstraint(condition=~Q(name=""), name="catalogue_item_name_not_blank"),
            models.CheckConstraint(
                condition=Q(item_class__in=ItemClass.values), name="catalogue_item_class_valid"
            ),
            models.CheckConstraint(
                condition=Q(category="") | Q(category__in=ItemCategory.values),
                name="catalogue_item_category_valid",
            ),
            models.CheckConstraint(
                condition=Q(unit_price__isnull=True) | Q(unit_price__gte=0),
                name="catalogue_item_unit_price_not_negative",
            ),
        ]

    def __str__(self):
        return f"{self.code} {self.name}"


class CatalogueImport(ImportJob):
    """One uploaded catalogue file (医保目录导入)."""

    file = models.FileField("目录文件", upload_to="catalogue/%Y/%m/", blank=True)
    skip_invalid = models.BooleanField("跳过有错误的行，导入其余", default=False)

    class Meta(ImportJob.Meta):
        verbose_name = verbose_name_plural = "医保目录导入"


ReviewRuleCode = models.TextChoices(
    "ReviewRuleCode", [(c.upper(), (c, name)) for c, (name, _) in review_rules.RULES.items()]
)


class ReviewRule(models.Model):
    """A rule of the automatic review (``claims.review_rules``) as the county sets it: on or off,
    its threshold and the explanation staff read. Seeded with every rule by a data migration."""

    code = models.CharField("规则", max_length=30, choices=ReviewRuleCode.choices, unique=True)
    name = models.CharField("名称", max_length=50)
    explanation = models.TextField("说明")
    enabled = models.BooleanField("启用", default=True)
    threshold = models.DecimalField(
        "阈值",
        max_digits=12,
        decimal_places=4,
        null=True,
        blank=True,
        help_text="分解住院：天数；住院天数/费用异常：稳健Z值；药占比、丙类占比：比例（0.40即40%）；"
        "性别年龄：成年年龄。其他规则不用。",
    )
    min_group = models.PositiveIntegerField(
        "最少同类例数", null=True, blank=True, help_text="住院天数/费用异常：同类不足此数时不判断。"
    )
    catalogue_codes = models.TextField(
        "目录项目编码",
        blank=True,
        help_text="项目不在目录内：在“医保目录”之外另行认可的项目编码，用逗号或换行分隔。"
        "医保目录有启用项目时按目录（加上这里的编码）判断；目录为空且这里留空时不判断。",
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name = verbose_name_plural = "审核规则"
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(code__in=ReviewRuleCode.values), name="review_rule_code_valid"
            ),
            models.CheckConstraint(
                condition=Q(threshold__isnull=True) | Q(threshold__gte=0),
                name="review_rule_threshold_not_negative",
            ),
        ]

    def __str__(self):
        return self.name


class ReviewFlag(models.Model):
    """What the automatic review found on an encounter (a reason to look, not a refusal)."""

    encounter = models.ForeignKey(
        Encounter, on_delete=models.CASCADE, related_name="review_flags", verbose_name="就诊记录"
    )
    code = models.CharField("规则", max_length=30, choices=ReviewRuleCode.choices)
    message = models.TextField("审核意见")
    created_at = models.DateTimeField("审核时间", auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "审核提示"
        ordering = ["encounter", "id"]

    def __str__(self):
        return f"{self.encounter} {self.code}"


class ViolationReason(models.Model):
    """A violation code of the claims review (违规类型: 分解住院, 过度检查, …), the reason a
    deduction or rejection gives. Seeded by a data migration; county staff edit it in 系统管理."""

    code = models.CharField("编码", max_length=30, unique=True)
    name = models.CharField("违规类型", max_length=50, unique=True)
    description = models.TextField("说明", blank=True)
    active = models.BooleanField("可选用", default=True)
    position = models.PositiveSmallIntegerField("排序", default=0)
    history = HistoricalRecords()

    class Meta:
        verbose_name = verbose_name_plural = "违规类型"
        ordering = ["position", "id"]

    def __str__(self):
        return self.name


class ReviewOutcome(models.TextChoices):
    APPROVE = "approve", "审核通过"
    DEDUCT = "deduct", "违规扣款"
    REJECT = "reject", "拒付"


class ReviewDecision(models.Model):
    """A reviewer's decision on one encounter (审核结论). Each decision states the whole outcome:
    ``deducted`` is Σ 违规扣除 on the bill after it (0 for an approval, the whole bill for a
    rejection) and ``items`` the deduction of each line ({position: "amount"}); the latest
    decision of an encounter is the current one. Written only by ``claims.review``."""

    Outcome = ReviewOutcome

    encounter = models.ForeignKey(
        Encounter, on_delete=models.PROTECT, related_name="review_decisions", verbose_name="就诊记录"
    )
    outcome = models.CharField("审核结论", max_length=10, choices=ReviewOutcome.choices)
    reason = models.ForeignKey(
        ViolationReason,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="decisions",
        verbose_name="违规类型",
    )
    note = models.TextField("审核意见", blank=True)
    billed = models.DecimalField("明细金额合计", max_digits=12, decimal_places=2)
    deducted = models.DecimalField("违规扣除合计", max_digits=12, decimal_places=2)
    change = models.DecimalField(
        "本次扣除变化", max_digits=12, decimal_places=2, help_text="本次审核后的扣除合计减去审核前的"
    )
    items = models.JSONField("逐项扣除", default=dict, blank=True)
    encounter_version = models.PositiveIntegerField("审核时的记录版本")
    is_current = models.BooleanField("当前结论", default=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name="审核人"
    )
    decided_at = models.DateTimeField("审核时间", auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = verbose_name_plural = "审核结论"
        ordering = ["-decided_at", "-id"]
        indexes = [models.Index(fields=["decided_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(outcome__in=ReviewOutcome.values), name="review_decision_outcome_valid"
            ),
            models.CheckConstraint(
                condition=Q(deducted__gte=0) & Q(deducted__lte=F("billed")),
                name="review_decision_deducted_within_bill",
            ),
            models.CheckConstraint(
                condition=Q(outcome="approve", deducted=0) | ~Q(outcome="approve"),
                name="review_decision_approve_deducts_nothing",
            ),
            models.CheckConstraint(
                condition=Q(outcome="approve") | Q(reason__isnull=False),
                name="review_decision_reason_required",
            ),
            models.UniqueConstraint(
                fields=["encounter"], condition=Q(is_current=True), name="review_decision_one_current"
            ),
        ]

    def __str__(self):
        return f"{self.encounter} {self.get_outcome_display()}"


def _money(label, **kwargs):
    return models.DecimalField(label, max_digits=12, decimal_places=2, **kwargs)


def _not_negative(*names, prefix):
    return [
        models.CheckConstraint(
            condition=Q(**{f"{name}__isnull": True}) | Q(**{f"{name}__gte": 0}),
            name=f"{prefix}_{name}_not_negative",
        )
        for name in names
    ]


class IllnessRecord(models.Model):
    """一人一档、一人一策: one illness of one member, its treatment plan and the 因病致贫 survey."""

    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="illnesses", verbose_name="患者"
    )
    disease = models.ForeignKey(
        Disease,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="illnesses",
        verbose_name="目录病种",
        help_text="由诊断编码按前缀自动匹配。",
    )
    diagnosis_code = models.CharField("诊断编码(ICD-10)", max_length=16)
    diagnosis_name = models.CharField("诊断名称", max_length=100)
    diagnosed_on = models.DateField("确诊日期")
    diagnosed_at = models.ForeignKey(
        Institution,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="确诊机构",
    )
    treatment_way = models.CharField("救治方式", max_length=32, choices=TreatmentWay.choices, blank=True)
    treatment_plan = models.TextField("救治方案（一人一策）", blank=True)
    status = models.CharField(
        "救治状态", max_length=16, choices=IllnessStatus.choices, default=IllnessStatus.PENDING
    )
    total_cost = _money("累计总费用", null=True, blank=True)
    basic_insurance = _money("基本医保报销", null=True, blank=True)
    catastrophic_insurance = _money("大病保险报销", null=True, blank=True)
    civil_aid = _money("民政医疗救助", null=True, blank=True)
    self_pay = _money("个人自付", null=True, blank=True)
    result = models.CharField("救治结果", max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="录入人",
    )
    created_at = models.DateTimeField("建档时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)
    version = models.PositiveIntegerField("版本", default=1)
    history = HistoricalRecords(excluded_fields=["updated_at"])

    class Meta:
        verbose_name = verbose_name_plural = "疾病救治档案"
        ordering = ["-diagnosed_on", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["member", "diagnosis_code"], name="illness_unique_per_member_code"
            ),
            models.CheckConstraint(condition=Q(status__in=IllnessStatus.values), name="illness_status_valid"),
            *_not_negative(
                "total_cost",
                "basic_insurance",
                "catastrophic_insurance",
                "civil_aid",
                "self_pay",
                prefix="illness",
            ),
        ]

    def __str__(self):
        return f"{self.member} {self.diagnosis_name}"


class Screening(models.Model):
    """One member checked in one screening round of a year (two rounds: everybody, then the sick)."""

    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="screenings", verbose_name="成员"
    )
    year = models.PositiveSmallIntegerField("年度")
    round = models.CharField("筛查轮次", max_length=16, choices=ScreeningRound.choices)
    checked = models.BooleanField("已筛查", default=True)
    checked_on = models.DateField("筛查日期")
    findings = models.CharField("筛查发现", max_length=200, blank=True)
    checked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="登记人",
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name = verbose_name_plural = "筛查登记"
        ordering = ["-year", "member__household__number", "member_id"]
        constraints = [
            models.UniqueConstraint(fields=["member", "year", "round"], name="screening_once_per_round"),
            models.CheckConstraint(
                condition=Q(round__in=ScreeningRound.values), name="screening_round_valid"
            ),
        ]

    def __str__(self):
        return f"{self.member} {self.year} {self.get_round_display()}"


class Team(models.Model):
    """A family-doctor team (家庭医生团队) of a township clinic."""

    name = models.CharField("团队名称", max_length=100)
    institution = models.ForeignKey(
        Institution, on_delete=models.PROTECT, related_name="teams", verbose_name="所属卫生院"
    )
    # Copied from the clinic when the team is saved through the services: scoping filters on it.
    township = models.ForeignKey(
        Township, on_delete=models.PROTECT, related_name="teams", verbose_name="乡镇"
    )
    active = models.BooleanField("在岗", default=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = verbose_name_plural = "家庭医生团队"
        ordering = ["township__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["institution", "name"], name="team_unique_name_in_clinic")
        ]

    def __str__(self):
        return self.name


class TeamMember(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="members", verbose_name="团队")
    name = models.CharField("姓名", max_length=50)
    role = models.CharField("团队角色", max_length=20, choices=TeamRole.choices)
    phone = models.CharField("联系电话", max_length=30, blank=True)
    active = models.BooleanField("在岗", default=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = verbose_name_plural = "团队成员"
        ordering = ["team_id", "role", "name"]
        constraints = [
            models.CheckConstraint(condition=Q(role__in=TeamRole.values), name="team_member_role_valid")
        ]

    def __str__(self):
        return f"{self.name}（{self.get_role_display()}）"


class ServicePackage(models.Model):
    """服务包: what a contract provides, its yearly price and the part the person pays."""

    name = models.CharField("服务包名称", max_length=100, unique=True)
    tier = models.CharField("档次", max_length=16, choices=PackageTier.choices)
    items = models.TextField("服务内容", help_text="每行一项。")
    price = _money("年服务费(元)")
    personal_share = _money("个人支付(元)", default=0)
    active = models.BooleanField("可签约", default=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = verbose_name_plural = "服务包"
        ordering = ["tier", "name"]
        constraints = [
            models.CheckConstraint(condition=Q(tier__in=PackageTier.values), name="package_tier_valid"),
            models.CheckConstraint(
                condition=Q(personal_share__gte=0) & Q(personal_share__lte=F("price")),
                name="package_share_within_price",
            ),
        ]

    def __str__(self):
        return self.name

    @property
    def item_list(self):
        return [line.strip() for line in self.items.splitlines() if line.strip()]


class ContractQuerySet(models.QuerySet):
    def in_force(self, on=None):
        """Contracts in force on ``on`` (default today): 履约中 and the end date not passed. A
        contract past its end date is over even while the daily ``expire_contracts`` task has
        not yet marked it 已到期 (every "in force" check goes through here)."""
        return self.filter(status=ContractStatus.ACTIVE, end_date__gte=on or timezone.localdate())

    def lapsed(self, on=None):
        """Still 履约中 but past the end date: what ``contracts_expire`` marks 已到期."""
        return self.filter(status=ContractStatus.ACTIVE, end_date__lt=on or timezone.localdate())


class Contract(models.Model):
    """签约: a household's members signed to a team and a package for a period."""

    objects = ContractQuerySet.as_manager()
    Status = ContractStatus  # for templates: ``contract.status == contract.Status.ACTIVE``

    household = models.ForeignKey(
        "registry.Household", on_delete=models.PROTECT, related_name="contracts", verbose_name="签约户"
    )
    members = models.ManyToManyField(Member, related_name="contracts", verbose_name="签约成员")
    team = models.ForeignKey(
        Team, on_delete=models.PROTECT, related_name="contracts", verbose_name="签约团队"
    )
    package = models.ForeignKey(
        ServicePackage, on_delete=models.PROTECT, related_name="contracts", verbose_name="服务包"
    )
    start_date = models.DateField("签约开始日期")
    end_date = models.DateField("签约结束日期")
    status = models.CharField(
        "状态", max_length=16, choices=ContractStatus.choices, default=ContractStatus.ACTIVE
    )
    notes = models.CharField("备注", max_length=200, blank=True)
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="经办人",
    )
    created_at = models.DateTimeField("录入时间", auto_now_add=True)
    version = models.PositiveIntegerField("版本", default=1)
    history = HistoricalRecords(m2m_fields=[members])

    class Meta:
        verbose_name = verbose_name_plural = "家庭医生签约"
        ordering = ["-start_date", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_date__gt=F("start_date")), name="contract_end_after_start"
            ),
            models.CheckConstraint(
                condition=Q(status__in=ContractStatus.values), name="contract_status_valid"
            ),
            # A household holds at most one contract in force.
            models.UniqueConstraint(
                fields=["household"], condition=Q(status="active"), name="contract_one_active_per_household"
            ),
        ]

    def __str__(self):
        return f"{self.household} · {self.team}"


class FollowUp(models.Model):
    """随访: a contact of a team's doctor with a contracted member."""

    contract = models.ForeignKey(
        Contract, on_delete=models.PROTECT, related_name="followups", verbose_name="签约"
    )
    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="followups", verbose_name="随访对象"
    )
    date = models.DateField("随访日期")
    doctor = models.ForeignKey(
        TeamMember,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="followups",
        verbose_name="随访医生",
    )
    kind = models.CharField("随访方式", max_length=16, choices=FollowUpKind.choices)
    systolic = models.PositiveSmallIntegerField("收缩压(mmHg)", null=True, blank=True)
    diastolic = models.PositiveSmallIntegerField("舒张压(mmHg)", null=True, blank=True)
    glucose = models.DecimalField("血糖(mmol/L)", max_digits=4, decimal_places=1, null=True, blank=True)
    notes = models.CharField("随访记录", max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="录入人",
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name = verbose_name_plural = "随访记录"
        ordering = ["-date", "-id"]
        indexes = [models.Index(fields=["member", "date"]), models.Index(fields=["contract", "date"])]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=FollowUpKind.values), name="followup_kind_valid"),
            models.CheckConstraint(
                condition=Q(systolic__isnull=True) | Q(systolic__gte=40, systolic__lte=300),
                name="followup_systolic_range",
            ),
            models.CheckConstraint(
                condition=Q(diastolic__isnull=True) | Q(diastolic__gte=20, diastolic__lte=200),
                name="followup_diastolic_range",
            ),
            models.CheckConstraint(
                condition=Q(glucose__isnull=True) | Q(glucose__gt=0, glucose__lte=50),
                name="followup_glucose_range",
            ),
        ]

    def __str__(self):
        return f"{self.member} {self.date}"


class EncounterImport(ImportJob):
    """One uploaded discharge list (出院清单) and what became of it (preview, then import)."""

    file = models.FileField("就诊清单文件", upload_to="encounters/%Y/%m/", blank=True)
    skip_invalid = models.BooleanField("跳过有错误的行，导入其余", default=False)

    class Meta(ImportJob.Meta):
        verbose_name = verbose_name_plural = "就诊导入"


# --- the hospital's window (定点医疗机构) ----------------------------------------------------------


class InstitutionUser(models.Model):
    """The institution of a 定点医疗机构 user (``registry.Profile.role == "hospital"``). The
    registry holds the role; the institution is a claims record, so the link lives here
    (docs/architecture.md). A hospital user without this link sees nothing."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="institution_link",
        verbose_name="用户",
    )
    institution = models.ForeignKey(
        Institution, on_delete=models.PROTECT, related_name="accounts", verbose_name="医疗机构"
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name = verbose_name_plural = "医疗机构账号"

    def __str__(self):
        return f"{self.user}（{self.institution}）"


class InstitutionToken(models.Model):
    """A 定点医疗机构's API token (接口令牌): one live token per institution, held by one of its
    hospital users. Only the SHA-256 digest of the key is stored (the key is shown once, when
    county staff create it); a revoked token is refused (401) and never comes back."""

    institution = models.ForeignKey(
        Institution, on_delete=models.PROTECT, related_name="tokens", verbose_name="医疗机构"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name="所属账号"
    )
    digest = models.CharField("令牌摘要", max_length=64, unique=True)
    prefix = models.CharField("令牌前缀", max_length=12)
    note = models.CharField("备注", max_length=100, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name="创建人"
    )
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    last_used_at = models.DateTimeField("最近使用", null=True, blank=True)
    revoked_at = models.DateTimeField("吊销时间", null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="吊销人",
    )

    class Meta:
        verbose_name = verbose_name_plural = "医疗机构接口令牌"
        ordering = ["institution", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["institution"],
                condition=Q(revoked_at__isnull=True),
                name="institution_token_one_live",
            ),
            models.CheckConstraint(
                condition=Q(revoked_at__isnull=True) | Q(revoked_by__isnull=False),
                name="institution_token_revoked_by_someone",
            ),
        ]

    def __str__(self):
        return f"{self.institution} {self.prefix}…"


class DischargeStatus(models.TextChoices):
    SETTLED = "settled", "已结算"
    CORRECTED = "corrected", "已更正重结"
    CANCELLED = "cancelled", "已退费作废"


class Discharge(models.Model):
    """A stay settled at the hospital's window (出院结算), keyed by the hospital's own visit
    number (住院号): unique per institution, so a repeated request finds it. ``encounter`` is
    the visit's current encounter (the latest correction); ``digest``/``answer`` are the first
    request's fingerprint and response (a repeat of it gets the same answer), ``last_digest``
    / ``last_answer`` the latest correction's or cancellation's."""

    institution = models.ForeignKey(
        Institution, on_delete=models.PROTECT, related_name="discharges", verbose_name="医疗机构"
    )
    visit_number = models.CharField("医院就诊号", max_length=30)
    encounter = models.ForeignKey(
        Encounter,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="discharges",
        verbose_name="当前就诊记录",
    )
    status = models.CharField(
        "状态", max_length=16, choices=DischargeStatus.choices, default=DischargeStatus.SETTLED
    )
    digest = models.CharField("首次请求摘要", max_length=64)
    answer = models.JSONField("首次结算结果", null=True, blank=True)
    last_digest = models.CharField("最近请求摘要", max_length=64, blank=True)
    last_answer = models.JSONField("最近结算结果", null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name="结算人"
    )
    created_at = models.DateTimeField("结算时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)
    history = HistoricalRecords(excluded_fields=["updated_at", "answer", "last_answer"])

    class Meta:
        verbose_name = verbose_name_plural = "窗口出院结算"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["institution", "visit_number"], name="discharge_visit_unique_in_institution"
            ),
            models.CheckConstraint(
                condition=Q(status__in=DischargeStatus.values), name="discharge_status_valid"
            ),
        ]

    def __str__(self):
        return f"{self.institution} {self.visit_number}"
