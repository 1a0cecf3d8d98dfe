"""Pure modules, no database: ICD prefix matching, the shipped catalogue, encounter row parsing."""

import datetime
from decimal import Decimal

import pytest

from claims import encounter_rows as er
from claims import icd, reference_data
from registry.idnumber import make_id_number

TODAY = datetime.date(2025, 6, 30)
ID = make_id_number("640221", datetime.date(1970, 5, 17), 11)


@pytest.mark.parametrize(
    "raw, expected",
    [
        (" c16.9 ", "C16.9"),
        ("Ｃ１６", "C16"),
        ("i 10", "I10"),
        (None, ""),
        ("", ""),
    ],
)
def test_normalize_code(raw, expected):
    assert icd.normalize_code(raw) == expected


@pytest.mark.parametrize(
    "code, expected",
    [
        ("J60-J65", ["J60", "J61", "J62", "J63", "J64", "J65"]),
        ("Q35-Q37", ["Q35", "Q36", "Q37"]),
        ("I05–I09", ["I05", "I06", "I07", "I08", "I09"]),
        ("C16", ["C16"]),
        ("F20-F31x", ["F20-F31X"]),  # not a range: kept as it is
        ("J65-J60", ["J65-J60"]),  # backwards: not a range
    ],
)
def test_expand_range(code, expected):
    assert icd.expand_range(code) == expected


def test_split_prefixes_uses_code_when_blank_and_expands_ranges():
    assert icd.split_prefixes("", "H25-H26") == ["H25", "H26"]
    assert icd.split_prefixes("I10-I13, I15，I10") == ["I10", "I11", "I12", "I13", "I15"]


@pytest.mark.parametrize(
    "diagnosis, expected",
    [
        ("C16.901", ["gastric"]),
        ("C169", ["gastric"]),  # without the dot
        ("N18.5", ["esrd5", "ckd"]),  # the longest prefix first
        ("N18.3", ["ckd"]),
        ("F20.0", ["smi_serious", "smi_chronic"]),  # the same prefix in two entries: both, in entry order
        ("C1", []),  # shorter than every prefix
        ("", []),
        ("X99", []),
    ],
)
def test_prefix_index_matches_longest_first(diagnosis, expected):
    index = icd.PrefixIndex(
        [
            ("gastric", ["C16"]),
            ("ckd", ["N18"]),
            ("esrd5", ["N18.5"]),
            ("smi_serious", ["F20", "F31"]),
            ("smi_chronic", ["F20"]),
        ]
    )
    assert index.match(diagnosis) == expected
    assert index.first(diagnosis) == (expected[0] if expected else None)


def test_shipped_catalogue_holds_the_national_lists_and_the_four_chronic_diseases():
    by_list = {}
    for code, name, _group, way, lists, prefixes in reference_data.DISEASES:
        assert icd.split_prefixes(prefixes, code), code
        assert way in ("concentrated", "inpatient_maintenance", "chronic_management")
        for tag in lists.split(","):
            by_list.setdefault(tag, set()).add(name)
    # Entries per list: 先心病 and 白血病 are two entries each (counted as one disease after 2017).
    assert len(by_list["2017国家9种"]) == 9
    assert len(by_list["2018国家21种"]) == 21 + 2
    assert len(by_list["2019国家25种"]) == 25 + 2
    assert len(by_list["2020国家30种"]) == 30 + 2
    assert (
        by_list["2017国家9种"] < by_list["2018国家21种"] < by_list["2019国家25种"] < by_list["2020国家30种"]
    )
    assert {"重性精神疾病", "风湿性心脏病", "膀胱癌", "卵巢癌", "肾癌"} <= by_list["2020国家30种"] - by_list[
        "2019国家25种"
    ]
    chronic = {
        name: prefixes or code
        for code, name, group, _, _, prefixes in reference_data.DISEASES
        if group == "chronic"
    }
    assert set(chronic) == {"高血压", "2型糖尿病", "肺结核", "严重精神障碍"}
    index = icd.PrefixIndex((name, icd.split_prefixes(p)) for name, p in chronic.items())
    assert index.first("I10") == "高血压" and index.first("E11.9") == "2型糖尿病"
    assert index.first("A16.2") == "肺结核" and index.first("F31.1") == "严重精神障碍"
    codes = [code for code, *_ in reference_data.DISEASES]
    assert len(codes) == len(set(codes))


