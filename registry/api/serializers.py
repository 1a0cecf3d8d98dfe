from rest_framework import serializers

from .. import roles
from ..idnumber import mask_id_number
from ..models import Household, Member, Township, Village


class TownshipSerializer(serializers.ModelSerializer):
    class Meta:
        model = Township
        fields = ["id", "name", "code"]


class VillageSerializer(serializers.ModelSerializer):
    township_name = serializers.CharField(source="township.name", read_only=True)

    class Meta:
        model = Village
        fields = ["id", "name", "township", "township_name"]


class HouseholdSerializer(serializers.ModelSerializer):
    village = serializers.PrimaryKeyRelatedField(queryset=Village.objects.all())
    village_name = serializers.CharField(source="village.name", read_only=True)
    township_name = serializers.CharField(source="village.township.name", read_only=True)
    head_name = serializers.CharField(read_only=True, allow_null=True)
    member_count = serializers.IntegerField(read_only=True)
    version = serializers.IntegerField(
        required=False, help_text="修改时必须提交读取时的版本号；版本已变化则返回409。"
    )

    class Meta:
        model = Household
        fields = [
            "id",
            "number",
            "village",
            "village_name",
            "township_name",
            "head_name",
            "member_count",
            "phone",
            "attribute",
            "poverty_status",
            "main_cause",
            "annual_income",
            "version",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]
        extra_kwargs = {"number": {"validators": []}}

    def get_fields(self):
        fields = super().get_fields()
        request = self.context.get("request")
        if request is not None:
            fields["village"].queryset = roles.scope(Village.objects.all(), request.user, "township_id")
        return fields


class MemberSerializer(serializers.ModelSerializer):
    """ID numbers are masked in lists; the full number only on a single member's record and
    only for roles allowed to see it."""

    household_number = serializers.CharField(source="household.number", read_only=True)
    id_number = serializers.CharField(
        max_length=18,
        help_text="完整号码仅县级工作人员在单个成员记录中可见；其他情况为掩码（前3位和后2位）。"
        "修改时提交掩码原样表示不修改。",
    )
    birth_date = serializers.DateField(
        read_only=True, allow_null=True, help_text="仅在显示完整证件号码时给出；否则为空，见 birth_year。"
    )
    birth_year = serializers.IntegerField(source="birth_date.year", read_only=True)
    version = serializers.IntegerField(
        required=False, help_text="修改时必须提交读取时的版本号；版本已变化则返回409。"
    )

    class Meta:
        model = Member
        fields = [
            "id",
            "household",
            "household_number",
            "name",
            "id_number",
            "sex",
            "birth_date",
            "birth_year",
            "relation",
            "ethnicity",
            "phone",
            "health_status",
            "insured",
            "aid_category",
            "version",
        ]
        read_only_fields = ["sex"]

    def get_fields(self):
        fields = super().get_fields()
        request = self.context.get("request")
        if request is not None:
            from ..selectors import households_for

            fields["household"].queryset = households_for(request.user)
        return fields

    def to_representation(self, instance):
        data = super().to_representation(instance)
        request = self.context.get("request")
        full = self.context.get("full_id") and request is not None and roles.can_view_full_id(request.user)
        if not full:
            # Masked number, so the birth date goes too (it is characters 7–14 of the number).
            data["id_number"] = mask_id_number(instance.id_number)
            data["birth_date"] = None
        return data

    def validate_id_number(self, value):
        # A client that read a masked number and sends it back unchanged keeps the number.
        if self.instance is not None and value == mask_id_number(self.instance.id_number):
            return self.instance.id_number
        return value
