"""Reference data shipped with the application (no Django imports); loaded by
``manage.py load_reference_data``, which is idempotent.

The national special-treatment list of serious diseases (大病专项救治) grew from 9 (2017) to
21 (2018), 25 (2019) and 30 (2020) diseases (domain.md). The 2017 list counts the two types of
congenital heart disease and of childhood leukaemia separately, the later lists count each
pair as one disease: the catalogue keeps one entry per type, so 32 entries hold the 30
diseases. ICD-10 codes are the national clinical version's category codes; a code such as
``J60-J65`` is a range, matched by each of its categories.
"""

SERIOUS = "serious"
CHRONIC = "chronic"
CONCENTRATED = "concentrated"
MAINTENANCE = "inpatient_maintenance"
MANAGEMENT = "chronic_management"

_L2017 = "2017国家9种"
_L2018 = "2018国家21种"
_L2019 = "2019国家25种"
_L2020 = "2020国家30种"
_FROM_2017 = ",".join((_L2017, _L2018, _L2019, _L2020))
_FROM_2018 = ",".join((_L2018, _L2019, _L2020))
_FROM_2019 = ",".join((_L2019, _L2020))
_FROM_2020 = _L2020

# (code, name, group, treatment way, lists, matching prefixes — blank: the code itself)
DISEASES = (
    # 2017: 9 diseases
    ("Q21.1", "儿童先天性心脏病房间隔缺损", SERIOUS, CONCENTRATED, _FROM_2017, ""),
    ("Q21.0", "儿童先天性心脏病室间隔缺损", SERIOUS, CONCENTRATED, _FROM_2017, ""),
    ("C91.0", "儿童急性淋巴细胞白血病", SERIOUS, CONCENTRATED, _FROM_2017, ""),
    ("C92.4", "儿童急性早幼粒细胞白血病", SERIOUS, CONCENTRATED, _FROM_2017, ""),
    ("C15", "食管癌", SERIOUS, CONCENTRATED, _FROM_2017, ""),
    ("C16", "胃癌", SERIOUS, CONCENTRATED, _FROM_2017, ""),
    ("C18", "结肠癌", SERIOUS, CONCENTRATED, _FROM_2017, ""),
    ("C20", "直肠癌", SERIOUS, CONCENTRATED, _FROM_2017, ""),
    ("N18.5", "终末期肾病", SERIOUS, MAINTENANCE, _FROM_2017, "N18.5,N18.0"),
    # 2018: 21 diseases (the 7 of 2017, counting each pair as one, and 14 more)
    ("C34", "肺癌", SERIOUS, CONCENTRATED, _FROM_2018, ""),
    ("C22", "肝癌", SERIOUS, CONCENTRATED, _FROM_2018, ""),
    ("C50", "乳腺癌", SERIOUS, CONCENTRATED, _FROM_2018, ""),
    ("C53", "宫颈癌", SERIOUS, CONCENTRATED, _FROM_2018, ""),
    ("I21", "急性心肌梗死", SERIOUS, CONCENTRATED, _FROM_2018, ""),
    ("H25-H26", "白内障", SERIOUS, CONCENTRATED, _FROM_2018, ""),
    ("J60-J65", "尘肺", SERIOUS, MAINTENANCE, _FROM_2018, ""),
    ("C74.9", "神经母细胞瘤", SERIOUS, CONCENTRATED, _FROM_2018, "C74"),
    ("C81-C85", "儿童淋巴瘤", SERIOUS, CONCENTRATED, _FROM_2018, ""),
    ("C40-C41", "骨肉瘤", SERIOUS, CONCENTRATED, _FROM_2018, ""),
    ("D66-D67", "血友病", SERIOUS, MAINTENANCE, _FROM_2018, ""),
    ("D56", "地中海贫血", SERIOUS, MAINTENANCE, _FROM_2018, ""),
    ("Q35-Q37", "唇腭裂", SERIOUS, CONCENTRATED, _FROM_2018, ""),
    ("Q54", "尿道下裂", SERIOUS, CONCENTRATED, _FROM_2018, ""),
    # 2019: 25 (4 more)
    ("U84.3", "耐多药结核病", SERIOUS, MAINTENANCE, _FROM_2019, "U84.3,A19.9"),
    ("I60-I64", "脑卒中", SERIOUS, CONCENTRATED, _FROM_2019, ""),
    ("J43-J44", "慢性阻塞性肺气肿", SERIOUS, MAINTENANCE, _FROM_2019, ""),
    ("B20-B24", "艾滋病机会感染", SERIOUS, MAINTENANCE, _FROM_2019, ""),
    # 2020: 30 (5 more)
    ("C67", "膀胱癌", SERIOUS, CONCENTRATED, _FROM_2020, ""),
    ("C56", "卵巢癌", SERIOUS, CONCENTRATED, _FROM_2020, ""),
    ("C64", "肾癌", SERIOUS, CONCENTRATED, _FROM_2020, ""),
    ("F20-F31", "重性精神疾病", SERIOUS, MAINTENANCE, _FROM_2020, "F20,F22,F25,F31"),
    ("I05-I09", "风湿性心脏病", SERIOUS, MAINTENANCE, _FROM_2020, ""),
    # The four priority chronic diseases of family-doctor contracts (门诊慢特病).
    ("I10", "高血压", CHRONIC, MANAGEMENT, "家庭医生签约重点慢病", "I10-I13,I15"),
    ("E11", "2型糖尿病", CHRONIC, MANAGEMENT, "家庭医生签约重点慢病", ""),
    ("A15-A16", "肺结核", CHRONIC, MANAGEMENT, "家庭医生签约重点慢病", ""),
    ("F20", "严重精神障碍", CHRONIC, MANAGEMENT, "家庭医生签约重点慢病", "F20,F22,F25,F31"),
)

# Institutions above the township every demo county refers to: (name, level, designated).
# Clinics (乡镇卫生院) and village posts (村卫生室) are made from the county's own townships
# and villages by ``load_reference_data --clinics``.
DEMO_HOSPITALS = (
    ("平罗县人民医院", "county", True),
    ("平罗县中医医院", "county", True),
    ("石嘴山市第一人民医院", "city", True),
    ("宁夏医科大学总医院", "province", True),
    ("西安交通大学第一附属医院", "out_of_province", True),
    ("平罗县康民民营医院", "county", False),
)


def clinic_name(township: str) -> str:
    return f"{township}卫生院"


def village_post_name(village: str) -> str:
    return f"{village}卫生室"


# Service packages of family-doctor contracts: (name, tier, items, yearly price, personal share).
DEMO_PACKAGES = (
    (
        "贫困人口基础包",
        "basic",
        "建立健康档案\n每年一次免费健康体检\n健康教育与咨询\n慢病用药指导\n预约转诊",
        "60.00",
        "0.00",
    ),
    (
        "慢病管理初级包",
        "primary",
        "基础包全部内容\n高血压/糖尿病每季度随访\n每季度一次血压、血糖检测\n上门服务（行动不便者）",
        "120.00",
        "0.00",
    ),
    (
        "重点人群中级包",
        "intermediate",
        "初级包全部内容\n每年一次心电图、血常规、肝肾功能\n康复指导\n家庭病床",
        "260.00",
        "30.00",
    ),
)
