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
5. claims parsing (``Member``, ``Encounter``, ``parse_members``, ``parse_encounters``);
6. settlement (``settle``, ``Settlement``, ``settle_claims``).
"""

from __future__ import annotations

import copy
import datetime
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


class _FieldErrors(ValueError):
    """A list of ``"path: message"`` strings; ``str()`` joins them with ``"; "``."""

    def __init__(self, errors):
        self.errors = list(errors)
        super().__init__("; ".join(self.errors))


class PolicyError(_FieldErrors):
    """The policy document breaks the contract; ``.errors`` names every bad field."""


class ClaimsError(_FieldErrors):
    """Members or encounters are malformed; ``.errors`` names every bad field."""


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
        errs.append(f"{path}: must be a number")
        return None
    if d < 0:
        errs.append(f"{path}: must be ≥ 0")
        return None
    if d > MAX_AMOUNT:
        errs.append(f"{path}: must be at most {MAX_AMOUNT}")
        return None
    scaled = d * 100  # exact: ≤ 15 significant digits < context's 28
    cents = int(scaled)
    if scaled != cents:
        errs.append(f"{path}: at most two decimals")
        return None
    return cents


def _rate(value, path, errs):
    """Validate a rate in [0, 1] with at most MAX_RATE_DECIMALS decimals; exact Decimal or None."""
    d = _number(value)
    if d is None:
        errs.append(f"{path}: must be a number")
        return None
    if d < 0 or d > 1:
        errs.append(f"{path}: must be between 0 and 1")
        return None
    d = d.normalize()
    if -d.as_tuple().exponent > MAX_RATE_DECIMALS:
        errs.append(f"{path}: at most {MAX_RATE_DECIMALS} decimals")
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

_POLICY_FIELDS = ("code", "name", "year", "tiers")
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
    errs.append(f"{path}: unknown value {value!r} (expected one of {', '.join(allowed)})")
    return _BAD


def _unknown_fields(obj, allowed, path, errs):
    for name in obj:
        if name not in allowed:
            errs.append(f"{path}.{name}: unknown field" if path else f"{name}: unknown field")


def _check_conditions(value, path, errs):
    """CONDITIONS → {key: frozenset(values)}; disease_codes → tuple of upper-case prefixes."""
    if not _is_obj(value):
        errs.append(f"{path}: must be an object")
        return _BAD
    out = {}
    for key, raw in value.items():
        p = f"{path}.{key}"
        if key not in _CONDITION_VALUES:
            errs.append(f"{p}: unknown field")
            continue
        items = raw if isinstance(raw, list) else [raw]  # a list means any of its values
        if not items:
            errs.append(f"{p}: must not be empty")
            continue
        allowed = _CONDITION_VALUES[key]
        good = []
        for k, item in enumerate(items):
            ip = f"{p}[{k}]" if isinstance(raw, list) else p
            if key == "disease_codes":
                if isinstance(item, str) and item.strip():
                    good.append(item.strip().upper())
                else:
                    errs.append(f"{ip}: must be a non-empty string")
            elif key in ("designated", "referred"):
                if isinstance(item, bool):
                    good.append(item)
                else:
                    errs.append(f"{ip}: must be true or false")
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
        errs.append(f"{path}: must be an object")
        return _BAD
    out = {}
    for level, raw in value.items():
        if level not in _LEVEL_IX:
            errs.append(f"{path}.{level}: unknown level (expected one of {', '.join(LEVELS)})")
            continue
        v = check_value(raw, f"{path}.{level}", errs)
        if v is not None:
            out[level] = v
    return out


def _check_deductible(value, path, errs):
    if not _is_obj(value):
        errs.append(f"{path}: must be an object")
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
            errs.append(f"{path}.repeat_factor: only allowed with a per-encounter deductible")
    if len(errs) > n:
        return _BAD
    return _Deductible(per_year=(per == "year"), amount=amount, by_level=by_level, repeat_factor=rf)


def _check_rate(value, path, errs):
    if not _is_obj(value):
        errs.append(f"{path}: must be an object")
        return _BAD
    forms = [f for f in ("flat", "by_level", "bands") if f in value]
    if len(forms) != 1:
        errs.append(f"{path}: must have exactly one of flat, by_level, bands")
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
        errs.append(f"{bp}: must be a non-empty list of [UPPER, rate]")
        return _BAD
    uppers, rates = [], []
    previous = None
    last = len(bands) - 1
    for k, band in enumerate(bands):
        p = f"{bp}[{k}]"
        if not isinstance(band, list) or len(band) != 2:
            errs.append(f"{p}: must be [UPPER, rate]")
            continue
        upper_raw, rate_raw = band
        rates.append(_rate(rate_raw, f"{p}[1]", errs))
        if upper_raw is None:
            if k != last:
                errs.append(f"{p}: only the last upper may be null")
            uppers.append(None)
            continue
        if k == last:
            errs.append(f"{p}: the last upper must be null")
        upper = _amount_cents(upper_raw, f"{p}[0]", errs)
        if upper is not None:
            if previous is not None and upper <= previous:
                errs.append(f"{p}: uppers must ascend")
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
        errs.append(f"{path}: must be an object")
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
        errs.append(f"{path}: must be an object")
        return _BAD
    n = len(errs)
    out = {}
    for code, pkg in value.items():
        p = f"{path}.{code}"
        if not code.strip():
            errs.append(f"{p}: package code must not be empty")
            continue
        if not _is_obj(pkg):
            errs.append(f"{p}: must be an object")
            continue
        _unknown_fields(pkg, ("name", "fund_pays"), p, errs)
        if "name" in pkg and not isinstance(pkg["name"], str):
            errs.append(f"{p}.name: must be a string")
        if "fund_pays" not in pkg:
            errs.append(f"{p}.fund_pays: required")
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
        errs.append(f"{path}: must be an object")
        return _BAD
    n = len(errs)
    _unknown_fields(value, ("per", "amount", "by_level"), path, errs)
    if "per" not in value:
        # No default: "3000 a year" and "3000 a stay" differ too much to guess.
        errs.append(f"{path}.per: required (year or encounter)")
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
        errs.append(f"{path}: needs amount or by_level")
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
        errs.append(f"{path}: not used by a backstop tier")
        return _BAD
    if tier_kind not in (None, "backstop") and name in _BACKSTOP_ONLY:
        errs.append(f"{path}: only allowed on a backstop tier")
        return _BAD
    if value is None and name in (
        "deductible",
        "rate",
        "rate_bonus",
        "base",
        "packages",
        "self_pay_ratio_of",
    ):
        errs.append(f"{path}: must not be null")
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
        errs.append(f"{p}: must be an object")
        return None
    n = len(errs)
    _unknown_fields(tier, _TIER_FIELDS, p, errs)

    key = tier.get("key")
    if not isinstance(key, str) or not key.strip():
        errs.append(f"{p}.key: required, a non-empty string")
    elif key in seen_keys:
        errs.append(f"{p}.key: duplicate key {key!r} (also tiers[{seen_keys[key]}])")
    else:
        seen_keys[key] = i
    kind = tier.get("kind")
    if kind is None:
        errs.append(f"{p}.kind: required")
    elif _one_of(kind, TIER_KINDS, f"{p}.kind", errs) is _BAD:
        kind = None  # unknown kind: skip kind-dependent checks below
    for name in ("name", "fund"):
        if not isinstance(tier.get(name), str) or not tier[name].strip():
            errs.append(f"{p}.{name}: required, a non-empty string")

    applies_to = {}
    if "applies_to" in tier:
        applies_to = _check_conditions(tier["applies_to"], f"{p}.applies_to", errs)

    fields = dict(_FIELD_DEFAULTS)
    for name in _SETTABLE:
        if name in tier:
            fields[name] = _check_field(name, tier[name], f"{p}.{name}", kind, errs)
    if kind is not None and kind != "backstop" and "rate" not in tier:
        errs.append(f"{p}.rate: required")
    if _bracket_with_year(fields):
        errs.append(f"{p}.rate.mode: bracket cannot be used with a per-year deductible")

    overrides = []
    raw_overrides = tier.get("overrides", [])
    if not isinstance(raw_overrides, list):
        errs.append(f"{p}.overrides: must be a list")
        raw_overrides = []
    for j, ov in enumerate(raw_overrides):
        op = f"{p}.overrides[{j}]"
        if not _is_obj(ov):
            errs.append(f"{op}: must be an object")
            continue
        _unknown_fields(ov, ("when", "set"), op, errs)
        if "when" not in ov:
            errs.append(f"{op}.when: required")
            when = _BAD
        else:
            when = _check_conditions(ov["when"], f"{op}.when", errs)
        sets = ov.get("set")
        if not _is_obj(sets):
            errs.append(f"{op}.set: required, an object")
            continue
        normal = {}
        for name, value in sets.items():
            sp = f"{op}.set.{name}"
            if name not in _SETTABLE:
                why = "cannot be overridden" if name in _TIER_FIELDS else "unknown field"
                errs.append(f"{sp}: {why}")
                continue
            normal[name] = _check_field(name, value, sp, kind, errs)
        # The tier as this override alone would leave it must still be valid.
        if _bracket_with_year({**fields, **normal}) and not _bracket_with_year(fields):
            culprit = "rate.mode" if "rate" in normal else "deductible.per"
            errs.append(
                f"{op}.set.{culprit}: with this override a bracket rate would have a per-year deductible"
            )
        overrides.append(_Override(when=when, set=normal))

    if kind == "backstop":
        caps = [tier.get("self_pay_cap"), tier.get("self_pay_ratio_cap")]
        for ov in raw_overrides:
            if _is_obj(ov) and _is_obj(ov.get("set")):
                caps += [ov["set"].get("self_pay_cap"), ov["set"].get("self_pay_ratio_cap")]
        if all(c is None for c in caps):
            errs.append(
                f"{p}: a backstop needs self_pay_cap or self_pay_ratio_cap (on the tier or in an override)"
            )

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


def _check_policy(doc):
    """(errors, normalised tiers)."""
    errs = []
    if not _is_obj(doc):
        return ["policy: must be a JSON object"], None
    _unknown_fields(doc, _POLICY_FIELDS, "", errs)
    if not isinstance(doc.get("code"), str) or not doc["code"].strip():
        errs.append("code: required, a non-empty string")
    if not isinstance(doc.get("name"), str) or not doc["name"].strip():
        errs.append("name: required, a non-empty string")
    year = doc.get("year")
    if isinstance(year, bool) or not isinstance(year, int):
        errs.append("year: required, an integer")
    tiers = doc.get("tiers")
    if not isinstance(tiers, list) or not tiers:
        errs.append("tiers: required, a non-empty list")
        return errs, None
    seen = {}
    specs = [_check_tier(i, t, errs, seen) for i, t in enumerate(tiers)]
    return errs, specs


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

    def __init__(self, doc, specs):
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
        # member_sig · N_ENCOUNTER_SIGS + encounter_sig. With them: a dict keyed by
        # (that index, matching prefixes).
        self._plan_table = [None] * (_N_MEMBER_SIGS * _N_ENCOUNTER_SIGS)
        self._plan_dict = {}
        self._disease_class = {}
        self._steps = {}

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
        msig, esig = divmod(sig_index, _N_ENCOUNTER_SIGS)
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
    errs, specs = _check_policy(doc)
    if errs:
        raise PolicyError(errs)
    return CompiledPolicy(doc, specs)


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
            raise ValueError(f"unknown poverty_status {self.poverty_status!r}")
        if self.aid_category not in _AID_IX:
            raise ValueError(f"unknown aid_category {self.aid_category!r}")
        object.__setattr__(
            self, "_sig", _POVERTY_IX[self.poverty_status] * len(AID_CATEGORIES) + _AID_IX[self.aid_category]
        )


def _decimal_cents(value, name):
    """Constructor-side amount check for callers that build Encounters themselves."""
    errs = []
    if isinstance(value, float):
        raise ValueError(f"{name}: pass a Decimal or a string, not a float")
    cents = _amount_cents(value, name, errs)
    if errs:
        raise ValueError(errs[0])
    return cents


@dataclass(frozen=True, slots=True, kw_only=True)
class Encounter:
    """One visit or stay. Build it directly (keyword arguments, Decimal amounts) or with
    ``parse_encounters``. ``in_policy_cost`` defaults to ``total_cost``."""

    ref: str
    member: str
    date: datetime.date
    kind: str
    level: str
    total_cost: Decimal
    in_policy_cost: Decimal | None = None
    designated: bool = True
    referred: bool = True
    disease_code: str | None = None
    package: str | None = None
    # Derived once at construction so the settlement loop does integer work only.
    _total_cents: int = field(init=False, repr=False, compare=False)
    _in_policy_cents: int = field(init=False, repr=False, compare=False)
    _sig: int = field(init=False, repr=False, compare=False)
    _row: tuple = field(init=False, repr=False, compare=False)  # see ``trusted_row``

    def __post_init__(self):
        setattr_ = object.__setattr__
        if isinstance(self.date, datetime.datetime):
            setattr_(self, "date", self.date.date())
        elif not isinstance(self.date, datetime.date):
            raise ValueError("date: must be a datetime.date")
        if self.kind not in _KIND_IX:
            raise ValueError(f"kind: unknown value {self.kind!r}")
        if self.level not in _LEVEL_IX:
            raise ValueError(f"level: unknown value {self.level!r}")
        if not isinstance(self.designated, bool) or not isinstance(self.referred, bool):
            raise ValueError("designated/referred: must be booleans")
        total = _decimal_cents(self.total_cost, "total_cost")
        if self.in_policy_cost is None:
            setattr_(self, "in_policy_cost", self.total_cost)
        in_policy = _decimal_cents(self.in_policy_cost, "in_policy_cost")
        if in_policy > total:
            raise ValueError("in_policy_cost: must be ≤ total_cost")
        if not isinstance(self.total_cost, Decimal):
            setattr_(self, "total_cost", _cents_to_decimal(total))
        if not isinstance(self.in_policy_cost, Decimal):
            setattr_(self, "in_policy_cost", _cents_to_decimal(in_policy))
        setattr_(self, "_total_cents", total)
        setattr_(self, "_in_policy_cents", in_policy)
        setattr_(self, "_sig", ENCOUNTER_SIGNATURES[(self.kind, self.level, self.designated, self.referred)])
        setattr_(
            self,
            "_row",
            (
                self.ref,
                self._sig,
                self.date.year,
                total,
                in_policy,
                self.package or None,
                self.disease_code or None,
            ),
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
):
    """An encounter as ``settle_sorted`` takes it, from values that are already valid — rows
    read back from the database, whose constraints hold them (0 ≤ in-policy ≤ total, two
    decimals, a known kind); amounts in int cents. Skips ``Encounter``'s re-validation (and its
    Decimal objects) but not exactness: the row is exactly what ``Encounter(...)._row`` holds
    for the same values (a property test checks it). An unknown kind or level raises
    ValueError; ``ref`` is echoed in the Settlement (any key of the caller's)."""
    sig = ENCOUNTER_SIGNATURES.get((kind, level, designated, referred))
    if sig is None:
        raise ValueError(f"kind/level: unknown value {(kind, level)!r}")
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
)
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}\Z")


