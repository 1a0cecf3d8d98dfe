"""Claims review API (/api/v1/claims/review/…): the queue (the page's filters), one claim with
its flags and decisions, and ``POST review/{id}/decide/`` (county staff; Idempotency-Key)."""

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response

from .. import filtersets, review, review_selectors
from ..models import Encounter, ReviewDecision, ViolationReason


class ReviewDecisionSerializer(serializers.ModelSerializer):
    reason = serializers.SlugRelatedField(slug_field="code", read_only=True)
    decided_by = serializers.CharField(source="decided_by.username", read_only=True)

    class Meta:
        model = ReviewDecision
        fields = [
            "id",
            "outcome",
            "reason",
            "note",
            "billed",
            "deducted",
            "change",
            "items",
            "encounter_version",
            "is_current",
            "decided_by",
            "decided_at",
        ]


class ReviewClaimSerializer(serializers.ModelSerializer):
    institution = serializers.CharField(source="institution.name")
    review_flags = serializers.SerializerMethodField()
    review_state = serializers.SerializerMethodField(
        help_text="pending 待审核 · approve · deduct · reject · changed 审核后被修改"
    )
    decision = serializers.SerializerMethodField()

    class Meta:
        model = Encounter
        fields = [
            "id",
            "ref",
            "version",
            "institution",
            "kind",
            "admission_date",
            "discharge_date",
            "diagnosis_code",
            "total_cost",
            "review_flags",
            "review_state",
            "decision",
        ]

    def get_review_flags(self, obj) -> list[dict]:
        return [{"code": f.code, "message": f.message} for f in obj.review_flags.all()]

    def get_review_state(self, obj) -> str:
        return review_selectors.review_state(obj)

    def get_decision(self, obj) -> dict | None:
        current = getattr(obj, "current_decision", None)
        return ReviewDecisionSerializer(current[0]).data if current else None


class DecideSerializer(serializers.Serializer):
    version = serializers.IntegerField(help_text="审核时看到的就诊记录版本（过期返回409）")
    outcome = serializers.ChoiceField(choices=["approve", "deduct", "reject"])
    reason = serializers.SlugRelatedField(
        slug_field="code", queryset=ViolationReason.objects.all(), required=False, allow_null=True
    )
    note = serializers.CharField(required=False, allow_blank=True, default="")
    items = serializers.DictField(
        child=serializers.CharField(),
        required=False,
        help_text="逐项扣除 {明细序号: 金额}；未列出的项目扣除为0",
    )
    amount = serializers.CharField(required=False, help_text="按总额扣除（按明细金额比例分摊）")


class ReviewViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = ReviewClaimSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = filtersets.ReviewQueueFilterSet
    county_only_write = True

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if not review_selectors.reads_county_wide(request.user):
            raise PermissionDenied("医保审核仅限县级工作人员和督查领导。")

    def get_queryset(self):
        return review_selectors.review_queue_for(self.request.user).order_by("-service_date", "-id")

    @extend_schema(
        request=DecideSerializer,
        responses={201: ReviewDecisionSerializer},
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER)],
        summary="审核结论：通过、违规扣款（逐项或按总额）或拒付",
    )
    @action(detail=True, methods=["post"], serializer_class=DecideSerializer)
    def decide(self, request, pk=None):
        encounter = get_object_or_404(review_selectors.review_encounter_for(request.user), pk=pk)
        serializer = DecideSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        decision = review.review_decide(
            user=request.user,
            encounter=encounter,
            version=data["version"],
            outcome=data["outcome"],
            reason=data.get("reason"),
            note=data.get("note", ""),
            item_deductions=data.get("items"),
            amount=data.get("amount"),
            key=request.headers.get("Idempotency-Key", ""),
        )
        response = Response(ReviewDecisionSerializer(decision).data, status=status.HTTP_201_CREATED)
        if decision._replayed:
            response["Idempotent-Replayed"] = "true"
        return response
