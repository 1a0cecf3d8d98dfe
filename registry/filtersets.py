"""Filters shared by list pages, the API and exports (django-filter)."""

import django_filters
from django.db.models import Q

from . import roles
from .models import (
    AidCategory,
    HealthStatus,
    Household,
    HouseholdAttribute,
    MainCause,
    Member,
    PovertyStatus,
    Township,
    Village,
)
from .selectors import id_number_q


def township_choices(request):
    if request is None:
        return Township.objects.none()
    return roles.scope(Township.objects.all(), request.user, "id")


def village_choices(request):
    if request is None:
        return Village.objects.none()
    return roles.scope(Village.objects.select_related("township"), request.user, "township_id")


class HouseholdFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(label="搜索", method="search", help_text="户编号、户主或成员姓名、证件号码")
    township = django_filters.ModelChoiceFilter(
        label="乡镇", field_name="village__township", queryset=township_choices
    )
    village = django_filters.ModelChoiceFilter(label="行政村", queryset=village_choices)
    poverty_status = django_filters.ChoiceFilter(label="脱贫状态", choices=PovertyStatus.choices)
    attribute = django_filters.ChoiceFilter(label="贫困户属性", choices=HouseholdAttribute.choices)
    main_cause = django_filters.ChoiceFilter(label="主要致贫原因", choices=MainCause.choices)

    class Meta:
        model = Household
        fields = ["q", "township", "village", "poverty_status", "attribute", "main_cause"]

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        matching = Member.objects.filter(
            Q(name__contains=value) | id_number_q(getattr(self.request, "user", None), value)
        )
        return queryset.filter(Q(number__startswith=value) | Q(pk__in=matching.values("household_id")))


class MemberFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(label="搜索", method="search", help_text="姓名、证件号码或户编号")
    township = django_filters.ModelChoiceFilter(
        label="乡镇", field_name="household__village__township", queryset=township_choices
    )
    village = django_filters.ModelChoiceFilter(
        label="行政村", field_name="household__village", queryset=village_choices
    )
    poverty_status = django_filters.ChoiceFilter(
        label="脱贫状态", field_name="household__poverty_status", choices=PovertyStatus.choices
    )
    insured = django_filters.BooleanFilter(label="是否参保")
    aid_category = django_filters.ChoiceFilter(label="救助类别", choices=AidCategory.choices)
    health_status = django_filters.ChoiceFilter(label="健康状况", choices=HealthStatus.choices)

    class Meta:
        model = Member
        fields = ["q", "township", "village", "poverty_status", "insured", "aid_category", "health_status"]

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(name__contains=value)
            | id_number_q(getattr(self.request, "user", None), value)
            | Q(household__number__startswith=value)
        )
