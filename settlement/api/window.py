"""The hospital's window (/api/v1/claims/discharges/…): a 定点医疗机构 posts one stay with its
itemised bill and gets the settlement's figures back in the same response.

Routed under ``claims/`` (it is where a hospital looks for it) from the project's URLs, but
written here: it settles, and claims may not import settlement (docs/architecture.md). The
view only reads the request and calls ``settlement.services.window_*``; a ``DomainError``
becomes 400 (a bad field, with its path: ``items[2].class``), 404 (another institution's or
an unknown visit number), 409 (the visit number already settled with another content)."""

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from claims.api.serializers import EncounterItemsField
from claims.models import EncounterKind
from registry import roles

from .. import services


class HospitalOnly(BasePermission):
    message = "出院结算接口仅限定点医疗机构账号（接口令牌）使用。"

    def has_permission(self, request, view):
        return roles.is_hospital(request.user)


class _StayFields(serializers.Serializer):
    kind = serializers.ChoiceField(
        choices=EncounterKind.choices, default=EncounterKind.INPATIENT, help_text="就诊类型，默认住院"
    )
    admission_date = serializers.DateField(help_text="入院日期")
    discharge_date = serializers.DateField(required=False, allow_null=True, help_text="出院日期（住院必填）")
    diagnosis_code = serializers.CharField(required=False, allow_blank=True, max_length=16, default="")
    diagnosis_name = serializers.CharField(required=False, allow_blank=True, max_length=100, default="")
    package = serializers.CharField(required=False, allow_blank=True, max_length=16, default="")
    referred = serializers.BooleanField(required=False, default=True, help_text="按规定转诊")
    total_cost = serializers.DecimalField(
        max_digits=12, decimal_places=2, required=False, help_text="可省略；填写时须等于明细金额合计"
    )
    items = EncounterItemsField(help_text="费用明细（必填，非空；结算合同的明细格式）")
    confirm_duplicate = serializers.BooleanField(
        required=False,
        default=False,
        help_text="与该患者一条现有记录的机构、类型、日期和总费用都相同（409 duplicate）时，确认确为另一次住院",
    )
    duplicate_reason = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                # in_policy_cost among them: with items it is derived, never sent (contract).
                raise serializers.ValidationError(
                    {name: ["不认识的字段（窗口结算不接受此字段）。"] for name in unknown}
                )
        return super().to_internal_value(data)

    def validate_items(self, value):
        if value is None:
            raise serializers.ValidationError("窗口结算必须提交费用明细。")
        return value


class DischargeSerializer(_StayFields):
    visit_number = serializers.CharField(max_length=30, help_text="医院就诊号（住院号），本机构内唯一")
    id_number = serializers.CharField(max_length=30, help_text="患者身份证号码")


class DischargeCorrectionSerializer(_StayFields):
    reason = serializers.CharField(max_length=80, help_text="更正原因（退费重结）")


class DischargeCancelSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=80, help_text="作废原因（退费）")


_ANSWER = inline_serializer(
    "DischargeAnswer",
    {
        "visit_number": serializers.CharField(),
        "status": serializers.CharField(help_text="settled 已结算 · corrected 已更正重结"),
        "encounter": serializers.IntegerField(),
        "ref": serializers.CharField(help_text="就诊流水号（W<机构>-<就诊号>）"),
        "settlement": serializers.IntegerField(),
        "total_cost": serializers.CharField(help_text="结算的医疗总费用（扣除违规后）"),
        "payouts": serializers.DictField(child=serializers.CharField(), help_text="各支付方（政策层级）金额"),
        "payers": serializers.ListField(
            child=serializers.DictField(), help_text="各支付方：名称、类别、基金、金额"
        ),
        "payouts_total": serializers.CharField(),
        "self_pay": serializers.CharField(help_text="患者自付"),
        "in_policy_self_pay": serializers.CharField(),
        "out_of_policy_self_pay": serializers.CharField(),
        "deducted": serializers.CharField(help_text="违规扣除（医疗机构承担）"),
        "self_pay_difference": serializers.CharField(
            help_text="与被更正结算相比的自付差额（负数为退还患者）"
        ),
        "statement_url": serializers.CharField(help_text="可打印的一站式结算单"),
        "warnings": serializers.ListField(child=serializers.CharField()),
    },
)


def _absolute(request, answer: dict) -> dict:
    if answer.get("statement_url"):
        answer = {**answer, "statement_url": request.build_absolute_uri(answer["statement_url"])}
    return answer


def _respond(request, result) -> Response:
    answer, created = result
    return Response(
        _absolute(request, answer), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
    )


def _stay(data: dict) -> tuple[dict, list]:
    items = data.pop("items")
    return data, items


class DischargeView(APIView):
    """POST one stay: entered and settled at once; the answer carries the figures."""

    permission_classes = [HospitalOnly]
    hospital_allowed = True

    @extend_schema(
        request=DischargeSerializer,
        responses={201: _ANSWER, 200: OpenApiResponse(_ANSWER, description="同一请求重复提交：第一次的结果")},
        summary="出院一站式结算（定点医疗机构窗口）",
    )
    def post(self, request):
        serializer = DischargeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        values, items = _stay(dict(serializer.validated_data))
        visit_number, id_number = values.pop("visit_number"), values.pop("id_number")
        return _respond(
            request,
            services.window_discharge(
                user=request.user, visit_number=visit_number, id_number=id_number, values=values, items=items
            ),
        )


class DischargeCorrectionView(APIView):
    """POST the corrected stay (its whole bill) for a visit number already settled."""

    permission_classes = [HospitalOnly]
    hospital_allowed = True

    @extend_schema(
        request=DischargeCorrectionSerializer,
        responses={201: _ANSWER, 200: _ANSWER},
        summary="窗口更正重结（退费重结）",
    )
    def post(self, request, visit_number):
        serializer = DischargeCorrectionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        values, items = _stay(dict(serializer.validated_data))
        reason = values.pop("reason")
        return _respond(
            request,
            services.window_correct(
                user=request.user, visit_number=visit_number, values=values, items=items, reason=reason
            ),
        )


class DischargeCancelView(APIView):
    """POST to withdraw a settled visit (退费作废): its settlement stops being current."""

    permission_classes = [HospitalOnly]
    hospital_allowed = True

    @extend_schema(
        request=DischargeCancelSerializer,
        responses={201: dict, 200: dict},
        summary="窗口退费作废",
    )
    def post(self, request, visit_number):
        serializer = DischargeCancelSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return _respond(
            request,
            services.window_cancel(
                user=request.user, visit_number=visit_number, reason=serializer.validated_data["reason"]
            ),
        )
