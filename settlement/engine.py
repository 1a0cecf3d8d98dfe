"""The one-stop settlement engine (一站式结算), exactly as ``settlement-contract.md`` says.

Pure Python, standard library only, no Django: the web views, the management commands, the
Celery tasks and the simulations all call the same functions here.

Layout, top to bottom:

1. vocabularies and errors;
2. number handling: money is exact. Amounts become integer cents as soon as they are read,
   rates become integer numerators over one power of ten per policy (``D``), so the hot loop
   only does integer arithmetic and rounds exactly like ``Decimal.quantize(ROUND_HALF_UP)``;
3. policy validation (``validate_policy``), which also normalises the document;
4. compilation (``compile_policy``): the effective parameters of every tier are resolved once
   per distinct *condition signature* of an encounter (kind, level, designated, referred,
   poverty status, aid category and, only when the policy asks, the disease-prefix matches),
   so settling an encounter is a cache lookup plus a few integer operations per tier;
5. claims parsing (``Member``, ``Encounter``, ``Item``, ``parse_members``, ``parse_encounters``),
   with an encounter's own facts on its date of care and itemised bills;
6. settlement (``settle``, ``Settlement``, ``settle_claims``).
"""

from __future__ import annotations

import copy
import datetime
import json
import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from claims import codes as _claims_codes
from registry import codes as _registry_codes

__all__ = [
    "PolicyError",
    "ClaimsError",
    "validate_policy",
    "compile_policy",
    "CompiledPolicy",
    "TierInfo",
    "Member",
    "Encounter",
    "parse_members",
    "parse_encounters",
    "parse_claims",
    "settle",
    "settle_sorted",
    "trusted_row",
    "encounter_signature",
    "FACT_CODES",
    "N_ENCOUNTER_SIGNATURES",
    "Item",
    "ITEM_CLASSES",
    "ITEM_CATEGORIES",
    "MESSAGES",
    "ENCOUNTER_SIGNATURES",
    "Settlement",
    "settle_claims",
    "format_cents",
    "KINDS",
    "LEVELS",
    "POVERTY_STATUSES",
    "AID_CATEGORIES",
    "TIER_KINDS",
]

# --------------------------------------------------------------------------------------------
# 1. Vocabularies and errors
# --------------------------------------------------------------------------------------------

# Institution levels and aid categories are the code tables' (one list each, Django-free);
# kinds keep the contract's order (its error messages list them so) and poverty statuses add
# the contract's "none" to the registry's three. tests/settlement/test_engine.py checks that
# they agree with claims.codes and registry.codes.
KINDS = ("inpatient", "outpatient_chronic", "outpatient")
LEVELS = tuple(code for code, _label in _claims_codes.INSTITUTION_LEVELS)
POVERTY_STATUSES = ("poor", "monitored", "lifted", "none")
AID_CATEGORIES = tuple(code for code, _label, _aliases in _registry_codes.AID_CATEGORIES)
# 医保目录类别 of an item on an itemised bill, and the categories of cost (费用类别).
ITEM_CLASSES = ("A", "B", "C")
ITEM_CATEGORIES = (
    "western_drug",
    "patent_drug",
    "herbal",
    "exam",
    "lab",
    "treatment",
    "surgery",
    "material",
    "bed",
    "nursing",
    "other",
)
TIER_KINDS = (
    "basic_insurance",
    "catastrophic_insurance",
    "medical_aid",
    "supplementary",
    "hospital_waiver",
    "backstop",
)

# Small integer codes, so an encounter's (kind, level, designated, referred) and a member's
# (poverty_status, aid_category) each become one int that indexes the compiled plan table.
_KIND_IX = {k: i for i, k in enumerate(KINDS)}
_LEVEL_IX = {v: i for i, v in enumerate(LEVELS)}
_POVERTY_IX = {v: i for i, v in enumerate(POVERTY_STATUSES)}
_AID_IX = {v: i for i, v in enumerate(AID_CATEGORIES)}
_N_ENCOUNTER_SIGS = len(KINDS) * len(LEVELS) * 4
_N_MEMBER_SIGS = len(POVERTY_STATUSES) * len(AID_CATEGORIES)
# A row's signature may also carry the encounter's own facts (see FACT_CODES): one code per
# (poverty status or "the member's", aid category or "the member's").
_N_FACT_CODES = (len(POVERTY_STATUSES) + 1) * (len(AID_CATEGORIES) + 1)
_ROW_SIG_SPAN = _N_ENCOUNTER_SIGS * _N_FACT_CODES


class _FieldErrors(ValueError):
    """A list of ``"path: message"`` strings; ``str()`` joins them with ``"; "``."""

    def __init__(self, errors):
        self.errors = list(errors)
        super().__init__("; ".join(self.errors))


class PolicyError(_FieldErrors):
    """The policy document breaks the contract; ``.errors`` names every bad field."""


class ClaimsError(_FieldErrors):
    """Members or encounters are malformed; ``.errors`` names every bad field."""


# Every message a policy document or claims file can get, in Chinese: the one table the
# command, the web import and the API all show (``docs/policy-format.md`` §7 lists them). An
# error is ``"PATH：MESSAGE"`` (a full-width colon), PATH being the field's path in the
# document (``tiers[1].rate.bands[2]``), so a county officer can find the field.
MESSAGES = {
    # numbers
    "number": "必须是数字（不要写“元”“万”“%”或千分位逗号）",
    "not_negative": "不能为负数",
    "too_large": "金额不能超过 {max} 元",
    "two_decimals": "金额最多两位小数（到分）",
    "ratio_range": "比例必须在0到1之间（80%写成0.80）",
    "ratio_decimals": "比例最多{n}位小数",
    # structure
    "unknown_field": "不认识的字段（拼写错误，或自己加的字段、备注）",
    "unknown_value": "不认识的值 {value}（可填：{allowed}）",
    "unknown_level": "不认识的医疗机构级别（可填：{allowed}）",
    "object": "应是一个对象 {{…}}",
    "list": "应是一个列表 […]",
    "list_not_scalar": "应是一个列表 […]：只有一个值也要写成 [{value}]",
    "not_empty": "列表不能为空：填值，或删掉这个条件",
    "non_empty_string": "必须是非空文字",
    "string": "必须是文字（加双引号）",
    "bool": "必须是 true 或 false（不加引号）",
    "not_null": "不能写 null",
    "required": "缺少必填字段",
    "required_string": "缺少必填字段，或填了空文字",
    "required_integer": "缺少必填字段，应是不带引号的整数",
    "required_list": "缺少必填字段，应是非空列表 […]",
    "required_object": "缺少必填字段，应是一个对象 {{…}}",
    # policy rules
    "duplicate_key": "key {key!r} 重复（与 {other} 相同）",
    "rate_required": "非兜底项目必须写报销比例 rate",
    "rate_one_form": "flat、by_level、bands 三种写法必须且只能选一种",
    "bands_list": "分段 bands 应是非空列表 [[上限, 比例], …]",
    "band_pair": "每一段应写成 [上限, 比例]",
    "band_null_not_last": "只有最后一段的上限可以写 null",
    "band_last_not_null": "最后一段的上限必须写 null（表示“以上”）",
    "bands_ascend": "分段上限必须递增",
    "bracket_per_year": "全额按档（bracket）不能与全年累计起付线（per: year）同用",
    "override_bracket_per_year": "套用这条特殊规定后，全额按档（bracket）会与全年累计起付线同用",
    "repeat_factor_per_year": "repeat_factor 只能用于每次起付线（per: encounter）",
    "not_on_backstop": "兜底项目不使用此字段（兜底只写 self_pay_cap / self_pay_ratio_cap）",
    "backstop_only": "只有兜底项目（backstop）可以写此字段",
    "backstop_without_cap": "兜底项目必须写 self_pay_cap 或 self_pay_ratio_cap（写在项目上或特殊规定里）",
    "backstop_not_last": "兜底项目必须排在其他报销项目之后（其后还有 {after}）",
    "self_pay_cap_per": "必须写明按年（year）还是按次（encounter）",
    "self_pay_cap_amount": "个人自付限额需写 amount 或 by_level",
    "not_overridable": "特殊规定不能修改这个字段",
    "package_code_empty": "单病种代码不能为空",
    "unknown_category": "不认识的费用类别（可填：{allowed}）",
    # claims
    "members_object": "应是一个对象 {{成员编号: 成员}}",
    "claims_object": "应是含 members 和 encounters 的对象",
    "member_required": "缺少必填字段：成员编号",
    "unknown_member": "没有这个成员 {member!r}",
    "duplicate_ref": "编号 {ref!r} 重复（与 {other} 相同）",
    "date_required": "缺少必填字段，日期写成 YYYY-MM-DD",
    "date_invalid": "不是有效日期",
    "in_policy_above_total": "政策范围内费用不能大于医疗总费用",
    "items_list": "费用明细应是非空列表 […]",
    "item_class": "医保目录类别必须是 A、B 或 C",
    "deducted_above_amount": "扣除金额不能大于项目金额",
    "items_with_in_policy": "有费用明细时不能再写政策范围内费用（由明细算出）",
    "items_total_mismatch": "医疗总费用 {total} 与明细金额合计 {sum} 不一致",
    "float_amount": "请传 Decimal 或文字，不要传浮点数",
}


