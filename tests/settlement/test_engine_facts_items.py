"""Per-encounter facts and itemised bills (contract "Inputs", "Policy document" ``catalogue``,
"Output" ``deducted``), their refusals with the field's path, and the policy-authoring refusals
a county officer meets (a 兜底 tier before other tiers, a bare value where a list is expected)."""

import copy
import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_engine_properties import FAST, policies, reference_settle  # noqa: I001 (beside this file)

from settlement.engine import (
    FACT_CODES,
    N_ENCOUNTER_SIGNATURES,
    ClaimsError,
    Item,
    PolicyError,
    compile_policy,
    encounter_signature,
    parse_claims,
    settle,
    settle_claims,
    settle_sorted,
    trusted_row,
    validate_policy,
)
from tests.settlement_world import ROOT

DEMO = json.loads((ROOT / "fixtures" / "policies" / "demo-county-2025.json").read_text(encoding="utf-8"))
ITEMS_DEMO = json.loads(
    (ROOT / "fixtures" / "policies" / "demo-county-2025-items.json").read_text(encoding="utf-8")
)


def tier(key, kind="basic_insurance", **fields):
    return {"key": key, "kind": kind, "name": key, "fund": f"{key} fund", **fields}


def doc(*tiers, **extra):
    return {"code": "t", "name": "t", "year": 2025, "tiers": list(tiers), **extra}


def enc(ref, member="M", date="2025-03-01", **fields):
    return {"ref": ref, "member": member, "date": date, "kind": "inpatient", "level": "county", **fields}


# A tier that pays only the poor (50%), then a yearly-deductible tier for everyone.
POOR_ONLY = doc(
    tier("poor", rate={"flat": 0.5}, applies_to={"poverty_statuses": ["poor"]}),
    tier("aid", kind="medical_aid", rate={"flat": 1}, applies_to={"aid_categories": ["dibao"]}),
)


# ------------------------------------------------------------------------------- per-encounter facts


@pytest.mark.parametrize(
    "member, facts, poor_pays, aid_pays",
    [
        ({"poverty_status": "lifted", "aid_category": "none"}, {}, "0.00", "0.00"),
        ({"poverty_status": "lifted", "aid_category": "none"}, {"poverty_status": "poor"}, "500.00", "0.00"),
        ({"poverty_status": "poor", "aid_category": "none"}, {"poverty_status": "lifted"}, "0.00", "0.00"),
        ({"poverty_status": "lifted", "aid_category": "none"}, {"aid_category": "dibao"}, "0.00", "1000.00"),
        (
            {"poverty_status": "lifted", "aid_category": "dibao"},
            {"poverty_status": "poor", "aid_category": "none"},
            "500.00",
            "0.00",
        ),
        ({"poverty_status": "poor", "aid_category": "dibao"}, {"poverty_status": None}, "500.00", "500.00"),
    ],
)
def test_facts_on_the_encounter_replace_the_members(member, facts, poor_pays, aid_pays):
    claims = {"members": {"M": member}, "encounters": [enc("a", total_cost="1000.00", **facts)]}
    (out,) = settle_claims(POOR_ONLY, claims)
    assert out["payouts"] == {"poor": poor_pays, "aid": aid_pays}


def test_facts_change_conditions_but_the_accumulators_stay_the_members():
    """Lifted in July: the March stay is settled as poor, the September one as lifted, and the
    yearly deductible (3,000) is counted once over both, on the member's accumulator."""
    policy = doc(
        tier(
            "basic",
            deductible={"per": "year", "amount": 3000},
            rate={"flat": 0.5},
            overrides=[{"when": {"poverty_statuses": ["poor"]}, "set": {"rate_bonus": 0.3}}],
        )
    )
    claims = {
        "members": {"M": {"poverty_status": "lifted", "aid_category": "none"}},
        "encounters": [
            enc("mar", date="2025-03-01", total_cost="2000.00", poverty_status="poor"),
            enc("may", date="2025-05-01", total_cost="2000.00", poverty_status="poor"),
            enc("sep", date="2025-09-01", total_cost="2000.00"),
        ],
    }
    out = settle_claims(policy, claims)
    # Cumulative 2,000 → 0 paid; 4,000 → (4,000−3,000) × 80% = 800; 6,000 → 2,000 × 50% = 1,000.
    assert [o["payouts"]["basic"] for o in out] == ["0.00", "800.00", "1000.00"]


