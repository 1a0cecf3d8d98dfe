"""Why a settlement paid nothing: for a statement whose every payer paid 0.00, one plain Chinese
reason per tier, read from the policy document (settlement-contract.md) and the encounter's
facts. A pure module beside the engine's outputs (no Django imports); it does not settle, it
compares the encounter with each tier's ``applies_to``, overrides, rate and deductible.

Facts (a dict): ``kind``, ``level``, ``designated``, ``referred``, ``poverty_status``,
``aid_category``, ``disease_code``, ``package``, ``total_cost``, ``in_policy_cost`` (Decimal).
"""

from __future__ import annotations

from decimal import Decimal

from claims.codes import ENCOUNTER_KINDS

KINDS = dict(ENCOUNTER_KINDS)
# Where the patient was treated, by institution level.
PLACES = {
    "village": "村卫生室",
    "township": "乡镇卫生院",
    "county": "县级医院",
    "city": "市级医院",
    "province": "省级医院",
    "out_of_province": "省外医院",
}
POVERTY = {
    "poor": "建档立卡未脱贫",
    "monitored": "防止返贫监测对象",
    "lifted": "已脱贫",
    "none": "非建档立卡",
}
AIDS = {
    "tekun": "特困供养",
    "orphan": "孤儿",
    "dibao": "低保",
    "dibao_edge": "低保边缘",
    "none": "无救助类别",
}


def _as_list(value):
    return value if isinstance(value, list) else [value]


def _labels(values, names):
    return "、".join(names.get(v, str(v)) for v in _as_list(values))


def _failed_condition(conditions: dict, facts: dict) -> str | None:
    """The first condition of ``conditions`` the encounter does not meet, in words."""
    for key, wanted in (conditions or {}).items():
        if key == "kinds" and facts.get("kind") not in _as_list(wanted):
            return (
                f"只适用于{_labels(wanted, KINDS)}，本次为{KINDS.get(facts.get('kind'), facts.get('kind'))}"
            )
        if key == "levels" and facts.get("level") not in _as_list(wanted):
            place = PLACES.get(facts.get("level"), facts.get("level"))
            return f"只适用于在{_labels(wanted, PLACES)}就医，本次在{place}就医"
        if key == "designated" and bool(facts.get("designated", True)) not in _as_list(wanted):
            return "只适用于定点医疗机构" if True in _as_list(wanted) else "只适用于非定点医疗机构"
        if key == "referred" and bool(facts.get("referred", True)) not in _as_list(wanted):
            return "未按规定办理转诊手续" if True in _as_list(wanted) else "只适用于未转诊的就医"
        if key == "poverty_statuses" and facts.get("poverty_status", "none") not in _as_list(wanted):
            return f"只适用于{_labels(wanted, POVERTY)}人员"
        if key == "aid_categories" and facts.get("aid_category", "none") not in _as_list(wanted):
            return f"只适用于{_labels(wanted, AIDS)}救助对象"
        if key == "disease_codes":
            code = (facts.get("disease_code") or "").upper()
            if not code or not any(code.startswith(str(p).upper()) for p in _as_list(wanted)):
                return "诊断不在本项适用的病种范围内"
    return None


def _effective(tier: dict, facts: dict) -> dict:
    """The tier with every matching override applied (the last one wins per field)."""
    effective = dict(tier)
    for override in tier.get("overrides") or []:
        if _failed_condition(override.get("when") or {}, facts) is None:
            effective.update(override.get("set") or {})
    return effective


def _yuan(amount) -> str:
    return f"{Decimal(str(amount)):,.2f}"


def tier_reason(tier: dict, facts: dict) -> str:
    """Why ``tier`` paid nothing for the encounter described by ``facts``."""
    failed = _failed_condition(tier.get("applies_to") or {}, facts)
    if failed:
        return failed
    spec = _effective(tier, facts)
    level = facts.get("level")
    in_policy = Decimal(str(facts.get("in_policy_cost") or 0))
    total = Decimal(str(facts.get("total_cost") or 0))
    if spec.get("kind") == "backstop":
        return "个人自付未超过兜底线，无需兜底"
    if facts.get("package") and facts["package"] in (spec.get("packages") or {}):
        return "单病种定额支付为0"
    base = in_policy if spec.get("base", "in_policy") == "in_policy" else total
    if base <= 0:
        return "没有政策范围内费用" if spec.get("base", "in_policy") == "in_policy" else "没有可报销的费用"
    rate = spec.get("rate") or {}
    if "by_level" in rate and level not in rate["by_level"]:
        return f"在{PLACES.get(level, level)}就医不在本项报销范围内"
    if "flat" in rate and not rate["flat"] and not spec.get("rate_bonus"):
        return "本项报销比例为0"
    deductible = spec.get("deductible") or {}
    amount = (deductible.get("by_level") or {}).get(level, deductible.get("amount", 0))
    if amount and base <= Decimal(str(amount)):
        if deductible.get("per") == "year":
            return f"本年度累计费用未达到起付线（{_yuan(amount)}元）"
        return f"未达到起付线（{_yuan(amount)}元），本次可报销费用{_yuan(base)}元"
    cap = spec.get("cap") or {}
    if cap.get("per_year") is not None:
        return f"本年度已达到封顶线（{_yuan(cap['per_year'])}元）"
    if deductible.get("per") == "year":
        return f"本年度累计费用未达到起付线（{_yuan(amount)}元）"
    return "按政策计算无报销金额"


def zero_payout_reasons(document: dict, facts: dict) -> list[tuple[str, str]]:
    """``[(tier name, reason), …]`` in policy order, for a settlement that paid nothing."""
    return [
        (tier.get("name") or tier.get("key", ""), tier_reason(tier, facts))
        for tier in (document or {}).get("tiers") or []
    ]