def _msg(path, message, /, **kw):
    """``"PATH：MESSAGE"`` from the table (just the message when there is no path)."""
    text = MESSAGES[message]
    text = text.format(**kw) if kw else text.replace("{{", "{").replace("}}", "}")
    return f"{path}：{text}" if path else text


def _err(errs, path, message, /, **kw):
    errs.append(_msg(path, message, **kw))


def _shown(value):
    """A bad value as the officer wrote it (JSON spelling, so ``"chronic"`` and ``true``)."""
    try:
        return json.dumps(value, ensure_ascii=False)[:40]
    except (TypeError, ValueError):
        return repr(value)[:40]


# --------------------------------------------------------------------------------------------
# 2. Numbers
# --------------------------------------------------------------------------------------------

# A sanity bound on money so that a typo (or a hostile "1e999999") cannot make the integer
# arithmetic explode: one trillion yuan is far beyond any county budget.
MAX_AMOUNT = Decimal(10) ** 12
# Rates (and repeat factors) may have at most this many decimals; keeps D small and exact.
MAX_RATE_DECIMALS = 6
_ONE = Decimal(1)


def _number(value):
    """A JSON number or numeric string as an exact finite Decimal, else None.

    Floats go through ``repr`` (the shortest string that reads back the same float), so the
    JSON text ``0.65`` becomes ``Decimal("0.65")``, never 0.6500000000000000222…
    """
    if isinstance(value, bool):  # bool is an int subclass; true is not 1 yuan
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal):
        d = value
    elif isinstance(value, float):
        d = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            d = Decimal(value.strip())
        except InvalidOperation:
            return None
    else:
        return None
    return d if d.is_finite() else None


def _amount_cents(value, path, errs):
    """Validate an amount (≥ 0, whole cents, bounded) and return it as int cents, or None."""
    d = _number(value)
    if d is None:
        _err(errs, path, "number")
        return None
    if d < 0:
        _err(errs, path, "not_negative")
        return None
    if d > MAX_AMOUNT:
        _err(errs, path, "too_large", max=MAX_AMOUNT)
        return None
    scaled = d * 100  # exact: ≤ 15 significant digits < context's 28
    cents = int(scaled)
    if scaled != cents:
        _err(errs, path, "two_decimals")
        return None
    return cents


def _rate(value, path, errs):
    """Validate a rate in [0, 1] with at most MAX_RATE_DECIMALS decimals; exact Decimal or None."""
    d = _number(value)
    if d is None:
        _err(errs, path, "number")
        return None
    if d < 0 or d > 1:
        _err(errs, path, "ratio_range")
        return None
    d = d.normalize()
    if -d.as_tuple().exponent > MAX_RATE_DECIMALS:
        _err(errs, path, "ratio_decimals", n=MAX_RATE_DECIMALS)
        return None
    return d


def _decimals(d):
    """Number of decimals of a Decimal (0 for integers)."""
    return max(0, -d.normalize().as_tuple().exponent)


def format_cents(cents):
    """Int cents → the contract's output string with exactly two decimals ("4000.00")."""
    if cents < 0:
        return "-" + format_cents(-cents)
    return "%d.%02d" % divmod(cents, 100)


def _cents_to_decimal(cents):
    return Decimal(cents).scaleb(-2)


# --------------------------------------------------------------------------------------------
# 3. Policy validation and normalisation
# --------------------------------------------------------------------------------------------
#
# Every checker appends "path: message" strings to ``errs`` and returns the normalised value
# (amounts as int cents, rates as Decimal) or _BAD. The normalised tiers feed the compiler, so
# the document is read exactly once and the compiler never meets an invalid value.

_BAD = object()

# "aid": the aid applications' rules (aid/rules.py), opaque to the engine; the aid app checks
# it through settlement.ports.provide_section_check when a policy is imported.
_POLICY_FIELDS = ("code", "name", "year", "tiers", "catalogue", "aid")
_TIER_FIELDS = (
    "key",
    "kind",
    "name",
    "fund",
    "applies_to",
    "base",
    "deductible",
    "rate",
    "rate_bonus",
    "cap",
    "packages",
    "overrides",
    "self_pay_cap",
    "self_pay_ratio_cap",
    "self_pay_ratio_of",
)
# Fields an override may set (the contract's list) ...
_SETTABLE = (
    "deductible",
    "rate",
    "rate_bonus",
    "cap",
    "base",
    "packages",
    "self_pay_cap",
    "self_pay_ratio_cap",
    "self_pay_ratio_of",
)
# ... which of them only a backstop uses, and which a backstop ignores. A field the engine
# would silently ignore is refused: a county writing a rate on its backstop expects it to count.
_BACKSTOP_ONLY = ("self_pay_cap", "self_pay_ratio_cap", "self_pay_ratio_of")
_NOT_ON_BACKSTOP = ("deductible", "rate", "rate_bonus", "cap", "packages")

_CONDITION_VALUES = {
    "kinds": KINDS,
    "levels": LEVELS,
    "designated": (True, False),
    "referred": (True, False),
    "poverty_statuses": POVERTY_STATUSES,
    "aid_categories": AID_CATEGORIES,
    "disease_codes": None,  # free-form ICD-10 prefixes
}


def _is_obj(v):
    return isinstance(v, dict)


def _one_of(value, allowed, path, errs):
    if isinstance(value, str) and value in allowed:
        return value
    _err(errs, path, "unknown_value", value=_shown(value), allowed="、".join(allowed))
    return _BAD


def _unknown_fields(obj, allowed, path, errs):
    for name in obj:
        if name not in allowed:
            _err(errs, f"{path}.{name}" if path else name, "unknown_field")


def _check_conditions(value, path, errs):
    """CONDITIONS → {key: frozenset(values)}; disease_codes → tuple of upper-case prefixes."""
    if not _is_obj(value):
        _err(errs, path, "object")
        return _BAD
    out = {}
    for key, raw in value.items():
        p = f"{path}.{key}"
        if key not in _CONDITION_VALUES:
            _err(errs, p, "unknown_field")
            continue
        if isinstance(raw, list):
            items = raw  # a list means any of its values
        elif key in ("designated", "referred"):
            items = [raw]  # a yes/no condition is one value (a list of them is allowed too)
        else:
            # "kinds": "inpatient" was once read as ["inpatient"]; a county officer who writes a
            # bare value has usually lost a bracket in an edit, so it is refused, not guessed.
            _err(errs, p, "list_not_scalar", value=_shown(raw))
            continue
        if not items:
            _err(errs, p, "not_empty")
            continue
        allowed = _CONDITION_VALUES[key]
        good = []
        for k, item in enumerate(items):
            ip = f"{p}[{k}]" if isinstance(raw, list) else p
            if key == "disease_codes":
                if isinstance(item, str) and item.strip():
                    good.append(item.strip().upper())
                else:
                    _err(errs, ip, "non_empty_string")
            elif key in ("designated", "referred"):
                if isinstance(item, bool):
                    good.append(item)
                else:
                    _err(errs, ip, "bool")
            elif _one_of(item, allowed, ip, errs) is not _BAD:
                good.append(item)
        out[key] = tuple(dict.fromkeys(good)) if key == "disease_codes" else frozenset(good)
    return out


@dataclass(frozen=True)
class _Deductible:
    per_year: bool
    amount: int  # cents
    by_level: dict  # level -> cents; wins for its level
    repeat_factor: Decimal | None  # per-encounter only

    def for_level(self, level):
        return self.by_level.get(level, self.amount)


@dataclass(frozen=True)
class _Rate:
    form: str  # "flat" | "by_level" | "bands"
    flat: Decimal | None = None
    by_level: dict | None = None  # level -> Decimal
    uppers: tuple = ()  # cents, last None
    rates: tuple = ()  # Decimal per band
    mode: str = "progressive"
    measure: str = "above_deductible"

    def all_rates(self):
        if self.form == "flat":
            return (self.flat,)
        if self.form == "by_level":
            return tuple(self.by_level.values())
        return self.rates


@dataclass(frozen=True)
class _Cap:
    per_encounter: int | None
    per_year: int | None


@dataclass(frozen=True)
class _SelfPayCap:
    per_year: bool
    amount: int | None
    by_level: dict

    def for_level(self, level):
        return self.by_level.get(level, self.amount)


_DEFAULT_DEDUCTIBLE = _Deductible(per_year=False, amount=0, by_level={}, repeat_factor=None)


def _check_level_map(value, path, errs, check_value):
    if not _is_obj(value):
        _err(errs, path, "object")
        return _BAD
    out = {}
    for level, raw in value.items():
        if level not in _LEVEL_IX:
            _err(errs, f"{path}.{level}", "unknown_level", allowed="、".join(LEVELS))
            continue
        v = check_value(raw, f"{path}.{level}", errs)
        if v is not None:
            out[level] = v
    return out