def test_fast_path_rows_carry_facts_in_their_signature():
    policy = compile_policy(POOR_ONLY)
    claims = {
        "members": {"M": {"poverty_status": "lifted", "aid_category": "none"}},
        "encounters": [
            enc("a", total_cost="1000.00", poverty_status="poor", aid_category="dibao"),
            enc("b", date="2025-04-01", total_cost="1000.00", aid_category="dibao"),
            enc("c", date="2025-05-01", total_cost="1000.00"),
        ],
    }
    members, encounters = parse_claims(claims)
    want = settle(policy, members, encounters)
    rows = [
        trusted_row(
            e.ref,
            "inpatient",
            "county",
            True,
            True,
            2025,
            100000,
            100000,
            poverty_status=e.poverty_status,
            aid_category=e.aid_category,
        )
        for e in encounters
    ]
    got = settle_sorted(policy, [(members["M"], rows)])
    assert [s.as_dict() for s in got] == [s.as_dict() for s in want]
    assert [s.payouts["poor"] for s in got] == [Decimal("500.00"), 0, 0]
    assert [s.payouts["aid"] for s in got] == [Decimal("500.00"), Decimal("1000.00"), 0]
    # The signature: the plain one plus N × FACT_CODES; no facts → the plain signature.
    plain = encounter_signature("inpatient", "county", True, True)
    assert rows[2][1] == plain
    assert rows[0][1] == plain + N_ENCOUNTER_SIGNATURES * FACT_CODES[("poor", "dibao")]
    assert rows[1][1] == plain + N_ENCOUNTER_SIGNATURES * FACT_CODES[(None, "dibao")]


def test_fast_path_refuses_an_unknown_fact():
    with pytest.raises(ValueError, match="poverty_status"):
        trusted_row(1, "inpatient", "county", True, True, 2025, 1, 1, poverty_status="rich")
    with pytest.raises(ValueError, match="aid_category"):
        trusted_row(1, "inpatient", "county", True, True, 2025, 1, 1, aid_category="wubao")


# ------------------------------------------------------------------------------- itemised bills


def test_the_contracts_itemised_example():
    """A 6,000.00, B (exam) 3,000.00 with b_self_ratio 0.10, C 1,000.00 → total 10,000.00,
    in-policy 8,700.00, out of policy 1,300.00."""
    policy = doc(tier("basic", rate={"flat": 0}), catalogue={"b_self_ratio": 0.1})
    items = [
        {"code": "A1", "class": "A", "amount": "6000.00"},
        {"code": "B1", "class": "B", "category": "exam", "amount": "3000.00"},
        {"code": "C1", "class": "C", "amount": "1000.00"},
    ]
    claims = {
        "members": {"M": {"poverty_status": "none", "aid_category": "none"}},
        "encounters": [enc("a", items=items)],
    }
    (out,) = settle_claims(policy, claims)
    assert out["total_cost"] == "10000.00" and out["deducted"] == "0.00"
    assert (out["in_policy_self_pay"], out["out_of_policy_self_pay"]) == ("8700.00", "1300.00")
    assert compile_policy(policy).bill(
        [("A", None, 600000, 0), ("B", "exam", 300000, 0), ("C", None, 100000, 0)]
    ) == (
        1000000,
        870000,
        0,
    )


