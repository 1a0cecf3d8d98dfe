"""Dated registry facts in the API (/api/v1/registry/…): a household's status changes, a
member's aid-category changes and yearly enrollments. GET lists them newest first; POST
records one through ``registry.fact_services``. Scoped like the rest: the parent household or
member is looked up through the role's selector (another township's answers 404), supervisors
get 403 on POST (``RolePermission``)."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response

from .. import fact_services, selectors
from ..models import Enrollment, HouseholdStatusPeriod, MemberAidPeriod, PovertyStatus


class _RecordedBy(serializers.Serializer):
    def get_created_by(self, obj) -> str | None:
        return obj.created_by.get_username() if obj.created_by_id else None


class StatusChangeSerializer(serializers.ModelSerializer):
    event_display = serializers.CharField(source="get_event_display", read_only=True)
    poverty_status_display = serializers.CharField(source="get_poverty_status_display", read_only=True)
    created_by = serializers.SerializerMethodField()
    poverty_status = serializers.ChoiceField(choices=PovertyStatus.choices)
    reason = serializers.CharField(max_length=200)
    document_number = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")

    class Meta:
        model = HouseholdStatusPeriod
        fields = [
            "id",
            "poverty_status",
            "poverty_status_display",
            "event",
            "event_display",
            "effective_from",
            "reason",
            "document_number",
            "created_by",
            "created_at",
        ]
        read_only_fields = ["id", "event", "created_at"]

    get_created_by = _RecordedBy.get_created_by


class AidChangeSerializer(serializers.ModelSerializer):
    event_display = serializers.CharField(source="get_event_display", read_only=True)
    aid_category_display = serializers.CharField(source="get_aid_category_display", read_only=True)
    created_by = serializers.SerializerMethodField()
    reason = serializers.CharField(max_length=200)
    document_number = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")

    class Meta:
        model = MemberAidPeriod
        fields = [
            "id",
            "aid_category",
            "aid_category_display",
            "event",
            "event_display",
            "effective_from",
            "reason",
            "document_number",
            "created_by",
            "created_at",
        ]
        read_only_fields = ["id", "event", "created_at"]

    get_created_by = _RecordedBy.get_created_by


class EnrollmentSerializer(serializers.ModelSerializer):
    year = serializers.IntegerField(min_value=2000, max_value=2100)
    insured = serializers.BooleanField()

    class Meta:
        model = Enrollment
        fields = [
            "id",
            "year",
            "insured",
            "premium",
            "personal_share",
            "subsidy",
            "subsidy_category",
            "subsidy_fund",
            "source",
            "updated_at",
        ]
        read_only_fields = ["id", "updated_at"]
        # One per member-year is the service's rule (a second POST updates), not a 400 here.
        validators = []


class _MemberFacts(generics.ListCreateAPIView):
    pagination_class = None
    parent_kind = "member"
    model = None

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request object
            return self.model.objects.none()
        return self.rows(self.parent())

    def parent(self):
        if not hasattr(self, "_parent"):
            finder = selectors.households_for if self.parent_kind == "household" else selectors.members_for
            self._parent = get_object_or_404(finder(self.request.user), pk=self.kwargs["pk"])
        return self._parent

    def record(self, data):
        raise NotImplementedError

    def create(self, request, *args, **kwargs):
        parent = self.parent()  # 404 before anything else for another township's record
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        # A RegistryError becomes a 400/409 in core.api.exception_handler.
        obj, created = self.record(parent, dict(serializer.validated_data))
        return Response(
            self.get_serializer(obj).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


@extend_schema(summary="贫困户脱贫状态变动（纳入/脱贫/返贫/监测纳入/解除监测），最新在前")
class HouseholdStatusChangeList(_MemberFacts):
    serializer_class = StatusChangeSerializer
    parent_kind = "household"
    model = HouseholdStatusPeriod

    def rows(self, household):
        return household.status_periods.select_related("created_by").order_by("-effective_from", "-id")

    def record(self, household, data):
        period = fact_services.household_status_change(user=self.request.user, household=household, **data)
        return period, True


@extend_schema(summary="成员救助类别变动，最新在前")
class MemberAidChangeList(_MemberFacts):
    serializer_class = AidChangeSerializer
    model = MemberAidPeriod

    def rows(self, member):
        return member.aid_periods.select_related("created_by").order_by("-effective_from", "-id")

    def record(self, member, data):
        period = fact_services.member_aid_category_change(user=self.request.user, member=member, **data)
        return period, True


@extend_schema(
    summary="成员年度参保及参保资助：同一年度再次提交即更新该年度记录（新建201，更新200）",
)
class MemberEnrollmentList(_MemberFacts):
    serializer_class = EnrollmentSerializer
    model = Enrollment

    def rows(self, member):
        return member.enrollments.order_by("-year")

    def record(self, member, data):
        return fact_services.enrollment_record(user=self.request.user, member=member, **data)
