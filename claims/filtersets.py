"""Filters of the claims app, shared by list pages, the API and exports (django-filter)."""

import django_filters
from django.db.models import Exists, F, OuterRef, Q

from core.filters import YearFilter
from registry import roles
from registry.filtersets import township_choices, village_choices
from registry.models import Member
from registry.selectors import id_number_q

from .models import (
    CatalogueItem,
    Contract,
    ContractStatus,
    Disease,
    DiseaseGroup,
    Encounter,
    EncounterKind,
    FollowUp,
    FollowUpKind,
    IllnessRecord,
    IllnessStatus,
    Institution,
    InstitutionLevel,
    ItemCategory,
    ItemClass,
    ReviewFlag,
    ReviewOutcome,
    ReviewRuleCode,
    Screening,
    ScreeningRound,
    ServicePackage,
    Team,
    TreatmentWay,
)


def _teams(request):
    if request is None:
        return Team.objects.none()
    return roles.scope(Team.objects.all(), request.user, "township_id")


def _institutions(request):
    return Institution.objects.all()


def _member_search(prefix=""):
    """A search method over a member reached by ``prefix`` (e.g. ``"member__"``)."""

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(**{f"{prefix}name__contains": value})
            | id_number_q(getattr(self.request, "user", None), value, f"{prefix}id_number")
            | Q(**{f"{prefix}household__number__startswith": value})
        )

    return search


def place_filters(place):
    """乡镇 and 行政村 filters for a model that reaches the village through ``place``."""
    return (
        django_filters.ModelChoiceFilter(
            label="乡镇", field_name=f"{place}__township", queryset=township_choices
        ),
        django_filters.ModelChoiceFilter(label="行政村", field_name=place, queryset=village_choices),
    )


class _PersonFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(label="搜索", method="search", help_text="姓名、证件号码或户编号")
    township, village = place_filters("member__household__village")
    search = _member_search("member__")


class InstitutionFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(label="名称", field_name="name", lookup_expr="contains")
    level = django_filters.ChoiceFilter(label="级别", choices=InstitutionLevel.choices)
    designated = django_filters.BooleanFilter(label="定点")
    township = django_filters.ModelChoiceFilter(label="乡镇", queryset=township_choices)

    class Meta:
        model = Institution
        fields = ["q", "level", "designated", "township"]


class DiseaseFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(label="搜索", method="search", help_text="编码或名称")
    group = django_filters.ChoiceFilter(label="分组", choices=DiseaseGroup.choices)
    treatment_way = django_filters.ChoiceFilter(label="救治方式", choices=TreatmentWay.choices)
    active = django_filters.BooleanFilter(label="启用")

    class Meta:
        model = Disease
        fields = ["q", "group", "treatment_way", "active"]

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(code__istartswith=value) | Q(name__contains=value) | Q(prefixes__icontains=value)
        )


class CatalogueItemFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(label="搜索", method="search", help_text="项目编码或名称")
    category = django_filters.ChoiceFilter(label="费用类别", choices=ItemCategory.choices)
    item_class = django_filters.ChoiceFilter(label="医保目录类别", choices=ItemClass.choices)
    active = django_filters.BooleanFilter(label="启用")

    class Meta:
        model = CatalogueItem
        fields = ["q", "category", "item_class", "active"]

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(code__istartswith=value) | Q(name__contains=value))


class PackageFilterSet(django_filters.FilterSet):
    tier = django_filters.ChoiceFilter(label="档次", choices=ServicePackage._meta.get_field("tier").choices)
    active = django_filters.BooleanFilter(label="可签约")

    class Meta:
        model = ServicePackage
        fields = ["tier", "active"]


class IllnessFilterSet(_PersonFilterSet):
    status = django_filters.ChoiceFilter(label="救治状态", choices=IllnessStatus.choices)
    group = django_filters.ChoiceFilter(
        label="病种分组", field_name="disease__group", choices=DiseaseGroup.choices
    )
    treatment_way = django_filters.ChoiceFilter(label="救治方式", choices=TreatmentWay.choices)
    diagnosed_from = django_filters.DateFilter(
        label="确诊日期从", field_name="diagnosed_on", lookup_expr="gte"
    )
    diagnosed_to = django_filters.DateFilter(label="至", field_name="diagnosed_on", lookup_expr="lte")

    class Meta:
        model = IllnessRecord
        fields = [
            "q",
            "township",
            "village",
            "status",
            "group",
            "treatment_way",
            "diagnosed_from",
            "diagnosed_to",
        ]


class ScreeningFilterSet(_PersonFilterSet):
    year = YearFilter(label="年度")
    round = django_filters.ChoiceFilter(label="轮次", choices=ScreeningRound.choices)
    checked = django_filters.BooleanFilter(label="已筛查")
    with_findings = django_filters.BooleanFilter(label="有筛查发现", method="filter_findings")

    class Meta:
        model = Screening
        fields = ["q", "township", "village", "year", "round", "checked", "with_findings"]

    def filter_findings(self, queryset, name, value):
        if value is None:
            return queryset
        return queryset.exclude(findings="") if value else queryset.filter(findings="")


