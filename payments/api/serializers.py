from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from registry import roles
from registry.models import Household, Member

from ..masking import mask_account_number
from ..models import BankAccount, Fund, FundIncome, PaymentBatch, PaymentLine


@extend_schema_field({"type": "string", "example": "****8901"})
class MaskedAccount(serializers.Field):
    """An account number, masked (``****8901``) for every role; writes take the full number."""

    def to_representation(self, value):
        return mask_account_number(value)

    def to_internal_value(self, data):
        return str(data)


class FundSerializer(serializers.ModelSerializer):
    class Meta:
        model = Fund
        fields = ["id", "code", "name", "note"]


class FundIncomeSerializer(serializers.ModelSerializer):
    class Meta:
        model = FundIncome
        fields = ["id", "fund", "kind", "received_on", "amount", "document_number", "note", "created_at"]
        read_only_fields = ["id", "fund", "created_at"]


class LineSerializer(serializers.ModelSerializer):
    account_number = MaskedAccount(read_only=True)
    kind_display = serializers.CharField(source="get_kind_display", read_only=True)
    status_display = serializers.CharField(source="get_status_display", read_only=True)

    class Meta:
        model = PaymentLine
        fields = [
            "id",
            "batch",
            "position",
            "kind",
            "kind_display",
            "source_key",
            "institution",
            "member",
            "township",
            "period_year",
            "period_month",
            "payee_name",
            "bank_name",
            "account_name",
            "account_number",
            "amount",
            "purpose",
            "status",
            "status_display",
            "paid_on",
            "bank_reference",
            "returned_on",
            "return_reason",
        ]
        read_only_fields = fields


class BatchSerializer(serializers.ModelSerializer):
    total = serializers.DecimalField(max_digits=14, decimal_places=2, read_only=True, allow_null=True)
    line_count = serializers.IntegerField(read_only=True)
    status_display = serializers.CharField(source="get_status_display", read_only=True)

    class Meta:
        model = PaymentBatch
        fields = [
            "id",
            "fund",
            "year",
            "month",
            "note",
            "status",
            "status_display",
            "total",
            "line_count",
            "drafted_by",
            "drafted_at",
            "checked_by",
            "checked_at",
            "approved_by",
            "approved_at",
            "overdraft",
            "override_reason",
            "exported_at",
        ]
        read_only_fields = [f for f in fields if f not in ("fund", "year", "month", "note")]


class BatchCreateSerializer(serializers.Serializer):
    fund = serializers.PrimaryKeyRelatedField(queryset=Fund.objects.all())
    year = serializers.IntegerField()
    month = serializers.IntegerField()
    note = serializers.CharField(required=False, allow_blank=True, default="")


class BatchApproveSerializer(serializers.Serializer):
    override_reason = serializers.CharField(required=False, allow_blank=True, default="")


class ExportSerializer(serializers.Serializer):
    layout = serializers.IntegerField()


class CancelSerializer(serializers.Serializer):
    reason = serializers.CharField()


class PaidSerializer(serializers.Serializer):
    reference = serializers.CharField()
    paid_on = serializers.DateField()


class ReturnSerializer(serializers.Serializer):
    reason = serializers.CharField()
    returned_on = serializers.DateField()


class BankAccountSerializer(serializers.ModelSerializer):
    """Households and members are looked up within the user's scope: another township's
    household is "not found", exactly like one that does not exist."""

    account_number = MaskedAccount()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None:
            user = request.user
            self.fields["household"].queryset = roles.scope(
                Household.objects.all(), user, "village__township_id"
            )
            self.fields["member"].queryset = roles.scope(
                Member.objects.all(), user, "household__village__township_id"
            )

    class Meta:
        model = BankAccount
        fields = [
            "id",
            "household",
            "member",
            "kind",
            "bank_name",
            "account_name",
            "account_number",
            "active",
        ]
        read_only_fields = ["id", "active"]
