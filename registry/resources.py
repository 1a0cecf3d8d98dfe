"""Excel exports of registry lists (django-import-export resources).

ID numbers are always masked in exports: a list leaves the building more easily than a page.
"""

from import_export import fields, resources

from .idnumber import mask_birth_date, mask_id_number
from .models import Household, Member


class HouseholdResource(resources.ModelResource):
    number = fields.Field(attribute="number", column_name="户编号")
    township = fields.Field(attribute="village__township__name", column_name="乡镇")
    village = fields.Field(attribute="village__name", column_name="行政村")
    head_name = fields.Field(attribute="head_name", column_name="户主")
    member_count = fields.Field(attribute="member_count", column_name="人口数")
    attribute = fields.Field(column_name="贫困户属性")
    poverty_status = fields.Field(column_name="脱贫状态")
    main_cause = fields.Field(column_name="主要致贫原因")
    annual_income = fields.Field(attribute="annual_income", column_name="家庭年收入")
    phone = fields.Field(attribute="phone", column_name="联系电话")

    class Meta:
        model = Household
        fields = (
            "number",
            "township",
            "village",
            "head_name",
            "member_count",
            "attribute",
            "poverty_status",
            "main_cause",
            "annual_income",
            "phone",
        )
        export_order = fields

    def dehydrate_attribute(self, obj):
        return obj.get_attribute_display()

    def dehydrate_poverty_status(self, obj):
        return obj.get_poverty_status_display()

    def dehydrate_main_cause(self, obj):
        return obj.get_main_cause_display()


class MemberResource(resources.ModelResource):
    township = fields.Field(attribute="household__village__township__name", column_name="乡镇")
    village = fields.Field(attribute="household__village__name", column_name="行政村")
    household = fields.Field(attribute="household__number", column_name="户编号")
    name = fields.Field(attribute="name", column_name="姓名")
    id_number = fields.Field(column_name="证件号码")
    relation = fields.Field(column_name="与户主关系")
    sex = fields.Field(column_name="性别")
    birth_date = fields.Field(attribute="birth_date", column_name="出生年份")
    health_status = fields.Field(column_name="健康状况")
    insured = fields.Field(column_name="是否参保")
    aid_category = fields.Field(column_name="救助类别")
    poverty_status = fields.Field(column_name="脱贫状态")

    class Meta:
        model = Member
        fields = (
            "township",
            "village",
            "household",
            "name",
            "id_number",
            "relation",
            "sex",
            "birth_date",
            "health_status",
            "insured",
            "aid_category",
            "poverty_status",
        )
        export_order = fields

    def dehydrate_id_number(self, obj):
        return mask_id_number(obj.id_number)

    def dehydrate_birth_date(self, obj):
        # Beside a masked ID number, the year only (docs/security.md).
        return mask_birth_date(obj.birth_date)

    def dehydrate_relation(self, obj):
        return obj.get_relation_display()

    def dehydrate_sex(self, obj):
        return obj.get_sex_display()

    def dehydrate_health_status(self, obj):
        return obj.get_health_status_display()

    def dehydrate_insured(self, obj):
        return {True: "是", False: "否"}.get(obj.insured, "未知")

    def dehydrate_aid_category(self, obj):
        return obj.get_aid_category_display()

    def dehydrate_poverty_status(self, obj):
        return obj.household.get_poverty_status_display()
