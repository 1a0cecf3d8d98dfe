"""Property tests: random valid policies and claims.

* the invariants of the contract hold for every settlement;
* the fast engine (integer cents, compiled plans) agrees to the cent with ``reference_settle``
  below: a deliberately naive Decimal implementation written straight from the contract's
  pseudo-code, reading the raw JSON documents, sharing no code with the engine.
"""

import copy
import json
import random
from decimal import ROUND_HALF_UP, Decimal, localcontext

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from settlement.engine import (
    ClaimsError,
    PolicyError,
    compile_policy,
    parse_claims,
    settle,
    settle_claims,
    validate_policy,
)

FAST = settings(
    max_examples=120,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

KINDS = ["inpatient", "outpatient_chronic", "outpatient"]
LEVELS = ["village", "township", "county", "city", "province", "out_of_province"]
POVERTY = ["poor", "monitored", "lifted", "none"]
AID = ["tekun", "orphan", "dibao", "dibao_edge", "none"]
TIER_KINDS = [
    "basic_insurance",
    "catastrophic_insurance",
    "medical_aid",
    "supplementary",
    "hospital_waiver",
    "backstop",
]
PREFIXES = ["C", "C16", "E11", "I2"]
DISEASES = ["C16.9", "C34.1", "E11.9", "I21.0", "I10", "J18.9"]
PACKAGES = ["K35", "O80", "Z99"]


# ============================================================================ reference
#
# Straight from settlement-contract.md, "The algorithm, for one encounter". Decimal all the
# way, dicts and re-reading the document for every encounter: slow and obvious on purpose.

CENT = Decimal("0.01")
FACTS = ("poverty_status", "aid_category")


def D(x):
    return Decimal(str(x))  # JSON number or string → Decimal (float via its repr)


def rnd(x):
    return x.quantize(CENT, rounding=ROUND_HALF_UP)


def holds(cond, enc, mem):
    """CONDITIONS: every key must hold; a list means any of its values."""

    def any_of(v):
        return v if isinstance(v, list) else [v]

    facts = {
        "kinds": enc["kind"],
        "levels": enc["level"],
        "designated": enc.get("designated", True),
        "referred": enc.get("referred", True),
        "poverty_statuses": mem["poverty_status"],
        "aid_categories": mem["aid_category"],
    }
    for key, val in cond.items():
        if key == "disease_codes":
            code = enc.get("disease_code")
            if not code or not any(code.upper().startswith(p.upper()) for p in any_of(val)):
                return False
        elif facts[key] not in any_of(val):
            return False
    return True


def rate_function(rate, bonus, level, d):
    """g(x) for this rate spec, with rate_bonus, cumulative bands shifted down by d."""

    def eff(r):
        return min(Decimal(1), D(r) + bonus)

    if "flat" in rate:
        return lambda x: x * eff(rate["flat"])
    if "by_level" in rate:
        if level not in rate["by_level"]:
            return lambda x: Decimal(0)
        return lambda x: x * eff(rate["by_level"][level])
    bands = [(None if u is None else D(u), eff(r)) for u, r in rate["bands"]]
    if rate.get("measure", "above_deductible") == "cumulative":
        bands = [(None if u is None else u - d, r) for u, r in bands if u is None or u > d]
    if rate.get("mode", "progressive") == "progressive":

        def g(x):
            total, lower = Decimal(0), Decimal(0)
            for upper, r in bands:
                top = x if upper is None else min(x, upper)
                if top > lower:
                    total += (top - lower) * r
                if upper is None or x <= upper:
                    break
                lower = upper
            return total

        return g

    def g(x):
        for upper, r in bands:
            if upper is None or x <= upper:
                return x * r

    return g


def reference_bill(doc, items):
    """(total, in_policy, deducted) of an itemised bill, straight from the contract: net =
    amount − deducted; A all in policy, B in policy after round(net × r) each, C out."""
    catalogue = doc.get("catalogue", {})
    total = in_policy = deducted = Decimal(0)
    for item in items:
        cut = D(item.get("deducted", 0) or 0)
        net = D(item["amount"]) - cut
        total += net
        deducted += cut
        if item["class"] == "A":
            in_policy += net
        elif item["class"] == "B":
            r = catalogue.get("b_self_ratio_by_category", {}).get(
                item.get("category"), catalogue.get("b_self_ratio", 0)
            )
            in_policy += net - rnd(net * D(r))
    return total, in_policy, deducted


def reference_settle(doc, claims):
    members, encounters = claims["members"], claims["encounters"]
    order = sorted(range(len(encounters)), key=lambda i: (encounters[i]["member"], encounters[i]["date"], i))
    accumulators = {}
    outputs = [None] * len(encounters)
    with localcontext() as ctx:
        ctx.prec = 80
        for i in order:
            e = encounters[i]
            # The encounter's own facts (its date's) replace the member's for the conditions.
            m = {**members[e["member"]], **{k: e[k] for k in FACTS if e.get(k) is not None}}
            if "items" in e:
                total, in_policy, deducted = reference_bill(doc, e["items"])
            else:
                total = D(e["total_cost"])
                in_policy = D(e["in_policy_cost"]) if e.get("in_policy_cost") is not None else total
            R_in, R_out = in_policy, total - in_policy
            payouts = {}
            for tier in doc["tiers"]:
                if not holds(tier.get("applies_to", {}), e, m):
                    payouts[tier["key"]] = Decimal(0)
                    continue
                P = dict(tier)
                for ov in tier.get("overrides", []):
                    if holds(ov["when"], e, m):
                        P.update(ov["set"])
                base_now = R_in if P.get("base", "in_policy") == "in_policy" else R_in + R_out
                A = accumulators.setdefault(
                    (e["member"], e["date"][:4], tier["key"]),
                    {"base": Decimal(0), "paid": Decimal(0), "count": 0},
                )
                if tier["kind"] == "backstop":
                    pay = Decimal(0)
                    r = P.get("self_pay_ratio_cap")
                    if r is not None:
                        if P.get("self_pay_ratio_of") == "in_policy":
                            pay = max(pay, R_in - rnd(D(r) * in_policy))
                        else:
                            pay = max(pay, (R_in + R_out) - rnd(D(r) * total))
                    spc = P.get("self_pay_cap")
                    if spc:
                        cap = spc.get("by_level", {}).get(e["level"], spc.get("amount"))
                        if cap is not None:
                            if spc["per"] == "encounter":
                                pay = max(pay, base_now - D(cap))
                            else:
                                pay = max(pay, A["base"] + base_now - D(cap))
                    pay = min(max(pay, Decimal(0)), base_now)
                    A["base"] += base_now - pay
                    A["paid"] += pay
                else:
                    packages = P.get("packages", {})
                    if e.get("package") in packages:
                        pay = D(packages[e["package"]]["fund_pays"])
                    else:
                        ded = P.get("deductible", {"per": "encounter", "amount": 0})
                        d = D(ded.get("by_level", {}).get(e["level"], ded.get("amount", 0)))
                        if A["count"] > 0 and ded.get("repeat_factor") is not None:
                            d = rnd(d * D(ded["repeat_factor"]))
                        g = rate_function(P["rate"], D(P.get("rate_bonus", 0)), e["level"], d)
                        if ded.get("per", "encounter") == "encounter":
                            pay = g(max(Decimal(0), base_now - d))
                        else:
                            pay = g(max(Decimal(0), A["base"] + base_now - d)) - g(
                                max(Decimal(0), A["base"] - d)
                            )
                    pay = rnd(pay)
                    cap = P.get("cap") or {}
                    if cap.get("per_encounter") is not None:
                        pay = min(pay, D(cap["per_encounter"]))
                    if cap.get("per_year") is not None:
                        pay = min(pay, D(cap["per_year"]) - A["paid"])
                    pay = min(max(pay, Decimal(0)), base_now)
                    A["base"] += base_now
                    A["paid"] += pay
                    A["count"] += 1
                if pay <= R_in:
                    R_in -= pay
                else:
                    R_out -= pay - R_in
                    R_in = Decimal(0)
                payouts[tier["key"]] = pay
            s = lambda x: str(rnd(x))
            outputs[i] = {
                "ref": e["ref"],
                "total_cost": s(total),
                "payouts": {k: s(v) for k, v in payouts.items()},
                "self_pay": s(R_in + R_out),
                "in_policy_self_pay": s(R_in),
                "out_of_policy_self_pay": s(R_out),
            }
            if "items" in e:
                outputs[i]["deducted"] = s(deducted)
    return outputs


# ============================================================================ strategies


def cents_text(c):
    return f"{c // 100}.{c % 100:02d}"


# Strategies are built once at import (building them inside draws is what makes hypothesis
# slow); `chance` biases choices toward the richer shapes a county policy actually has.

PERCENT = st.integers(0, 99)


def chance(draw, p):
    return draw(PERCENT) < p * 100


def amounts(hi=3_000_000):
    """An amount in any JSON spelling: string with cents, int yuan, or float with cents.
    Half of them are round hundreds of yuan, so band uppers, deductibles and costs often meet
    exactly (that is where ≤ versus < shows)."""

    def spell(c_form):
        c, form = c_form
        if form == "int" and c % 100 == 0:
            return c // 100
        if form == "float":
            return float(cents_text(c))
        return cents_text(c)

    cents_ = st.one_of(st.integers(0, hi // 10_000).map(lambda k: k * 10_000), st.integers(0, hi))
    return st.tuples(cents_, st.sampled_from(["str", "int", "float"])).map(spell)


AMOUNT, AMOUNT_2M, AMOUNT_1M, AMOUNT_500K = (
    amounts(),
    amounts(2_000_000),
    amounts(1_000_000),
    amounts(500_000),
)
OPTIONAL_AMOUNT = st.one_of(st.none(), AMOUNT)
RATES = st.one_of(
    st.integers(0, 100).map(lambda k: k / 100),  # 0.65 as a JSON number
    st.integers(0, 1000).map(lambda k: str(Decimal(k) / 1000)),  # "0.125"
    st.sampled_from([0, 1, "1", 0.05, 0.5, 0.333333]),
)
OPTIONAL_RATE = st.one_of(RATES, st.none())
SMALL_RATES = st.integers(0, 20).map(lambda k: k / 100)
BASES = st.sampled_from(["in_policy", "total"])
RATIO_OF = st.sampled_from(["total", "in_policy"])
REPEAT_FACTORS = st.sampled_from([0, 0.5, "0.333", 1, 0.75])
LEVEL = st.sampled_from(LEVELS)
CONDITION_OPTIONS = {
    "kinds": st.lists(st.sampled_from(KINDS), min_size=1, max_size=2),
    "levels": st.lists(LEVEL, min_size=1, max_size=3),
    "designated": st.booleans(),
    "referred": st.one_of(st.booleans(), st.lists(st.booleans(), min_size=1, max_size=2)),
    "poverty_statuses": st.lists(st.sampled_from(POVERTY), min_size=1, max_size=3),
    "aid_categories": st.lists(st.sampled_from(AID), min_size=1, max_size=3),
    "disease_codes": st.lists(st.sampled_from(PREFIXES), min_size=1, max_size=2),
}
CONDITION_KEYS = st.lists(st.sampled_from(sorted(CONDITION_OPTIONS)), unique=True, max_size=2)
UPPERS = st.lists(
    st.one_of(st.integers(1, 300).map(lambda k: k * 10_000), st.integers(1, 30_000_000)), max_size=3
)
PACKAGE_CODES = st.lists(st.sampled_from(PACKAGES), unique=True, min_size=1, max_size=2)


@st.composite
def conditions(draw):
    return {k: draw(CONDITION_OPTIONS[k]) for k in draw(CONDITION_KEYS)}


CONDITIONS = conditions()


def level_map(values, min_size=0):
    return st.dictionaries(LEVEL, values, min_size=min_size, max_size=4)


DED_BY_LEVEL = level_map(AMOUNT_500K)
RATE_BY_LEVEL = level_map(RATES, min_size=1)
CAP_BY_LEVEL = level_map(AMOUNT_1M, min_size=1)


@st.composite
def deductibles(draw, per_year_allowed):
    per = "year" if per_year_allowed and draw(st.booleans()) else "encounter"
    out = {"per": per}
    if chance(draw, 0.8):
        out["amount"] = draw(AMOUNT_2M)
    if chance(draw, 0.4):
        out["by_level"] = draw(DED_BY_LEVEL)
    if per == "encounter" and chance(draw, 0.6):
        out["repeat_factor"] = draw(REPEAT_FACTORS)
    return out


@st.composite
def rate_specs(draw, bracket_allowed):
    form = draw(st.sampled_from(["flat", "by_level", "bands", "bands"]))
    if form == "flat":
        return {"flat": draw(RATES)}
    if form == "by_level":
        return {"by_level": draw(RATE_BY_LEVEL)}
    uppers = sorted(set(draw(UPPERS)))
    bands = [[cents_text(u) if draw(st.booleans()) else u / 100, draw(RATES)] for u in uppers]
    bands.append([None, draw(RATES)])
    out = {"bands": bands}
    mode = draw(
        st.sampled_from(
            ["progressive", "bracket", "bracket", None] if bracket_allowed else ["progressive", None]
        )
    )
    if mode:
        out["mode"] = mode
    measure = draw(st.sampled_from(["above_deductible", "cumulative", "cumulative", None]))
    if measure:
        out["measure"] = measure
    return out


@st.composite
def caps(draw):
    if chance(draw, 0.1):
        return None
    out = {}
    if chance(draw, 0.5):
        out["per_encounter"] = draw(OPTIONAL_AMOUNT)
    if chance(draw, 0.7):
        out["per_year"] = draw(OPTIONAL_AMOUNT)
    return out


@st.composite
def packages(draw):
    return {c: {"name": c, "fund_pays": draw(AMOUNT_1M)} for c in draw(PACKAGE_CODES)}


@st.composite
def self_pay_caps(draw):
    out = {"per": draw(st.sampled_from(["year", "encounter"]))}
    if draw(st.booleans()):
        out["by_level"] = draw(CAP_BY_LEVEL)
        if draw(st.booleans()):
            out["amount"] = draw(AMOUNT_1M)
    else:
        out["amount"] = draw(AMOUNT_1M)
    return out


DEDUCTIBLES = {True: deductibles(True), False: deductibles(False)}
RATE_SPECS = {True: rate_specs(True), False: rate_specs(False)}
CAPS, PACKAGE_MAPS, SELF_PAY_CAPS = caps(), packages(), self_pay_caps()


@st.composite
def tier_fields(draw, kind, bracket_allowed, per_year_allowed, for_override):
    """Settable fields valid for this kind of tier; fewer of them in an override."""
    if kind == "backstop":
        options = {
            "self_pay_cap": (0.6, SELF_PAY_CAPS),
            "self_pay_ratio_cap": (0.6, OPTIONAL_RATE if for_override else RATES),
            "self_pay_ratio_of": (0.4, RATIO_OF),
            "base": (0.3, BASES),
        }
    else:
        options = {
            "deductible": (0.75, DEDUCTIBLES[per_year_allowed]),
            "rate": (0.5, RATE_SPECS[bracket_allowed]),
            "rate_bonus": (0.3, SMALL_RATES),
            "cap": (0.4, CAPS),
            "packages": (0.25, PACKAGE_MAPS),
            "base": (0.25, BASES),
        }
    scale = 0.5 if for_override else 1.0
    out = {name: draw(strategy) for name, (p, strategy) in options.items() if chance(draw, p * scale)}
    if for_override and not out:
        name = draw(st.sampled_from(sorted(options)))
        out[name] = draw(options[name][1])
    return out


TIER_FIELDS = {
    (kind, year, over): tier_fields(kind, not year, year, over)
    for kind in ("backstop", "other")
    for year in (True, False)
    for over in (True, False)
}


@st.composite
def tiers(draw, i, kind=None):
    kind = kind or draw(st.sampled_from([k for k in TIER_KINDS if k != "backstop"]))  # 兜底 closes the chain
    t = {"key": f"t{i}", "kind": kind, "name": f"tier {i}", "fund": f"fund {i}"}
    if chance(draw, 0.3):
        t["applies_to"] = draw(CONDITIONS)
    # One choice per tier keeps every override valid alone: per-year deductibles or bracket
    # rates, never both.
    per_year_allowed = draw(st.booleans())
    group = "backstop" if kind == "backstop" else "other"
    t.update(draw(TIER_FIELDS[group, per_year_allowed, False]))
    if kind != "backstop" and "rate" not in t:
        t["rate"] = draw(RATE_SPECS[not per_year_allowed])
    overrides = [
        {"when": draw(CONDITIONS), "set": draw(TIER_FIELDS[group, per_year_allowed, True])}
        for _ in range(draw(st.integers(0, 3)))
    ]
    if overrides:
        t["overrides"] = overrides
    if kind == "backstop":
        has_cap = (
            t.get("self_pay_cap")
            or t.get("self_pay_ratio_cap") is not None
            or any(
                o["set"].get("self_pay_cap") or o["set"].get("self_pay_ratio_cap") is not None
                for o in overrides
            )
        )
        if not has_cap:
            t["self_pay_ratio_cap"] = draw(RATES)
    return t


TIERS = [tiers(i) for i in range(4)]
BACKSTOPS = [tiers(i, "backstop") for i in range(5)]


@st.composite
def policies(draw):
    n = draw(st.integers(1, 4))
    out = [draw(TIERS[i]) for i in range(n)]
    if draw(st.booleans()):  # a backstop closing the chain, as counties do
        out.append(draw(BACKSTOPS[n]))
    return {"code": "p", "name": "random policy", "year": 2025, "tiers": out}


DATES = st.sampled_from(
    ["2024-12-31", "2025-01-01", "2025-03-15", "2025-03-15", "2025-07-01", "2025-11-30", "2026-01-02"]
)
TOTALS = st.one_of(
    st.integers(0, 300).map(lambda k: k * 10_000), st.integers(0, 30_000_000), st.integers(0, 100_000)
)


@st.composite
def claims_docs(draw):
    keys = ["A", "B"][: draw(st.integers(1, 2))]
    members = {
        k: {"poverty_status": draw(st.sampled_from(POVERTY)), "aid_category": draw(st.sampled_from(AID))}
        for k in keys
    }
    encounters = []
    for i in range(draw(st.integers(1, 10))):
        total = draw(TOTALS)
        e = {
            "ref": f"r{i}",
            "member": draw(st.sampled_from(keys)),
            "date": draw(DATES),
            "kind": draw(st.sampled_from(KINDS)),
            "level": draw(LEVEL),
            "total_cost": cents_text(total),
        }
        shape = draw(PERCENT)
        if shape < 30:
            e["in_policy_cost"] = cents_text(draw(st.integers(0, total)))
        elif shape < 60:
            e["in_policy_cost"] = cents_text(draw(st.integers(0, total // 10_000)) * 10_000)
        for flag in ("designated", "referred"):
            if chance(draw, 0.2):
                e[flag] = draw(st.booleans())
        if draw(st.booleans()):
            e["disease_code"] = draw(st.sampled_from(DISEASES))
        if chance(draw, 0.2):
            e["package"] = draw(st.sampled_from(PACKAGES))
        # The member's facts on the encounter's date, now and then differing from the member's.
        if chance(draw, 0.25):
            e["poverty_status"] = draw(st.sampled_from(POVERTY))
        if chance(draw, 0.25):
            e["aid_category"] = draw(st.sampled_from(AID))
        encounters.append(e)
    return {"members": members, "encounters": encounters}


# ============================================================================ properties


def cents(s):
    whole, frac = s.split(".")
    assert len(frac) == 2
    return int(whole) * 100 + int(frac)


def check_invariants(doc, claims, out):
    by_ref = {e["ref"]: e for e in claims["encounters"]}
    keys = [t["key"] for t in doc["tiers"]]
    in_policy_base = {
        t["key"]
        for t in doc["tiers"]
        if t.get("base", "in_policy") == "in_policy"
        and not any("base" in o["set"] for o in t.get("overrides", []))
    }
    assert [r["ref"] for r in out] == [e["ref"] for e in claims["encounters"]]  # input order
    for r in out:
        e = by_ref[r["ref"]]
        total = cents(e["total_cost"])
        in_policy = cents(e.get("in_policy_cost", e["total_cost"]))
        assert list(r["payouts"]) == keys  # policy order
        pays = [cents(r["payouts"][k]) for k in keys]
        assert all(p >= 0 for p in pays)
        assert cents(r["total_cost"]) == total
        assert sum(pays) + cents(r["self_pay"]) == total
        assert cents(r["in_policy_self_pay"]) + cents(r["out_of_policy_self_pay"]) == cents(r["self_pay"])
        # payouts come out of the in-policy cost first
        assert cents(r["in_policy_self_pay"]) == max(0, in_policy - sum(pays))
        paid_before = 0
        for k, p in zip(keys, pays):
            if k in in_policy_base:  # never more than the in-policy cost left
                assert p <= max(0, in_policy - paid_before)
            paid_before += p


@settings(FAST, max_examples=300)
@given(doc=policies(), claims=claims_docs())
def test_engine_agrees_with_naive_reference_and_invariants_hold(doc, claims):
    assert validate_policy(doc) == []
    out = settle_claims(doc, claims)
    check_invariants(doc, claims, out)
    assert out == reference_settle(copy.deepcopy(doc), claims)


@settings(FAST, max_examples=150)
@given(rate=RATE_SPECS[True], deductible=AMOUNT_2M, per_year=st.booleans(), data=st.data())
def test_band_boundaries_agree_with_reference(rate, deductible, per_year, data):
    """Costs placed exactly on a band's upper (±1 cent), where ≤ versus < decides."""
    if "bands" not in rate:
        rate = {"bands": [[1000, 0.5], [None, 0.8]], "mode": "bracket"}
    if per_year:
        rate["mode"] = "progressive"  # bracket with a per-year deductible is refused
    d = cents(cents_text(int(D(deductible) * 100)))
    tier_ = {
        "key": "t",
        "kind": "basic_insurance",
        "name": "t",
        "fund": "f",
        "rate": rate,
        "deductible": {"per": "year" if per_year else "encounter", "amount": deductible},
    }
    doc = {"code": "p", "name": "n", "year": 2025, "tiers": [tier_]}
    uppers = [cents(cents_text(int(D(u) * 100))) for u, _ in rate["bands"] if u is not None]
    encounters = []
    for i in range(data.draw(st.integers(1, 3))):
        upper = data.draw(st.sampled_from(uppers or [0]))
        delta = data.draw(st.sampled_from([-1, 0, 1]))
        # above_deductible uppers count above d; cumulative ones from zero
        at = upper + delta + (0 if rate.get("measure") == "cumulative" else d)
        encounters.append(
            {
                "ref": f"r{i}",
                "member": "M",
                "date": f"2025-0{i + 1}-01",
                "kind": "inpatient",
                "level": "county",
                "total_cost": cents_text(max(0, at)),
            }
        )
        if per_year:
            break  # one encounter: x is then exactly at − d
    claims = {"members": {"M": {"poverty_status": "none", "aid_category": "none"}}, "encounters": encounters}
    assert settle_claims(doc, claims) == reference_settle(doc, claims)


@settings(FAST, max_examples=50)
@given(doc=policies(), claims=claims_docs(), seed=st.integers(0, 2**32))
def test_members_independent_and_order_only_matters_for_same_day_ties(doc, claims, seed):
    policy = compile_policy(doc)
    members, encounters = parse_claims(claims)
    together = {s.ref: s.as_dict() for s in settle(policy, members, encounters)}
    # settling each member alone gives the same results
    for key in members:
        for s in settle(policy, members, [e for e in encounters if e.member == key]):
            assert s.as_dict() == together[s.ref]
    # shuffling changes nothing once no member has two encounters on one day
    seen, unique = set(), []
    for e in encounters:
        if (e.member, e.date) not in seen:
            seen.add((e.member, e.date))
            unique.append(e)
    shuffled = unique[:]
    random.Random(seed).shuffle(shuffled)
    a = {s.ref: s.as_dict() for s in settle(policy, members, unique)}
    b = {s.ref: s.as_dict() for s in settle(policy, members, shuffled)}
    assert a == b


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 5)
    | st.floats(allow_nan=True)
    | st.sampled_from(["", "a", "0.5", "-1", "1e999999", "flat", "bands", "year", "inpatient", "backstop"]),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "key",
                    "kind",
                    "rate",
                    "flat",
                    "bands",
                    "per",
                    "amount",
                    "tiers",
                    "when",
                    "set",
                    "overrides",
                    "by_level",
                    "x",
                ]
            ),
            children,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@settings(FAST, max_examples=150)
@given(doc=json_values)
def test_validation_never_crashes_on_arbitrary_json(doc):
    errs = validate_policy(doc)
    assert isinstance(errs, list) and all(isinstance(e, str) and "：" in e for e in errs)
    if errs:
        try:
            compile_policy(doc)
        except PolicyError as exc:
            assert exc.errors == errs
        else:
            raise AssertionError("compile_policy accepted an invalid policy")


@settings(FAST, max_examples=40)
@given(doc=policies(), data=st.data())
def test_mutated_policy_is_refused_or_still_settles(doc, data):
    """Replacing any value by junk never crashes: either a PolicyError or a valid policy."""
    doc = copy.deepcopy(doc)
    paths = []

    def walk(node, path):
        if isinstance(node, dict):
            for k, v in node.items():
                paths.append((node, k))
                walk(v, path + [k])
        elif isinstance(node, list):
            for i, v in enumerate(node):
                paths.append((node, i))
                walk(v, path + [i])

    walk(doc, [])
    parent, k = data.draw(st.sampled_from(paths))
    parent[k] = data.draw(st.sampled_from([None, -1, 2, "x", [], {}, True, "1.005", 0.5]))
    try:
        policy = compile_policy(doc)
    except PolicyError as exc:
        assert exc.errors and all("：" in e for e in exc.errors)
        return
    claims = {
        "members": {"M": {"poverty_status": "poor", "aid_category": "dibao"}},
        "encounters": [
            {
                "ref": "a",
                "member": "M",
                "date": "2025-01-01",
                "kind": "inpatient",
                "level": "county",
                "total_cost": "12345.67",
                "in_policy_cost": "10000.00",
            }
        ],
    }
    try:
        expected = reference_settle(doc, claims)
    except Exception:
        return  # the reference is not meant for every accepted corner (e.g. nulls)
    assert settle_claims(policy, claims) == expected


@settings(FAST, max_examples=60)
@given(
    raw=st.lists(
        st.dictionaries(
            st.sampled_from(
                ["ref", "member", "date", "kind", "level", "total_cost", "in_policy_cost", "designated", "x"]
            ),
            st.none()
            | st.booleans()
            | st.integers(-3, 3)
            | st.sampled_from(["", "x", "-1", "2025-13-01"])
            | st.sampled_from(["2025-01-01", "inpatient", "county", "M", "1.50"]),
            max_size=8,
        ),
        max_size=3,
    )
)
def test_claims_parsing_never_crashes(raw):
    try:
        settle_claims(
            {
                "code": "c",
                "name": "n",
                "year": 2025,
                "tiers": [
                    {"key": "t", "kind": "basic_insurance", "name": "t", "fund": "f", "rate": {"flat": 0.5}}
                ],
            },
            {"members": {"M": {"poverty_status": "none", "aid_category": "none"}}, "encounters": raw},
        )
    except ClaimsError as exc:
        assert exc.errors and all(e.startswith(("encounters", "members")) for e in exc.errors)


def test_reference_reproduces_the_golden_case():
    """The reference itself is checked against the contract's golden case."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "fixtures"
    doc = json.loads((root / "policies/demo-county-2025.json").read_text("utf-8"))
    claims = json.loads((root / "settlement/demo-county-2025.claims.json").read_text("utf-8"))
    expected = json.loads((root / "settlement/demo-county-2025.expected.json").read_text("utf-8"))
    assert reference_settle(doc, claims) == expected