@pytest.mark.parametrize(
    "catalogue, items, in_policy",
    [
        # each B self share rounded on its own: 0.05 × 10% = 0.005 → 0.01, twice (not 0.01 once)
        ({"b_self_ratio": 0.1}, [("B", None, 5, 0), ("B", None, 5, 0)], 8),
        # the category's ratio wins; other categories take the default
        (
            {"b_self_ratio": 0.1, "b_self_ratio_by_category": {"material": 0.3}},
            [("B", "material", 10000, 0)],
            7000,
        ),
        (
            {"b_self_ratio": 0.1, "b_self_ratio_by_category": {"material": 0.3}},
            [("B", "exam", 10000, 0)],
            9000,
        ),
        # the deduction comes off first: net 3,000 × 10% = 300 self share
        ({"b_self_ratio": 0.1}, [("B", "exam", 500000, 200000)], 270000),
        # no catalogue: B is wholly in policy; C never is
        ({}, [("B", None, 12345, 0), ("C", None, 100, 0), ("A", None, 1, 1)], 12345),
    ],
)
def test_in_policy_cost_of_a_bill(catalogue, items, in_policy):
    policy = compile_policy(
        doc(tier("basic", rate={"flat": 0.5}), **({"catalogue": catalogue} if catalogue else {}))
    )
    total, got, deducted = policy.bill(items)
    assert got == in_policy
    assert total == sum(amount - cut for _, _, amount, cut in items)
    assert deducted == sum(cut for *_, cut in items)


def test_output_has_deducted_for_itemised_encounters_only():
    claims = json.loads((ROOT / "fixtures" / "settlement" / "demo-county-2025-items.claims.json").read_text())
    out = settle_claims(ITEMS_DEMO, claims)
    assert [("deducted" in o) for o in out] == [True] * 6 + [False]
    assert out[2]["deducted"] == "2000.00" and out[2]["total_cost"] == "18000.00"  # net of the deduction


def test_item_constructor_refuses_like_the_parser():
    with pytest.raises(ValueError, match="class"):
        Item(code="x", item_class="D", amount=Decimal("1"))
    with pytest.raises(ValueError, match="deducted"):
        Item(code="x", item_class="A", amount=Decimal("1"), deducted=Decimal("2"))


MEMBERS = {"M": {"poverty_status": "none", "aid_category": "none"}}
GOOD_ITEMS = [
    {"code": "A1", "class": "A", "amount": "100.00"},
    {"code": "B1", "class": "B", "amount": "50.00"},
]

CLAIMS_REFUSALS = [
    (
        "unknown class",
        lambda e: e["items"][1].update({"class": "D"}),
        "encounters[0].items[1].class",
        "医保目录类别必须是 A、B 或 C",
    ),
    (
        "lower-case class",
        lambda e: e["items"][0].update({"class": "a"}),
        "encounters[0].items[0].class",
        "医保目录类别",
    ),
    (
        "unknown category",
        lambda e: e["items"][0].update(category="drugs"),
        "encounters[0].items[0].category",
        "不认识的费用类别",
    ),
    (
        "negative amount",
        lambda e: e["items"][0].update(amount="-1"),
        "encounters[0].items[0].amount",
        "不能为负数",
    ),
    (
        "negative deduction",
        lambda e: e["items"][0].update(deducted=-1),
        "encounters[0].items[0].deducted",
        "不能为负数",
    ),
    (
        "deduction above amount",
        lambda e: e["items"][0].update(deducted="100.01"),
        "encounters[0].items[0].deducted",
        "扣除金额不能大于项目金额",
    ),
    (
        "three decimals",
        lambda e: e["items"][1].update(amount="1.005"),
        "encounters[0].items[1].amount",
        "最多两位小数",
    ),
    (
        "three-decimal deduction",
        lambda e: e["items"][1].update(deducted="0.001"),
        "encounters[0].items[1].deducted",
        "最多两位小数",
    ),
    ("empty list", lambda e: e.update(items=[]), "encounters[0].items", "非空列表"),
    ("items not a list", lambda e: e.update(items={"code": "A1"}), "encounters[0].items", "非空列表"),
    (
        "in_policy_cost beside items",
        lambda e: e.update(in_policy_cost="100.00"),
        "encounters[0].in_policy_cost",
        "有费用明细时不能再写政策范围内费用",
    ),
    (
        "total differs from Σ amount",
        lambda e: e.update(total_cost="149.99"),
        "encounters[0].total_cost",
        "与明细金额合计 150.00 不一致",
    ),
    (
        "unknown item field",
        lambda e: e["items"][0].update(price=1),
        "encounters[0].items[0].price",
        "不认识的字段",
    ),
    ("item without code", lambda e: e["items"][0].pop("code"), "encounters[0].items[0].code", "缺少必填字段"),
    (
        "item without amount",
        lambda e: e["items"][0].pop("amount"),
        "encounters[0].items[0].amount",
        "缺少必填字段",
    ),
    ("item not an object", lambda e: e["items"].append("A1"), "encounters[0].items[2]", "应是一个对象"),
    (
        "unknown poverty fact",
        lambda e: e.update(poverty_status="rich"),
        "encounters[0].poverty_status",
        '不认识的值 "rich"（可填：poor、monitored、lifted、none）',
    ),
    (
        "unknown aid fact",
        lambda e: e.update(aid_category="wubao"),
        "encounters[0].aid_category",
        '不认识的值 "wubao"',
    ),
    (
        "fact not a member value",
        lambda e: e.update(poverty_status=True),
        "encounters[0].poverty_status",
        "不认识的值 true",
    ),
]


