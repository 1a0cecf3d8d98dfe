"""Registry API (/api/v1/registry/…). Querysets come from selectors (township scoping);
writes go through services, whose RegistryError becomes a 400 (409 for a version conflict)."""

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import APIException, Throttled, ValidationError
from rest_framework.filters import OrderingFilter

from .. import selectors, services
from ..filtersets import HouseholdFilterSet, MemberFilterSet
from .serializers import HouseholdSerializer, MemberSerializer, TownshipSerializer, VillageSerializer


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


def raise_api_error(exc: services.RegistryError):
    if exc.code == "throttled":
        raise Throttled(detail=exc.message)
    if exc.code == "conflict":
        raise Conflict(exc.message)
    raise ValidationError({exc.field or "non_field_errors": [exc.message]})


class TownshipViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = TownshipSerializer

    def get_queryset(self):
        return selectors.townships_for(self.request.user)


class VillageViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = VillageSerializer
    filterset_fields = ["township"]

    def get_queryset(self):
        return selectors.villages_for(self.request.user)


@extend_schema_view(list=extend_schema(summary="贫困户列表（按角色限定乡镇）"))
class HouseholdViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = HouseholdSerializer
    filterset_class = HouseholdFilterSet
    filter_backends = [DjangoFilterBackend, OrderingFilter]
    ordering_fields = ["number", "annual_income"]

    def get_queryset(self):
        return selectors.households_for(self.request.user).order_by("number")

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        data.pop("version", None)
        try:
            serializer.instance = services.household_create(user=self.request.user, **data)
        except services.RegistryError as exc:
            raise_api_error(exc)

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        version = data.pop("version", None)
        if version is None:
            raise ValidationError({"version": ["修改时必须提交版本号（version）。"]})
        data.pop("number", None)
        try:
            serializer.instance = services.household_update(
                user=self.request.user, household=serializer.instance, version=version, changes=data
            )
        except services.RegistryError as exc:
            raise_api_error(exc)

    def update(self, request, *args, **kwargs):
        response = super().update(request, *args, **kwargs)
        # Re-read with the list annotations (head name, member count).
        response.data = self.get_serializer(self.get_queryset().get(pk=kwargs["pk"])).data
        return response


class MemberViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = MemberSerializer
    filterset_class = MemberFilterSet
    filter_backends = [DjangoFilterBackend, OrderingFilter]
    ordering_fields = ["name", "birth_date"]

    def get_queryset(self):
        return selectors.members_for(self.request.user).order_by("household__number", "id")

    def get_serializer_context(self):
        context = super().get_serializer_context()
        context["full_id"] = self.action != "list"
        return context

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        data.pop("version", None)
        try:
            serializer.instance = services.member_create(user=self.request.user, **data)
        except services.RegistryError as exc:
            raise_api_error(exc)

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        version = data.pop("version", None)
        if version is None:
            raise ValidationError({"version": ["修改时必须提交版本号（version）。"]})
        data.pop("household", None)
        try:
            serializer.instance = services.member_update(
                user=self.request.user, member=serializer.instance, version=version, changes=data
            )
        except services.RegistryError as exc:
            raise_api_error(exc)
