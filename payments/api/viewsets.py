"""Payments API (/api/v1/payments/…), scoped as the pages: county staff act, supervisors read,
a township clinic reads its township's people-lines (and the batches holding them) and
registers its households' accounts. Creates take an ``Idempotency-Key`` header. Account
numbers are masked in every answer; the bank file (``export``) is the only full copy."""

from decimal import Decimal

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core.export import XLSX, content_disposition
from registry import roles

from .. import selectors, services
from ..filtersets import AccountFilterSet, BatchFilterSet, LineFilterSet
from ..models import BankFileLayout
from . import serializers as s

IDEMPOTENCY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    description="任意唯一字符串（≤200字符）。同一用户用同一个键重复提交时返回第一次的结果（响应头 "
    "Idempotent-Replayed: true），不会重复创建；同一个键用于不同内容时返回422。",
)


def _key(request) -> str:
    return request.headers.get("Idempotency-Key", "")


def _created(data, obj):
    response = Response(data, status=status.HTTP_201_CREATED)
    if getattr(obj, "_replayed", False):
        response["Idempotent-Replayed"] = "true"
    return response


class FundViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = s.FundSerializer
    county_only_write = True

    def get_queryset(self):
        return selectors.funds()

    def check_permissions(self, request):
        super().check_permissions(request)
        if roles.township_id_of(request.user) is not None:
            self.permission_denied(request, message="资金账户仅限县级工作人员和督查领导查看。")

    @extend_schema(
        parameters=[OpenApiParameter("year", int)], responses=dict, summary="资金年度收支、余额和预计余额"
    )
    @action(detail=True, methods=["get"])
    def account(self, request, pk=None):
        fund = self.get_object()
        try:
            year = int(request.query_params.get("year", ""))
        except ValueError:
            year = selectors.batch_years()[0]
        data = selectors.fund_account(fund, year)
        data.pop("fund")
        return Response(_plain(data))

    @extend_schema(
        request=s.FundIncomeSerializer, responses={201: s.FundIncomeSerializer}, parameters=[IDEMPOTENCY]
    )
    @action(detail=True, methods=["post"], serializer_class=s.FundIncomeSerializer)
    def incomes(self, request, pk=None):
        fund = self.get_object()
        serializer = s.FundIncomeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        income = services.fund_income_record(
            user=request.user, fund=fund, idempotency_key=_key(request), **serializer.validated_data
        )
        return _created(s.FundIncomeSerializer(income).data, income)


def _plain(value):
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class BatchViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = s.BatchSerializer
    filterset_class = BatchFilterSet
    county_only_write = True

    def get_queryset(self):
        return selectors.batches_for(self.request.user).order_by("-year", "-month", "-id")

    @extend_schema(
        request=s.BatchCreateSerializer, responses={201: s.BatchSerializer}, parameters=[IDEMPOTENCY]
    )
    def create(self, request, *args, **kwargs):
        serializer = s.BatchCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        batch = services.batch_draft(
            user=request.user, idempotency_key=_key(request), **serializer.validated_data
        )
        return _created(self.get_serializer(self.get_queryset().get(pk=batch.pk)).data, batch)

    def _done(self, batch):
        return Response(self.get_serializer(self.get_queryset().get(pk=batch.pk)).data)

    @extend_schema(request=None, responses=s.BatchSerializer, summary="复核（复核人不能是起草人）")
    @action(detail=True, methods=["post"])
    def check(self, request, pk=None):
        return self._done(services.batch_check(user=request.user, batch=self.get_object()))

    @extend_schema(
        request=s.BatchApproveSerializer, responses=s.BatchSerializer, summary="审批（超支须填写理由）"
    )
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        data = s.BatchApproveSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._done(
            services.batch_approve(user=request.user, batch=self.get_object(), **data.validated_data)
        )

    @extend_schema(request=s.CancelSerializer, responses=s.BatchSerializer, summary="作废（导出前）")
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        data = s.CancelSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._done(
            services.batch_cancel(user=request.user, batch=self.get_object(), **data.validated_data)
        )

    @extend_schema(request=s.ExportSerializer, responses={(200, XLSX): bytes}, summary="导出银行代发文件")
    @action(detail=True, methods=["post"])
    def export(self, request, pk=None):
        data = s.ExportSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        layout = get_object_or_404(BankFileLayout, pk=data.validated_data["layout"])
        content, filename = services.batch_export(user=request.user, batch=self.get_object(), layout=layout)
        response = HttpResponse(content, content_type=XLSX if filename.endswith(".xlsx") else "text/csv")
        response["Content-Disposition"] = content_disposition(filename)
        return response


class LineViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = s.LineSerializer
    filterset_class = LineFilterSet
    county_only_write = True

    def get_queryset(self):
        return selectors.lines_for(self.request.user).order_by("batch_id", "position")

    @extend_schema(request=s.PaidSerializer, responses=s.LineSerializer, summary="登记已支付（银行流水号）")
    @action(detail=True, methods=["post"])
    def paid(self, request, pk=None):
        data = s.PaidSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        line = services.line_mark_paid(user=request.user, line=self.get_object(), **data.validated_data)
        return Response(self.get_serializer(line).data)

    @extend_schema(
        request=s.ReturnSerializer, responses=s.LineSerializer, summary="登记退票（款项重新待拨付）"
    )
    @action(detail=True, methods=["post"], url_path="return", url_name="return")
    def return_(self, request, pk=None):
        data = s.ReturnSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        line = services.line_return(user=request.user, line=self.get_object(), **data.validated_data)
        return Response(self.get_serializer(line).data)


class BankAccountViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = s.BankAccountSerializer
    filterset_class = AccountFilterSet

    def get_queryset(self):
        return selectors.accounts_for(self.request.user).order_by("household_id", "member_id", "-id")

    @extend_schema(parameters=[IDEMPOTENCY], responses={201: s.BankAccountSerializer})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        account = services.bank_account_save(
            user=request.user, idempotency_key=_key(request), **serializer.validated_data
        )
        return _created(self.get_serializer(account).data, account)