def _check_deductible(value, path, errs):
    if not _is_obj(value):
        _err(errs, path, "object")
        return _BAD
    n = len(errs)
    _unknown_fields(value, ("per", "amount", "by_level", "repeat_factor"), path, errs)
    per = value.get("per", "encounter")  # the field's default is per encounter
    per = _one_of(per, ("encounter", "year"), f"{path}.per", errs)
    amount = 0
    if "amount" in value:
        amount = _amount_cents(value["amount"], f"{path}.amount", errs)
    by_level = {}
    if "by_level" in value:
        by_level = _check_level_map(value["by_level"], f"{path}.by_level", errs, _amount_cents)
    rf = None
    if "repeat_factor" in value and value["repeat_factor"] is not None:
        rf = _rate(value["repeat_factor"], f"{path}.repeat_factor", errs)
        if per == "year":
            _err(errs, f"{path}.repeat_factor", "repeat_factor_per_year")
    if len(errs) > n:
        return _BAD
    return _Deductible(per_year=(per == "year"), amount=amount, by_level=by_level, repeat_factor=rf)


def _check_rate(value, path, errs):
    if not _is_obj(value):
        _err(errs, path, "object")
        return _BAD
    forms = [f for f in ("flat", "by_level", "bands") if f in value]
    if len(forms) != 1:
        _err(errs, path, "rate_one_form")
        return _BAD
    form = forms[0]
    n = len(errs)
    if form == "flat":
        _unknown_fields(value, ("flat",), path, errs)
        r = _rate(value["flat"], f"{path}.flat", errs)
        return _BAD if len(errs) > n else _Rate(form="flat", flat=r)
    if form == "by_level":
        _unknown_fields(value, ("by_level",), path, errs)
        m = _check_level_map(value["by_level"], f"{path}.by_level", errs, _rate)
        return _BAD if len(errs) > n else _Rate(form="by_level", by_level=m)
    _unknown_fields(value, ("bands", "mode", "measure"), path, errs)
    # The contract gives no default mode; 分段累进 (progressive) is the common county wording.
    mode = _one_of(value.get("mode", "progressive"), ("progressive", "bracket"), f"{path}.mode", errs)
    measure = _one_of(
        value.get("measure", "above_deductible"), ("above_deductible", "cumulative"), f"{path}.measure", errs
    )
    bands = value["bands"]
    bp = f"{path}.bands"
    if not isinstance(bands, list) or not bands:
        _err(errs, bp, "bands_list")
        return _BAD
    uppers, rates = [], []
    previous = None
    last = len(bands) - 1
    for k, band in enumerate(bands):
        p = f"{bp}[{k}]"
        if not isinstance(band, list) or len(band) != 2:
            _err(errs, p, "band_pair")
            continue
        upper_raw, rate_raw = band
        rates.append(_rate(rate_raw, f"{p}[1]", errs))
        if upper_raw is None:
            if k != last:
                _err(errs, p, "band_null_not_last")
            uppers.append(None)
            continue
        if k == last:
            _err(errs, p, "band_last_not_null")
        upper = _amount_cents(upper_raw, f"{p}[0]", errs)
        if upper is not None:
            if previous is not None and upper <= previous:
                _err(errs, p, "bands_ascend")
            previous = upper
        uppers.append(upper)
    if len(errs) > n:
        return _BAD
    return _Rate(form="bands", uppers=tuple(uppers), rates=tuple(rates), mode=mode, measure=measure)


def _check_rate_value(value, path, errs):
    r = _rate(value, path, errs)
    return _BAD if r is None else r


def _check_cap(value, path, errs):
    if value is None:
        return None  # explicit "no cap" (e.g. in an override)
    if not _is_obj(value):
        _err(errs, path, "object")
        return _BAD
    n = len(errs)
    _unknown_fields(value, ("per_encounter", "per_year"), path, errs)
    vals = {}
    for name in ("per_encounter", "per_year"):
        raw = value.get(name)
        vals[name] = None if raw is None else _amount_cents(raw, f"{path}.{name}", errs)
    return _BAD if len(errs) > n else _Cap(**vals)


def _check_packages(value, path, errs):
    if not _is_obj(value):
        _err(errs, path, "object")
        return _BAD
    n = len(errs)
    out = {}
    for code, pkg in value.items():
        p = f"{path}.{code}"
        if not code.strip():
            _err(errs, p, "package_code_empty")
            continue
        if not _is_obj(pkg):
            _err(errs, p, "object")
            continue
        _unknown_fields(pkg, ("name", "fund_pays"), p, errs)
        if "name" in pkg and not isinstance(pkg["name"], str):
            _err(errs, f"{p}.name", "string")
        if "fund_pays" not in pkg:
            _err(errs, f"{p}.fund_pays", "required")
            continue
        cents = _amount_cents(pkg["fund_pays"], f"{p}.fund_pays", errs)
        if cents is not None:
            out[code] = cents
    return _BAD if len(errs) > n else out


def _check_base(value, path, errs):
    return _one_of(value, ("in_policy", "total"), path, errs)


def _check_self_pay_cap(value, path, errs):
    if value is None:
        return None
    if not _is_obj(value):
        _err(errs, path, "object")
        return _BAD
    n = len(errs)
    _unknown_fields(value, ("per", "amount", "by_level"), path, errs)
    if "per" not in value:
        # No default: "3000 a year" and "3000 a stay" differ too much to guess.
        _err(errs, f"{path}.per", "self_pay_cap_per")
        per = _BAD
    else:
        per = _one_of(value["per"], ("year", "encounter"), f"{path}.per", errs)
    amount = None
    if value.get("amount") is not None:
        amount = _amount_cents(value["amount"], f"{path}.amount", errs)
    by_level = {}
    if "by_level" in value:
        by_level = _check_level_map(value["by_level"], f"{path}.by_level", errs, _amount_cents)
    if value.get("amount") is None and not value.get("by_level"):
        _err(errs, path, "self_pay_cap_amount")
    if len(errs) > n:
        return _BAD
    return _SelfPayCap(per_year=(per == "year"), amount=amount, by_level=by_level)


def _check_ratio_cap(value, path, errs):
    if value is None:
        return None
    r = _rate(value, path, errs)
    return _BAD if r is None else r


def _check_ratio_of(value, path, errs):
    return _one_of(value, ("total", "in_policy"), path, errs)


_FIELD_CHECKERS = {
    "deductible": _check_deductible,
    "rate": _check_rate,
    "rate_bonus": _check_rate_value,
    "cap": _check_cap,
    "base": _check_base,
    "packages": _check_packages,
    "self_pay_cap": _check_self_pay_cap,
    "self_pay_ratio_cap": _check_ratio_cap,
    "self_pay_ratio_of": _check_ratio_of,
}
# What a tier is when it does not say (the contract's defaults).
_FIELD_DEFAULTS = {
    "deductible": _DEFAULT_DEDUCTIBLE,
    "rate": None,
    "rate_bonus": Decimal(0),
    "cap": None,
    "base": "in_policy",
    "packages": {},
    "self_pay_cap": None,
    "self_pay_ratio_cap": None,
    "self_pay_ratio_of": "total",
}


def _check_field(name, value, path, tier_kind, errs):
    """One settable field, written on the tier or in an override's ``set``."""
    if tier_kind == "backstop" and name in _NOT_ON_BACKSTOP:
        _err(errs, path, "not_on_backstop")
        return _BAD
    if tier_kind not in (None, "backstop") and name in _BACKSTOP_ONLY:
        _err(errs, path, "backstop_only")
        return _BAD
    if value is None and name in (
        "deductible",
        "rate",
        "rate_bonus",
        "base",
        "packages",
        "self_pay_ratio_of",
    ):
        _err(errs, path, "not_null")
        return _BAD
    return _FIELD_CHECKERS[name](value, path, errs)


def _bracket_with_year(fields):
    rate, ded = fields.get("rate"), fields.get("deductible", _DEFAULT_DEDUCTIBLE)
    return (
        isinstance(rate, _Rate)
        and rate.form == "bands"
        and rate.mode == "bracket"
        and isinstance(ded, _Deductible)
        and ded.per_year
    )


@dataclass(frozen=True)
class _Override:
    when: dict
    set: dict


@dataclass(frozen=True)
class _TierSpec:
    index: int
    key: str
    kind: str
    name: str
    fund: str
    applies_to: dict
    fields: dict  # settable field -> normalised value, defaults filled in
    overrides: tuple  # of _Override


