"""Settlement API (/api/v1/settlement/…). Preview computes without writing; policies are read
by every role and created (as drafts) by county staff; settlements are township-scoped
(another township's settlement is a 404); the ledger is for county staff and supervisors.
Errors of documents are ``{"errors": ["路径：说明", …]}`` (the engine's Chinese messages, each
naming the field's path; core.api.exception_handler)."""

from decimal import Decimal

from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from claims.models import Institution
from registry import roles
from registry.models import Role

from .. import selectors, services
from ..filtersets import SettlementFilterSet
from ..models import SettlementLine
from . import serializers as s


class CanRead(BasePermission):
    """Any role: a preview changes nothing, so supervisors may run one too."""

    def has_permission(self, request, view):
        return roles.can_read(request.user)


class CountyOrSupervisor(BasePermission):
    message = "基金台账仅限县级工作人员和督查领导查看。"

    def has_permission(self, request, view):
        return roles.role_of(request.user) in (Role.COUNTY, Role.SUPERVISOR)


def _plain(value):
    """Decimals as two-decimal strings (DRF would render a bare Decimal as a float)."""
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class PreviewView(APIView):
    """POST ``{"policy": DOCUMENT}`` or ``{"policy_code": CODE}`` with ``members`` and
    ``encounters``: the contract's settlement array, in input order. Nothing is stored."""

    permission_classes = [CanRead]

    @extend_schema(
        request=dict,
        summary="一站式结算试算（不保存）",
        responses={
            200: OpenApiResponse(description="每条就诊一个结算结果，按输入顺序"),
            400: OpenApiResponse(description='{"errors": ["字段路径：错误说明", …]}'),
        },
    )
    def post(self, request):
        data = request.data if isinstance(request.data, dict) else None
        if data is None:
            return Response({"errors": ["body：应是一个JSON对象 {…}"]}, status=status.HTTP_400_BAD_REQUEST)
        document, code = data.get("policy"), data.get("policy_code")
        if document is not None and not isinstance(document, dict):
            return Response(
                {"errors": ["policy：应是一个JSON对象 {…}（政策文件）"]},
                status=status.HTTP_400_BAD_REQUEST,
            )
        claims = {"members": data.get("members"), "encounters": data.get("encounters")}
        try:
            results = services.settlement_preview(claims=claims, document=document, code=code)
        except services.SettlementError as exc:
            if exc.source == "policy" and document is not None:
                # Paths into the document sent as "policy": name them from the request body.
                exc.errors = [
                    e if e.startswith("policy:") else f"policy.{e}" for e in exc.errors or [exc.message]
                ]
            raise  # core.api.exception_handler
        return Response(results)


class PolicyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Policies; ``POST`` a policy document to store it as a draft (county staff)."""

    serializer_class = s.PolicySerializer
    county_only_write = True
    filterset_fields = ["year", "status", "code"]

    def get_queryset(self):
        return selectors.policies().select_related("created_by").order_by("-year", "code")

    @extend_schema(request=dict, responses={201: s.PolicySerializer}, summary="导入政策文件（保存为草稿）")
    def create(self, request):
        if not isinstance(request.data, dict):
            return Response(
                {"errors": ["policy：应是一个JSON对象 {…}（政策文件）"]}, status=status.HTTP_400_BAD_REQUEST
            )
        policy = services.policy_import(user=request.user, document=request.data)
        return Response(self.get_serializer(policy).data, status=status.HTTP_201_CREATED)


class SettlementViewSet(viewsets.ReadOnlyModelViewSet):
    hospital_allowed = True  # its own institution's (selectors.settlements_for)
    serializer_class = s.SettlementSerializer
    filterset_class = SettlementFilterSet
    ordering_fields = ["service_date", "total_cost", "self_pay"]

    def get_queryset(self):
        return (
            selectors.settlements_for(self.request.user)
            .select_related("supersedes")
            .prefetch_related(Prefetch("lines", queryset=SettlementLine.objects.order_by("position")))
            .order_by("-service_date", "-id")
        )


class LedgerView(APIView):
    """What each fund owes each institution per period, what it paid, what is outstanding."""

    permission_classes = [CountyOrSupervisor]

    @extend_schema(
        parameters=[
            OpenApiParameter("year", int, required=True),
            OpenApiParameter("period", str, enum=["month", "quarter"]),
            OpenApiParameter("fund", str),
            OpenApiParameter("institution", int),
        ],
        responses={200: dict},
        summary="基金台账",
    )
    def get(self, request):
        params = request.query_params
        errors = []
        try:
            year = int(params.get("year", ""))
        except ValueError:
            errors.append("year: required, an integer")
        period = params.get("period", "month")
        if period not in selectors.PERIODS:
            errors.append("period: must be month or quarter")
        institution = params.get("institution") or None
        if institution is not None and not (
            institution.isdigit() and Institution.objects.filter(pk=int(institution)).exists()
        ):
            errors.append("institution: unknown institution")
        if errors:
            raise ValidationError({"errors": errors})
        data = selectors.ledger(
            year=year,
            period=period,
            fund=params.get("fund") or None,
            institution=int(institution) if institution else None,
        )
        return Response(_plain(data))
