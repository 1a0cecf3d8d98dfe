from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from registry.idnumber import mask_id_number
from registry.selectors import households_for

from .. import codes, selectors
from ..models import (
    CatalogueItem,
    Contract,
    Disease,
    Encounter,
    FollowUp,
    IllnessRecord,
    Institution,
    Screening,
    ServicePackage,
    Team,
    TeamMember,
)


class ScopedFieldsMixin:
    """Related fields limited to what the requesting user may see: ``scoped_fields`` maps a
    field name to a selector taking the user."""

    scoped_fields: dict = {}

    def get_fields(self):
        fields = super().get_fields()
        request = self.context.get("request")
        if request is not None:
            for name, selector in self.scoped_fields.items():
                field = fields[name]
                target = getattr(field, "child_relation", field)
                target.queryset = selector(request.user)
        return fields


class VersionField(serializers.IntegerField):
    def __init__(self, **kwargs):
        super().__init__(
            required=False, help_text="修改时必须提交读取时的版本号；版本已变化则返回409。", **kwargs
        )


class MaskedMemberMixin(serializers.Serializer):
    member_name = serializers.CharField(source="member.name", read_only=True)
    member_id_number = serializers.SerializerMethodField(help_text="证件号码（脱敏）")

    def get_member_id_number(self, obj) -> str:
        return mask_id_number(obj.member.id_number)


class InstitutionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Institution
        fields = ["id", "name", "code", "level", "designated", "township"]
        extra_kwargs = {"name": {"validators": []}}


class CatalogueItemSerializer(serializers.ModelSerializer):
    """A catalogue item for pickers; ``class`` as the items' A/B/C (``EncounterItem``)."""

    item_class = serializers.CharField(read_only=True)
    category_display = serializers.CharField(source="get_category_display", read_only=True)

    class Meta:
        model = CatalogueItem
        fields = [
            "code",
            "name",
            "category",
            "category_display",
            "item_class",
            "unit_price",
            "unit",
            "active",
        ]
        read_only_fields = fields


class DiseaseSerializer(serializers.ModelSerializer):
    class Meta:
        model = Disease
        fields = ["id", "code", "name", "group", "treatment_way", "lists", "prefixes", "active"]
        extra_kwargs = {"code": {"validators": []}}


class PackageSerializer(serializers.ModelSerializer):
    class Meta:
        model = ServicePackage
        fields = ["id", "name", "tier", "items", "price", "personal_share", "active"]
        extra_kwargs = {"name": {"validators": []}}


class IllnessSerializer(ScopedFieldsMixin, MaskedMemberMixin, serializers.ModelSerializer):
    scoped_fields = {"member": selectors.members_for}
    version = VersionField()

    class Meta:
        model = IllnessRecord
        fields = [
            "id",
            "member",
            "member_name",
            "member_id_number",
            "disease",
            "diagnosis_code",
            "diagnosis_name",
            "diagnosed_on",
            "diagnosed_at",
            "treatment_way",
            "treatment_plan",
            "status",
            "total_cost",
            "basic_insurance",
            "catastrophic_insurance",
            "civil_aid",
            "self_pay",
            "result",
            "version",
        ]
        read_only_fields = ["disease"]
        validators = []


class ScreeningSerializer(MaskedMemberMixin, serializers.ModelSerializer):
    class Meta:
        model = Screening
        fields = [
            "id",
            "member",
            "member_name",
            "member_id_number",
            "year",
            "round",
            "checked",
            "checked_on",
            "findings",
        ]


class TeamMemberSerializer(serializers.ModelSerializer):
    class Meta:
        model = TeamMember
        fields = ["id", "name", "role", "phone", "active"]


class TeamSerializer(serializers.ModelSerializer):
    members = TeamMemberSerializer(many=True, read_only=True)

    class Meta:
        model = Team
        fields = ["id", "name", "institution", "township", "active", "members"]


class ContractSerializer(ScopedFieldsMixin, serializers.ModelSerializer):
    scoped_fields = {
        "household": households_for,
        "members": selectors.members_for,
        "team": selectors.teams_for,
    }
    head_name = serializers.CharField(read_only=True, allow_null=True)
    followup_count = serializers.IntegerField(read_only=True)
    last_followup = serializers.DateField(read_only=True, allow_null=True)
    version = VersionField()

    class Meta:
        model = Contract
        fields = [
            "id",
            "household",
            "head_name",
            "members",
            "team",
            "package",
            "start_date",
            "end_date",
            "status",
            "notes",
            "followup_count",
            "last_followup",
            "version",
        ]
        read_only_fields = ["status"]
        extra_kwargs = {"end_date": {"required": False}, "members": {"required": False}}
        validators = []


class FollowUpSerializer(ScopedFieldsMixin, MaskedMemberMixin, serializers.ModelSerializer):
    scoped_fields = {
        "contract": selectors.contracts_for,
        "member": selectors.members_for,
        "doctor": selectors.team_members_for,
    }

    class Meta:
        model = FollowUp
        fields = [
            "id",
            "contract",
            "member",
            "member_name",
            "member_id_number",
            "date",
            "doctor",
            "kind",
            "systolic",
            "diastolic",
            "glucose",
            "notes",
        ]