def _check_tier(i, tier, errs, seen_keys):
    p = f"tiers[{i}]"
    if not _is_obj(tier):
        _err(errs, p, "object")
        return None
    n = len(errs)
    _unknown_fields(tier, _TIER_FIELDS, p, errs)

    key = tier.get("key")
    if not isinstance(key, str) or not key.strip():
        _err(errs, f"{p}.key", "required_string")
    elif key in seen_keys:
        _err(errs, f"{p}.key", "duplicate_key", key=key, other=f"tiers[{seen_keys[key]}]")
    else:
        seen_keys[key] = i
    kind = tier.get("kind")
    if kind is None:
        _err(errs, f"{p}.kind", "required")
    elif _one_of(kind, TIER_KINDS, f"{p}.kind", errs) is _BAD:
        kind = None  # unknown kind: skip kind-dependent checks below
    for name in ("name", "fund"):
        if not isinstance(tier.get(name), str) or not tier[name].strip():
            _err(errs, f"{p}.{name}", "required_string")

    applies_to = {}
    if "applies_to" in tier:
        applies_to = _check_conditions(tier["applies_to"], f"{p}.applies_to", errs)

    fields = dict(_FIELD_DEFAULTS)
    for name in _SETTABLE:
        if name in tier:
            fields[name] = _check_field(name, tier[name], f"{p}.{name}", kind, errs)
    if kind is not None and kind != "backstop" and "rate" not in tier:
        _err(errs, f"{p}.rate", "rate_required")
    if _bracket_with_year(fields):
        _err(errs, f"{p}.rate.mode", "bracket_per_year")

    overrides = []
    raw_overrides = tier.get("overrides", [])
    if not isinstance(raw_overrides, list):
        _err(errs, f"{p}.overrides", "list")
        raw_overrides = []
    for j, ov in enumerate(raw_overrides):
        op = f"{p}.overrides[{j}]"
        if not _is_obj(ov):
            _err(errs, op, "object")
            continue
        _unknown_fields(ov, ("when", "set"), op, errs)
        if "when" not in ov:
            _err(errs, f"{op}.when", "required")
            when = _BAD
        else:
            when = _check_conditions(ov["when"], f"{op}.when", errs)
        sets = ov.get("set")
        if not _is_obj(sets):
            _err(errs, f"{op}.set", "required_object")
            continue
        normal = {}
        for name, value in sets.items():
            sp = f"{op}.set.{name}"
            if name not in _SETTABLE:
                _err(errs, sp, "not_overridable" if name in _TIER_FIELDS else "unknown_field")
                continue
            normal[name] = _check_field(name, value, sp, kind, errs)
        # The tier as this override alone would leave it must still be valid.
        if _bracket_with_year({**fields, **normal}) and not _bracket_with_year(fields):
            culprit = "rate.mode" if "rate" in normal else "deductible.per"
            _err(errs, f"{op}.set.{culprit}", "override_bracket_per_year")
        overrides.append(_Override(when=when, set=normal))

    if kind == "backstop":
        caps = [tier.get("self_pay_cap"), tier.get("self_pay_ratio_cap")]
        for ov in raw_overrides:
            if _is_obj(ov) and _is_obj(ov.get("set")):
                caps += [ov["set"].get("self_pay_cap"), ov["set"].get("self_pay_ratio_cap")]
        if all(c is None for c in caps):
            _err(errs, p, "backstop_without_cap")

    if len(errs) > n:
        return None
    return _TierSpec(
        index=i,
        key=key,
        kind=kind,
        name=tier["name"],
        fund=tier["fund"],
        applies_to=applies_to,
        fields=fields,
        overrides=tuple(overrides),
    )


@dataclass(frozen=True)
class _Catalogue:
    """乙类先行自付比例: the patient's first share of a class-B item, by category or default."""

    b_self_ratio: Decimal
    by_category: dict  # category -> Decimal


_DEFAULT_CATALOGUE = _Catalogue(b_self_ratio=Decimal(0), by_category={})


def _check_catalogue(value, path, errs):
    if not _is_obj(value):
        _err(errs, path, "object")
        return _BAD
    n = len(errs)
    _unknown_fields(value, ("b_self_ratio", "b_self_ratio_by_category"), path, errs)
    ratio = Decimal(0)
    if "b_self_ratio" in value:
        ratio = _rate(value["b_self_ratio"], f"{path}.b_self_ratio", errs)
    by_category = {}
    raw = value.get("b_self_ratio_by_category", {})
    cp = f"{path}.b_self_ratio_by_category"
    if not _is_obj(raw):
        _err(errs, cp, "object")
    else:
        for category, r in raw.items():
            if category not in ITEM_CATEGORIES:
                _err(errs, f"{cp}.{category}", "unknown_category", allowed="、".join(ITEM_CATEGORIES))
                continue
            by_category[category] = _rate(r, f"{cp}.{category}", errs)
    if len(errs) > n:
        return _BAD
    return _Catalogue(b_self_ratio=ratio, by_category=by_category)


def _check_policy(doc):
    """(errors, normalised tiers, normalised catalogue or None)."""
    errs = []
    if not _is_obj(doc):
        return [_msg("policy", "object")], None, None
    _unknown_fields(doc, _POLICY_FIELDS, "", errs)
    if not isinstance(doc.get("code"), str) or not doc["code"].strip():
        _err(errs, "code", "required_string")
    if not isinstance(doc.get("name"), str) or not doc["name"].strip():
        _err(errs, "name", "required_string")
    year = doc.get("year")
    if isinstance(year, bool) or not isinstance(year, int):
        _err(errs, "year", "required_integer")
    tiers = doc.get("tiers")
    if not isinstance(tiers, list) or not tiers:
        _err(errs, "tiers", "required_list")
        return errs, None, None
    seen = {}
    specs = [_check_tier(i, t, errs, seen) for i, t in enumerate(tiers)]
    # 兜底 closes the chain: it pays what is left after every other tier. A backstop written
    # before another tier would be followed by payers that count on its leftovers.
    kinds = [t.get("kind") if _is_obj(t) else None for t in tiers]
    for i, kind in enumerate(kinds):
        if kind == "backstop":
            after = [f"tiers[{j}]" for j in range(i + 1, len(kinds)) if kinds[j] not in ("backstop", None)]
            if after:
                _err(errs, f"tiers[{i}].kind", "backstop_not_last", after="、".join(after))
    catalogue = _check_catalogue(doc.get("catalogue"), "catalogue", errs) if "catalogue" in doc else None
    if catalogue is _BAD:
        catalogue = None
    return errs, specs, catalogue


def validate_policy(doc):
    """Every contract violation of a policy document as ``"path: message"``; [] when valid."""
    return _check_policy(doc)[0]


# --------------------------------------------------------------------------------------------
# 4. Compilation
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TierInfo:
    """What callers need to label a payout: its key, kind, display name and paying fund."""

    key: str
    kind: str
    name: str
    fund: str
    base: str


def _matches(cond, facts, disease_matches):
    """CONDITIONS hold? ``facts`` maps condition key → the encounter's value."""
    for key, allowed in cond.items():
        if key == "disease_codes":
            if not any(prefix in disease_matches for prefix in allowed):
                return False
        elif facts[key] not in allowed:
            return False
    return True


def _progressive(x, uppers, rates):
    """Each slice of x at its band's rate (分段累进), in cent·rate units."""
    total = 0
    lower = 0
    for upper, rate in zip(uppers, rates):
        if upper is None or x <= upper:
            return total + (x - lower) * rate
        total += (upper - lower) * rate
        lower = upper
    return total  # unreachable: the last upper is None


def _bracket(x, uppers, rates):
    """The whole of x at the rate of the band that contains it (全额按档, x ≤ UPPER)."""
    for upper, rate in zip(uppers, rates):
        if upper is None or x <= upper:
            return x * rate
    return 0  # unreachable


# Rate-function kinds inside a compiled step.
_G_FLAT, _G_PROGRESSIVE, _G_BRACKET = 0, 1, 2


