"""The settlement engine against the contract (settlement-contract.md).

Golden numbers come from the contract's case files (copied to fixtures/settlement/); every
other expectation is computed by hand in the comment next to it — never from the engine.
"""

import copy
import datetime
import json
from decimal import Decimal
from pathlib import Path

import pytest

from settlement.engine import (
    ClaimsError,
    CompiledPolicy,
    Encounter,
    Member,
    PolicyError,
    Settlement,
    compile_policy,
    parse_encounters,
    parse_members,
    settle,
    settle_claims,
    validate_policy,
)

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"


def load(rel):
    return json.loads((FIXTURES / rel).read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------- helpers


def tier(key="t", kind="basic_insurance", **fields):
    return {"key": key, "kind": kind, "name": f"tier {key}", "fund": f"fund {key}", **fields}


def flat(rate, **fields):
    """A non-backstop tier with a flat rate (in_policy base, no deductible unless given)."""
    return tier(fields.pop("key", "t"), fields.pop("kind", "basic_insurance"), rate={"flat": rate}, **fields)


def backstop(key="bs", **fields):
    return tier(key, "backstop", **fields)


def policy(*tiers):
    return {"code": "test", "name": "test policy", "year": 2025, "tiers": list(tiers)}


def enc(
    ref, total, in_policy=None, *, member="M", date="2025-03-01", kind="inpatient", level="county", **extra
):
    e = {"ref": ref, "member": member, "date": date, "kind": kind, "level": level, "total_cost": total}
    if in_policy is not None:
        e["in_policy_cost"] = in_policy
    e.update(extra)
    return e


def run(pol, encounters, members=None):
    members = members or {"M": {"poverty_status": "none", "aid_category": "none"}}
    return settle_claims(pol, {"members": members, "encounters": encounters})


def paid(pol, encounters, members=None, key="t"):
    """The payout strings of tier `key`, one per encounter, input order."""
    return [r["payouts"][key] for r in run(pol, encounters, members)]


def member(poverty="none", aid="none"):
    return {"poverty_status": poverty, "aid_category": aid}


# ---------------------------------------------------------------------------- golden cases


def test_golden_demo_county_2025_whole_output():
    pol = load("policies/demo-county-2025.json")
    claims = load("settlement/demo-county-2025.claims.json")
    expected = load("settlement/demo-county-2025.expected.json")
    assert claims["policy"] == pol["code"]
    assert settle_claims(pol, claims) == expected


def test_golden_output_is_json_identical():
    pol = load("policies/demo-county-2025.json")
    claims = load("settlement/demo-county-2025.claims.json")
    expected_text = (FIXTURES / "settlement/demo-county-2025.expected.json").read_text("utf-8")
    got = json.dumps(settle_claims(pol, claims), ensure_ascii=False, indent=1)
    assert json.loads(got) == json.loads(expected_text)
    # key order of each object and of payouts (policy order) is part of the shape
    for g, e in zip(json.loads(got), json.loads(expected_text)):
        assert list(g) == list(e) and list(g["payouts"]) == list(e["payouts"])


def test_golden_with_amounts_as_json_numbers():
    # The contract: inputs may be JSON numbers or strings.
    pol = load("policies/demo-county-2025.json")
    claims = load("settlement/demo-county-2025.claims.json")
    for e in claims["encounters"]:
        for f in ("total_cost", "in_policy_cost"):
            if f in e:
                e[f] = float(e[f]) if "." in e[f] and not e[f].endswith(".00") else int(Decimal(e[f]))
    assert settle_claims(pol, claims) == load("settlement/demo-county-2025.expected.json")


def test_golden_through_objects_api():
    pol = compile_policy(load("policies/demo-county-2025.json"))
    claims = load("settlement/demo-county-2025.claims.json")
    expected = load("settlement/demo-county-2025.expected.json")
    out = settle(pol, parse_members(claims["members"]), parse_encounters(claims["encounters"]))
    assert [s.as_dict() for s in out] == expected
    a2 = out[1]
    assert a2.ref == "A-2"
    assert a2.payouts == {
        "basic": Decimal("40387.50"),
        "catastrophic": Decimal("0.00"),
        "medical_aid": Decimal("1959.38"),
        "backstop": Decimal("1303.12"),
    }
    assert list(a2.payouts) == ["basic", "catastrophic", "medical_aid", "backstop"]
    assert a2.total_cost == Decimal("48500.00") and a2.self_pay == Decimal("4850.00")
    assert a2.in_policy_self_pay == Decimal("1350.00")
    assert a2.out_of_policy_self_pay == Decimal("3500.00")
    assert isinstance(a2.self_pay, Decimal) and str(a2.payouts["catastrophic"]) == "0.00"


def test_compiled_policy_exposes_tiers_with_funds():
    pol = compile_policy(load("policies/demo-county-2025.json"))
    assert isinstance(pol, CompiledPolicy)
    assert (pol.code, pol.year) == ("demo-county-2025", 2025)
    assert pol.name.startswith("示范县")
    assert [t.key for t in pol.tiers] == ["basic", "catastrophic", "medical_aid", "backstop"]
    assert [t.kind for t in pol.tiers] == [
        "basic_insurance",
        "catastrophic_insurance",
        "medical_aid",
        "backstop",
    ]
    assert pol.tiers[3].fund == "县级健康扶贫兜底资金"
    assert pol.tiers[0].name == "城乡居民基本医疗保险"


def test_compiled_policy_reused_and_document_unchanged():
    doc = load("policies/demo-county-2025.json")
    before = copy.deepcopy(doc)
    pol = compile_policy(doc)
    claims = load("settlement/demo-county-2025.claims.json")
    expected = load("settlement/demo-county-2025.expected.json")
    assert settle_claims(pol, claims) == expected
    assert settle_claims(pol, claims) == expected  # accumulators start at zero per call
    assert doc == before and pol.document == before


# ---------------------------------------------------------------------------- rate functions

BANDS = [[10000, 0.5], [20000, 0.6], [None, 0.7]]


@pytest.mark.parametrize(
    "mode, in_policy, expected",
    [
        # deductible 1000 → x = in_policy − 1000
        # progressive: x=25000 → 10000×0.5 + 10000×0.6 + 5000×0.7 = 5000 + 6000 + 3500
        ("progressive", "26000.00", "14500.00"),
        # bracket: the whole 25000 at the band containing it (0.7)
        ("bracket", "26000.00", "17500.00"),
        # x = 10000 exactly is in the first band (x ≤ UPPER): 10000 × 0.5
        ("bracket", "11000.00", "5000.00"),
        # x = 10000.01 is in the second band: 10000.01 × 0.6 = 6000.006 → 6000.01
        ("bracket", "11000.01", "6000.01"),
        # progressive at the same point: 5000 + 0.01×0.6 = 5000.006 → 5000.01
        ("progressive", "11000.01", "5000.01"),
        # x ≤ 0 pays nothing
        ("progressive", "900.00", "0.00"),
    ],
)
def test_bands_progressive_vs_bracket(mode, in_policy, expected):
    t = tier(deductible={"per": "encounter", "amount": 1000}, rate={"bands": BANDS, "mode": mode})
    assert paid(policy(t), [enc("e", in_policy)]) == [expected]


@pytest.mark.parametrize(
    "bands, measure, expected",
    [
        # deductible 12000, in_policy 50000 → 38000 above the deductible.
        # cumulative ("1.2万–3万元部分 60%"): uppers shift down by 12000 → [[18000, .6], [null, .7]]
        # 18000×0.6 + 20000×0.7 = 10800 + 14000
        ([[30000, 0.6], [None, 0.7]], "cumulative", "24800.00"),
        # above_deductible: 30000×0.6 + 8000×0.7 = 18000 + 5600
        ([[30000, 0.6], [None, 0.7]], "above_deductible", "23600.00"),
        # a band wholly below the deductible is dropped (5000 < 12000), same result
        ([[5000, 0.9], [30000, 0.6], [None, 0.7]], "cumulative", "24800.00"),
        # a band ending exactly at the deductible lies wholly below it too
        ([[12000, 0.9], [30000, 0.6], [None, 0.7]], "cumulative", "24800.00"),
        # default measure is above_deductible
        ([[30000, 0.6], [None, 0.7]], None, "23600.00"),
    ],
)
def test_cumulative_measure_shifts_uppers(bands, measure, expected):
    rate = {"bands": bands, "mode": "progressive"}
    if measure:
        rate["measure"] = measure
    t = tier(deductible={"per": "encounter", "amount": 12000}, rate=rate)
    assert paid(policy(t), [enc("e", "50000.00")]) == [expected]


def test_cumulative_bracket_uses_band_of_amount_counted_from_zero():
    # d=12000, in_policy 25000: counted from zero 25000 is in the band ≤ 30000 (0.6);
    # paid on the 13000 above the deductible: 13000 × 0.6 = 7800
    t = tier(
        deductible={"per": "encounter", "amount": 12000},
        rate={"bands": [[20000, 0.5], [30000, 0.6], [None, 0.7]], "mode": "bracket", "measure": "cumulative"},
    )
    assert paid(policy(t), [enc("e", "25000.00")]) == ["7800.00"]


def test_cumulative_bands_shift_by_repeated_deductible():
    # d=10000, repeat_factor 0.5 → 5000 on the second stay. Bands cumulative [[20000,.5],[null,1]].
    # 1st: shift by 10000 → [[10000,.5],[null,1]], x=15000 → 5000 + 5000 = 10000
    # 2nd: shift by 5000 → [[15000,.5],[null,1]], x=20000 → 7500 + 5000 = 12500
    t = tier(
        deductible={"per": "encounter", "amount": 10000, "repeat_factor": 0.5},
        rate={"bands": [[20000, 0.5], [None, 1]], "measure": "cumulative"},
    )
    assert paid(
        policy(t), [enc("a", "25000.00", date="2025-01-01"), enc("b", "25000.00", date="2025-02-01")]
    ) == ["10000.00", "12500.00"]


def test_rate_by_level_and_unlisted_level_pays_zero():
    t = tier(rate={"by_level": {"county": 0.8, "city": 0.7}}, rate_bonus=0.1)
    # county 1000 × (0.8+0.1); city 1000 × 0.8; village is not listed → 0 (no bonus either)
    assert paid(
        policy(t),
        [enc("a", 1000, level="county"), enc("b", 1000, level="city"), enc("c", 1000, level="village")],
    ) == ["900.00", "800.00", "0.00"]


def test_rate_bonus_result_at_most_one():
    # bands [[1000,0.95],[null,0.5]] + bonus 0.1 → rates 1.0 (not 1.05) and 0.6
    # x=2000: 1000×1.0 + 1000×0.6 = 1600 (1650 if the bonus were not capped)
    t = tier(rate={"bands": [[1000, 0.95], [None, 0.5]]}, rate_bonus=0.1)
    assert paid(policy(t), [enc("e", 2000)]) == ["1600.00"]


@pytest.mark.parametrize(
    "rate, amount, expected",
    [
        ("0.5", "0.01", "0.01"),  # 0.005 → half up → 0.01 (banker's would give 0.00)
        ("0.05", "12345.67", "617.28"),  # 617.2835 → 617.28
        ("0.65", "100.10", "65.07"),  # 65.065 exactly → 65.07 (float math gives 65.06)
        ("0.125", "0.04", "0.01"),  # 0.005 → 0.01
        ("0.333333", "1000.00", "333.33"),  # 333.333 → 333.33
    ],
)
def test_rounding_half_up_exact(rate, amount, expected):
    assert paid(policy(flat(rate)), [enc("e", amount)]) == [expected]


# ---------------------------------------------------------------------------- deductibles


def test_deductible_by_level_wins_for_its_level():
    t = flat(0.5, deductible={"per": "encounter", "amount": 100, "by_level": {"county": 500}})
    # county: (2000 − 500) × 0.5 = 750; township: (2000 − 100) × 0.5 = 950
    assert paid(policy(t), [enc("a", 2000, level="county"), enc("b", 2000, level="township")]) == [
        "750.00",
        "950.00",
    ]


def test_deductible_by_level_without_amount_is_zero_elsewhere():
    t = flat(1, deductible={"per": "encounter", "by_level": {"county": 500}})
    assert paid(policy(t), [enc("a", 2000, level="city")]) == ["2000.00"]


def test_repeat_factor_from_second_encounter_of_year():
    t = flat(1, deductible={"per": "encounter", "amount": 500, "repeat_factor": 0.5})
    # 1st: 2000 − 500; 2nd and 3rd: 2000 − 250
    assert paid(
        policy(t),
        [
            enc("a", 2000, date="2025-01-05"),
            enc("b", 2000, date="2025-02-05"),
            enc("c", 2000, date="2025-03-05"),
        ],
    ) == ["1500.00", "1750.00", "1750.00"]


def test_repeat_factor_deductible_rounded_to_cent():
    # 333.33 × 0.5 = 166.665 → 166.67; second stay 1000 − 166.67 = 833.33
    t = flat(1, deductible={"per": "encounter", "amount": "333.33", "repeat_factor": 0.5})
    assert paid(policy(t), [enc("a", 1000, date="2025-01-05"), enc("b", 1000, date="2025-02-05")]) == [
        "666.67",
        "833.33",
    ]


def test_repeat_factor_zero_waives_later_deductibles():
    t = flat(1, deductible={"per": "encounter", "amount": 500, "repeat_factor": 0})
    assert paid(policy(t), [enc("a", 2000, date="2025-01-05"), enc("b", 2000, date="2025-02-05")]) == [
        "1500.00",
        "2000.00",
    ]


def test_repeat_factor_counts_only_encounters_the_tier_applied_to():
    t = flat(
        1,
        deductible={"per": "encounter", "amount": 500, "repeat_factor": 0.5},
        applies_to={"kinds": ["inpatient"]},
    )
    # the outpatient visit does not apply → the stay is still the first: 2000 − 500
    assert paid(
        policy(t), [enc("a", 300, date="2025-01-05", kind="outpatient"), enc("b", 2000, date="2025-02-05")]
    ) == ["0.00", "1500.00"]


def test_repeat_factor_counts_package_encounters():
    t = flat(
        1,
        deductible={"per": "encounter", "amount": 500, "repeat_factor": 0.5},
        packages={"K35": {"name": "appendicitis", "fund_pays": 1000}},
    )
    # package stay pays 1000 and counts; the next stay has deductible 250: 2000 − 250
    assert paid(
        policy(t), [enc("a", 3000, date="2025-01-05", package="K35"), enc("b", 2000, date="2025-02-05")]
    ) == ["1000.00", "1750.00"]


def test_per_year_deductible_across_encounters():
    t = flat(0.5, deductible={"per": "year", "amount": 1000})
    # 1st: 600 below the deductible → 0 (A.base = 600)
    # 2nd: g(600+1000−1000) − g(0) = 600 × 0.5 = 300 (A.base = 1600)
    # 3rd: g(1600+500−1000) − g(600) = (1100 − 600) × 0.5 = 250
    assert paid(
        policy(t),
        [
            enc("a", 600, date="2025-01-05"),
            enc("b", 1000, date="2025-02-05"),
            enc("c", 500, date="2025-03-05"),
        ],
    ) == ["0.00", "300.00", "250.00"]


def test_per_year_progressive_bands_continue_across_encounters():
    t = tier(deductible={"per": "year", "amount": 0}, rate={"bands": [[1000, 0.5], [None, 0.8]]})
    # 1st: 800 × 0.5 = 400; 2nd: g(1600) − g(800) = (500 + 600×0.8) − 400 = 580
    assert paid(policy(t), [enc("a", 800, date="2025-01-05"), enc("b", 800, date="2025-02-05")]) == [
        "400.00",
        "580.00",
    ]


def test_per_year_rounds_the_difference_once():
    # 0.125 × 0.04 … each encounter: g(A+x) − g(A), rounded once.
    # 1st: 0.04 × 0.125 = 0.005 → 0.01; 2nd: (0.08 − 0.04) × 0.125 = 0.005 → 0.01
    t = flat("0.125", deductible={"per": "year", "amount": 0})
    assert paid(policy(t), [enc("a", "0.04", date="2025-01-05"), enc("b", "0.04", date="2025-02-05")]) == [
        "0.01",
        "0.01",
    ]


def test_year_boundary_resets_accumulators():
    t = flat(1, deductible={"per": "year", "amount": 1000}, cap={"per_year": 800})
    # 2025: 1500 − 1000 = 500; 2026 starts again: 500 (not 1500), cap room is fresh
    out = paid(
        policy(t),
        [
            enc("a", 1500, date="2025-12-31"),
            enc("b", 1500, date="2026-01-01"),
            enc("c", 1500, date="2026-06-01"),
        ],
    )
    # 2026 2nd: A.base 1500 → g(2000) − g(500) = 1500, capped by 800 − 500 = 300
    assert out == ["500.00", "500.00", "300.00"]


def test_year_boundary_resets_repeat_count():
    t = flat(1, deductible={"per": "encounter", "amount": 500, "repeat_factor": 0.5})
    assert paid(policy(t), [enc("a", 2000, date="2025-12-30"), enc("b", 2000, date="2026-01-02")]) == [
        "1500.00",
        "1500.00",
    ]


# ---------------------------------------------------------------------------- caps and packages


def test_cap_per_encounter():
    t = flat(1, cap={"per_encounter": 1000})
    assert paid(policy(t), [enc("a", 5000), enc("b", 800)]) == ["1000.00", "800.00"]


def test_cap_per_year():
    t = flat(1, cap={"per_year": 3000})
    # 1200, 1200, then room 600
    assert paid(
        policy(t),
        [
            enc("a", 1200, date="2025-01-01"),
            enc("b", 1200, date="2025-02-01"),
            enc("c", 1200, date="2025-03-01"),
            enc("d", 1200, date="2025-04-01"),
        ],
    ) == ["1200.00", "1200.00", "600.00", "0.00"]


def test_cap_applies_after_rounding():
    # 0.5 × 2000.01 = 1000.005 → 1000.01, then the 1000.00 cap
    t = flat(0.5, cap={"per_encounter": 1000})
    assert paid(policy(t), [enc("a", "2000.01")]) == ["1000.00"]


def test_cap_per_year_already_exceeded_pays_zero_not_negative():
    # non-designated override lowers the yearly cap to 1000 after 1500 was paid
    t = flat(
        1,
        cap={"per_year": 5000},
        overrides=[{"when": {"designated": False}, "set": {"cap": {"per_year": 1000}}}],
    )
    assert paid(
        policy(t), [enc("a", 1500, date="2025-01-01"), enc("b", 700, date="2025-02-01", designated=False)]
    ) == ["1500.00", "0.00"]


def test_packages_pay_fixed_amount_limited_by_base_and_caps():
    pkgs = {"K35": {"name": "急性阑尾炎", "fund_pays": 2400}}
    t = flat(0.5, deductible={"per": "encounter", "amount": 500}, packages=pkgs)
    assert paid(
        policy(t),
        [
            enc("a", 5000, package="K35"),  # fund_pays instead of (5000−500)×0.5
            enc("b", 2000, package="K35"),  # the base limits it: only 2000 in policy
            enc("c", 5000, package="O80"),  # not a package of this tier: (5000−500)×0.5
            enc("d", 5000, "3000.00", package="K35"),  # in_policy base 3000 ≥ 2400
        ],
    ) == ["2400.00", "2000.00", "2250.00", "2400.00"]
    capped = flat(0.5, packages=pkgs, cap={"per_encounter": 2000})
    assert paid(policy(capped), [enc("a", 5000, package="K35")]) == ["2000.00"]


# ---------------------------------------------------------------------------- overrides

OVR = [
    {"when": {"poverty_statuses": ["poor"]}, "set": {"rate": {"flat": 0.6}}},
    {"when": {"aid_categories": ["dibao"]}, "set": {"rate": {"flat": 0.8}}},
]


@pytest.mark.parametrize(
    "poverty, aid, expected",
    [
        ("none", "none", "500.00"),  # no override: 1000 × 0.5
        ("poor", "none", "600.00"),  # first override
        ("none", "dibao", "800.00"),  # second override
        ("poor", "dibao", "800.00"),  # both match: the last one wins
    ],
)
def test_overrides_last_matching_wins(poverty, aid, expected):
    t = flat(0.5, overrides=OVR)
    assert paid(policy(t), [enc("e", 1000)], {"M": member(poverty, aid)}) == [expected]


def test_overrides_last_wins_even_if_less_favourable():
    t = flat(0.5, overrides=list(reversed(OVR)))
    # poor+dibao: the 0.6 override is now last → 600, not the better 800 (就高 is the writer's job)
    assert paid(policy(t), [enc("e", 1000)], {"M": member("poor", "dibao")}) == ["600.00"]


def test_override_replaces_the_whole_field():
    t = flat(
        1,
        deductible={"per": "encounter", "amount": 500},
        overrides=[
            {
                "when": {"poverty_statuses": ["poor"]},
                "set": {"deductible": {"per": "encounter", "by_level": {"city": 100}}},
            }
        ],
    )
    # poor at county: the new deductible has no amount → 0 (not the tier's 500): pays 2000
    # poor at city: 2000 − 100; not poor at county: 2000 − 500
    members = {"P": member("poor"), "N": member()}
    assert paid(
        policy(t),
        [enc("a", 2000, member="P"), enc("b", 2000, member="P", level="city"), enc("c", 2000, member="N")],
        members,
    ) == ["2000.00", "1900.00", "1500.00"]


def test_override_fields_combine_across_overrides():
    # 1st sets rate_bonus, 2nd sets rate: both stay (each replaces only its field)
    t = flat(
        0.5,
        overrides=[
            {"when": {"poverty_statuses": ["poor"]}, "set": {"rate_bonus": 0.1}},
            {"when": {"kinds": ["inpatient"]}, "set": {"rate": {"flat": 0.6}}},
        ],
    )
    # 1000 × (0.6 + 0.1)
    assert paid(policy(t), [enc("e", 1000)], {"M": member("poor")}) == ["700.00"]


@pytest.mark.parametrize(
    "when, extra, matches",
    [
        ({"designated": False}, {"designated": False}, True),
        ({"designated": False}, {}, False),  # designated defaults to true
        ({"referred": False}, {"referred": False}, True),
        ({"referred": [True, False]}, {}, True),
        ({"levels": ["city", "province"]}, {"level": "city"}, True),
        ({"kinds": ["outpatient"]}, {}, False),
        ({"disease_codes": ["C16", "C34"]}, {"disease_code": "C16.9"}, True),
        ({"disease_codes": ["C16"]}, {"disease_code": "c16.9"}, True),  # case-insensitive
        ({"disease_codes": ["C16"]}, {"disease_code": "C18.0"}, False),
        ({"disease_codes": ["C16"]}, {}, False),  # no disease code: no match
        ({"levels": ["county"], "kinds": ["outpatient"]}, {}, False),  # AND
    ],
)
def test_conditions(when, extra, matches):
    t = flat(0.5, overrides=[{"when": when, "set": {"rate": {"flat": 0.9}}}])
    kw = dict(extra)
    level = kw.pop("level", "county")
    assert paid(policy(t), [enc("e", 1000, level=level, **kw)]) == ["900.00" if matches else "500.00"]


def test_applies_to_failing_pays_zero_and_leaves_accumulators_alone():
    t = flat(1, deductible={"per": "year", "amount": 1000}, applies_to={"kinds": ["inpatient"]})
    # the outpatient visit does not count toward the yearly deductible: 1500 − 1000 = 500
    # (1300 if A.base had picked up the 800)
    assert paid(
        policy(t), [enc("a", 800, date="2025-01-05", kind="outpatient"), enc("b", 1500, date="2025-02-05")]
    ) == ["0.00", "500.00"]


def test_bracket_and_per_year_from_two_overrides_follows_the_algorithm():
    # Each override alone is valid (checked), together they give a bracket rate with a
    # per-year deductible of 1000; the engine then just applies g(A+x−d) − g(A−d).
    t = flat(
        0.5,
        overrides=[
            {"when": {"poverty_statuses": ["poor"]}, "set": {"deductible": {"per": "year", "amount": 1000}}},
            {
                "when": {"aid_categories": ["dibao"]},
                "set": {"rate": {"bands": [[2000, 0.5], [None, 0.8]], "mode": "bracket"}},
            },
        ],
    )
    doc = policy(t)
    assert validate_policy(doc) == []
    # 1st 1500: g(500) − g(0) = 250; 2nd 2000: g(2500) − g(500) = 2000 − 250 = 1750
    assert paid(
        doc,
        [enc("a", 1500, date="2025-01-01"), enc("b", 2000, date="2025-02-01")],
        {"M": member("poor", "dibao")},
    ) == ["250.00", "1750.00"]


# ---------------------------------------------------------------------------- base and order


def test_base_total_vs_in_policy():
    # total 10000, in-policy 8000
    assert paid(policy(flat(1, base="total")), [enc("e", 10000, 8000)]) == ["10000.00"]
    assert paid(policy(flat(1)), [enc("e", 10000, 8000)]) == ["8000.00"]


def test_payout_taken_from_in_policy_first_then_rest():
    # tier a (base total, 0.5): 5000 from the 8000 in-policy → R_in 3000, R_out 2000
    # tier b (in_policy, 1.0): 3000 → self-pay 2000, all out of policy
    pol = policy(flat(0.5, key="a", base="total"), flat(1, key="b"))
    r = run(pol, [enc("e", 10000, 8000)])[0]
    assert r["payouts"] == {"a": "5000.00", "b": "3000.00"}
    assert (r["self_pay"], r["in_policy_self_pay"], r["out_of_policy_self_pay"]) == (
        "2000.00",
        "0.00",
        "2000.00",
    )
    # base total paying more than the in-policy cost eats into the out-of-list cost:
    # a: 0.9 × 10000 = 9000 → R_in 0, R_out 1000
    r = run(policy(flat(0.9, key="a", base="total")), [enc("e", 10000, 8000)])[0]
    assert (r["in_policy_self_pay"], r["out_of_policy_self_pay"]) == ("0.00", "1000.00")


def test_in_policy_cost_defaults_to_total():
    r = run(policy(flat(0.5)), [enc("e", "300.00")])[0]
    assert r == {
        "ref": "e",
        "total_cost": "300.00",
        "payouts": {"t": "150.00"},
        "self_pay": "150.00",
        "in_policy_self_pay": "150.00",
        "out_of_policy_self_pay": "0.00",
    }


def test_date_order_not_input_order_and_output_in_input_order():
    t = flat(1, deductible={"per": "year", "amount": 1000})
    # "late" is listed first but settled second: early 1500 − 1000 = 500; late 1500
    out = run(policy(t), [enc("late", 1500, date="2025-06-01"), enc("early", 1500, date="2025-01-01")])
    assert [(r["ref"], r["payouts"]["t"]) for r in out] == [("late", "1500.00"), ("early", "500.00")]


def test_same_day_ties_in_input_order():
    t = flat(1, deductible={"per": "year", "amount": 1000})
    assert paid(policy(t), [enc("x", 1500), enc("y", 1200)]) == ["500.00", "1200.00"]
    assert paid(policy(t), [enc("y", 1200), enc("x", 1500)]) == ["200.00", "1500.00"]


def test_accumulators_are_per_member():
    t = flat(1, deductible={"per": "year", "amount": 1000})
    members = {"A": member(), "B": member()}
    assert paid(policy(t), [enc("a", 1500, member="A"), enc("b", 1500, member="B")], members) == [
        "500.00",
        "500.00",
    ]


# ---------------------------------------------------------------------------- backstop


def test_backstop_self_pay_cap_per_year():
    # basic 0.5 of in-policy; backstop keeps the yearly counted self-pay ≤ 3000
    pol = policy(flat(0.5, key="basic"), backstop(self_pay_cap={"per": "year", "amount": 3000}))
    out = run(
        pol,
        [
            enc("a", 4000, date="2025-01-01"),
            enc("b", 4000, date="2025-02-01"),
            enc("c", 1000, date="2025-03-01"),
            enc("d", 1000, date="2026-01-01"),
        ],
    )
    # a: basic 2000, self-pay 2000 ≤ 3000 → 0   (A.base = 2000)
    # b: basic 2000, 2000 + 2000 − 3000 = 1000  (A.base = 3000)
    # c: basic 500, 3000 + 500 − 3000 = 500     (A.base = 3000)
    # d: new year: basic 500, 500 ≤ 3000 → 0
    assert [r["payouts"]["bs"] for r in out] == ["0.00", "1000.00", "500.00", "0.00"]
    assert [r["self_pay"] for r in out] == ["2000.00", "1000.00", "0.00", "500.00"]


def test_backstop_counts_only_the_self_pay_left_after_it():
    # ratio cap 0.1 at county only; yearly cap 3000 everywhere; basic 0.5 of in-policy
    pol = policy(
        flat(0.5, key="basic"),
        backstop(
            self_pay_cap={"per": "year", "amount": 3000},
            overrides=[{"when": {"levels": ["county"]}, "set": {"self_pay_ratio_cap": 0.1}}],
        ),
    )
    out = run(pol, [enc("a", 10000, date="2025-01-01"), enc("b", 5000, date="2025-02-01", level="city")])
    # a: self-pay 5000; ratio: 5000 − 1000 = 4000, year cap: 5000 − 3000 = 2000 → pays 4000,
    #    counted self-pay A.base = 5000 − 4000 = 1000
    # b: self-pay 2500; year cap: 1000 + 2500 − 3000 = 500 (2500 if A.base had counted 5000)
    assert [r["payouts"]["bs"] for r in out] == ["4000.00", "500.00"]
    assert [r["self_pay"] for r in out] == ["1000.00", "2000.00"]


def test_backstop_self_pay_cap_per_encounter_and_by_level():
    pol = policy(
        flat(0.5, key="basic"),
        backstop(self_pay_cap={"per": "encounter", "amount": 3000, "by_level": {"city": 1000}}),
    )
    out = run(
        pol,
        [
            enc("a", 4000, date="2025-01-01"),
            enc("b", 10000, date="2025-02-01"),
            enc("c", 4000, date="2025-03-01", level="city"),
        ],
    )
    # a: 2000 − 3000 < 0 → 0; b: 5000 − 3000 = 2000; c (city cap 1000): 2000 − 1000 = 1000
    assert [r["payouts"]["bs"] for r in out] == ["0.00", "2000.00", "1000.00"]


def test_backstop_without_amount_for_level_pays_nothing():
    pol = policy(
        flat(0.5, key="basic"), backstop(self_pay_cap={"per": "encounter", "by_level": {"city": 1000}})
    )
    assert paid(pol, [enc("a", 4000, level="county")], key="bs") == ["0.00"]


def test_backstop_ratio_cap_of_total_and_of_in_policy():
    # total 10000, in-policy 8000; basic 0.5 → 4000; R_in 4000, R_out 2000
    basic = flat(0.5, key="basic")
    # of total: 6000 − 0.1×10000 = 5000, clamped to base_now (R_in 4000) → 4000; self-pay 2000
    r = run(policy(basic, backstop(self_pay_ratio_cap=0.1)), [enc("e", 10000, 8000)])[0]
    assert (r["payouts"]["bs"], r["self_pay"]) == ("4000.00", "2000.00")
    # of total with base total: 5000 → self-pay exactly 10% of total = 1000
    r = run(policy(basic, backstop(self_pay_ratio_cap=0.1, base="total")), [enc("e", 10000, 8000)])[0]
    assert (r["payouts"]["bs"], r["self_pay"], r["in_policy_self_pay"]) == ("5000.00", "1000.00", "0.00")
    # of in_policy: 4000 − 0.1×8000 = 3200 → in-policy self-pay 800, out-of-list 2000 stays
    r = run(
        policy(basic, backstop(self_pay_ratio_cap=0.1, self_pay_ratio_of="in_policy")),
        [enc("e", 10000, 8000)],
    )[0]
    assert (r["payouts"]["bs"], r["in_policy_self_pay"], r["out_of_policy_self_pay"]) == (
        "3200.00",
        "800.00",
        "2000.00",
    )


def test_backstop_ratio_cap_rounds_half_up():
    # 0.15 × 3333.33 = 499.9995 → 500.00; backstop pays 3333.33 − 500.00 = 2833.33
    r = run(policy(backstop(self_pay_ratio_cap=0.15)), [enc("e", "3333.33")])[0]
    assert (r["payouts"]["bs"], r["self_pay"]) == ("2833.33", "500.00")


def test_backstop_takes_the_larger_of_both_caps():
    # in-policy 10000, nothing before; ratio 0.1 → 9000; year cap 500 → 9500: the larger wins
    r = run(
        policy(backstop(self_pay_ratio_cap=0.1, self_pay_cap={"per": "year", "amount": 500})),
        [enc("e", 10000)],
    )[0]
    assert (r["payouts"]["bs"], r["self_pay"]) == ("9500.00", "500.00")


def test_backstop_cap_from_override_only():
    t = backstop(
        overrides=[
            {"when": {"kinds": ["inpatient"]}, "set": {"self_pay_cap": {"per": "encounter", "amount": 100}}}
        ]
    )
    assert validate_policy(policy(t)) == []
    assert paid(policy(t), [enc("a", 1000), enc("b", 1000, kind="outpatient")], key="bs") == [
        "900.00",
        "0.00",
    ]


def test_backstop_not_applying_leaves_its_yearly_self_pay_alone():
    pol = policy(backstop(applies_to={"kinds": ["inpatient"]}, self_pay_cap={"per": "year", "amount": 1000}))
    # outpatient 900 not counted; stay 1500: 1500 − 1000 = 500 (1400 if the 900 counted)
    assert paid(
        pol,
        [enc("a", 900, date="2025-01-01", kind="outpatient"), enc("b", 1500, date="2025-02-01")],
        key="bs",
    ) == ["0.00", "500.00"]


# ---------------------------------------------------------------------------- objects API


def test_encounter_built_directly_with_decimals():
    pol = compile_policy(policy(flat(0.5)))
    e = Encounter(
        ref="x",
        member="M",
        date=datetime.date(2025, 5, 1),
        kind="inpatient",
        level="county",
        total_cost=Decimal("1000.00"),
        in_policy_cost=Decimal("800"),
    )
    (s,) = settle(pol, {"M": Member(poverty_status="none", aid_category="none")}, [e])
    assert isinstance(s, Settlement)
    assert s.payouts == {"t": Decimal("400.00")}
    assert s.self_pay == Decimal("600.00") and s.out_of_policy_self_pay == Decimal("200.00")
    e2 = Encounter(
        ref="y",
        member="M",
        date=datetime.date(2025, 5, 1),
        kind="inpatient",
        level="county",
        total_cost=Decimal("10"),
    )
    assert e2.in_policy_cost == Decimal("10") and e2.designated and e2.referred


@pytest.mark.parametrize(
    "kw",
    [
        {"total_cost": Decimal("-1")},
        {"total_cost": Decimal("1.001")},
        {"in_policy_cost": Decimal("2000")},
        {"kind": "emergency"},
        {"level": "town"},
        {"total_cost": 1.5},
        {"designated": "yes"},
    ],
)
def test_encounter_constructor_refuses_bad_values(kw):
    base = dict(
        ref="x",
        member="M",
        date=datetime.date(2025, 5, 1),
        kind="inpatient",
        level="county",
        total_cost=Decimal("1000"),
    )
    with pytest.raises(ValueError):
        Encounter(**{**base, **kw})


def test_settlement_from_amounts_round_trip():
    s = Settlement.from_amounts(
        "r", Decimal("100.00"), {"a": Decimal("60.50"), "b": Decimal("0")}, Decimal("9.50"), Decimal("30")
    )
    assert s.as_dict() == {
        "ref": "r",
        "total_cost": "100.00",
        "payouts": {"a": "60.50", "b": "0.00"},
        "self_pay": "39.50",
        "in_policy_self_pay": "9.50",
        "out_of_policy_self_pay": "30.00",
    }


def test_settle_unknown_member_is_a_claims_error():
    pol = compile_policy(policy(flat(0.5)))
    e = parse_encounters([enc("a", 10, member="Z")])
    with pytest.raises(ClaimsError) as ei:
        settle(pol, {}, e)
    assert ei.value.errors == ["encounters[0].member：没有这个成员 'Z'"]


# ---------------------------------------------------------------------------- policy validation


def good():
    """A valid policy touching most fields; mutated by the refusal tests."""
    return policy(
        tier(
            "basic",
            deductible={"per": "encounter", "amount": 500, "repeat_factor": 0.5},
            rate={"flat": 0.8},
            cap={"per_year": 100000},
            packages={"K35": {"name": "阑尾炎", "fund_pays": 2400}},
            overrides=[{"when": {"poverty_statuses": ["poor"]}, "set": {"rate_bonus": 0.1}}],
        ),
        tier(
            "cat",
            "catastrophic_insurance",
            deductible={"per": "year", "amount": 15000},
            rate={"bands": [[50000, 0.6], [100000, 0.7], [None, 0.8]], "mode": "progressive"},
        ),
        backstop("bs", self_pay_cap={"per": "year", "amount": 3000}),
    )


def errors_of(mutate):
    doc = good()
    mutate(doc)
    return validate_policy(doc)


def test_good_policy_and_demo_policy_are_valid():
    assert validate_policy(good()) == []
    assert validate_policy(load("policies/demo-county-2025.json")) == []


REFUSALS = [
    # (description, mutation, expected error path)
    ("rate above 1", lambda d: d["tiers"][0]["rate"].update(flat=1.2), "tiers[0].rate.flat"),
    ("rate below 0", lambda d: d["tiers"][0]["rate"].update(flat=-0.1), "tiers[0].rate.flat"),
    (
        "band rate above 1",
        lambda d: d["tiers"][1]["rate"]["bands"][1].__setitem__(1, 1.5),
        "tiers[1].rate.bands[1][1]",
    ),
    ("rate_bonus above 1", lambda d: d["tiers"][0].update(rate_bonus=2), "tiers[0].rate_bonus"),
    ("rate not a number", lambda d: d["tiers"][0]["rate"].update(flat="lots"), "tiers[0].rate.flat"),
    (
        "negative deductible",
        lambda d: d["tiers"][0]["deductible"].update(amount=-1),
        "tiers[0].deductible.amount",
    ),
    ("negative cap", lambda d: d["tiers"][0]["cap"].update(per_year=-5), "tiers[0].cap.per_year"),
    (
        "negative package",
        lambda d: d["tiers"][0]["packages"]["K35"].update(fund_pays=-1),
        "tiers[0].packages.K35.fund_pays",
    ),
    (
        "negative band upper",
        lambda d: d["tiers"][1]["rate"]["bands"][0].__setitem__(0, -1),
        "tiers[1].rate.bands[0][0]",
    ),
    (
        "negative self-pay cap",
        lambda d: d["tiers"][2]["self_pay_cap"].update(amount=-1),
        "tiers[2].self_pay_cap.amount",
    ),
    (
        "amount with three decimals",
        lambda d: d["tiers"][0]["deductible"].update(amount="1.005"),
        "tiers[0].deductible.amount",
    ),
    ("duplicate keys", lambda d: d["tiers"][1].update(key="basic"), "tiers[1].key"),
    (
        "bracket with per-year deductible",
        lambda d: d["tiers"][1]["rate"].update(mode="bracket"),
        "tiers[1].rate.mode",
    ),
    (
        "repeat_factor above 1",
        lambda d: d["tiers"][0]["deductible"].update(repeat_factor=1.5),
        "tiers[0].deductible.repeat_factor",
    ),
    (
        "repeat_factor below 0",
        lambda d: d["tiers"][0]["deductible"].update(repeat_factor=-0.5),
        "tiers[0].deductible.repeat_factor",
    ),
    (
        "repeat_factor on per-year",
        lambda d: d["tiers"][1]["deductible"].update(repeat_factor=0.5),
        "tiers[1].deductible.repeat_factor",
    ),
    ("backstop without caps", lambda d: d["tiers"][2].pop("self_pay_cap"), "tiers[2]"),
    ("non-backstop without rate", lambda d: d["tiers"][0].pop("rate"), "tiers[0].rate"),
    (
        "uppers must ascend",
        lambda d: d["tiers"][1]["rate"].update(
            bands=[[50000, 0.6], [70000, 0.7], [60000, 0.75], [None, 0.8]]
        ),
        "tiers[1].rate.bands[2]",
    ),
    (
        "equal uppers do not ascend",
        lambda d: d["tiers"][1]["rate"].update(bands=[[50000, 0.6], [50000, 0.7], [None, 0.8]]),
        "tiers[1].rate.bands[1]",
    ),
    (
        "last upper not null",
        lambda d: d["tiers"][1]["rate"].update(bands=[[50000, 0.6], [100000, 0.7]]),
        "tiers[1].rate.bands[1]",
    ),
    (
        "null upper before the last",
        lambda d: d["tiers"][1]["rate"].update(bands=[[None, 0.6], [None, 0.7]]),
        "tiers[1].rate.bands[0]",
    ),
    ("band not a pair", lambda d: d["tiers"][1]["rate"]["bands"].insert(0, [1000]), "tiers[1].rate.bands[0]"),
    ("empty bands", lambda d: d["tiers"][1]["rate"].update(bands=[]), "tiers[1].rate.bands"),
    ("two rate forms", lambda d: d["tiers"][0]["rate"].update(by_level={"county": 0.5}), "tiers[0].rate"),
    ("no rate form", lambda d: d["tiers"][0].update(rate={}), "tiers[0].rate"),
    ("mode on a flat rate", lambda d: d["tiers"][0]["rate"].update(mode="bracket"), "tiers[0].rate.mode"),
    ("unknown mode", lambda d: d["tiers"][1]["rate"].update(mode="stepped"), "tiers[1].rate.mode"),
    ("unknown measure", lambda d: d["tiers"][1]["rate"].update(measure="total"), "tiers[1].rate.measure"),
    ("unknown tier field", lambda d: d["tiers"][0].update(rates={}), "tiers[0].rates"),
    ("unknown top-level field", lambda d: d.update(version=2), "version"),
    (
        "unknown deductible field",
        lambda d: d["tiers"][0]["deductible"].update(amout=1),
        "tiers[0].deductible.amout",
    ),
    ("unknown cap field", lambda d: d["tiers"][0]["cap"].update(per_month=1), "tiers[0].cap.per_month"),
    (
        "unknown package field",
        lambda d: d["tiers"][0]["packages"]["K35"].update(price=1),
        "tiers[0].packages.K35.price",
    ),
    (
        "unknown condition",
        lambda d: d["tiers"][0].update(applies_to={"kind": ["inpatient"]}),
        "tiers[0].applies_to.kind",
    ),
    (
        "unknown condition value",
        lambda d: d["tiers"][0].update(applies_to={"kinds": ["inpatient", "icu"]}),
        "tiers[0].applies_to.kinds[1]",
    ),
    (
        "condition bool not bool",
        lambda d: d["tiers"][0].update(applies_to={"designated": "no"}),
        "tiers[0].applies_to.designated",
    ),
    (
        "empty condition list",
        lambda d: d["tiers"][0].update(applies_to={"levels": []}),
        "tiers[0].applies_to.levels",
    ),
    ("unknown tier kind", lambda d: d["tiers"][0].update(kind="basic"), "tiers[0].kind"),
    ("unknown base", lambda d: d["tiers"][0].update(base="all"), "tiers[0].base"),
    (
        "unknown deductible per",
        lambda d: d["tiers"][0]["deductible"].update(per="month"),
        "tiers[0].deductible.per",
    ),
    (
        "unknown level in rate",
        lambda d: d["tiers"][0].update(rate={"by_level": {"town": 0.5}}),
        "tiers[0].rate.by_level.town",
    ),
    (
        "unknown level in deductible",
        lambda d: d["tiers"][0]["deductible"].update(by_level={"town": 5}),
        "tiers[0].deductible.by_level.town",
    ),
    (
        "unknown self_pay_ratio_of",
        lambda d: d["tiers"][2].update(self_pay_ratio_of="x"),
        "tiers[2].self_pay_ratio_of",
    ),
    (
        "self_pay_cap per missing",
        lambda d: d["tiers"][2]["self_pay_cap"].pop("per"),
        "tiers[2].self_pay_cap.per",
    ),
    (
        "self_pay_cap without amount",
        lambda d: d["tiers"][2].update(self_pay_cap={"per": "year"}),
        "tiers[2].self_pay_cap",
    ),
    (
        "self_pay_cap on non-backstop",
        lambda d: d["tiers"][0].update(self_pay_cap={"per": "year", "amount": 1}),
        "tiers[0].self_pay_cap",
    ),
    (
        "self_pay_ratio_cap on non-backstop",
        lambda d: d["tiers"][0].update(self_pay_ratio_cap=0.1),
        "tiers[0].self_pay_ratio_cap",
    ),
    (
        "self_pay_ratio_cap outside [0,1]",
        lambda d: d["tiers"][2].update(self_pay_ratio_cap=1.1),
        "tiers[2].self_pay_ratio_cap",
    ),
    ("rate on a backstop", lambda d: d["tiers"][2].update(rate={"flat": 0.5}), "tiers[2].rate"),
    ("missing key", lambda d: d["tiers"][0].pop("key"), "tiers[0].key"),
    ("missing fund", lambda d: d["tiers"][0].pop("fund"), "tiers[0].fund"),
    ("missing code", lambda d: d.pop("code"), "code"),
    ("year not an integer", lambda d: d.update(year="2025"), "year"),
    ("no tiers", lambda d: d.update(tiers=[]), "tiers"),
    ("tier not an object", lambda d: d["tiers"].append("x"), "tiers[3]"),
    # overrides: each override's values, and the tier as each override alone would leave it
    (
        "override rate above 1",
        lambda d: d["tiers"][0]["overrides"].append({"when": {}, "set": {"rate": {"flat": 3}}}),
        "tiers[0].overrides[1].set.rate.flat",
    ),
    (
        "override bracket on a per-year tier",
        lambda d: d["tiers"][1].update(
            overrides=[
                {
                    "when": {"levels": ["city"]},
                    "set": {"rate": {"bands": [[1000, 0.5], [None, 0.6]], "mode": "bracket"}},
                }
            ]
        ),
        "tiers[1].overrides[0].set.rate.mode",
    ),
    (
        "override per-year deductible on a bracket tier",
        lambda d: (
            d["tiers"][0].update(rate={"bands": [[1000, 0.5], [None, 0.6]], "mode": "bracket"}),
            d["tiers"][0]["overrides"].append(
                {"when": {}, "set": {"deductible": {"per": "year", "amount": 1}}}
            ),
        ),
        "tiers[0].overrides[1].set.deductible.per",
    ),
    (
        "override repeat_factor on per-year",
        lambda d: d["tiers"][1].update(
            overrides=[
                {"when": {}, "set": {"deductible": {"per": "year", "amount": 1, "repeat_factor": 0.5}}}
            ]
        ),
        "tiers[1].overrides[0].set.deductible.repeat_factor",
    ),
    (
        "override sets a field that cannot be overridden",
        lambda d: d["tiers"][0]["overrides"].append({"when": {}, "set": {"key": "x"}}),
        "tiers[0].overrides[1].set.key",
    ),
    (
        "override sets an unknown field",
        lambda d: d["tiers"][0]["overrides"].append({"when": {}, "set": {"ratee": 1}}),
        "tiers[0].overrides[1].set.ratee",
    ),
    (
        "override without when",
        lambda d: d["tiers"][0]["overrides"].append({"set": {"rate_bonus": 0}}),
        "tiers[0].overrides[1].when",
    ),
    (
        "override with unknown condition value",
        lambda d: d["tiers"][0]["overrides"][0]["when"].update(poverty_statuses=["rich"]),
        "tiers[0].overrides[0].when.poverty_statuses[0]",
    ),
    (
        "override unknown field",
        lambda d: d["tiers"][0]["overrides"][0].update(unless={}),
        "tiers[0].overrides[0].unless",
    ),
    (
        "override backstop-only field on non-backstop",
        lambda d: d["tiers"][0]["overrides"].append({"when": {}, "set": {"self_pay_ratio_cap": 0.1}}),
        "tiers[0].overrides[1].set.self_pay_ratio_cap",
    ),
    (
        "override rate on a backstop",
        lambda d: d["tiers"][2].update(overrides=[{"when": {}, "set": {"rate": {"flat": 0.1}}}]),
        "tiers[2].overrides[0].set.rate",
    ),
    (
        "override sets rate to null",
        lambda d: d["tiers"][0]["overrides"].append({"when": {}, "set": {"rate": None}}),
        "tiers[0].overrides[1].set.rate",
    ),
]


@pytest.mark.parametrize("why, mutate, path", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_policy_refusals_name_the_path(why, mutate, path):
    errs = errors_of(mutate)
    assert errs, f"not refused: {why}"
    assert any(e.split("：", 1)[0] == path for e in errs), errs
    with pytest.raises(PolicyError) as ei:
        doc = good()
        mutate(doc)
        compile_policy(doc)
    assert ei.value.errors == errs
    assert str(ei.value) == "; ".join(errs)


def test_policy_error_messages_exact():
    doc = good()
    doc["tiers"][1]["rate"]["bands"] = [[50000, 0.6], [70000, 0.7], [60000, 0.75], [None, 0.8]]
    doc["tiers"][1]["key"] = "basic"
    doc["tiers"][0]["deductible"]["amount"] = -1
    assert validate_policy(doc) == [
        "tiers[0].deductible.amount：不能为负数",
        "tiers[1].key：key 'basic' 重复（与 tiers[0] 相同）",
        "tiers[1].rate.bands[2]：分段上限必须递增",
    ]


def test_backstop_cap_only_in_override_is_enough():
    doc = good()
    bs = doc["tiers"][2]
    bs.pop("self_pay_cap")
    bs["overrides"] = [{"when": {"levels": ["county"]}, "set": {"self_pay_ratio_cap": 0.1}}]
    assert validate_policy(doc) == []


def test_null_cap_in_override_is_allowed_and_removes_cap():
    # as in the demo policy: the poor have no catastrophic yearly cap
    t = flat(
        1,
        cap={"per_year": 100},
        overrides=[{"when": {"poverty_statuses": ["poor"]}, "set": {"cap": {"per_year": None}}}],
    )
    assert paid(policy(t), [enc("a", 1000)], {"M": member("poor")}) == ["1000.00"]
    assert paid(policy(t), [enc("a", 1000)], {"M": member()}) == ["100.00"]


@pytest.mark.parametrize("doc", [None, [], "x", 3])
def test_policy_not_an_object(doc):
    assert validate_policy(doc) == ["policy：应是一个对象 {…}"]


# ---------------------------------------------------------------------------- claims validation

NUMBER = "必须是数字（不要写“元”“万”“%”或千分位逗号）"
CLAIMS_ERRORS = [
    ({"total_cost": "-5"}, "encounters[0].total_cost：不能为负数"),
    ({"total_cost": "1.234"}, "encounters[0].total_cost：金额最多两位小数（到分）"),
    ({"total_cost": "abc"}, f"encounters[0].total_cost：{NUMBER}"),
    ({"total_cost": True}, f"encounters[0].total_cost：{NUMBER}"),
    ({"in_policy_cost": "2000"}, "encounters[0].in_policy_cost：政策范围内费用不能大于医疗总费用"),
    ({"in_policy_cost": "-1"}, "encounters[0].in_policy_cost：不能为负数"),
    ({"date": "2025-02-30"}, "encounters[0].date：不是有效日期"),
    ({"date": "2025/02/03"}, "encounters[0].date：缺少必填字段，日期写成 YYYY-MM-DD"),
    (
        {"kind": "icu"},
        'encounters[0].kind：不认识的值 "icu"（可填：inpatient、outpatient_chronic、outpatient）',
    ),
    (
        {"level": "town"},
        'encounters[0].level：不认识的值 "town"（可填：village、'
        "township、county、city、province、out_of_province）",
    ),
    ({"designated": "yes"}, "encounters[0].designated：必须是 true 或 false（不加引号）"),
    ({"referred": 0}, "encounters[0].referred：必须是 true 或 false（不加引号）"),
    ({"disease_code": 12}, "encounters[0].disease_code：必须是文字（加双引号）"),
    ({"hospital": "x"}, "encounters[0].hospital：不认识的字段（拼写错误，或自己加的字段、备注）"),
    ({"ref": ""}, "encounters[0].ref：缺少必填字段，或填了空文字"),
]


@pytest.mark.parametrize("change, error", CLAIMS_ERRORS)
def test_bad_encounter_fields_named(change, error):
    e = {**enc("a", "1000.00"), **change}
    with pytest.raises(ClaimsError) as ei:
        parse_encounters([e])
    assert ei.value.errors == [error]


def test_missing_encounter_fields_and_position():
    raw = [enc("a", 1), {"ref": "b", "member": "M", "date": "2025-01-01"}, enc("a", 2)]
    with pytest.raises(ClaimsError) as ei:
        parse_encounters(raw)
    assert ei.value.errors == [
        "encounters[1].kind：缺少必填字段",
        "encounters[1].level：缺少必填字段",
        "encounters[1].total_cost：缺少必填字段",
        "encounters[2].ref：编号 'a' 重复（与 encounters[0] 相同）",
    ]


def test_total_cost_at_index_three():
    raw = [enc(f"r{i}", 10) for i in range(5)]
    raw[3]["total_cost"] = -1
    with pytest.raises(ClaimsError) as ei:
        parse_encounters(raw)
    assert str(ei.value) == "encounters[3].total_cost：不能为负数"


def test_bad_members_named():
    with pytest.raises(ClaimsError) as ei:
        parse_members(
            {
                "A": {"poverty_status": "rich", "aid_category": "none"},
                "B": {"poverty_status": "poor"},
                "C": {"poverty_status": "poor", "aid_category": "none", "age": 3},
                "D": "poor",
            }
        )
    assert ei.value.errors == [
        'members.A.poverty_status：不认识的值 "rich"（可填：poor、monitored、lifted、none）',
        "members.B.aid_category：缺少必填字段",
        "members.C.age：不认识的字段（拼写错误，或自己加的字段、备注）",
        "members.D：应是一个对象 {…}",
    ]


def test_settle_claims_collects_all_claims_errors_and_unknown_members():
    pol = policy(flat(0.5))
    with pytest.raises(ClaimsError) as ei:
        settle_claims(
            pol,
            {"members": {"M": {"poverty_status": "x", "aid_category": "none"}}, "encounters": [enc("a", -1)]},
        )
    assert ei.value.errors == [
        'members.M.poverty_status：不认识的值 "x"（可填：poor、monitored、lifted、none）',
        "encounters[0].total_cost：不能为负数",
    ]
    with pytest.raises(ClaimsError) as ei:
        settle_claims(pol, {"members": {"M": member()}, "encounters": [enc("a", 1), enc("b", 1, member="Q")]})
    assert ei.value.errors == ["encounters[1].member：没有这个成员 'Q'"]
    with pytest.raises(ClaimsError) as ei:
        settle_claims(pol, {"members": [], "encounters": {}})
    assert ei.value.errors == ["members：应是一个对象 {成员编号: 成员}", "encounters：应是一个列表 […]"]


def test_settle_claims_policy_error():
    with pytest.raises(PolicyError) as ei:
        settle_claims(policy(flat(7)), {"members": {}, "encounters": []})
    assert ei.value.errors == ["tiers[0].rate.flat：比例必须在0到1之间（80%写成0.80）"]


def test_amounts_as_numbers_or_strings_agree():
    pol = policy(flat(0.65))
    a = run(pol, [enc("a", 100.1)])
    b = run(pol, [enc("a", "100.10")])
    c = run(pol, [enc("a", "100.1")])
    assert a == b == c and a[0]["payouts"]["t"] == "65.07"


def test_the_engine_speaks_the_code_tables_vocabulary():
    """One list per code table: the contract's kinds, levels and member facts are the ones
    claims and the registry store (the registry has no "none" status: every registered
    household is 建档立卡; the contract's "none" is for members outside it)."""
    from claims import codes as claims_codes
    from registry import codes as registry_codes
    from settlement import engine

    assert set(engine.KINDS) == {code for code, _ in claims_codes.ENCOUNTER_KINDS}
    assert engine.LEVELS == tuple(code for code, _ in claims_codes.INSTITUTION_LEVELS)
    assert engine.AID_CATEGORIES == tuple(code for code, *_ in registry_codes.AID_CATEGORIES)
    assert set(engine.POVERTY_STATUSES) == {code for code, *_ in registry_codes.POVERTY_STATUSES} | {"none"}
