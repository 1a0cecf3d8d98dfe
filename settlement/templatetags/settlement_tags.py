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


def _deductible_cases(d) -> list[tuple[str, Decimal]]:
    """The distinct deductibles a patient can meet under a deductible spec, as (who, amount):
    one per amount written in ``by_level`` (levels sharing an amount together), ``amount`` for
    the levels not listed, and — with ``repeat_factor`` — the same for the second and later
    encounters of the year (rounded half up to the cent, as the engine does)."""
    d = d or {}
    amount = _decimal(d.get("amount", 0)) or Decimal(0)
    by_level = d.get("by_level") or {}
    groups: dict[Decimal, list[str]] = {}
    for level, value in by_level.items():
        groups.setdefault(_decimal(value) or Decimal(0), []).append(LEVELS.get(level, level))
    if len(by_level) < len(LEVELS):
        groups.setdefault(amount, []).append("其他级别" if by_level else "")
    cases = [("、".join(w for w in who if w), value) for value, who in groups.items()]
    factor = _decimal(d.get("repeat_factor"))
    if factor is not None and d.get("per", "encounter") == "encounter":
        repeat = []
        for who, value in cases:
            again = (value * factor).quantize(CENT, ROUND_HALF_UP)
            if again != value:  # a zero deductible stays zero: nothing new to show
                repeat.append((f"{who}年内第二次及以后" if who else "年内第二次及以后", again))
        cases += repeat
    return cases


def effective_bands(bands, measure, deductible) -> list[tuple[Decimal, Decimal | None, object]]:
    """Bands as the patient meets them: ``(from, to or None, rate)`` on the cost counted from zero
    (deductible included), for a deductible of ``deductible`` yuan — the rule of the contract:
    with ``above_deductible`` a band [a, b] is the part above the deductible, so the patient's
    cost runs from d + a to d + b; with ``cumulative`` the band is already counted from zero, so
    it runs from max(a, d) to b, and a band wholly below the deductible (b ≤ d) is dropped."""
    d = Decimal(deductible)
    out, lower = [], Decimal(0)
    for upper, rate in bands:
        up = _decimal(upper)
        if measure == "cumulative":
            if up is not None and up <= d:
                lower = up
                continue
            out.append((max(lower, d), up, rate))
        else:
            out.append((lower + d, None if up is None else up + d, rate))
        if up is not None:
            lower = up
    return out


def _yuan(value) -> str:
    """Yuan without ".00" when whole ("1,300"; "1,300.50"): band edges read like the policy text."""
    text = yuan(value)
    return text[:-3] if text.endswith(".00") else text


def _bands_text(rate, deductible) -> str:
    bracket = rate.get("mode") == "bracket"
    d = Decimal(deductible)
    slices = [] if not d else [f"0–{_yuan(d)}元为起付线，不报销"]
    for low, high, r in effective_bands(rate["bands"], rate.get("measure"), d):
        span = f"{_yuan(low)}元以上" if high is None else f"{_yuan(low)}–{_yuan(high)}元"
        slices.append(f"费用{span}：起付线以上全部按 {pct(r)}" if bracket else f"{span}部分 {pct(r)}")
    return "；".join(slices)


def rate_text(rate, bonus=None, deductible=None) -> str:
    """A rate in words. Bands are shown as the patient meets them (``effective_bands``): on the
    cost counted from zero, for each deductible the tier can have (``deductible`` is the tier's
    deductible spec), followed by the bands as written in the document."""
    if not rate:
        return "—"
    if "flat" in rate:
        text = pct(rate["flat"])
    elif "by_level" in rate:
        text = _by_level(rate["by_level"], pct) + "；未列出的级别不报销"
    elif "bands" in rate:
        cumulative = rate.get("measure") == "cumulative"
        mode = "全额按所在档次比例支付" if rate.get("mode") == "bracket" else "分段累进计算"
        per_year = (deductible or {}).get("per") == "year"
        basis = (
            "按本年度累计进入本项的费用（从0算起、含起付线）"
            if per_year
            else "按进入本项的费用（从0算起、含起付线）"
        )
        cases = _deductible_cases(deductible)
        if len(cases) == 1:
            shown = f"{basis}：{_bands_text(rate, cases[0][1])}"
        else:
            shown = f"{basis}：" + "。".join(
                f"〔{who + ' ' if who else ''}起付线{_yuan(value)}元〕{_bands_text(rate, value)}"
                for who, value in cases
            )
        lower, written = Decimal(0), []
        for upper, r in rate["bands"]:
            base = "" if cumulative else "起付线以上"
            if upper is None:
                written.append(f"{base}{_yuan(lower)}元以上部分 {pct(r)}")
            else:
                written.append(f"{base}{_yuan(lower)}–{_yuan(upper)}元部分 {pct(r)}")
                lower = Decimal(str(upper))
        text = f"{shown}（{mode}；政策文件原文：{'；'.join(written)}）"
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
            ("报销比例", rate_text(tier.get("rate"), tier.get("rate_bonus"), tier.get("deductible"))),
            ("封顶线", cap_text(tier.get("cap"))),
            ("单病种定额", packages_text(tier.get("packages"))),
        ]
    overrides = []
    for override in tier.get("overrides") or []:
        changes = []
        sets = override.get("set") or {}
        for name, value in sets.items():
            label, show = FIELD_TEXT.get(name, (name, str))
            if name == "rate_bonus":
                changes.append(show(value))
            elif name == "rate" and value is not None:
                # Bands as met under the deductible this override leaves in force.
                deductible = sets.get("deductible", tier.get("deductible"))
                changes.append(f"{label}改为 {rate_text(value, deductible=deductible)}")
            elif name == "deductible" and "rate" not in sets and "bands" in (tier.get("rate") or {}):
                changes.append(
                    f"{label}改为 {show(value)}（分段随之变为：{rate_text(tier['rate'], deductible=value)}）"
                )
            else:
                changes.append(f"{label}改为 {show(value)}" if value is not None else f"{label}：不限")
        overrides.append((conditions_text(override.get("when")), "；".join(changes)))
    return {"key": tier.get("key"), "name": tier.get("name"), "rows": rows, "overrides": overrides}


CATEGORIES = {
    "western_drug": "西药",
    "patent_drug": "中成药",
    "herbal": "中药饮片",
    "exam": "检查",
    "lab": "化验",
    "treatment": "治疗",
    "surgery": "手术",
    "material": "卫生材料",
    "bed": "床位",
    "nursing": "护理",
    "other": "其他",
}


@register.simple_tag
def catalogue_text(document) -> str:
    """The policy's 乙类先行自付比例 in words ("" when the policy has no ``catalogue``)."""
    catalogue = (document or {}).get("catalogue")
    if not isinstance(catalogue, dict):
        return ""
    text = f"乙类项目先行自付 {pct(catalogue.get('b_self_ratio', 0))}"
    by_category = catalogue.get("b_self_ratio_by_category") or {}
    if by_category:
        text += "；其中" + "、".join(f"{CATEGORIES.get(c, c)} {pct(r)}" for c, r in by_category.items())
    return text + "（每项单独四舍五入到分；甲类全部、丙类不计入政策范围内费用；仅用于有费用明细的就诊）"


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