class CompiledPolicy:
    """A validated policy, ready to settle many encounters.

    Public: ``code``, ``name``, ``year``, ``tiers`` (tuple of TierInfo), ``document`` (a deep
    copy of the document it was compiled from). Everything else is the engine's cache.
    """

    def __init__(self, doc, specs, catalogue=None):
        self.code = doc["code"]
        self.name = doc["name"]
        self.year = doc["year"]
        self.document = copy.deepcopy(doc)
        self.tiers = tuple(
            TierInfo(key=s.key, kind=s.kind, name=s.name, fund=s.fund, base=s.fields["base"]) for s in specs
        )
        self.keys = tuple(s.key for s in specs)
        self._specs = tuple(specs)
        # One power of ten D for all rates of the policy: a rate r becomes the int r·D, a
        # payout is computed in cent/D units and rounded once to cents.
        decimals = 0
        for s in specs:
            for fields in [s.fields] + [o.set for o in s.overrides]:
                for name in ("rate_bonus", "self_pay_ratio_cap"):
                    if fields.get(name) is not None:
                        decimals = max(decimals, _decimals(fields[name]))
                if fields.get("rate") is not None:
                    for r in fields["rate"].all_rates():
                        decimals = max(decimals, _decimals(r))
        self._D = 10**decimals
        # Disease prefixes are only part of an encounter's signature when some condition
        # mentions them; otherwise the disease code is irrelevant to the plan.
        prefixes = set()
        for s in specs:
            for cond in [s.applies_to] + [o.when for o in s.overrides]:
                prefixes.update(cond.get("disease_codes", ()))
        self._prefixes = tuple(sorted(prefixes))
        self.uses_disease_codes = bool(prefixes)
        # Plan caches. Without disease conditions: a flat list indexed by
        # member_sig · ROW_SIG_SPAN + row signature (the encounter signature plus, for an
        # encounter with its own facts, N_ENCOUNTER_SIGS · fact code), so the loop needs no
        # branch for facts. With disease conditions: a dict keyed by (that index, matching
        # prefixes).
        self._plan_table = [None] * (_N_MEMBER_SIGS * _ROW_SIG_SPAN)
        self._plan_dict = {}
        self._disease_class = {}
        self._steps = {}
        # 乙类先行自付比例 as integer numerators over 10**MAX_RATE_DECIMALS.
        self.catalogue = catalogue or _DEFAULT_CATALOGUE
        scale = 10**MAX_RATE_DECIMALS
        self._b_scale = scale
        self._b_default = int(self.catalogue.b_self_ratio * scale)
        self._b_by_category = {c: int(r * scale) for c, r in self.catalogue.by_category.items()}

    def bill(self, lines):
        """An itemised bill under this policy's catalogue: ``(net total cents, in-policy cents,
        deducted cents)``. ``lines``: ``(class, category or None, amount cents, deducted cents)``
        per item, already valid (``Item.bill_line``, or rows of the database). With net =
        amount − deducted: total = Σ net; in-policy = Σ net of A items + Σ (net − round(net × r))
        of B items, each B item's self share rounded half up to the cent on its own."""
        scale = self._b_scale
        scale2 = 2 * scale
        default, by_category = self._b_default, self._b_by_category
        total = in_policy = deducted = 0
        for item_class, category, amount, item_deducted in lines:
            net = amount - item_deducted
            total += net
            deducted += item_deducted
            if item_class == "A":
                in_policy += net
            elif item_class == "B":
                r = by_category.get(category, default)
                in_policy += net - (2 * net * r + scale) // scale2
        return total, in_policy, deducted

    def __repr__(self):
        return f"<CompiledPolicy {self.code} ({len(self.tiers)} tiers)>"

    # -- per signature -----------------------------------------------------------------------

    def _disease_matches(self, code):
        """The policy's prefixes that the disease code starts with (cached per code)."""
        got = self._disease_class.get(code)
        if got is None:
            norm = code.strip().upper() if code else ""
            got = frozenset(p for p in self._prefixes if norm and norm.startswith(p))
            self._disease_class[code] = got
        return got

    def _plan(self, sig_index, disease_matches):
        """The tuple of compiled steps, one per tier that applies, for one signature."""
        msig, row_sig = divmod(sig_index, _ROW_SIG_SPAN)
        fact_code, esig = divmod(row_sig, _N_ENCOUNTER_SIGS)
        msig = _FACT_MEMBER_SIG[msig][fact_code]  # the encounter's facts replace the member's
        poverty_ix, aid_ix = divmod(msig, len(AID_CATEGORIES))
        kind_ix, rest = divmod(esig, len(LEVELS) * 4)
        level_ix, flags = divmod(rest, 4)
        level = LEVELS[level_ix]
        facts = {
            "kinds": KINDS[kind_ix],
            "levels": level,
            "designated": bool(flags & 2),
            "referred": bool(flags & 1),
            "poverty_statuses": POVERTY_STATUSES[poverty_ix],
            "aid_categories": AID_CATEGORIES[aid_ix],
        }
        steps = []
        for spec in self._specs:
            if not _matches(spec.applies_to, facts, disease_matches):
                continue  # pays 0, accumulators untouched
            matched = tuple(
                j for j, ov in enumerate(spec.overrides) if _matches(ov.when, facts, disease_matches)
            )
            cache_key = (spec.index, matched, level)
            step = self._steps.get(cache_key)
            if step is None:
                fields = dict(spec.fields)
                for j in matched:  # in order: the last one wins
                    fields.update(spec.overrides[j].set)
                step = self._compile_step(spec, fields, level)
                self._steps[cache_key] = step
            steps.append(step)
        return tuple(steps)

    def _rate_num(self, r):
        return int(r * self._D)  # exact: r has ≤ log10(D) decimals

    def _compile_g(self, rate, bonus, level, d):
        """(kind, data) of the rate function g for deductible d (cents)."""

        def eff(r):
            return self._rate_num(min(_ONE, r + bonus))  # rate_bonus, result at most 1

        if rate.form == "flat":
            return _G_FLAT, eff(rate.flat)
        if rate.form == "by_level":
            r = rate.by_level.get(level)
            # A level not listed pays 0 (the bonus is not added to a rate that is not there).
            return _G_FLAT, (0 if r is None else eff(r))
        uppers, rates = [], []
        for upper, r in zip(rate.uppers, rate.rates):
            if rate.measure == "cumulative" and upper is not None:
                upper -= d  # counted from zero: shift down by d
                if upper <= 0:
                    continue  # band lies wholly below d: drop it
            uppers.append(upper)
            rates.append(eff(r))
        kind = _G_PROGRESSIVE if rate.mode == "progressive" else _G_BRACKET
        return kind, (tuple(uppers), tuple(rates))

    def _compile_step(self, spec, fields, level):
        ti = spec.index
        in_policy = fields["base"] == "in_policy"
        acc_ix = 3 * ti  # base, paid, count
        if spec.kind == "backstop":
            ratio = fields["self_pay_ratio_cap"]
            spc = fields["self_pay_cap"]
            cap_amount = spc.for_level(level) if spc is not None else None
            return (
                ti,
                True,
                in_policy,
                acc_ix,
                None if ratio is None else self._rate_num(ratio),
                fields["self_pay_ratio_of"] == "in_policy",
                spc is not None and spc.per_year,
                cap_amount,
            )
        ded = fields["deductible"]
        d = ded.for_level(level)
        d_repeat = d
        if ded.repeat_factor is not None:
            # "rounded to the cent" — d is already in cents, so round to a whole unit.
            d_repeat = int((Decimal(d) * ded.repeat_factor).quantize(_ONE, ROUND_HALF_UP))
        gk, g_first = self._compile_g(fields["rate"], fields["rate_bonus"], level, d)
        _, g_repeat = self._compile_g(fields["rate"], fields["rate_bonus"], level, d_repeat)
        cap = fields["cap"]
        return (
            ti,
            False,
            in_policy,
            acc_ix,
            ded.per_year,
            d,
            d_repeat,
            gk,
            g_first,
            g_repeat,
            fields["packages"] or None,
            cap.per_encounter if cap is not None else None,
            cap.per_year if cap is not None else None,
        )


def compile_policy(doc):
    """Validate and compile a policy document; raises PolicyError naming every bad field."""
    errs, specs, catalogue = _check_policy(doc)
    if errs:
        raise PolicyError(errs)
    return CompiledPolicy(doc, specs, catalogue)


# --------------------------------------------------------------------------------------------
# 5. Claims: members and encounters
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Member:
    poverty_status: str
    aid_category: str
    _sig: int = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        if self.poverty_status not in _POVERTY_IX:
            raise ValueError(
                _msg(
                    "poverty_status",
                    "unknown_value",
                    value=_shown(self.poverty_status),
                    allowed="、".join(POVERTY_STATUSES),
                )
            )
        if self.aid_category not in _AID_IX:
            raise ValueError(
                _msg(
                    "aid_category",
                    "unknown_value",
                    value=_shown(self.aid_category),
                    allowed="、".join(AID_CATEGORIES),
                )
            )
        object.__setattr__(self, "_sig", _member_sig(self.poverty_status, self.aid_category))


def _member_sig(poverty_status, aid_category):
    return _POVERTY_IX[poverty_status] * len(AID_CATEGORIES) + _AID_IX[aid_category]