_ITEM_SCHEMA = {
    "type": "object",
    "required": ["code", "class", "amount"],
    "properties": {
        "code": {"type": "string", "maxLength": 50, "description": "项目编码"},
        "name": {"type": "string", "maxLength": 100, "description": "项目名称"},
        "category": {
            "type": "string",
            "enum": [c for c, _ in codes.ITEM_CATEGORIES],
            "description": "费用类别：" + "、".join(f"{c} {label}" for c, label in codes.ITEM_CATEGORIES),
        },
        "class": {
            "type": "string",
            "enum": ["A", "B", "C"],
            "description": "医保目录类别：A 甲类、B 乙类、C 丙类",
        },
        "quantity": {"type": "string", "format": "decimal", "description": "数量"},
        "unit_price": {"type": "string", "format": "decimal", "description": "单价"},
        "amount": {"type": "string", "format": "decimal", "description": "金额（两位小数）"},
        "deducted": {"type": "string", "format": "decimal", "description": "违规扣除（由医疗机构承担）"},
    },
}


@extend_schema_field({"type": "array", "items": _ITEM_SCHEMA, "nullable": True})
class EncounterItemsField(serializers.Field):
    """费用明细: the settlement contract's item objects. Checked by the claims service (field
    paths such as ``items[2].class``); read back in entry order, amounts as strings."""

    def to_internal_value(self, data):
        if not isinstance(data, list):
            raise serializers.ValidationError("费用明细应是列表 […]（不填明细时省略此字段）。")
        return data

    def to_representation(self, manager):
        out = []
        for item in manager.all():
            row = {"code": item.code, "name": item.name, "category": item.category, "class": item.item_class}
            row["quantity"] = None if item.quantity is None else f"{item.quantity.normalize():f}"
            row["unit_price"] = None if item.unit_price is None else f"{item.unit_price.normalize():f}"
            row.update(amount=f"{item.amount:.2f}", deducted=f"{item.deducted:.2f}")
            out.append(row)
        return out


class EncounterSerializer(ScopedFieldsMixin, MaskedMemberMixin, serializers.ModelSerializer):
    scoped_fields = {"member": selectors.members_for}
    version = VersionField()
    warnings = serializers.SerializerMethodField(help_text="录入或修改后需要核实的提示（不影响保存）。")
    settlement_state = serializers.SerializerMethodField(
        help_text="结算状态：已结算、结算排队中（已登记待结算，等待后台处理）、待结算、已被更正。"
    )
    confirm_duplicate = serializers.BooleanField(
        write_only=True,
        required=False,
        default=False,
        help_text="与该患者一条现有记录的医疗机构、类型、日期和总费用都相同（疑似重复录入，409）时，"
        "确认这是另一次就诊；同时填写 duplicate_reason。",
    )

    items = EncounterItemsField(
        required=False,
        allow_null=True,
        help_text="费用明细（可选）：填写时医疗总费用为明细金额合计，不再填写政策范围内费用；"
        "null 表示取消明细（须同时填写两项费用）。",
    )

    review_flags = serializers.SerializerMethodField(
        help_text="智能审核提示 [{code, message}]：需要人工核实的疑点（不影响保存和结算）。"
    )

    class Meta:
        model = Encounter
        fields = [
            "id",
            "ref",
            "member",
            "member_name",
            "member_id_number",
            "institution",
            "kind",
            "admission_date",
            "discharge_date",
            "service_date",
            "diagnosis_code",
            "diagnosis_name",
            "total_cost",
            "in_policy_cost",
            "package",
            "referred",
            "supersedes",
            "is_current",
            "version",
            "warnings",
            "settlement_state",
            "confirm_duplicate",
            "duplicate_reason",
            "items",
            "review_flags",
        ]
        read_only_fields = ["service_date", "supersedes", "is_current"]
        extra_kwargs = {
            "ref": {
                "required": False,
                "validators": [],
                "help_text": "医院的住院号/流水号；留空时自动生成。",
            },
            "total_cost": {"required": False, "help_text": "有费用明细时可省略（等于明细金额合计）。"},
            "in_policy_cost": {
                "required": False,
                "help_text": "无费用明细时必填；有明细时不填（结算时按目录类别算出，这里返回甲乙类净额）。",
            },
        }

    def get_warnings(self, obj) -> list[str]:
        return getattr(obj, "_warnings", [])

    def get_settlement_state(self, obj) -> str:
        # One look-up for the whole page of a list (the parent's instances), not one per row.
        states = self.context.setdefault("settlement_states", {})
        if obj.pk not in states:
            page = self.parent.instance if isinstance(self.parent, serializers.ListSerializer) else None
            states.update(selectors.settlement_states(list(page) if page is not None else [obj]))
        return states[obj.pk]

    @extend_schema_field(
        {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            },
        }
    )
    def get_review_flags(self, obj) -> list[dict]:
        return [{"code": flag.code, "message": flag.message} for flag in obj.review_flags.all()]


class CorrectionSerializer(EncounterSerializer):
    reason = serializers.CharField(max_length=80, help_text="更正原因")

    class Meta(EncounterSerializer.Meta):
        fields = [*EncounterSerializer.Meta.fields, "reason"]
