"""Filters of the payments lists (pages and API)."""

import django_filters

from core.filters import IdFilter, YearFilter

from .models import BankAccount, BatchStatus, LineKind, LineStatus, PaymentBatch, PaymentLine


class BatchFilterSet(django_filters.FilterSet):
    year = YearFilter(label="年度")
    month = django_filters.NumberFilter(label="月份", min_value=1, max_value=12)
    status = django_filters.ChoiceFilter(label="状态", choices=BatchStatus.choices)

    class Meta:
        model = PaymentBatch
        fields = ["fund", "year", "month", "status"]


class LineFilterSet(django_filters.FilterSet):
    batch = IdFilter(label="批次号")
    kind = django_filters.ChoiceFilter(label="类型", choices=LineKind.choices)
    status = django_filters.ChoiceFilter(label="状态", choices=LineStatus.choices)
    payee = django_filters.CharFilter(field_name="payee_name", lookup_expr="contains", label="收款方")

    class Meta:
        model = PaymentLine
        fields = ["batch", "kind", "status", "payee"]


class AccountFilterSet(django_filters.FilterSet):
    household = django_filters.CharFilter(field_name="household__number", label="户编号")
    name = django_filters.CharFilter(field_name="account_name", lookup_expr="contains", label="户名")
    active = django_filters.BooleanFilter(label="在用")

    class Meta:
        model = BankAccount
        fields = ["household", "name", "active"]
