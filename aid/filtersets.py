"""The aid applications' filters, shared by the list page, its Excel export and the API."""

import django_filters
from django.db.models import Q

from claims.filtersets import place_filters

from . import selectors
from .models import AidApplication, AidKind, AidStatus, Applicant


class AidApplicationFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(label="搜索", method="search", help_text="申请编号、姓名或户编号")
    status = django_filters.ChoiceFilter(label="状态", choices=AidStatus.choices)
    kind = django_filters.ChoiceFilter(label="救助类型", choices=AidKind.choices)
    applicant = django_filters.ChoiceFilter(label="申请方式", choices=Applicant.choices)
    township, village = place_filters("member__household__village")
    overdue = django_filters.BooleanFilter(label="已超期", method="filter_overdue")
    received_from = django_filters.DateFilter(label="受理日期从", field_name="received_on", lookup_expr="gte")
    received_to = django_filters.DateFilter(label="至", field_name="received_on", lookup_expr="lte")

    class Meta:
        model = AidApplication
        fields = [
            "q",
            "status",
            "kind",
            "applicant",
            "township",
            "village",
            "overdue",
            "received_from",
            "received_to",
        ]

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(number__iexact=value) | Q(member__name__contains=value) | Q(member__household__number=value)
        )

    def filter_overdue(self, queryset, name, value):
        if value is None:
            return queryset
        late = selectors.overdue(queryset)
        return late if value else queryset.exclude(pk__in=late.values("pk"))
