"""Code lists of the claims app (no Django imports); the settlement engine speaks the same
codes for institution levels and encounter kinds."""

INSTITUTION_LEVELS = (
    ("village", "村卫生室"),
    ("township", "乡镇卫生院"),
    ("county", "县级"),
    ("city", "市级"),
    ("province", "省级"),
    ("out_of_province", "省外"),
)
# Levels inside the county: the in-county visit share (县域内就诊率) counts these.
IN_COUNTY_LEVELS = ("village", "township", "county")

ENCOUNTER_KINDS = (
    ("outpatient", "普通门诊"),
    ("outpatient_chronic", "门诊慢特病"),
    ("inpatient", "住院"),
)

DISEASE_GROUPS = (
    ("serious", "大病专项救治"),
    ("chronic", "门诊慢特病"),
    ("other", "其他"),
)

TREATMENT_WAYS = (
    ("concentrated", "集中救治（一次性可治愈）"),
    ("inpatient_maintenance", "住院维持治疗"),
    ("chronic_management", "签约服务管理（长期慢病）"),
)

# Illness records (一人一档): 待救治 → 救治中 → 已救治, or 签约管理中 for long-term chronic care.
ILLNESS_STATUSES = (
    ("pending", "待救治"),
    ("treating", "救治中"),
    ("treated", "已救治"),
    ("managed", "签约管理中"),
)
# Which status may follow which (a relapse sends a treated illness back to treatment).
ILLNESS_TRANSITIONS = {
    "pending": ("treating", "managed"),
    "treating": ("treated", "managed"),
    "treated": ("treating", "managed"),
    "managed": ("treating", "treated"),
}

SCREENING_ROUNDS = (
    ("checkup", "第一轮：免费健康体检"),
    ("focused", "第二轮：患病人员重点筛查"),
)

TEAM_ROLES = (
    ("county_doctor", "县级医生"),
    ("township_doctor", "乡镇医生"),
    ("village_doctor", "村医"),
    ("nurse", "护士"),
)

PACKAGE_TIERS = (
    ("basic", "基础包"),
    ("primary", "初级包"),
    ("intermediate", "中级包"),
    ("advanced", "高级包"),
)

CONTRACT_STATUSES = (
    ("active", "履约中"),
    ("expired", "已到期"),
    ("terminated", "已解约"),
)

FOLLOWUP_KINDS = (
    ("home_visit", "入户随访"),
    ("checkup", "门诊/体检随访"),
    ("phone", "电话随访"),
)

# A contract with no follow-up in its first quarter is "签而不约" (domain.md); members with a
# chronic or serious illness are due for a follow-up once a quarter.
FIRST_FOLLOWUP_DAYS = 90
FOLLOWUP_INTERVAL_DAYS = 90

# 费用明细 (itemised bills): 医保目录类别 and 费用类别, the settlement contract's codes.
ITEM_CLASSES = (
    ("A", "甲类"),
    ("B", "乙类"),
    ("C", "丙类"),
)
ITEM_CATEGORIES = (
    ("western_drug", "西药"),
    ("patent_drug", "中成药"),
    ("herbal", "中药饮片"),
    ("exam", "检查"),
    ("lab", "化验"),
    ("treatment", "治疗"),
    ("surgery", "手术"),
    ("material", "卫生材料"),
    ("bed", "床位"),
    ("nursing", "护理"),
    ("other", "其他"),
)
# 药占比: the categories that are drugs.
DRUG_CATEGORIES = ("western_drug", "patent_drug", "herbal")
