"""The aid section of a policy document and the amount it gives (pure: no Django).

A policy document (docs/policy-format.md) may carry, beside its ``tiers``, an ``aid`` object:
one rule per kind of aid application that the county computes by rule, e.g.::

    "aid": {
      "tilted": {"kind": "income_tested", "name": "倾斜救助（高额自付）",
                 "threshold_share_of_income": 0.50, "rate": 0.60, "cap": 20000},
      "scattered": {"kind": "rate", "name": "县外就医零星报销",
                    "deductible": 0, "rate": 0.50, "cap": 10000}
    }

* ``income_tested``: the self-pay above ``threshold_share_of_income`` of the household's
  yearly income is aided at ``rate``, up to ``cap`` (``null``: no cap).
* ``rate``: the base above ``deductible`` is aided at ``rate``, up to ``cap``.

The base is the settled self-pay (个人自付) of the encounters the application covers, or, for
零星报销 (``scattered``), the sum of its out-of-county invoices. Each step is rounded once,
half-up to the cent. A kind without a rule is approved at the amount the county enters.
``docs/aid.md`` is the guide."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")
ZERO = Decimal("0.00")

APPLICATION_KINDS = ("applied", "tilted", "scattered", "charity")
RULE_KINDS = {"income_tested": "按家庭收入倾斜救助", "rate": "按比例救助"}
_COMMON = ("kind", "name", "rate", "cap")
_FIELDS = {
    "income_tested": (*_COMMON, "threshold_share_of_income"),
    "rate": (*_COMMON, "deductible"),
}


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _number(value) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _check_money(rule, name, path, errs, *, required: bool, nullable: bool = False):
    if name not in rule:
        if required:
            errs.append(f"{path}.{name}: 必须填写")
        return
    value = rule[name]
    if value is None and nullable:
        return
    number = _number(value) if not isinstance(value, str) else None
    if number is None or number < 0:
        errs.append(f"{path}.{name}: 应为不小于0的金额（元，数字，不加引号）")
    elif number != number.quantize(CENT):
        errs.append(f"{path}.{name}: 金额最多两位小数")


def _check_ratio(rule, name, path, errs):
    if name not in rule:
        errs.append(f"{path}.{name}: 必须填写")
        return
    value = rule[name]
    number = _number(value) if not isinstance(value, str) else None
    if number is None or not (0 <= number <= 1):
        errs.append(f"{path}.{name}: 应为0到1之间的小数（如0.60即60%）")


def validate_aid_section(section) -> list[str]:
    """Every fault of a policy's ``aid`` section as ``"aid.…: message"`` (Chinese); [] when
    valid or absent (``None``)."""
    if section is None:
        return []
    if not isinstance(section, dict):
        return ["aid: 应为对象（花括号），每种救助一条规则"]
    errs: list[str] = []
    for kind, rule in section.items():
        path = f"aid.{kind}"
        if kind not in APPLICATION_KINDS:
            errs.append(f"{path}: 不认识的救助类型（可填：{'、'.join(APPLICATION_KINDS)}）")
            continue
        if not isinstance(rule, dict):
            errs.append(f"{path}: 应为对象（花括号）")
            continue
        rule_kind = rule.get("kind")
        if rule_kind not in RULE_KINDS:
            errs.append(f"{path}.kind: 不认识的规则类型（可填：{'、'.join(RULE_KINDS)}）")
            continue
        for name in rule:
            if name not in _FIELDS[rule_kind]:
                errs.append(f"{path}.{name}: 不认识的字段（拼写错误，或自己加的字段、备注）")
        if not isinstance(rule.get("name"), str) or not rule["name"].strip():
            errs.append(f"{path}.name: 必须填写规则名称（文字）")
        _check_ratio(rule, "rate", path, errs)
        _check_money(rule, "cap", path, errs, required=True, nullable=True)
        if rule_kind == "income_tested":
            _check_ratio(rule, "threshold_share_of_income", path, errs)
        else:
            _check_money(rule, "deductible", path, errs, required=False)
    return errs


def rule_for(section, kind: str) -> dict | None:
    """The rule of application ``kind`` in a (valid) aid section; None: entered by hand."""
    if not isinstance(section, dict):
        return None
    return section.get(kind)


@dataclass(frozen=True)
class Calculation:
    """An amount and the arithmetic that gave it, step by step (the 审批表 prints it)."""

    rule_name: str
    rule_kind: str
    amount: Decimal
    steps: list[tuple[str, str]] = field(default_factory=list)  # (what, "expression = value")

    def as_dict(self) -> dict:
        return {
            "rule_name": self.rule_name,
            "rule_kind": self.rule_kind,
            "amount": str(self.amount),
            "steps": [list(step) for step in self.steps],
        }


def _pct(ratio: Decimal) -> str:
    return f"{(ratio * 100).normalize():f}%"


def _capped(raw: Decimal, cap, steps) -> Decimal:
    if cap is None:
        steps.append(("救助金额", f"{raw} 元（不封顶）"))
        return raw
    cap = cents(Decimal(str(cap)))
    amount = min(raw, cap)
    steps.append(("救助金额", f"min({raw}, 封顶 {cap}) = {amount} 元"))
    return amount


def compute(rule: dict, *, base: Decimal, base_label: str, income: Decimal | None) -> Calculation:
    """The amount of a (valid) rule for ``base`` (the settled self-pay or the invoices' sum)
    and the household's yearly ``income``. Raises ``ValueError`` with a Chinese message when
    the rule needs an income that is not recorded."""
    rate = Decimal(str(rule["rate"]))
    base = cents(base)
    steps = [(base_label, f"{base} 元")]
    if rule["kind"] == "income_tested":
        if income is None:
            raise ValueError("该户未登记家庭年收入，不能按收入计算倾斜救助金额。")
        share = Decimal(str(rule["threshold_share_of_income"]))
        threshold = cents(income * share)
        steps.append(("起付标准", f"家庭年收入 {cents(income)} 元 × {_pct(share)} = {threshold} 元"))
    else:
        threshold = cents(Decimal(str(rule.get("deductible") or 0)))
        steps.append(("起付标准", f"{threshold} 元"))
    excess = max(base - threshold, ZERO)
    steps.append(("超出部分", f"max({base} − {threshold}, 0) = {excess} 元"))
    raw = cents(excess * rate)
    steps.append(("按比例救助", f"{excess} × {_pct(rate)} = {raw} 元"))
    amount = _capped(raw, rule.get("cap"), steps)
    return Calculation(rule_name=rule["name"], rule_kind=rule["kind"], amount=amount, steps=steps)
