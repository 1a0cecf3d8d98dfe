"""Excel exports of registry lists: the columns of each (``core.export.Sheet``); the rows
are the list's filtered queryset.

ID numbers are always masked in exports: a list leaves the building more easily than a page.
"""

from core.export import Sheet

from .idnumber import mask_birth_date, mask_id_number

HouseholdResource = Sheet(
    [
        ("户编号", "number", "text"),
        ("乡镇", "village.township.name"),
        ("行政村", "village.name"),
        ("户主", "head_name"),
        ("人口数", "member_count"),
        ("贫困户属性", lambda o: o.get_attribute_display()),
        ("脱贫状态", lambda o: o.get_poverty_status_display()),
        ("主要致贫原因", lambda o: o.get_main_cause_display()),
        ("家庭年收入", "annual_income", "money"),
        ("联系电话", "phone", "text"),
    ]
)

MemberResource = Sheet(
    [
        ("乡镇", "household.village.township.name"),
        ("行政村", "household.village.name"),
        ("户编号", "household.number", "text"),
        ("姓名", "name"),
        ("证件号码", lambda o: mask_id_number(o.id_number)),
        ("与户主关系", lambda o: o.get_relation_display()),
        ("性别", lambda o: o.get_sex_display()),
        ("出生年份", lambda o: mask_birth_date(o.birth_date)),  # beside a masked ID: the year only
        ("健康状况", lambda o: o.get_health_status_display()),
        ("是否参保", lambda o: {True: "是", False: "否"}.get(o.insured, "未知")),
        ("救助类别", lambda o: o.get_aid_category_display()),
        ("脱贫状态", lambda o: o.household.get_poverty_status_display()),
    ]
)