def _parse_members(raw, errs):
    if not _is_obj(raw):
        errs.append("members: must be an object {KEY: MEMBER}")
        return {}
    out = {}
    for key, m in raw.items():
        p = f"members.{key}"
        if not _is_obj(m):
            errs.append(f"{p}: must be an object")
            continue
        n = len(errs)
        _unknown_fields(m, _MEMBER_FIELDS, p, errs)
        vals = {}
        for name, allowed in (("poverty_status", POVERTY_STATUSES), ("aid_category", AID_CATEGORIES)):
            if name not in m:
                errs.append(f"{p}.{name}: required")
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


def _parse_encounters(raw, errs):
    if not isinstance(raw, list):
        errs.append("encounters: must be a list")
        return []
    out = []
    seen_refs = {}
    for i, e in enumerate(raw):
        p = f"encounters[{i}]"
        if not _is_obj(e):
            errs.append(f"{p}: must be an object")
            continue
        n = len(errs)
        _unknown_fields(e, _ENCOUNTER_FIELDS, p, errs)
        ref = e.get("ref")
        if not isinstance(ref, str) or not ref.strip():
            errs.append(f"{p}.ref: required, a non-empty string")
        elif ref in seen_refs:
            errs.append(f"{p}.ref: duplicate ref {ref!r} (also encounters[{seen_refs[ref]}])")
        else:
            seen_refs[ref] = i
        member = e.get("member")
        if not isinstance(member, str) or not member:
            errs.append(f"{p}.member: required, a member key")
        date = e.get("date")
        if not isinstance(date, str) or not _DATE_RE.match(date):
            errs.append(f"{p}.date: required, a date YYYY-MM-DD")
        else:
            try:
                date = datetime.date.fromisoformat(date)
            except ValueError:
                errs.append(f"{p}.date: not a valid date")
        for name, allowed in (("kind", KINDS), ("level", LEVELS)):
            if name not in e:
                errs.append(f"{p}.{name}: required")
            else:
                _one_of(e[name], allowed, f"{p}.{name}", errs)
        for name in ("designated", "referred"):
            if e.get(name) is not None and not isinstance(e[name], bool):  # null = default
                errs.append(f"{p}.{name}: must be true or false")
        total = in_policy = None
        if "total_cost" not in e:
            errs.append(f"{p}.total_cost: required")
        else:
            total = _amount_cents(e["total_cost"], f"{p}.total_cost", errs)
        if e.get("in_policy_cost") is None:
            in_policy = total
        else:
            in_policy = _amount_cents(e["in_policy_cost"], f"{p}.in_policy_cost", errs)
            if in_policy is not None and total is not None and in_policy > total:
                errs.append(f"{p}.in_policy_cost: must be ≤ total_cost")
        for name in ("disease_code", "package"):
            v = e.get(name)
            if v is not None and not isinstance(v, str):
                errs.append(f"{p}.{name}: must be a string")
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
                total_cost=_cents_to_decimal(total),
                in_policy_cost=_cents_to_decimal(in_policy),
                disease_code=e.get("disease_code") or None,
                package=e.get("package") or None,
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
        raise ClaimsError(["claims: must be an object with members and encounters"])
    members = _parse_members(claims.get("members"), errs)
    encounters = _parse_encounters(claims.get("encounters"), errs)
    if not errs:
        errs = _unknown_members(members, encounters)
    if errs:
        raise ClaimsError(errs)
    return members, encounters