# --- encounter rows -----------------------------------------------------------------------------

HEADER = list(er.CANONICAL_HEADERS)


def row(**overrides):
    values = {
        "住院号/流水号": "ZY001",
        "姓名": "王秀英",
        "证件号码": ID,
        "医疗机构": "县人民医院",
        "就诊类型": "住院",
        "入院日期": "2025-03-01",
        "出院日期": "2025-03-08",
        "诊断编码": "c16.9",
        "诊断名称": "胃癌",
        "医疗总费用": "8432.50",
        "政策范围内费用": 7000,
        "单病种编码": "",
        "是否按规定转诊": "是",
    }
    values.update(overrides)
    return [values[h] for h in HEADER]


def parse(*rows, header=None):
    return er.parse_encounters([header or HEADER, *rows], today=TODAY)


def test_a_valid_row_is_parsed_into_typed_values():
    parsed = parse(row())
    assert parsed.errors == [] and parsed.row_count == 1
    (r,) = parsed.rows
    assert (r.row, r.ref, r.id_number, r.kind) == (2, "ZY001", ID, "inpatient")
    assert (r.admission_date, r.discharge_date) == (datetime.date(2025, 3, 1), datetime.date(2025, 3, 8))
    assert (r.total_cost, r.in_policy_cost) == (Decimal("8432.50"), Decimal("7000.00"))
    assert r.diagnosis_code == "C16.9" and r.referred is True


@pytest.mark.parametrize(
    "overrides, column, message",
    [
        ({"出院日期": "2025-02-27"}, "出院日期", "早于入院日期"),
        ({"政策范围内费用": "9000"}, "政策范围内费用", "不能大于医疗总费用"),
        ({"医疗总费用": "-5"}, "医疗总费用", "不能为负数"),
        ({"政策范围内费用": -1}, "政策范围内费用", "不能为负数"),
        ({"入院日期": "2025-07-01", "出院日期": "2025-07-02"}, "入院日期", "不能晚于今天"),
        ({"出院日期": "2025-07-05"}, "出院日期", "不能晚于今天"),
        ({"出院日期": ""}, "出院日期", "住院记录必须填写"),
        ({"住院号/流水号": ""}, "住院号/流水号", "必填"),
        ({"住院号/流水号": "Z" * 37}, "住院号/流水号", "过长"),
        ({"证件号码": ID[:-1] + ("0" if ID[-1] != "0" else "1")}, "证件号码", "校验位错误"),
        ({"证件号码": 640221197005170011}, "证件号码", "文本格式"),
        ({"就诊类型": "急诊"}, "就诊类型", "未知的值「急诊」"),
        ({"入院日期": "3月1日"}, "入院日期", "无法识别的日期"),
        ({"医疗总费用": "abc"}, "医疗总费用", "应为数字"),
        ({"医疗总费用": "100.005"}, "医疗总费用", "最多两位小数"),
        ({"是否按规定转诊": "也许"}, "是否按规定转诊", "应为：是/否"),
    ],
)
def test_each_fault_names_its_row_and_column(overrides, column, message):
    parsed = parse(row(), row(**{"住院号/流水号": "ZY002", **overrides}))
    assert [r.ref for r in parsed.rows] == ["ZY001"]
    assert parsed.rejected_rows == [3]
    assert any(e.row == 3 and e.column == column and message in e.message for e in parsed.errors), (
        parsed.errors
    )
    assert str(parsed.errors[0]).startswith("第3行 ")


def test_a_duplicate_reference_rejects_every_row_using_it():
    parsed = parse(row(), row(**{"住院号/流水号": "ZY009"}), row())
    assert [r.ref for r in parsed.rows] == ["ZY009"]
    assert parsed.rejected_rows == [2, 4]
    assert [str(e) for e in parsed.errors] == [
        "第2行 住院号/流水号: 与第4行重复",
        "第4行 住院号/流水号: 与第2行重复",
    ]


