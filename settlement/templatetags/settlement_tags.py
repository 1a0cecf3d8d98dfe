"""Showing settlement figures: yuan with two decimals, amounts in Chinese capitals, a policy
document explained in Chinese, a member's year so far and an encounter's statement link."""

import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django import template

from claims.codes import ENCOUNTER_KINDS, INSTITUTION_LEVELS
from registry.codes import AID_CATEGORIES
from settlement import selectors

register = template.Library()

CENT = Decimal("0.01")
LEVELS = dict(INSTITUTION_LEVELS)
KINDS = dict(ENCOUNTER_KINDS)
AIDS = {code: label for code, label, _ in AID_CATEGORIES}
# The engine's poverty statuses (settlement-contract.md), "none" included.
POVERTY = {
    "poor": "建档立卡未脱贫",
    "monitored": "防止返贫监测对象",
    "lifted": "已脱贫",
    "none": "非建档立卡",
}
TIER_KINDS = {
    "basic_insurance": "基本医保",
    "catastrophic_insurance": "大病保险",
    "medical_aid": "医疗救助",
    "supplementary": "补充保险",
    "hospital_waiver": "医疗机构减免",
    "backstop": "政府兜底",
}


def _decimal(value):
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


@register.filter
def yuan(value):
    """``Decimal("40387.5")`` → ``"40,387.50"``; "—" for nothing."""
    amount = _decimal(value)
    if amount is None:
        return "—"
    return f"{amount.quantize(CENT, ROUND_HALF_UP):,.2f}"


@register.filter
def signed_yuan(value):
    amount = _decimal(value)
    if amount is None:
        return "—"
    return ("+" if amount > 0 else "") + yuan(amount)


@register.filter
def negate(value):
    amount = _decimal(value)
    return -amount if amount is not None else None


@register.filter
def pct(value):
    """A rate (0.9) as "90%"."""
    rate = _decimal(value)
    if rate is None:
        return "—"
    return f"{(rate * 100).normalize():f}%"


_DIGITS = "零壹贰叁肆伍陆柒捌玖"
_UNITS = ["", "拾", "佰", "仟"]
_GROUPS = ["", "万", "亿", "万亿"]


@register.filter
def rmb_upper(value):
    """Yuan in Chinese capitals as on a receipt: 4850.00 → 肆仟捌佰伍拾元整."""
    amount = _decimal(value)
    if amount is None:
        return ""
    amount = amount.quantize(CENT, ROUND_HALF_UP)
    if amount < 0:
        return "负" + rmb_upper(-amount)
    cents = int(amount * 100)
    yuan_part, jiao, fen = cents // 100, cents // 10 % 10, cents % 10
    text = ""
    if yuan_part:
        groups, n = [], yuan_part
        while n:
            groups.append(n % 10000)
            n //= 10000
        zero_pending = False
        for gi in range(len(groups) - 1, -1, -1):
            group = groups[gi]
            if group == 0:
                zero_pending = True
                continue
            if text and (zero_pending or group < 1000):
                text += "零"
            zero_pending = False
            part, inner_zero = "", False
            for ui in range(3, -1, -1):
                digit = group // 10**ui % 10
                if digit == 0:
                    inner_zero = bool(part)
                    continue
                if inner_zero:
                    part += "零"
                    inner_zero = False
                part += _DIGITS[digit] + _UNITS[ui]
            text += part + _GROUPS[gi]
        text += "元"
    if not jiao and not fen:
        return (text or "零元") + "整"
    if jiao:
        text += _DIGITS[jiao] + "角"
    elif text:
        text += "零"
    if fen:
        text += _DIGITS[fen] + "分"
    return text


# --- a policy document in words -----------------------------------------------------------------


def _amount(value):
    amount = _decimal(value)
    return "不限" if amount is None else f"{yuan(amount)}元"


def _labels(values, names):
    values = values if isinstance(values, list) else [values]
    return "、".join(names.get(v, str(v)) for v in values)


