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

CatalogueItemResource = export_resource(
    [
        ("项目编码", "code"),
        ("项目名称", "name"),
        ("费用类别", _display("category")),
        ("医保目录类别", _display("item_class")),
        ("单价", "unit_price", "decimal"),
        ("单位", "unit"),
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


def _flags(encounter):
    return "；".join(f"{f.get_code_display()}：{f.message}" for f in encounter.review_flags.all())


def _decision(encounter, attribute):
    decisions = getattr(encounter, "current_decision", None) or []
    return attribute(decisions[0]) if decisions else ""


ReviewQueueResource = export_resource(
    [
        ("就诊流水号", "ref"),
        *_PERSON,
        ("医疗机构", "institution.name"),
        ("就诊类型", _display("kind")),
        ("入院/就诊日期", "admission_date"),
        ("出院日期", "discharge_date"),
        ("诊断", lambda e: f"{e.diagnosis_code} {e.diagnosis_name}".strip()),
        ("医疗总费用", "total_cost", "money"),
        ("审核提示", _flags),
        ("审核结论", lambda e: _decision(e, lambda d: d.get_outcome_display())),
        ("违规类型", lambda e: _decision(e, lambda d: d.reason.name if d.reason else "")),
        ("违规扣除", lambda e: _decision(e, lambda d: d.deducted)),
        ("审核意见", lambda e: _decision(e, lambda d: d.note)),
    ]
)


def _by_reason(index):
    return lambda row: row["by_reason"][index]


def review_report_resource(reasons):
    """The per-institution review report's columns; one column per violation code present."""
    return export_resource(
        [
            ("医疗机构", "institution"),
            ("就诊人次", "claims", "int"),
            ("医疗总费用", "total_cost", "money"),
            ("次均费用", "cost_per_claim", "money"),
            ("出院人次", "stays", "int"),
            ("平均住院日", "average_stay", "decimal"),
            ("药占比（%）", lambda r: None if r["drug_share"] is None else r["drug_share"] * 100, "pct"),
            ("有审核提示的人次", "flagged", "int"),
            ("审核提示条数", "flags", "int"),
            ("已审核", "decided", "int"),
            ("审核通过", "approved", "int"),
            ("违规扣款人次", "deducted_claims", "int"),
            ("拒付人次", "rejected", "int"),
            ("违规扣除合计", "deducted", "money"),
            *[(f"扣除：{reason['name']}", _by_reason(i), "money") for i, reason in enumerate(reasons)],
        ]
    )


ReviewFeedbackResource = export_resource(
    [
        ("就诊流水号", "encounter.ref"),
        ("患者", "encounter.member.name"),
        ("出院/就诊日期", "encounter.service_date"),
        ("审核结论", _display("outcome")),
        ("违规类型", lambda d: d.reason.name if d.reason else ""),
        ("明细金额", "billed", "money"),
        ("违规扣除", "deducted", "money"),
        ("审核意见", "note"),
        ("审核时间", "decided_at"),
    ]
)