@pytest.mark.parametrize("why, mutate, path, words", CLAIMS_REFUSALS, ids=[r[0] for r in CLAIMS_REFUSALS])
def test_itemised_and_fact_refusals_name_the_path(why, mutate, path, words):
    e = enc("a", items=copy.deepcopy(GOOD_ITEMS))
    mutate(e)
    with pytest.raises(ClaimsError) as refused:
        parse_claims({"members": MEMBERS, "encounters": [e]})
    matching = [err for err in refused.value.errors if err.split("：", 1)[0] == path]
    assert matching and words in matching[0], refused.value.errors


def test_total_cost_equal_to_the_gross_sum_is_accepted():
    e = enc("a", items=copy.deepcopy(GOOD_ITEMS), total_cost="150.00")
    e["items"][0]["deducted"] = "20.00"
    (out,) = settle_claims(doc(tier("basic", rate={"flat": 0})), {"members": MEMBERS, "encounters": [e]})
    assert (out["total_cost"], out["deducted"]) == ("130.00", "20.00")


# ------------------------------------------------------------------------------- policy refusals

POLICY_REFUSALS = [
    (
        "backstop before another tier",
        lambda d: d["tiers"].insert(0, d["tiers"].pop(3)),
        "tiers[0].kind",
        "兜底项目必须排在其他报销项目之后（其后还有 tiers[1]、tiers[2]、tiers[3]）",
    ),
    (
        "backstop in the middle",
        lambda d: d["tiers"].insert(2, d["tiers"].pop(3)),
        "tiers[2].kind",
        "兜底项目必须排在其他报销项目之后（其后还有 tiers[3]）",
    ),
    (
        "bare string for kinds",
        lambda d: d["tiers"][0]["applies_to"].update(kinds="inpatient"),
        "tiers[0].applies_to.kinds",
        '应是一个列表 […]：只有一个值也要写成 ["inpatient"]',
    ),
    (
        "bare string for levels in an override",
        lambda d: d["tiers"][3]["overrides"][0]["when"].update(levels="county"),
        "tiers[3].overrides[0].when.levels",
        "应是一个列表",
    ),
    (
        "bare string for disease codes",
        lambda d: d["tiers"][2]["overrides"][0]["when"].update(disease_codes="C16"),
        "tiers[2].overrides[0].when.disease_codes",
        "应是一个列表",
    ),
    (
        "bare string for poverty statuses",
        lambda d: d["tiers"][1]["overrides"][0]["when"].update(poverty_statuses="poor"),
        "tiers[1].overrides[0].when.poverty_statuses",
        "应是一个列表",
    ),
    ("catalogue not an object", lambda d: d.update(catalogue=0.1), "catalogue", "应是一个对象"),
    (
        "b_self_ratio above 1",
        lambda d: d.update(catalogue={"b_self_ratio": 1.5}),
        "catalogue.b_self_ratio",
        "比例必须在0到1之间",
    ),
    (
        "b_self_ratio negative",
        lambda d: d.update(catalogue={"b_self_ratio": "-0.1"}),
        "catalogue.b_self_ratio",
        "比例必须在0到1之间",
    ),
    (
        "category ratio above 1",
        lambda d: d.update(catalogue={"b_self_ratio_by_category": {"material": 2}}),
        "catalogue.b_self_ratio_by_category.material",
        "比例必须在0到1之间",
    ),
    (
        "unknown category",
        lambda d: d.update(catalogue={"b_self_ratio_by_category": {"drugs": 0.1}}),
        "catalogue.b_self_ratio_by_category.drugs",
        "不认识的费用类别",
    ),
    (
        "unknown catalogue field",
        lambda d: d.update(catalogue={"c_self_ratio": 0.1}),
        "catalogue.c_self_ratio",
        "不认识的字段",
    ),
    (
        "bands must ascend",
        lambda d: d["tiers"][1]["rate"]["bands"].__setitem__(1, [40000, 0.7]),
        "tiers[1].rate.bands[1]",
        "分段上限必须递增",
    ),
]


