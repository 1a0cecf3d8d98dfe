"""Aid API (/api/v1/aid/…): applications list/create/detail, each step a POST sub-route.
Querysets come from selectors (township scoping: another township's case is a 404); every
change goes through the services, whose AidError becomes a 400 (409 for a conflict)."""

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from .. import filtersets, selectors, services
from . import serializers as s

IDEMPOTENCY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    description="任意唯一字符串（如UUID，≤200字符）。同一用户用同一个键重复提交时返回第一次的结果"
    "（201，响应头 Idempotent-Replayed: true），不会重复受理；同一个键用于不同内容时返回422。",
)


class ApplicationViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    filter_backends = [DjangoFilterBackend]
    filterset_class = filtersets.AidApplicationFilterSet

    def get_queryset(self):
        if self.action == "list":
            return (
                selectors.applications_for(self.request.user)
                .prefetch_related("encounters")
                .order_by("-received_on", "-id")
            )
        return selectors.application_detail_for(self.request.user).order_by("-id")

    def get_serializer_class(self):
        if self.action == "list":
            return s.ApplicationSerializer
        return {
            "review": s.NoteSerializer,
            "resubmit": s.NoteSerializer,
            "approve": s.AidApproveSerializer,
            "return_": s.ReasonSerializer,
            "refuse": s.ReasonSerializer,
        }.get(self.action, s.ApplicationDetailSerializer)

    @extend_schema(
        parameters=[IDEMPOTENCY],
        request=s.ApplicationSerializer,
        responses={201: s.ApplicationDetailSerializer},
    )
    def create(self, request, *args, **kwargs):
        serializer = s.ApplicationSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        application = services.aid_application_submit(
            user=request.user,
            member=data["member"],
            kind=data["kind"],
            reason=data["reason"],
            encounters=data.get("encounters", []),
            applicant=data.get("applicant", "self"),
            proxy_name=data.get("proxy_name", ""),
            proxy_phone=data.get("proxy_phone", ""),
            idempotency_key=request.headers.get("Idempotency-Key", ""),
        )
        response = Response(self._detail(application.pk), status=status.HTTP_201_CREATED)
        if getattr(application, "_replayed", False):
            response["Idempotent-Replayed"] = "true"
        return response

    def _detail(self, pk):
        application = selectors.application_detail_for(self.request.user).get(pk=pk)
        return s.ApplicationDetailSerializer(application, context=self.get_serializer_context()).data

    def _step(self, request, service, **extra):
        application = self.get_object()
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        service(
            user=request.user, application=application, version=data.pop("version", None), **data, **extra
        )
        return Response(self._detail(application.pk))

    @extend_schema(summary="乡镇审核", responses={200: s.ApplicationDetailSerializer})
    @action(detail=True, methods=["post"])
    def review(self, request, pk=None):
        return self._step(request, services.aid_application_township_review)

    @extend_schema(summary="县级审批（核定金额）", responses={200: s.ApplicationDetailSerializer})
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        return self._step(request, services.aid_application_county_approve)

    @extend_schema(summary="退回申请人（须填原因）", responses={200: s.ApplicationDetailSerializer})
    @action(detail=True, methods=["post"], url_path="return", url_name="return")
    def return_(self, request, pk=None):
        return self._step(request, services.aid_application_return)

    @extend_schema(summary="不予救助（须填原因）", responses={200: s.ApplicationDetailSerializer})
    @action(detail=True, methods=["post"])
    def refuse(self, request, pk=None):
        return self._step(request, services.aid_application_refuse)

    @extend_schema(summary="退回后重新受理", responses={200: s.ApplicationDetailSerializer})
    @action(detail=True, methods=["post"])
    def resubmit(self, request, pk=None):
        return self._step(request, services.aid_application_resubmit)