# Per-encounter facts (the member's poverty status / aid category on the date of care) ride in
# the encounter signature of a row, so the settlement loop stays one lookup per encounter:
#
#     row signature = ENCOUNTER_SIGNATURES[(kind, level, designated, referred)]
#                     + N_ENCOUNTER_SIGNATURES * FACT_CODES[(poverty_status, aid_category)]
#
# where either fact may be None ("the member's"). FACT_CODES[(None, None)] is 0, so a row
# without facts is exactly what it always was. The loop resolves a code against the member's
# own facts (a fact given replaces the member's; the accumulators stay the member's).
N_ENCOUNTER_SIGNATURES = _N_ENCOUNTER_SIGS
_FACT_POVERTY = (None, *POVERTY_STATUSES)
_FACT_AID = (None, *AID_CATEGORIES)
FACT_CODES = {
    (p, a): i * len(_FACT_AID) + j for i, p in enumerate(_FACT_POVERTY) for j, a in enumerate(_FACT_AID)
}
# _FACT_MEMBER_SIG[member signature][fact code] → the member signature the encounter is settled
# under.
_FACT_MEMBER_SIG = [
    [
        _member_sig(
            p if p is not None else POVERTY_STATUSES[msig // len(AID_CATEGORIES)],
            a if a is not None else AID_CATEGORIES[msig % len(AID_CATEGORIES)],
        )
        for (p, a) in FACT_CODES
    ]
    for msig in range(_N_MEMBER_SIGS)
]


def encounter_signature(kind, level, designated, referred, poverty_status=None, aid_category=None):
    """The signature a row of ``settle_sorted`` carries: (kind, level, designated, referred)
    plus the encounter's own facts (None: the member's). Raises ValueError on unknown values."""
    esig = ENCOUNTER_SIGNATURES.get((kind, level, designated, referred))
    if esig is None:
        raise ValueError(
            _msg(
                "kind/level", "unknown_value", value=_shown([kind, level]), allowed="、".join(KINDS + LEVELS)
            )
        )
    if poverty_status is None and aid_category is None:
        return esig
    code = FACT_CODES.get((poverty_status, aid_category))
    if code is None:
        bad, allowed = (
            ("poverty_status", POVERTY_STATUSES)
            if poverty_status is not None and poverty_status not in _POVERTY_IX
            else ("aid_category", AID_CATEGORIES)
        )
        value = poverty_status if bad == "poverty_status" else aid_category
        raise ValueError(_msg(bad, "unknown_value", value=_shown(value), allowed="、".join(allowed)))
    return esig + _N_ENCOUNTER_SIGS * code


def _decimal_cents(value, name):
    """Constructor-side amount check for callers that build Encounters themselves."""
    errs = []
    if isinstance(value, float):
        raise ValueError(_msg(name, "float_amount"))
    cents = _amount_cents(value, name, errs)
    if errs:
        raise ValueError(errs[0])
    return cents


@dataclass(frozen=True, slots=True, kw_only=True)
class Item:
    """One line of an itemised bill (费用明细). ``item_class`` is the JSON ``class``: ``A`` 甲类,
    ``B`` 乙类, ``C`` 丙类. ``deducted`` (违规扣除) is paid by nobody but the institution."""

    code: str
    item_class: str
    amount: Decimal
    category: str | None = None
    name: str | None = None
    deducted: Decimal = Decimal(0)
    _amount_cents: int = field(init=False, repr=False, compare=False)
    _deducted_cents: int = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        if not isinstance(self.code, str) or not self.code.strip():
            raise ValueError(_msg("code", "required_string"))
        if self.item_class not in ITEM_CLASSES:
            raise ValueError(_msg("class", "item_class"))
        if self.category is not None and self.category not in ITEM_CATEGORIES:
            raise ValueError(_msg("category", "unknown_category", allowed="、".join(ITEM_CATEGORIES)))
        amount = _decimal_cents(self.amount, "amount")
        deducted = _decimal_cents(self.deducted, "deducted")
        if deducted > amount:
            raise ValueError(_msg("deducted", "deducted_above_amount"))
        object.__setattr__(self, "_amount_cents", amount)
        object.__setattr__(self, "_deducted_cents", deducted)

    @property
    def bill_line(self):
        """``(class, category, amount cents, deducted cents)``: what ``CompiledPolicy.bill`` reads."""
        return (self.item_class, self.category, self._amount_cents, self._deducted_cents)


@dataclass(frozen=True, slots=True, kw_only=True)
class Encounter:
    """One visit or stay. Build it directly (keyword arguments, Decimal amounts) or with
    ``parse_encounters``. ``in_policy_cost`` defaults to ``total_cost``.

    ``poverty_status`` / ``aid_category`` (optional): the member's facts on the date of care;
    where given they replace the member's in the tiers' conditions.

    ``items`` (optional, a tuple of ``Item``): an itemised bill. Then ``in_policy_cost`` must be
    None (the policy's catalogue derives it), ``total_cost`` defaults to Σ amount and must equal
    it, ``deducted`` is Σ deducted, and the settled total is ``total_cost − deducted``."""

    ref: str
    member: str
    date: datetime.date
    kind: str
    level: str
    total_cost: Decimal | None = None
    in_policy_cost: Decimal | None = None
    designated: bool = True
    referred: bool = True
    disease_code: str | None = None
    package: str | None = None
    poverty_status: str | None = None
    aid_category: str | None = None
    items: tuple | None = None
    # Derived once at construction so the settlement loop does integer work only.
    _total_cents: int = field(init=False, repr=False, compare=False)
    _in_policy_cents: int | None = field(init=False, repr=False, compare=False)
    _sig: int = field(init=False, repr=False, compare=False)
    _row: tuple | None = field(init=False, repr=False, compare=False)  # see ``trusted_row``

    def __post_init__(self):
        setattr_ = object.__setattr__
        if isinstance(self.date, datetime.datetime):
            setattr_(self, "date", self.date.date())
        elif not isinstance(self.date, datetime.date):
            raise ValueError(_msg("date", "date_required"))
        if self.kind not in _KIND_IX:
            raise ValueError(_msg("kind", "unknown_value", value=_shown(self.kind), allowed="、".join(KINDS)))
        if self.level not in _LEVEL_IX:
            raise ValueError(
                _msg("level", "unknown_value", value=_shown(self.level), allowed="、".join(LEVELS))
            )
        if not isinstance(self.designated, bool) or not isinstance(self.referred, bool):
            raise ValueError(_msg("designated/referred", "bool"))
        sig = encounter_signature(
            self.kind, self.level, self.designated, self.referred, self.poverty_status, self.aid_category
        )
        setattr_(self, "_sig", sig)
        if self.items is not None:
            self._itemised()
            return
        if self.total_cost is None:
            raise ValueError(_msg("total_cost", "required"))
        total = _decimal_cents(self.total_cost, "total_cost")
        if self.in_policy_cost is None:
            setattr_(self, "in_policy_cost", self.total_cost)
        in_policy = _decimal_cents(self.in_policy_cost, "in_policy_cost")
        if in_policy > total:
            raise ValueError(_msg("in_policy_cost", "in_policy_above_total"))
        if not isinstance(self.total_cost, Decimal):
            setattr_(self, "total_cost", _cents_to_decimal(total))
        if not isinstance(self.in_policy_cost, Decimal):
            setattr_(self, "in_policy_cost", _cents_to_decimal(in_policy))
        setattr_(self, "_total_cents", total)
        setattr_(self, "_in_policy_cents", in_policy)
        setattr_(
            self,
            "_row",
            (
                self.ref,
                sig,
                self.date.year,
                total,
                in_policy,
                self.package or None,
                self.disease_code or None,
            ),
        )

    def _itemised(self):
        setattr_ = object.__setattr__
        items = tuple(self.items)
        if not items:
            raise ValueError(_msg("items", "items_list"))
        if not all(isinstance(item, Item) for item in items):
            raise ValueError(_msg("items", "items_list"))
        if self.in_policy_cost is not None:
            raise ValueError(_msg("in_policy_cost", "items_with_in_policy"))
        gross = sum(item._amount_cents for item in items)
        if self.total_cost is not None and _decimal_cents(self.total_cost, "total_cost") != gross:
            raise ValueError(
                _msg(
                    "total_cost",
                    "items_total_mismatch",
                    total=format_cents(_decimal_cents(self.total_cost, "total_cost")),
                    sum=format_cents(gross),
                )
            )
        setattr_(self, "items", items)
        setattr_(self, "total_cost", _cents_to_decimal(gross))
        setattr_(self, "_total_cents", gross)
        setattr_(self, "_in_policy_cents", None)
        setattr_(self, "_row", None)  # the in-policy cost depends on the policy: see ``row_for``

    @property
    def deducted(self):
        """Σ deducted of an itemised bill (Decimal); None without items."""
        if self.items is None:
            return None
        return _cents_to_decimal(sum(item._deducted_cents for item in self.items))

    def row_for(self, policy):
        """The row ``settle_sorted`` takes for this encounter under ``policy`` (a CompiledPolicy):
        ``_row`` for an encounter with costs, the bill's net total and in-policy cost under the
        policy's catalogue for an itemised one."""
        if self._row is not None:
            return self._row
        total, in_policy, _ = policy.bill(item.bill_line for item in self.items)
        return (
            self.ref,
            self._sig,
            self.date.year,
            total,
            in_policy,
            self.package or None,
            self.disease_code or None,
        )


# An encounter's (kind, level, designated, referred) → its small-int signature (the index
# the compiled plan table is keyed by, with the member's signature).
ENCOUNTER_SIGNATURES = {
    (kind, level, designated, referred): (_KIND_IX[kind] * len(LEVELS) + _LEVEL_IX[level]) * 4
    + designated * 2
    + referred
    for kind in KINDS
    for level in LEVELS
    for designated in (False, True)
    for referred in (False, True)
}


def trusted_row(
    ref,
    kind,
    level,
    designated,
    referred,
    year,
    total_cents,
    in_policy_cents,
    disease_code=None,
    package=None,
    *,
    poverty_status=None,
    aid_category=None,
):
    """An encounter as ``settle_sorted`` takes it, from values that are already valid — rows
    read back from the database, whose constraints hold them (0 ≤ in-policy ≤ total, two
    decimals, a known kind); amounts in int cents. Skips ``Encounter``'s re-validation (and its
    Decimal objects) but not exactness: the row is exactly what ``Encounter(...)._row`` holds
    for the same values (a property test checks it). An unknown kind, level or fact raises
    ValueError; ``ref`` is echoed in the Settlement (any key of the caller's).

    ``poverty_status`` / ``aid_category``: the member's facts on the date of care (None: the
    member's own, as given to ``settle_sorted`` with the group). For an itemised bill pass the
    net total and in-policy cost from ``CompiledPolicy.bill``."""
    if poverty_status is None and aid_category is None:
        sig = ENCOUNTER_SIGNATURES.get((kind, level, designated, referred))
        if sig is None:
            sig = encounter_signature(kind, level, designated, referred)  # raises, naming it
    else:
        sig = encounter_signature(kind, level, designated, referred, poverty_status, aid_category)
    return (ref, sig, year, total_cents, in_policy_cents, package or None, disease_code or None)


_MEMBER_FIELDS = ("poverty_status", "aid_category")
_ENCOUNTER_FIELDS = (
    "ref",
    "member",
    "date",
    "kind",
    "level",
    "designated",
    "referred",
    "total_cost",
    "in_policy_cost",
    "disease_code",
    "package",
    "poverty_status",
    "aid_category",
    "items",
)
_ITEM_FIELDS = ("code", "class", "amount", "category", "name", "deducted")
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}\Z")