@pytest.mark.parametrize("why, mutate, path, message", POLICY_REFUSALS, ids=[r[0] for r in POLICY_REFUSALS])
def test_policy_refusals_in_chinese_with_the_path(why, mutate, path, message):
    d = copy.deepcopy(DEMO)
    mutate(d)
    errors = validate_policy(d)
    assert any(e.startswith(f"{path}：") and message in e for e in errors), errors
    with pytest.raises(PolicyError):
        compile_policy(d)


def test_allowed_shapes_stay_allowed():
    d = copy.deepcopy(DEMO)
    d["tiers"][0]["overrides"][1]["when"]["designated"] = False  # a yes/no condition is one value
    d["tiers"].append(
        tier("second_backstop", kind="backstop", self_pay_ratio_cap=0.5)
    )  # backstops may follow a backstop
    assert validate_policy(d) == []
    assert validate_policy(ITEMS_DEMO) == []


# ------------------------------------------------------------------------------- property

CATEGORIES = [
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
]
RATIO = st.integers(0, 100).map(lambda k: Decimal(k) / 100)


@st.composite
def items(draw):
    out = []
    for k in range(draw(st.integers(1, 6))):
        amount = draw(st.one_of(st.integers(0, 30), st.integers(0, 5_000_000)))
        item = {
            "code": f"X{k}",
            "class": draw(st.sampled_from("ABC")),
            "amount": f"{amount // 100}.{amount % 100:02d}",
        }
        if draw(st.booleans()):
            item["category"] = draw(st.sampled_from(CATEGORIES))
        if draw(st.integers(0, 3)) == 0:
            cut = draw(st.integers(0, amount))
            item["deducted"] = f"{cut // 100}.{cut % 100:02d}"
        out.append(item)
    return out


@st.composite
def itemised_claims(draw):
    members = {
        "A": {"poverty_status": draw(st.sampled_from(["poor", "lifted", "none"])), "aid_category": "dibao"}
    }
    encounters = []
    for i in range(draw(st.integers(1, 5))):
        e = enc(f"r{i}", member="A", date=draw(st.sampled_from(["2025-01-05", "2025-06-01", "2025-06-01"])))
        e["kind"] = draw(st.sampled_from(["inpatient", "outpatient_chronic", "outpatient"]))
        if draw(st.booleans()):
            e["items"] = draw(items())
        else:
            total = draw(st.integers(0, 5_000_000))
            e["total_cost"] = f"{total // 100}.{total % 100:02d}"
        if draw(st.integers(0, 3)) == 0:
            e["poverty_status"] = draw(st.sampled_from(["poor", "monitored", "lifted", "none"]))
        encounters.append(e)
    return {"members": members, "encounters": encounters}


