"""Claims API (/api/v1/claims/…). Querysets come from selectors (township scoping); writes go
through services, whose ClaimsError (a core.errors.DomainError) becomes, through
core.api.exception_handler, a 400 (409 for a version conflict or an edit of a
settled encounter, which is corrected through ``POST encounters/{id}/correct/`` instead)."""

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.filters import OrderingFilter
from rest_framework.response import Response

from .. import filtersets, selectors, services
from ..models import Disease, Institution, ServicePackage
from . import serializers as s


class ServiceViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Create and update through ``create_service`` / ``update_service`` (validated data in,
    the saved object out); versioned models must be sent their ``version`` on update."""

    filter_backends = [DjangoFilterBackend, OrderingFilter]
    versioned = False
    http_method_names = ["get", "post", "put", "patch", "head", "options"]

    def create_service(self, data):
        raise NotImplementedError

    def update_service(self, instance, data, version):
        raise NotImplementedError

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        data.pop("version", None)
        serializer.instance = self.create_service(data)

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        version = data.pop("version", None)
        if self.versioned and version is None:
            raise ValidationError({"version": ["修改时必须提交版本号（version）。"]})
        serializer.instance = self.update_service(serializer.instance, data, version)


class ReferenceViewSet(ServiceViewSet):
    county_only_write = True
    hospital_allowed = True  # reference data: every role reads it
    model = None

    def get_queryset(self):
        return self.model.objects.all().order_by("id")

    def create_service(self, data):
        return services.reference_save(user=self.request.user, model=self.model, values=data)

    def update_service(self, instance, data, version):
        return services.reference_save(
            user=self.request.user, model=self.model, values=data, instance=instance
        )


class InstitutionViewSet(ReferenceViewSet):
    model, serializer_class, filterset_class = (
        Institution,
        s.InstitutionSerializer,
        filtersets.InstitutionFilterSet,
    )


class DiseaseViewSet(ReferenceViewSet):
    model, serializer_class, filterset_class = Disease, s.DiseaseSerializer, filtersets.DiseaseFilterSet


class CatalogueItemViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The medical-insurance catalogue for pickers: ``GET ?q=`` (code prefix or part of the
    name), ``category``, ``item_class``, ``active``. Every role reads; nothing is written here
    (county staff import the catalogue from Excel)."""

    serializer_class = s.CatalogueItemSerializer
    filterset_class = filtersets.CatalogueItemFilterSet
    filter_backends = [DjangoFilterBackend]
    hospital_allowed = True

    def get_queryset(self):
        return selectors.catalogue_items(self.request.user).order_by("code")


class PackageViewSet(ReferenceViewSet):
    model, serializer_class, filterset_class = (
        ServicePackage,
        s.PackageSerializer,
        filtersets.PackageFilterSet,
    )


class IllnessViewSet(ServiceViewSet):
    serializer_class = s.IllnessSerializer
    filterset_class = filtersets.IllnessFilterSet
    versioned = True

    def get_queryset(self):
        return selectors.illnesses_for(self.request.user).order_by("-diagnosed_on", "-id")

    def create_service(self, data):
        return services.illness_create(user=self.request.user, **data)

    def update_service(self, instance, data, version):
        data.pop("member", None)
        return services.illness_update(user=self.request.user, record=instance, version=version, changes=data)


class ScreeningViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = s.ScreeningSerializer
    filterset_class = filtersets.ScreeningFilterSet

    def get_queryset(self):
        return selectors.screenings_for(self.request.user).order_by("-year", "id")


class TeamViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = s.TeamSerializer
    filterset_class = filtersets.TeamFilterSet

    def get_queryset(self):
        return selectors.teams_for(self.request.user).prefetch_related("members").order_by("id")


class ContractViewSet(ServiceViewSet):
    serializer_class = s.ContractSerializer
    filterset_class = filtersets.ContractFilterSet
    versioned = True

    def get_queryset(self):
        return (
            selectors.contracts_for(self.request.user)
            .prefetch_related("members")
            .order_by("-start_date", "-id")
        )

    def create_service(self, data):
        members = data.pop("members", None) or None
        return services.contract_sign(user=self.request.user, members=members, **data)

    def update_service(self, instance, data, version):
        data.pop("household", None)
        members = data.pop("members", None)
        return services.contract_update(
            user=self.request.user, contract=instance, version=version, changes=data, members=members
        )


class FollowUpViewSet(ServiceViewSet):
    serializer_class = s.FollowUpSerializer
    filterset_class = filtersets.FollowUpFilterSet

    def get_queryset(self):
        return selectors.followups_for(self.request.user).order_by("-date", "-id")

    def create_service(self, data):
        return services.followup_create(user=self.request.user, **data)

    def update_service(self, instance, data, version):
        data.pop("contract", None)
        return services.followup_update(user=self.request.user, followup=instance, changes=data)


def _duplicate_args(data: dict) -> dict:
    """The confirmation of a suspected duplicate, taken out of an update's changes."""
    return {
        "confirm_duplicate": data.pop("confirm_duplicate", False),
        "duplicate_reason": data.pop("duplicate_reason", ""),
    }


def _with_warnings(result):
    encounter, warnings = result
    encounter._warnings = warnings
    return encounter


class EncounterViewSet(ServiceViewSet):
    hospital_allowed = True  # reads of its own institution's; writes only through discharges/
    serializer_class = s.EncounterSerializer
    filterset_class = filtersets.EncounterFilterSet
    ordering_fields = ["service_date", "total_cost"]
    versioned = True

    def get_queryset(self):
        return (
            selectors.encounters_for(self.request.user)
            .prefetch_related("items", "review_flags")
            .order_by("-service_date", "-id")
        )

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                description="任意唯一字符串（如UUID，≤200字符）。同一用户用同一个键重复提交时返回第一次的结果"
                "（201，响应头 Idempotent-Replayed: true），不会重复录入；同一个键用于不同内容时返回422。",
            )
        ],
        responses={201: s.EncounterSerializer},
    )
    def create(self, request, *args, **kwargs):
        response = super().create(request, *args, **kwargs)
        if getattr(self._created, "_replayed", False):
            response["Idempotent-Replayed"] = "true"
        return response

    def create_service(self, data):
        key = self.request.headers.get("Idempotency-Key", "")
        self._created = _with_warnings(
            services.encounter_create(user=self.request.user, idempotency_key=key, **data)
        )
        return self._created

    def update_service(self, instance, data, version):
        data.pop("ref", None)
        return _with_warnings(
            services.encounter_update(
                user=self.request.user,
                encounter=instance,
                version=version,
                **_duplicate_args(data),
                changes=data,
            )
        )

    @extend_schema(
        request=s.CorrectionSerializer,
        responses={201: s.EncounterSerializer},
        summary="更正已结算的就诊记录（生成新版本，原记录保留）",
    )
    @action(detail=True, methods=["post"], serializer_class=s.CorrectionSerializer)
    def correct(self, request, pk=None):
        encounter = self.get_object()
        serializer = self.get_serializer(encounter, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        version, reason = data.pop("version", None), data.pop("reason")
        data.pop("ref", None)
        if version is None:
            raise ValidationError({"version": ["更正时必须提交版本号（version）。"]})
        corrected = _with_warnings(
            services.encounter_correct(
                user=request.user,
                encounter=encounter,
                version=version,
                **_duplicate_args(data),
                changes=data,
                reason=reason,
            )
        )
        return Response(
            s.EncounterSerializer(corrected, context=self.get_serializer_context()).data,
            status=status.HTTP_201_CREATED,
        )