def _parse_members(raw, errs):
    if not _is_obj(raw):
        _err(errs, "members", "members_object")
        return {}
    out = {}
    for key, m in raw.items():
        p = f"members.{key}"
        if not _is_obj(m):
            _err(errs, p, "object")
            continue
        n = len(errs)
        _unknown_fields(m, _MEMBER_FIELDS, p, errs)
        vals = {}
        for name, allowed in (("poverty_status", POVERTY_STATUSES), ("aid_category", AID_CATEGORIES)):
            if name not in m:
                _err(errs, f"{p}.{name}", "required")
            else:
                vals[name] = _one_of(m[name], allowed, f"{p}.{name}", errs)
        if len(errs) == n:
            out[key] = Member(**vals)
    return out


def parse_members(raw):
    """``{KEY: {"poverty_status", "aid_category"}}`` → ``{KEY: Member}``; raises ClaimsError."""
    errs = []
    out = _parse_members(raw, errs)
    if errs:
        raise ClaimsError(errs)
    return out


def _parse_items(raw, p, errs):
    """``items`` of one encounter → (tuple of Item, Σ amount cents), or None after errors."""
    if not isinstance(raw, list) or not raw:
        _err(errs, p, "items_list")
        return None
    n = len(errs)
    out = []
    gross = 0
    for k, item in enumerate(raw):
        ip = f"{p}[{k}]"
        if not _is_obj(item):
            _err(errs, ip, "object")
            continue
        m = len(errs)
        _unknown_fields(item, _ITEM_FIELDS, ip, errs)
        code = item.get("code")
        if not isinstance(code, str) or not code.strip():
            _err(errs, f"{ip}.code", "required_string")
        if item.get("class") not in ITEM_CLASSES:
            _err(errs, f"{ip}.class", "item_class")
        category = item.get("category")
        if category is not None and category not in ITEM_CATEGORIES:
            _err(errs, f"{ip}.category", "unknown_category", allowed="、".join(ITEM_CATEGORIES))
        name = item.get("name")
        if name is not None and not isinstance(name, str):
            _err(errs, f"{ip}.name", "string")
        amount = None
        if "amount" not in item:
            _err(errs, f"{ip}.amount", "required")
        else:
            amount = _amount_cents(item["amount"], f"{ip}.amount", errs)
        deducted = 0
        if item.get("deducted") is not None:
            deducted = _amount_cents(item["deducted"], f"{ip}.deducted", errs)
            if deducted is not None and amount is not None and deducted > amount:
                _err(errs, f"{ip}.deducted", "deducted_above_amount")
        if len(errs) > m:
            continue
        gross += amount
        out.append(
            Item(
                code=code,
                item_class=item["class"],
                amount=_cents_to_decimal(amount),
                category=category,
                name=name,
                deducted=_cents_to_decimal(deducted),
            )
        )
    return None if len(errs) > n else (tuple(out), gross)


def _parse_encounters(raw, errs):
    if not isinstance(raw, list):
        _err(errs, "encounters", "list")
        return []
    out = []
    seen_refs = {}
    for i, e in enumerate(raw):
        p = f"encounters[{i}]"
        if not _is_obj(e):
            _err(errs, p, "object")
            continue
        n = len(errs)
        _unknown_fields(e, _ENCOUNTER_FIELDS, p, errs)
        ref = e.get("ref")
        if not isinstance(ref, str) or not ref.strip():
            _err(errs, f"{p}.ref", "required_string")
        elif ref in seen_refs:
            _err(errs, f"{p}.ref", "duplicate_ref", ref=ref, other=f"encounters[{seen_refs[ref]}]")
        else:
            seen_refs[ref] = i
        member = e.get("member")
        if not isinstance(member, str) or not member:
            _err(errs, f"{p}.member", "member_required")
        date = e.get("date")
        if not isinstance(date, str) or not _DATE_RE.match(date):
            _err(errs, f"{p}.date", "date_required")
        else:
            try:
                date = datetime.date.fromisoformat(date)
            except ValueError:
                _err(errs, f"{p}.date", "date_invalid")
        for name, allowed in (("kind", KINDS), ("level", LEVELS)):
            if name not in e:
                _err(errs, f"{p}.{name}", "required")
            else:
                _one_of(e[name], allowed, f"{p}.{name}", errs)
        for name in ("designated", "referred"):
            if e.get(name) is not None and not isinstance(e[name], bool):  # null = default
                _err(errs, f"{p}.{name}", "bool")
        # The member's facts on the date of care; null = the member's (like a missing key).
        for name, allowed in (("poverty_status", POVERTY_STATUSES), ("aid_category", AID_CATEGORIES)):
            if e.get(name) is not None:
                _one_of(e[name], allowed, f"{p}.{name}", errs)
        total = in_policy = None
        bill = None
        if "items" in e:
            bill = _parse_items(e["items"], f"{p}.items", errs)
            if "in_policy_cost" in e:
                _err(errs, f"{p}.in_policy_cost", "items_with_in_policy")
            if e.get("total_cost") is not None:
                total = _amount_cents(e["total_cost"], f"{p}.total_cost", errs)
                if total is not None and bill is not None and total != bill[1]:
                    _err(
                        errs,
                        f"{p}.total_cost",
                        "items_total_mismatch",
                        total=format_cents(total),
                        sum=format_cents(bill[1]),
                    )
        else:
            if "total_cost" not in e:
                _err(errs, f"{p}.total_cost", "required")
            else:
                total = _amount_cents(e["total_cost"], f"{p}.total_cost", errs)
            if e.get("in_policy_cost") is None:
                in_policy = total
            else:
                in_policy = _amount_cents(e["in_policy_cost"], f"{p}.in_policy_cost", errs)
                if in_policy is not None and total is not None and in_policy > total:
                    _err(errs, f"{p}.in_policy_cost", "in_policy_above_total")
        for name in ("disease_code", "package"):
            v = e.get(name)
            if v is not None and not isinstance(v, str):
                _err(errs, f"{p}.{name}", "string")
        if len(errs) > n:
            continue
        out.append(
            Encounter(
                ref=ref,
                member=member,
                date=date,
                kind=e["kind"],
                level=e["level"],
                designated=e.get("designated") is not False,
                referred=e.get("referred") is not False,
                total_cost=None if bill is not None else _cents_to_decimal(total),
                in_policy_cost=None if bill is not None else _cents_to_decimal(in_policy),
                disease_code=e.get("disease_code") or None,
                package=e.get("package") or None,
                poverty_status=e.get("poverty_status"),
                aid_category=e.get("aid_category"),
                items=None if bill is None else bill[0],
            )
        )
    return out


def parse_encounters(raw):
    """A list of encounter objects (amounts as JSON numbers or strings) → list[Encounter];
    defaults per the contract; refs must be unique. Raises ClaimsError naming every bad field."""
    errs = []
    out = _parse_encounters(raw, errs)
    if errs:
        raise ClaimsError(errs)
    return out


def parse_claims(claims):
    """``{"members": …, "encounters": […]}`` → (members, encounters), all errors at once.
    Other top-level keys (``"policy"`` in the golden cases) are ignored."""
    errs = []
    if not _is_obj(claims):
        raise ClaimsError([_msg("claims", "claims_object")])
    members = _parse_members(claims.get("members"), errs)
    encounters = _parse_encounters(claims.get("encounters"), errs)
    if not errs:
        errs = _unknown_members(members, encounters)
    if errs:
        raise ClaimsError(errs)
    return members, encounters


def _unknown_members(members, encounters):
    return [
        _msg(f"encounters[{i}].member", "unknown_member", member=e.member)
        for i, e in enumerate(encounters)
        if e.member not in members
    ]