@FAST
@given(
    doc_=policies(),
    claims=itemised_claims(),
    ratio=RATIO,
    by_category=st.dictionaries(st.sampled_from(CATEGORIES), RATIO, max_size=3),
)
def test_itemised_bills_reconcile_and_fast_path_equals_readable(doc_, claims, ratio, by_category):
    d = {
        **doc_,
        "catalogue": {
            "b_self_ratio": str(ratio),
            "b_self_ratio_by_category": {k: str(v) for k, v in by_category.items()},
        },
    }
    out = settle_claims(d, claims)
    # the readable path: the contract's algorithm, Decimal all the way
    assert out == reference_settle(d, claims)
    policy = compile_policy(d)
    members, encounters = parse_claims(claims)
    for o, e in zip(out, claims["encounters"]):
        cents = lambda s: int(Decimal(s) * 100)  # noqa: E731
        net = sum(cents(i["amount"]) - cents(i.get("deducted", "0")) for i in e.get("items", []))
        total = net if "items" in e else cents(e["total_cost"])
        assert sum(cents(v) for v in o["payouts"].values()) + cents(o["self_pay"]) == total
        assert cents(o["total_cost"]) == total
        assert all(cents(v) >= 0 for v in o["payouts"].values())
    # the fast path: trusted rows, the bill's costs from CompiledPolicy.bill, facts in the signature
    rows = []
    for e in sorted(encounters, key=lambda e: e.date):
        if e.items is None:
            total, in_policy = int(e.total_cost * 100), int(e.in_policy_cost * 100)
        else:
            total, in_policy, _ = policy.bill(item.bill_line for item in e.items)
        rows.append(
            trusted_row(
                e.ref,
                e.kind,
                e.level,
                e.designated,
                e.referred,
                e.date.year,
                total,
                in_policy,
                poverty_status=e.poverty_status,
                aid_category=e.aid_category,
            )
        )
    fast = {s.ref: s for s in settle_sorted(policy, [(members["A"], rows)])}
    for o in out:
        s = fast[o["ref"]].as_dict()
        o = {k: v for k, v in o.items() if k != "deducted"}  # the batch keeps the deduction itself
        assert s == o


# ------------------------------------------------------------------------------- the guide's example

PINGLUO_BANDS = [
    [1000, 0.2],
    [1500, 0.25],
    [2000, 0.3],
    [2500, 0.35],
    [3000, 0.4],
    [3500, 0.45],
    [4000, 0.5],
    [None, 0.55],
]


@pytest.mark.parametrize("mode, paid", [("bracket", "4000.00"), ("progressive", "3702.60")])
def test_pingluo_2004_worked_example_needs_bracket(mode, paid):
    """平罗 (docs/policy-format.md §4.6): 300 deductible, 301–1,000 at 20%, +5 points per further
    500 up to 55%, 4,000 a year; the published 8,432-yuan stay was reimbursed 4,000. Bracket:
    (8,432 − 300) × 55% = 4,472.60, capped at 4,000. Progressive: 700 × 20% + 500 × (25% + 30%
    + 35% + 40% + 45% + 50%) + 4,432 × 55% = 140 + 1,125 + 2,437.60 = 3,702.60."""
    policy = doc(
        tier(
            "ncms",
            deductible={"per": "encounter", "amount": 300},
            rate={"bands": PINGLUO_BANDS, "mode": mode, "measure": "cumulative"},
            cap={"per_year": 4000},
        )
    )
    claims = {"members": MEMBERS, "encounters": [enc("x", date="2025-06-01", total_cost=8432)]}
    assert settle_claims(policy, claims)[0]["payouts"]["ncms"] == paid
