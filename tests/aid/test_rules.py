"""The aid section of a policy: its checks (Chinese, with paths) and its arithmetic, computed
by hand here."""

from decimal import Decimal

import pytest

from aid import rules

TILTED = {
    "kind": "income_tested",
    "name": "倾斜救助",
    "threshold_share_of_income": 0.5,
    "rate": 0.7,
    "cap": 20000,
}


def test_a_valid_section_has_no_faults():
    assert rules.validate_aid_section({"tilted": TILTED}) == []
    assert rules.validate_aid_section(None) == []


@pytest.mark.parametrize(
    "section, fault",
    [
        ([], "aid: 应为对象"),
        ({"other": TILTED}, "aid.other: 不认识的救助类型"),
        ({"tilted": {**TILTED, "kind": "income"}}, "aid.tilted.kind: 不认识的规则类型"),
        ({"tilted": {**TILTED, "rate": 70}}, "aid.tilted.rate: 应为0到1之间的小数"),
        ({"tilted": {**TILTED, "rate": "0.7"}}, "aid.tilted.rate: 应为0到1之间的小数"),
        ({"tilted": {**TILTED, "cap": -1}}, "aid.tilted.cap: 应为不小于0的金额"),
        ({"tilted": {**TILTED, "cap": 1.234}}, "aid.tilted.cap: 金额最多两位小数"),
        (
            {"tilted": {k: v for k, v in TILTED.items() if k != "threshold_share_of_income"}},
            "aid.tilted.threshold_share_of_income: 必须填写",
        ),
        ({"tilted": {**TILTED, "remark": "x"}}, "aid.tilted.remark: 不认识的字段"),
        (
            {"scattered": {"kind": "rate", "name": "零星", "rate": 0.5, "cap": None, "deductible": True}},
            "aid.scattered.deductible: 应为不小于0的金额",
        ),
    ],
)
def test_faults_are_named_by_path(section, fault):
    assert any(message.startswith(fault) for message in rules.validate_aid_section(section))


def test_income_tested_amount_by_hand():
    # income 20000.00 × 50% = 10000.00; self-pay 15234.45 − 10000.00 = 5234.45;
    # × 70% = 3664.115 → 3664.12 (half-up); below the cap of 20000.
    result = rules.compute(TILTED, base=Decimal("15234.45"), base_label="自付", income=Decimal("20000.00"))
    assert result.amount == Decimal("3664.12")
    assert result.rule_name == "倾斜救助"
    assert ("起付标准", "家庭年收入 20000.00 元 × 50% = 10000.00 元") in result.steps


def test_income_tested_is_capped_and_nothing_below_the_threshold():
    capped = rules.compute(
        {**TILTED, "cap": 3000}, base=Decimal("15234.45"), base_label="自付", income=Decimal("20000")
    )
    assert capped.amount == Decimal("3000.00")
    below = rules.compute(TILTED, base=Decimal("9999.99"), base_label="自付", income=Decimal("20000"))
    assert below.amount == Decimal("0.00")
    uncapped = rules.compute(
        {**TILTED, "cap": None}, base=Decimal("100000"), base_label="自付", income=Decimal("0")
    )
    assert uncapped.amount == Decimal("70000.00")


def test_income_tested_needs_an_income():
    with pytest.raises(ValueError, match="家庭年收入"):
        rules.compute(TILTED, base=Decimal("1"), base_label="自付", income=None)


def test_rate_rule_by_hand():
    rule = {"kind": "rate", "name": "零星报销", "deductible": 500, "rate": 0.5, "cap": 10000}
    # 3200.25 − 500.00 = 2700.25; × 50% = 1350.125 → 1350.13.
    assert rules.compute(rule, base=Decimal("3200.25"), base_label="发票", income=None).amount == Decimal(
        "1350.13"
    )