class TeamFilterSet(django_filters.FilterSet):
    township = django_filters.ModelChoiceFilter(label="乡镇", queryset=township_choices)
    active = django_filters.BooleanFilter(label="在岗")

    class Meta:
        model = Team
        fields = ["township", "active"]


class ContractFilterSet(_PersonFilterSet):
    township, village = place_filters("household__village")
    team = django_filters.ModelChoiceFilter(label="团队", queryset=_teams)
    package = django_filters.ModelChoiceFilter(label="服务包", queryset=ServicePackage.objects.all())
    status = django_filters.ChoiceFilter(label="状态", choices=ContractStatus.choices)
    start_from = django_filters.DateFilter(label="签约日期从", field_name="start_date", lookup_expr="gte")
    start_to = django_filters.DateFilter(label="至", field_name="start_date", lookup_expr="lte")
    search = _member_search("household__members__")

    class Meta:
        model = Contract
        fields = ["q", "township", "village", "team", "package", "status", "start_from", "start_to"]

    def filter_queryset(self, queryset):
        # A search through the household's members may match several of them.
        queryset = super().filter_queryset(queryset)
        return queryset.distinct() if self.form.cleaned_data.get("q") else queryset


class FollowUpFilterSet(_PersonFilterSet):
    kind = django_filters.ChoiceFilter(label="随访方式", choices=FollowUpKind.choices)
    team = django_filters.ModelChoiceFilter(label="团队", field_name="contract__team", queryset=_teams)
    date_from = django_filters.DateFilter(label="随访日期从", field_name="date", lookup_expr="gte")
    date_to = django_filters.DateFilter(label="至", field_name="date", lookup_expr="lte")

    class Meta:
        model = FollowUp
        fields = ["q", "township", "village", "team", "kind", "date_from", "date_to"]


class DueFollowUpFilterSet(django_filters.FilterSet):
    """On members (the 应随访 list)."""

    q = django_filters.CharFilter(label="搜索", method="search", help_text="姓名、证件号码或户编号")
    township, village = place_filters("household__village")
    search = _member_search()

    class Meta:
        model = Member
        fields = ["q", "township", "village"]


class EncounterFilterSet(_PersonFilterSet):
    institution = django_filters.ModelChoiceFilter(label="医疗机构", queryset=_institutions)
    level = django_filters.ChoiceFilter(
        label="机构级别", field_name="institution__level", choices=InstitutionLevel.choices
    )
    kind = django_filters.ChoiceFilter(label="就诊类型", choices=EncounterKind.choices)
    year = YearFilter(label="年度", field_name="service_date", lookup_expr="year")
    date_from = django_filters.DateFilter(label="结算日期从", field_name="service_date", lookup_expr="gte")
    date_to = django_filters.DateFilter(label="至", field_name="service_date", lookup_expr="lte")
    diagnosis = django_filters.CharFilter(
        label="诊断编码", field_name="diagnosis_code", lookup_expr="istartswith"
    )
    referred = django_filters.BooleanFilter(label="按规定转诊")
    is_current = django_filters.BooleanFilter(label="当前有效")

    class Meta:
        model = Encounter
        fields = [
            "q",
            "township",
            "village",
            "institution",
            "level",
            "kind",
            "year",
            "date_from",
            "date_to",
            "diagnosis",
            "referred",
            "is_current",
        ]


# --- the claims review queue (审核) ---------------------------------------------------------------


def _review_state(queryset, name, value):
    if value == "pending":
        return queryset.filter(decision_outcome__isnull=True)
    if value == "changed":
        return queryset.filter(decision_outcome__isnull=False).exclude(decision_version=F("version"))
    return queryset.filter(decision_outcome=value, decision_version=F("version"))


class ReviewQueueFilterSet(django_filters.FilterSet):
    """The review queue (``claims.review_selectors.review_queue_for``): page, API and export."""

    institution = django_filters.ModelChoiceFilter(label="医疗机构", queryset=_institutions)
    level = django_filters.ChoiceFilter(
        label="机构级别", field_name="institution__level", choices=InstitutionLevel.choices
    )
    rule = django_filters.ChoiceFilter(label="审核规则", choices=ReviewRuleCode.choices, method="filter_rule")
    state = django_filters.ChoiceFilter(
        label="审核状态",
        choices=[("pending", "待审核"), *ReviewOutcome.choices, ("changed", "审核后被修改")],
        method=lambda qs, name, value: _review_state(qs, name, value),
    )
    year = YearFilter(label="年度", field_name="service_date", lookup_expr="year")
    month = django_filters.NumberFilter(
        label="月份", field_name="service_date", lookup_expr="month", min_value=1, max_value=12
    )
    kind = django_filters.ChoiceFilter(label="就诊类型", choices=EncounterKind.choices)

    class Meta:
        model = Encounter
        fields = ["institution", "level", "rule", "state", "year", "month", "kind"]

    def filter_rule(self, queryset, name, value):
        return queryset.filter(Exists(ReviewFlag.objects.filter(encounter=OuterRef("pk"), code=value)))