def conditions_text(when) -> str:
    """CONDITIONS in words, e.g. "住院、门诊慢特病；建档立卡未脱贫"."""
    if not when:
        return "所有就诊"
    parts = []
    for key, value in when.items():
        if key == "kinds":
            parts.append(_labels(value, KINDS))
        elif key == "levels":
            parts.append("在" + _labels(value, LEVELS) + "医疗机构就诊")
        elif key == "designated":
            parts.append("定点医疗机构" if value else "非定点医疗机构")
        elif key == "referred":
            parts.append("按规定转诊" if value else "未按规定转诊")
        elif key == "poverty_statuses":
            parts.append("患者为" + _labels(value, POVERTY))
        elif key == "aid_categories":
            parts.append("患者为" + _labels(value, AIDS) + "对象")
        elif key == "disease_codes":
            parts.append("诊断编码以 " + "、".join(value if isinstance(value, list) else [value]) + " 开头")
        else:
            parts.append(f"{key}={value}")
    return "；".join(parts)


def _by_level(mapping, show):
    return "；".join(f"{LEVELS.get(level, level)} {show(v)}" for level, v in mapping.items())


def _level_amounts(spec, *, default=None, unlisted=""):
    """``{"amount": N, "by_level": {LEVEL: N}}`` in words: by_level wins for its level."""
    if not spec.get("by_level"):
        return _amount(spec.get("amount", default))
    text = _by_level(spec["by_level"], _amount)
    if spec.get("amount") is not None:
        return text + f"；其他级别 {_amount(spec['amount'])}"
    return text + unlisted


def deductible_text(d) -> str:
    if not d:
        return "无起付线"
    per = "每年累计一次" if d.get("per") == "year" else "每次就诊"
    text = f"{per}：{_level_amounts(d, default=0)}"
    if d.get("repeat_factor") is not None:
        text += f"；年内第二次及以后就诊按 {pct(d['repeat_factor'])} 计"
    return text


def rate_text(rate, bonus=None) -> str:
    if not rate:
        return "—"
    if "flat" in rate:
        text = pct(rate["flat"])
    elif "by_level" in rate:
        text = _by_level(rate["by_level"], pct) + "；未列出的级别不报销"
    elif "bands" in rate:
        cumulative = rate.get("measure") == "cumulative"
        lower, slices = Decimal(0), []
        for upper, r in rate["bands"]:
            base = "" if cumulative else "起付线以上"
            if upper is None:
                slices.append(f"{base} {yuan(lower)}元以上部分 {pct(r)}")
            else:
                slices.append(f"{base} {yuan(lower)}–{yuan(upper)}元部分 {pct(r)}")
                lower = Decimal(str(upper))
        mode = "全额按所在档次比例支付" if rate.get("mode") == "bracket" else "分段累进计算"
        text = "；".join(slices) + f"（{mode}{'，按从零起累计的费用分档' if cumulative else ''}）"
    else:
        text = str(rate)
    if bonus:
        text += f"；各档比例另加 {pct(bonus)}（最高100%）"
    return text


def cap_text(cap) -> str:
    if not cap:
        return "不封顶"
    parts = []
    if cap.get("per_encounter") is not None:
        parts.append(f"每次最高 {_amount(cap['per_encounter'])}")
    if cap.get("per_year") is not None:
        parts.append(f"年度最高 {_amount(cap['per_year'])}")
    return "；".join(parts) or "不封顶"


def packages_text(packages) -> str:
    if not packages:
        return "无"
    return "；".join(
        f"{code} {p.get('name', '')}：基金定额支付 {_amount(p.get('fund_pays'))}"
        for code, p in packages.items()
    )


def self_pay_cap_text(c) -> str:
    if not c:
        return "无"
    per = "年度累计" if c.get("per") == "year" else "每次就诊"
    amounts = _level_amounts(c, unlisted="；未列出的级别不设此限额")
    return f"{per}政策范围内个人自付不超过：{amounts}"