def test_outpatient_without_discharge_date_and_other_cell_types_are_accepted():
    parsed = parse(
        row(
            **{
                "就诊类型": "门诊",
                "出院日期": None,
                "入院日期": datetime.datetime(2025, 5, 4, 0, 0),
                "医疗总费用": 120.5,
                "政策范围内费用": "100元",
                "是否按规定转诊": "否",
                "住院号/流水号": 20250001.0,
            }
        )
    )
    assert parsed.errors == []
    (r,) = parsed.rows
    assert (r.kind, r.ref, r.admission_date, r.discharge_date) == (
        "outpatient",
        "20250001",
        datetime.date(2025, 5, 4),
        None,
    )
    assert (r.total_cost, r.in_policy_cost, r.referred) == (Decimal("120.50"), Decimal("100.00"), False)


def test_header_aliases_title_rows_order_and_unknown_columns():
    header = [
        "备注",
        "身份证号",
        "住院号",
        "医院名称",
        "医疗类别",
        "就诊日期",
        "出院日期",
        "总费用",
        "政策内费用",
    ]
    values = ["x", ID, "A1", "县人民医院", "慢特病门诊", "2025-01-02", "", "300", "280"]
    parsed = er.parse_encounters([["××县医院2025年出院清单"], [], header, values], today=TODAY)
    assert parsed.errors == [] and parsed.header_row == 3 and parsed.ignored_columns == ["备注"]
    assert parsed.rows[0].kind == "outpatient_chronic" and parsed.rows[0].row == 4


def test_missing_required_columns_refuse_the_file():
    parsed = er.parse_encounters([["姓名", "证件号码"], ["王", ID]], today=TODAY)
    assert parsed.has_file_error and parsed.rows == [] and parsed.rejected_rows == [2]
    missing = {e.column for e in parsed.errors if e.message == "缺少必填列"}
    assert missing == {"住院号/流水号", "医疗机构", "就诊类型", "入院日期", "医疗总费用", "政策范围内费用"}


def test_empty_file_and_file_without_data_rows():
    assert parse_errors([]) == ["第1行: 文件为空"]
    assert parse_errors([HEADER, [None] * len(HEADER)]) == ["第2行: 没有数据行"]


def parse_errors(rows):
    return [str(e) for e in er.parse_encounters(rows, today=TODAY).errors]


def test_serialize_is_the_inverse_of_parse():
    first = parse(
        row(),
        row(
            **{
                "住院号/流水号": "M2",
                "就诊类型": "普通门诊",
                "出院日期": "",
                "是否按规定转诊": "否",
                "医疗总费用": "0.10",
                "政策范围内费用": "0.10",
            }
        ),
    )
    again = er.parse_encounters(er.serialize_encounters(first.rows), today=TODAY)
    assert again.errors == []
    assert [(r.ref, r.kind, r.total_cost, r.referred, r.discharge_date) for r in again.rows] == [
        (r.ref, r.kind, r.total_cost, r.referred, r.discharge_date) for r in first.rows
    ]


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        (
            dict(
                kind="outpatient",
                admission_date=TODAY,
                discharge_date=None,
                total_cost=Decimal(1),
                in_policy_cost=Decimal(1),
            ),
            [],
        ),
        (
            dict(
                kind="inpatient",
                admission_date=TODAY,
                discharge_date=None,
                total_cost=None,
                in_policy_cost=None,
            ),
            [("出院日期", "住院记录必须填写")],
        ),
        (
            dict(
                kind="inpatient",
                admission_date=TODAY,
                discharge_date=None,
                total_cost=None,
                in_policy_cost=None,
                discharge_unreadable=True,
            ),
            [],
        ),
        (
            dict(
                kind="outpatient",
                admission_date=None,
                discharge_date=None,
                total_cost=Decimal(-1),
                in_policy_cost=Decimal(2),
            ),
            [("医疗总费用", "不能为负数")],
        ),
    ],
)
def test_encounter_faults_table(kwargs, expected):
    assert er.encounter_faults(today=TODAY, **kwargs) == expected


@pytest.mark.parametrize(
    "ref, expected", [("ZY001", "ZY001-R1"), ("ZY001-R1", "ZY001-R2"), ("A-R9", "A-R10"), ("R-1", "R-1-R1")]
)
def test_correction_reference(ref, expected):
    from claims.services import correction_ref

    assert correction_ref(ref) == expected
