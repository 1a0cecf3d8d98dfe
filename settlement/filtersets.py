"""Filters of settlement lists (pages and the API alike)."""

import django_filters

from core.filters import IdFilter, YearFilter

from .models import Settlement


class SettlementFilterSet(django_filters.FilterSet):
    year = YearFilter(label="结算年度")
    member = IdFilter(label="患者", field_name="member_id")
    institution = IdFilter(label="医疗机构", field_name="institution_id")
    current = django_filters.BooleanFilter(label="当前有效", field_name="is_current")
    ref = django_filters.CharFilter(label="就诊流水号", field_name="encounter__ref")
    policy = django_filters.CharFilter(label="政策编码", field_name="policy__code")

    class Meta:
        model = Settlement
        fields = ["year", "member", "institution", "current", "ref", "policy"]