def _unknown_members(members, encounters):
    return [
        f"encounters[{i}].member: unknown member {e.member!r}"
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
    groups, order = [], []
    for member_key, idxs in by_member.items():
        if len(idxs) > 1:
            idxs.sort(key=lambda i: encounters[i].date)
        groups.append((members[member_key], [encounters[i]._row for i in idxs]))
        order += idxs
    results = [None] * len(encounters)
    for i, settled in zip(order, settle_sorted(policy, groups)):
        results[i] = settled
    return results


def settle_sorted(policy, groups, *, sums=None):
    """The settlement loop. ``groups``: ``(Member, rows)`` per member, each member once, its
    rows (``Encounter._row`` or ``trusted_row``) already in settlement order (date, then entry
    order). Returns one Settlement per row, in the order given (group after group).

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
    n_esigs = _N_ENCOUNTER_SIGS
    progressive, bracket = _progressive, _bracket
    results = []
    append = results.append

    summing = sums is not None
    paid_slots = range(1, 3 * n_tiers, 3)  # "paid" of each tier in an accumulator row

    for member, rows in groups:
        base_sig = member._sig * n_esigs
        accumulators = {}  # year -> [base, paid, count] × tiers, flat
        m_total = m_in = m_out = 0
        for ref, esig, year, total, in_policy, package, disease_code in rows:
            sig = base_sig + esig
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