def ratio_cap_text(ratio, of=None) -> str:
    if ratio is None:
        return "无"
    if of == "in_policy":
        return f"本次政策范围内个人自付不超过政策范围内费用的 {pct(ratio)}"
    return f"本次个人自付不超过医疗总费用的 {pct(ratio)}"


BASE = {"in_policy": "只报销政策范围内费用", "total": "全部剩余费用（含目录外费用）"}
FIELD_TEXT = {
    "deductible": ("起付线", deductible_text),
    "rate": ("报销比例", rate_text),
    "rate_bonus": ("比例加成", lambda v: f"各档报销比例提高 {pct(v)}（最高100%）"),
    "cap": ("封顶线", cap_text),
    "base": ("计算基数", lambda v: BASE.get(v, v)),
    "packages": ("单病种定额", packages_text),
    "self_pay_cap": ("个人自付限额", self_pay_cap_text),
    "self_pay_ratio_cap": ("自付比例上限", ratio_cap_text),
    "self_pay_ratio_of": ("自付比例基数", lambda v: "政策范围内费用" if v == "in_policy" else "医疗总费用"),
}


def describe_tier(tier: dict) -> dict:
    """One tier as labelled rows in Chinese; overrides as "当…时：…" rows."""
    rows = [
        ("类型", TIER_KINDS.get(tier.get("kind"), tier.get("kind"))),
        ("支付资金", tier.get("fund", "")),
        ("适用对象", conditions_text(tier.get("applies_to"))),
        ("计算基数", BASE.get(tier.get("base", "in_policy"))),
    ]
    if tier.get("kind") == "backstop":
        rows.append(("个人自付限额", self_pay_cap_text(tier.get("self_pay_cap"))))
        rows.append(
            ("自付比例上限", ratio_cap_text(tier.get("self_pay_ratio_cap"), tier.get("self_pay_ratio_of")))
        )
    else:
        rows += [
            ("起付线", deductible_text(tier.get("deductible"))),
            ("报销比例", rate_text(tier.get("rate"), tier.get("rate_bonus"))),
            ("封顶线", cap_text(tier.get("cap"))),
            ("单病种定额", packages_text(tier.get("packages"))),
        ]
    overrides = []
    for override in tier.get("overrides") or []:
        changes = []
        for name, value in (override.get("set") or {}).items():
            label, show = FIELD_TEXT.get(name, (name, str))
            if name == "rate_bonus":
                changes.append(show(value))
            else:
                changes.append(f"{label}改为 {show(value)}" if value is not None else f"{label}：不限")
        overrides.append((conditions_text(override.get("when")), "；".join(changes)))
    return {"key": tier.get("key"), "name": tier.get("name"), "rows": rows, "overrides": overrides}


@register.simple_tag
def policy_tiers(document):
    return [describe_tier(t) for t in (document or {}).get("tiers") or [] if isinstance(t, dict)]


# --- pieces included in other apps' pages -------------------------------------------------------


@register.inclusion_tag("settlement/_member_year_totals.html", takes_context=True)
def member_year_totals(context, member):
    """Where ``member`` stands this year (``?year=`` switches), per tier of the year's policy."""
    request = context.get("request")
    year = datetime.date.today().year
    raw = request.GET.get("year", "") if request is not None else ""
    if raw.isdigit() and 2000 <= int(raw) <= 2100:
        year = int(raw)
    this_year = datetime.date.today().year
    years = sorted({this_year - 2, this_year - 1, this_year, year}, reverse=True)
    return {
        "member": member,
        "totals": selectors.member_year_totals(member, year),
        "year": year,
        "years": years,
        "request": request,
    }


@register.inclusion_tag("settlement/_encounter_settlement.html", takes_context=True)
def encounter_settlement(context, encounter):
    """The encounter's current settlement (link to its statement) or why it is not settled."""
    settlement = selectors.current_settlement_of(encounter)
    return {
        "settlement": settlement,
        "problem": None if settlement else selectors.problem_of(encounter),
        "encounter": encounter,
    }


@register.filter
def get_item(mapping, key):
    return mapping.get(key) if mapping else None
