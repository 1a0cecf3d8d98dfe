"""Excel exports of the claims lists: the columns of each (``core.export.Sheet``), a list of
(Chinese column, value) pairs; the rows are the list's filtered queryset. ID numbers are
always masked: a list leaves the building more easily than a page.
"""

from operator import attrgetter

from core.export import Sheet
from registry.idnumber import mask_id_number


def _yes(value):
    return {True: "是", False: "否"}.get(value, "")


def masked_id(path):
    """A column getter: the ID number at ``path``, masked (registry.idnumber.mask_id_number)."""
    get = attrgetter(path)
    return lambda obj: mask_id_number(get(obj))


def _display(name):
    return lambda obj: getattr(obj, f"get_{name}_display")()


def export_resource(columns):
    """The export of ``columns``: ``[(header, "dotted.attribute" or callable[, kind])]``."""
    return Sheet(columns)


_PERSON = [
    ("乡镇", "member.household.village.township.name"),
    ("行政村", "member.household.village.name"),
    ("户编号", "member.household.number"),
    ("姓名", "member.name"),
    ("证件号码", masked_id("member.id_number")),
]

InstitutionResource = export_resource(
    [
        ("医疗机构", "name"),
        ("机构编码", "code"),
        ("级别", _display("level")),
        ("定点", lambda o: _yes(o.designated)),
        ("所在乡镇", lambda o: o.township.name if o.township else ""),
    ],
)

DiseaseResource = export_resource(
    [
        ("ICD-10编码", "code"),
        ("疾病名称", "name"),
        ("分组", _display("group")),
        ("救治方式", _display("treatment_way")),
        ("所属名录", "lists"),
        ("匹配编码前缀", "prefixes"),
        ("启用", lambda o: _yes(o.active)),
    ],
)

PackageResource = export_resource(
    [
        ("服务包", "name"),
        ("档次", _display("tier")),
        ("年服务费", "price"),
        ("个人支付", "personal_share"),
        ("服务内容", lambda o: "；".join(o.item_list)),
        ("可签约", lambda o: _yes(o.active)),
    ],
)

EncounterResource = export_resource(
    [
        ("就诊流水号", "ref"),
        *_PERSON,
        ("医疗机构", "institution.name"),
        ("机构级别", lambda o: o.institution.get_level_display()),
        ("就诊类型", _display("kind")),
        ("入院/就诊日期", "admission_date"),
        ("出院日期", "discharge_date"),
        ("诊断编码", "diagnosis_code"),
        ("诊断名称", "diagnosis_name"),
        ("医疗总费用", "total_cost"),
        ("政策范围内费用", "in_policy_cost"),
        ("单病种", "package"),
        ("按规定转诊", lambda o: _yes(o.referred)),
        ("当前有效", lambda o: _yes(o.is_current)),
        ("更正的原记录", lambda o: o.supersedes.ref if o.supersedes else ""),
    ],
)

IllnessResource = export_resource(
    [
        *_PERSON,
        ("诊断编码", "diagnosis_code"),
        ("诊断名称", "diagnosis_name"),
        ("目录分组", lambda o: o.disease.get_group_display() if o.disease else ""),
        ("确诊日期", "diagnosed_on"),
        ("确诊机构", lambda o: o.diagnosed_at.name if o.diagnosed_at else ""),
        ("救治方式", _display("treatment_way")),
        ("救治状态", _display("status")),
        ("救治方案", "treatment_plan"),
        ("累计总费用", "total_cost"),
        ("基本医保", "basic_insurance"),
        ("大病保险", "catastrophic_insurance"),
        ("医疗救助", "civil_aid"),
        ("个人自付", "self_pay"),
        ("救治结果", "result"),
    ],
)

ScreeningResource = export_resource(
    [
        *_PERSON,
        ("年度", "year"),
        ("轮次", _display("round")),
        ("已筛查", lambda o: _yes(o.checked)),
        ("筛查日期", "checked_on"),
        ("筛查发现", "findings"),
    ],
)

TeamResource = export_resource(
    [
        ("团队", "name"),
        ("乡镇", "township.name"),
        ("所属卫生院", "institution.name"),
        ("在岗成员数", "member_count"),
        ("在岗", lambda o: _yes(o.active)),
    ],
)

ContractResource = export_resource(
    [
        ("乡镇", "household.village.township.name"),
        ("行政村", "household.village.name"),
        ("户编号", "household.number"),
        ("户主", "head_name"),
        ("签约人数", "member_count"),
        ("团队", "team.name"),
        ("服务包", "package.name"),
        ("开始日期", "start_date"),
        ("结束日期", "end_date"),
        ("状态", _display("status")),
        ("随访次数", "followup_count"),
        ("最近随访", "last_followup"),
    ],
)

FollowUpResource = export_resource(
    [
        *_PERSON,
        ("随访日期", "date"),
        ("随访方式", _display("kind")),
        ("随访医生", lambda o: o.doctor.name if o.doctor else ""),
        ("团队", "contract.team.name"),
        ("收缩压", "systolic"),
        ("舒张压", "diastolic"),
        ("血糖", "glucose"),
        ("随访记录", "notes"),
    ],
)

DueFollowUpResource = export_resource(
    [
        ("乡镇", "household.village.township.name"),
        ("行政村", "household.village.name"),
        ("户编号", "household.number"),
        ("姓名", "name"),
        ("证件号码", masked_id("id_number")),
        ("健康状况", _display("health_status")),
        ("签约团队", "team_name"),
        ("签约开始", "contract_start"),
        ("最近随访", "last_followup"),
    ],
)
