from django.urls import reverse
from rest_framework import serializers

from claims import selectors as claims_selectors
from claims.api.serializers import MaskedMemberMixin, ScopedFieldsMixin

from .. import selectors
from ..models import AidApplication, AidDocument, AidInvoice, AidStep


class StepSerializer(serializers.ModelSerializer):
    by = serializers.CharField(source="by.username", read_only=True)

    class Meta:
        model = AidStep
        fields = ["action", "from_status", "to_status", "on", "at", "by", "note"]


class InvoiceSerializer(serializers.ModelSerializer):
    class Meta:
        model = AidInvoice
        fields = ["id", "hospital", "invoice_number", "admission_date", "discharge_date", "amount"]


class DocumentSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()

    class Meta:
        model = AidDocument
        fields = ["id", "kind", "content_type", "size", "original_name", "uploaded_at", "url"]

    def get_url(self, obj) -> str:
        return reverse("aid:document", args=[obj.pk])


class ApplicationSerializer(ScopedFieldsMixin, MaskedMemberMixin, serializers.ModelSerializer):
    scoped_fields = {"member": claims_selectors.members_for, "encounters": claims_selectors.encounters_for}
    overdue = serializers.SerializerMethodField(help_text="未给付且已过给付期限（工作日）")

    class Meta:
        model = AidApplication
        fields = [
            "id",
            "number",
            "member",
            "member_name",
            "member_id_number",
            "kind",
            "status",
            "reason",
            "encounters",
            "applicant",
            "proxy_name",
            "proxy_phone",
            "received_on",
            "due_on",
            "overdue",
            "amount",
            "paid_on",
            "payment_reference",
            "version",
        ]
        read_only_fields = [
            "number",
            "status",
            "received_on",
            "due_on",
            "amount",
            "paid_on",
            "payment_reference",
            "version",
        ]

    def get_overdue(self, obj) -> bool:
        return selectors.is_overdue(obj)


class ApplicationDetailSerializer(ApplicationSerializer):
    steps = StepSerializer(many=True, read_only=True)
    invoices = InvoiceSerializer(many=True, read_only=True)
    documents = DocumentSerializer(many=True, read_only=True)
    calculation = serializers.JSONField(read_only=True)

    class Meta(ApplicationSerializer.Meta):
        fields = [*ApplicationSerializer.Meta.fields, "calculation", "steps", "invoices", "documents"]


class NoteSerializer(serializers.Serializer):
    version = serializers.IntegerField(required=False, help_text="读取时的版本号；已变化则返回409。")
    note = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")


class AidApproveSerializer(NoteSerializer):
    amount = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        required=False,
        allow_null=True,
        default=None,
        help_text="政策未规定计算规则时必填；规定了的，按规则计算（填写时须与之一致）。",
    )


class ReasonSerializer(serializers.Serializer):
    version = serializers.IntegerField(required=False)
    reason = serializers.CharField(max_length=500)
