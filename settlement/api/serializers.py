from rest_framework import serializers

from registry.idnumber import mask_id_number

from .. import selectors
from ..models import Policy, Settlement, SettlementLine


class PolicySerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", read_only=True, allow_null=True)

    class Meta:
        model = Policy
        fields = [
            "id",
            "code",
            "name",
            "year",
            "status",
            "document",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class SettlementLineSerializer(serializers.ModelSerializer):
    class Meta:
        model = SettlementLine
        fields = ["position", "tier_key", "tier_kind", "tier_name", "fund", "amount", "difference"]


class SettlementSerializer(serializers.ModelSerializer):
    ref = serializers.CharField(source="encounter.ref")
    member_name = serializers.CharField(source="member.name")
    member_id_number = serializers.SerializerMethodField(help_text="证件号码（脱敏）")
    institution_name = serializers.CharField(source="institution.name")
    policy_code = serializers.CharField(source="policy.code")
    supersedes = serializers.SerializerMethodField(help_text="本次重新结算所替代的结算记录")
    payouts = serializers.SerializerMethodField(help_text="各层级支付金额（按政策顺序，含0）")
    lines = SettlementLineSerializer(many=True)

    class Meta:
        model = Settlement
        fields = [
            "id",
            "encounter",
            "ref",
            "member",
            "member_name",
            "member_id_number",
            "institution",
            "institution_name",
            "year",
            "service_date",
            "policy",
            "policy_code",
            "policy_version",
            "total_cost",
            "payouts_total",
            "self_pay",
            "in_policy_self_pay",
            "out_of_policy_self_pay",
            "payouts",
            "lines",
            "is_current",
            "superseded_by",
            "supersedes",
            "self_pay_difference",
            "computed_at",
            "task_id",
            "run",
        ]
        read_only_fields = fields

    def get_member_id_number(self, obj) -> str:
        return mask_id_number(obj.member.id_number)

    def get_supersedes(self, obj) -> int | None:
        older = getattr(obj, "supersedes", None)  # reverse one-to-one: missing → None
        return older.pk if older else None

    def get_payouts(self, obj) -> dict:
        return selectors.settlement_as_dict(obj, list(obj.lines.all()))["payouts"]
