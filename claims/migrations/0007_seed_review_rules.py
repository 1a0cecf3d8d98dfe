"""Every automatic review rule, on, with its default threshold (the values ``ReviewSettings``
starts from); ``not_in_catalogue`` does nothing until county staff enter the catalogue codes."""

from django.db import migrations

RULES = [
    # code, name, explanation, threshold, min_group
    (
        "duplicate",
        "疑似重复录入",
        "同一患者、同一医疗机构、入出院日期和医疗总费用都相同的就诊记录，可能重复录入或重复申报。",
        None,
        None,
    ),
    (
        "overlap",
        "住院时间重叠",
        "同一患者的两次住院时间互相重叠（出院当天转入他院不算重叠），不可能同时在两处住院。",
        None,
        None,
    ),
    (
        "readmission",
        "疑似分解住院",
        "同一患者因同一疾病（ICD-10类目相同）出院后短期内再次入院（阈值：天数，默认15天），可能是分解住院。",
        "15",
        None,
    ),
    (
        "los_outlier",
        "住院天数异常",
        "住院天数与同病种、同级别医疗机构的住院相差悬殊：以中位数和绝对中位差计算的稳健Z值超过阈值（默认3.5）。",
        "3.5",
        5,
    ),
    (
        "cost_outlier",
        "费用异常",
        "医疗总费用与同病种、同级别医疗机构、同类型就诊相差悬殊：以中位数和绝对中位差计算的稳健Z值超过阈值（默认3.5）。",
        "3.5",
        5,
    ),
    (
        "drug_share",
        "药占比偏高",
        "住院的西药、中成药和中药饮片费用占扣除后医疗总费用的比例超过阈值（默认0.40，即40%）。",
        "0.40",
        None,
    ),
    (
        "class_c_share",
        "丙类费用占比偏高",
        "丙类（目录外）费用占扣除后医疗总费用的比例超过阈值（默认0.10，即10%）。",
        "0.10",
        None,
    ),
    (
        "not_in_catalogue",
        "项目不在目录内",
        "费用明细中的项目编码不在本县医保目录中（在“目录项目编码”中填写目录后生效）。",
        None,
        None,
    ),
    (
        "sex_age",
        "诊断与性别年龄不符",
        "诊断与患者性别或年龄不相容：男性的妊娠或女性生殖系统诊断、女性的男性生殖系统诊断、成年人（阈值：年龄，默认18岁）的围生期疾病。",
        "18",
        None,
    ),
]


def seed(apps, schema_editor):
    ReviewRule = apps.get_model("claims", "ReviewRule")
    for code, name, explanation, threshold, min_group in RULES:
        ReviewRule.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "explanation": explanation,
                "threshold": threshold,
                "min_group": min_group,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("claims", "0006_review_rules_and_flags")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