# --------------------------------------------------------------------------------------------
# 6. Settlement
# --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Settlement:
    """The outcome of one encounter. Stored as int cents (that is what the engine computes);
    the contract's Decimal view is given by the properties ``total_cost``, ``payouts`` (tier
    key → Decimal, policy order), ``self_pay``, ``in_policy_self_pay``,
    ``out_of_policy_self_pay``."""

    ref: str
    total_cost_cents: int
    payout_cents: tuple  # one int per tier, policy order
    in_policy_self_pay_cents: int
    out_of_policy_self_pay_cents: int
    tier_keys: tuple  # the policy's tier keys, policy order
    deducted_cents: int | None = None  # itemised bills only: Σ deducted (违规扣除)

    @classmethod
    def from_amounts(cls, ref, total_cost, payouts, in_policy_self_pay, out_of_policy_self_pay):
        """Build from Decimal amounts (e.g. a settlement loaded back from the database)."""
        c = lambda v: _decimal_cents(v, "amount")
        return cls(
            ref,
            c(total_cost),
            tuple(c(v) for v in payouts.values()),
            c(in_policy_self_pay),
            c(out_of_policy_self_pay),
            tuple(payouts),
        )

    @property
    def total_cost(self):
        return _cents_to_decimal(self.total_cost_cents)

    @property
    def payouts(self):
        return {k: _cents_to_decimal(c) for k, c in zip(self.tier_keys, self.payout_cents)}

    @property
    def self_pay_cents(self):
        return self.in_policy_self_pay_cents + self.out_of_policy_self_pay_cents

    @property
    def self_pay(self):
        return _cents_to_decimal(self.self_pay_cents)

    @property
    def in_policy_self_pay(self):
        return _cents_to_decimal(self.in_policy_self_pay_cents)

    @property
    def out_of_policy_self_pay(self):
        return _cents_to_decimal(self.out_of_policy_self_pay_cents)

    def as_dict(self):
        """The contract's JSON output, amounts as strings with two decimals."""
        f = format_cents
        return {
            "ref": self.ref,
            "total_cost": f(self.total_cost_cents),
            "payouts": {k: f(c) for k, c in zip(self.tier_keys, self.payout_cents)},
            "self_pay": f(self.in_policy_self_pay_cents + self.out_of_policy_self_pay_cents),
            "in_policy_self_pay": f(self.in_policy_self_pay_cents),
            "out_of_policy_self_pay": f(self.out_of_policy_self_pay_cents),
            **({} if self.deducted_cents is None else {"deducted": f(self.deducted_cents)}),
        }


def settle(policy, members, encounters):
    """Settle encounters under a compiled policy; one Settlement per encounter, input order.

    Each member's encounters are processed in date order (ties: input order); accumulators
    are kept per (member, calendar year of the date, tier) and start at zero on every call,
    so pass all of a member's encounters of the year together.
    """
    # Group by member; a stable sort by date then keeps input order for same-day encounters.
    by_member = {}
    for i, e in enumerate(encounters):
        idxs = by_member.get(e.member)
        if idxs is None:
            by_member[e.member] = [i]
        else:
            idxs.append(i)
    missing = [k for k in by_member if k not in members]
    if missing:
        raise ClaimsError(_unknown_members(members, encounters))
    groups, order, itemised = [], [], []
    for member_key, idxs in by_member.items():
        if len(idxs) > 1:
            idxs.sort(key=lambda i: encounters[i].date)
        rows = [encounters[i]._row for i in idxs]
        if None in rows:  # itemised: the in-policy cost needs the policy's catalogue
            rows = [encounters[i].row_for(policy) for i in idxs]
            itemised += [i for i in idxs if encounters[i].items is not None]
        groups.append((members[member_key], rows))
        order += idxs
    results = [None] * len(encounters)
    for i, settled in zip(order, settle_sorted(policy, groups)):
        results[i] = settled
    for i in itemised:  # the output of an itemised encounter also says what was deducted
        results[i].deducted_cents = sum(item._deducted_cents for item in encounters[i].items)
    return results


def settle_sorted(policy, groups, *, sums=None):
    """The settlement loop. ``groups``: ``(Member, rows)`` per member, each member once, its
    rows (``Encounter.row_for(policy)`` or ``trusted_row``) already in settlement order (date,
    then entry order). Returns one Settlement per row, in the order given (group after group).
    A row is ``(ref, signature, year, total cents, in-policy cents, package, disease code)``;
    its signature may carry the encounter's own facts (``encounter_signature``, ``FACT_CODES``),
    which replace the group member's for that row's conditions only (the accumulators stay the
    member's).

    This is what ``settle`` runs after grouping and sorting; callers that read encounters
    already sorted and valid (the database path) call it directly.

    ``sums`` (a list): when only totals are wanted (a policy simulation), no Settlement is
    built; instead one tuple per group is appended to ``sums`` and ``sums`` is returned:
    ``(encounters, total_cost_cents, in_policy_self_pay_cents, out_of_policy_self_pay_cents,
    [paid cents per tier, policy order])`` — the sums of what the Settlements would hold (the
    per-tier paid sums are the yearly accumulators the rules keep anyway). Same loop, same
    arithmetic: only the output differs.
    """
    n_tiers = len(policy.keys)
    keys = policy.keys
    D = policy._D
    D2 = 2 * D
    table = policy._plan_table
    plan_dict = policy._plan_dict
    uses_disease = policy.uses_disease_codes
    row_span = _ROW_SIG_SPAN
    progressive, bracket = _progressive, _bracket
    results = []
    append = results.append

    summing = sums is not None
    paid_slots = range(1, 3 * n_tiers, 3)  # "paid" of each tier in an accumulator row

    for member, rows in groups:
        base_sig = member._sig * row_span
        accumulators = {}  # year -> [base, paid, count] × tiers, flat
        m_total = m_in = m_out = 0
        for ref, esig, year, total, in_policy, package, disease_code in rows:
            sig = base_sig + esig  # esig may carry the encounter's own facts (FACT_CODES)
            if uses_disease:
                dm = policy._disease_matches(disease_code)
                plan = plan_dict.get((sig, dm))
                if plan is None:
                    plan = plan_dict[(sig, dm)] = policy._plan(sig, dm)
            else:
                plan = table[sig]
                if plan is None:
                    plan = table[sig] = policy._plan(sig, frozenset())
            acc = accumulators.get(year)
            if acc is None:
                acc = accumulators[year] = [0] * (3 * n_tiers)

            r_in = in_policy  # remaining in-policy cost
            r_out = total - r_in  # remaining out-of-list cost
            pays = [0] * n_tiers
            for step in plan:
                ai = step[3]
                base_now = r_in if step[2] else r_in + r_out
                if step[1]:
                    # Backstop: pay whatever pushes the patient's self-pay down to the caps.
                    _, _, _, _, ratio, ratio_in_policy, cap_per_year, cap_amount = step
                    pay = 0
                    if ratio is not None:  # round(r × cost), half up, as above
                        if ratio_in_policy:
                            v = r_in - (ratio * in_policy * 2 + D) // D2
                        else:
                            v = r_in + r_out - (ratio * total * 2 + D) // D2
                        if v > pay:
                            pay = v
                    if cap_amount is not None:
                        v = (acc[ai] + base_now - cap_amount) if cap_per_year else base_now - cap_amount
                        if v > pay:
                            pay = v
                    if pay > base_now:
                        pay = base_now
                    acc[ai] += base_now - pay  # counted self-pay left after the backstop
                    acc[ai + 1] += pay
                else:
                    (_, _, _, _, per_year, d, d_repeat, gk, g, g_repeat, packages, cap_enc, cap_year) = step
                    if packages is not None and package in packages:
                        pay = packages[package]  # 单病种定额: fixed fund payment
                    else:
                        if acc[ai + 2] and d_repeat != d:  # second+ encounter this year
                            d = d_repeat
                            g = g_repeat
                        if per_year:
                            hi = acc[ai] + base_now - d
                            lo = acc[ai] - d
                            hi = hi if hi > 0 else 0
                            lo = lo if lo > 0 else 0
                            if gk == 0:
                                units = (hi - lo) * g
                            elif gk == 1:
                                units = progressive(hi, *g) - progressive(lo, *g)
                            else:
                                units = bracket(hi, *g) - bracket(lo, *g)
                        else:
                            x = base_now - d
                            if x <= 0:
                                units = 0
                            elif gk == 0:
                                units = x * g
                            elif gk == 1:
                                units = progressive(x, *g)
                            else:
                                units = bracket(x, *g)
                        # Round units/D to cents once, before the caps: ROUND_HALF_UP is
                        # floor((2u + D) / 2D) for u ≥ 0, mirrored for u < 0 (away from zero).
                        pay = (2 * units + D) // D2 if units >= 0 else -((D - 2 * units) // D2)
                    if cap_enc is not None and pay > cap_enc:
                        pay = cap_enc
                    if cap_year is not None and pay > cap_year - acc[ai + 1]:
                        pay = cap_year - acc[ai + 1]
                    if pay < 0:
                        pay = 0
                    elif pay > base_now:
                        pay = base_now
                    acc[ai] += base_now
                    acc[ai + 1] += pay
                    acc[ai + 2] += 1
                if pay:
                    # Take the payout from the in-policy cost first, then from the rest.
                    if pay <= r_in:
                        r_in -= pay
                    else:
                        r_out -= pay - r_in
                        r_in = 0
                    pays[step[0]] = pay
            if summing:
                m_total += total
                m_in += r_in
                m_out += r_out
            else:
                append(Settlement(ref, total, tuple(pays), r_in, r_out, keys))
        if summing:
            accs = list(accumulators.values())
            paid = (
                [acc[i] for i in paid_slots]
                if len(accs) == 1
                else [sum(acc[i] for acc in accs) for i in paid_slots]
            )
            sums.append((len(rows), m_total, m_in, m_out, paid))
    return sums if summing else results


def settle_claims(policy_doc, claims):
    """Validate, settle and render: the JSON array the contract's interfaces print.

    ``policy_doc`` is a policy document (or an already compiled policy); ``claims`` is
    ``{"members": {...}, "encounters": [...]}``. Raises PolicyError or ClaimsError.
    """
    policy = policy_doc if isinstance(policy_doc, CompiledPolicy) else compile_policy(policy_doc)
    members, encounters = parse_claims(claims)
    return [s.as_dict() for s in settle(policy, members, encounters)]
