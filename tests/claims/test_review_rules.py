"""The automatic review rules (claims/review_rules.py, pure): per rule a case that must fire
and one that must not, with hand-made encounters."""

import datetime
from decimal import Decimal as D

import pytest

from claims.review_rules import RULES, ReviewEncounter, ReviewItem, ReviewSettings, review, robust_z


def day(month, d):
    return datetime.date(2025, month, d)


def stay(ref, admitted, discharged, *, member="m1", total="5000.00", diagnosis="K35.8", **kw):
    values = dict(
        ref=ref,
        member=member,
        institution=kw.pop("institution", "h1"),
        kind="inpatient",
        level=kw.pop("level", "county"),
        admission_date=admitted,
        discharge_date=discharged,
        total_cost=D(total),
        diagnosis_code=diagnosis,
    )
    values.update(kw)
    return ReviewEncounter(**values)


def bill(*lines):
    """``(category, class, amount)`` per item."""
    return tuple(
        ReviewItem(code=f"X{i}", category=c, item_class=k, amount=D(a)) for i, (c, k, a) in enumerate(lines)
    )


def peers(n, *, days=7, total="5000.00", start=1):
    """``n`` ordinary stays of other members: the same diagnosis, kind and level, a spread of
    lengths and costs around ``days`` and ``total``."""
    out = []
    for i in range(n):
        admitted = day(2, start + i)
        length = days + (i % 3) - 1
        cost = D(total) + D(200) * ((i % 5) - 2)
        out.append(
            stay(
                f"P{i}", admitted, admitted + datetime.timedelta(days=length), member=f"p{i}", total=str(cost)
            )
        )
    return out


def codes_of(result, ref):
    return [flag["code"] for flag in result[ref]]


CASES = [
    # (rule, encounters, settings, the ref that must carry the flag or None, must not fire on)
    (
        "duplicate",
        [stay("A", day(3, 1), day(3, 8)), stay("B", day(3, 1), day(3, 8))],
        ReviewSettings(),
        "B",
        [],
    ),
    (
        "duplicate",  # another total: not a duplicate
        [stay("A", day(3, 1), day(3, 8)), stay("B", day(3, 1), day(3, 8), total="5000.01")],
        ReviewSettings(),
        None,
        ["A", "B"],
    ),
    (
        "overlap",
        [stay("A", day(3, 1), day(3, 10)), stay("B", day(3, 5), day(3, 12), institution="h2")],
        ReviewSettings(),
        "A",
        [],
    ),
    (
        "overlap",  # a transfer: discharged and admitted the same day
        [stay("A", day(3, 1), day(3, 10)), stay("B", day(3, 10), day(3, 12), institution="h2")],
        ReviewSettings(),
        None,
        ["A", "B"],
    ),
    (
        "readmission",
        [stay("A", day(3, 1), day(3, 8)), stay("B", day(3, 20), day(3, 25), diagnosis="K35.9")],
        ReviewSettings(),
        "B",
        ["A"],
    ),
    (
        "readmission",  # 16 days later, and another member / another diagnosis within 15
        [
            stay("A", day(3, 1), day(3, 8)),
            stay("B", day(3, 24), day(3, 28)),
            stay("C", day(3, 10), day(3, 12), member="m2"),
            stay("D", day(3, 10), day(3, 12), diagnosis="J18.9"),
        ],
        ReviewSettings(),
        None,
        ["A", "B", "C", "D"],
    ),
    (
        "readmission",
        [stay("A", day(3, 1), day(3, 8)), stay("B", day(3, 24), day(3, 28))],
        ReviewSettings(readmission_days=20),
        "B",
        ["A"],
    ),
    ("los_outlier", [*peers(9), stay("L", day(3, 1), day(4, 10))], ReviewSettings(), "L", ["P0", "P4"]),
    (
        "los_outlier",  # too few of the same diagnosis and level to judge
        [*peers(3), stay("L", day(3, 1), day(4, 10))],
        ReviewSettings(),
        None,
        ["L"],
    ),
    (
        "los_outlier",
        [*peers(9), stay("L", day(3, 1), day(4, 10), level="province")],
        ReviewSettings(),
        None,
        ["L"],
    ),
    (
        "cost_outlier",
        [*peers(9), stay("C", day(3, 1), day(3, 8), total="60000.00")],
        ReviewSettings(),
        "C",
        ["P1"],
    ),
    (
        "cost_outlier",
        [*peers(9), stay("C", day(3, 1), day(3, 8), total="5600.00")],
        ReviewSettings(),
        None,
        ["C"],
    ),
    (
        "cost_outlier",  # a high threshold lets it pass
        [*peers(9), stay("C", day(3, 1), day(3, 8), total="60000.00")],
        ReviewSettings(cost_outlier_z=D("1000")),
        None,
        ["C"],
    ),
    (
        "drug_share",
        [
            stay(
                "D",
                day(3, 1),
                day(3, 8),
                items=bill(("western_drug", "A", "3000"), ("herbal", "B", "1500"), ("exam", "A", "5500")),
            )
        ],
        ReviewSettings(),
        "D",
        [],
    ),
    (
        "drug_share",  # 40% exactly is not above 40%
        [
            stay(
                "D",
                day(3, 1),
                day(3, 8),
                items=bill(
                    ("western_drug", "A", "3000"), ("patent_drug", "B", "1000"), ("exam", "A", "6000")
                ),
            )
        ],
        ReviewSettings(),
        None,
        ["D"],
    ),
    (
        "drug_share",  # an outpatient visit is all drugs: not judged by default
        [
            ReviewEncounter(
                ref="V",
                member="m1",
                institution="h1",
                kind="outpatient",
                level="township",
                admission_date=day(3, 1),
                total_cost=D("100"),
                items=bill(("western_drug", "A", "100")),
            )
        ],
        ReviewSettings(),
        None,
        ["V"],
    ),
    (
        "class_c_share",
        [stay("K", day(3, 1), day(3, 8), items=bill(("material", "C", "1200"), ("surgery", "A", "8800")))],
        ReviewSettings(),
        "K",
        [],
    ),
    (
        "class_c_share",
        [stay("K", day(3, 1), day(3, 8), items=bill(("material", "C", "1000"), ("surgery", "A", "9000")))],
        ReviewSettings(),
        None,
        ["K"],
    ),
    (
        "class_c_share",  # the deducted part of a C item is not counted
        [
            stay(
                "K",
                day(3, 1),
                day(3, 8),
                items=(
                    ReviewItem(code="C1", item_class="C", amount=D("3000"), deducted=D("2500")),
                    ReviewItem(code="A1", item_class="A", amount=D("9000")),
                ),
            )
        ],
        ReviewSettings(),
        None,
        ["K"],
    ),
    (
        "not_in_catalogue",
        [stay("N", day(3, 1), day(3, 8), items=bill(("exam", "A", "10"), ("lab", "B", "20")))],
        ReviewSettings(catalogue_codes=frozenset({"X0"})),
        "N",
        [],
    ),
    (
        "not_in_catalogue",
        [stay("N", day(3, 1), day(3, 8), items=bill(("exam", "A", "10"), ("lab", "B", "20")))],
        ReviewSettings(catalogue_codes=frozenset({"X0", "X1"})),
        None,
        ["N"],
    ),
    (
        "not_in_catalogue",
        [stay("N", day(3, 1), day(3, 8), items=bill(("exam", "A", "10")))],
        ReviewSettings(),
        None,
        ["N"],
    ),
    ("sex_age", [stay("S", day(3, 1), day(3, 8), diagnosis="O80.0", sex="M")], ReviewSettings(), "S", []),
    ("sex_age", [stay("S", day(3, 1), day(3, 8), diagnosis="N40", sex="F")], ReviewSettings(), "S", []),
    (
        "sex_age",
        [stay("S", day(3, 1), day(3, 8), diagnosis="P07.3", birth_date=datetime.date(1980, 5, 1))],
        ReviewSettings(),
        "S",
        [],
    ),
    (
        "sex_age",  # a woman's delivery, a man's prostate, a newborn's perinatal condition
        [
            stay("W", day(3, 1), day(3, 8), diagnosis="O80.0", sex="F"),
            stay("M", day(3, 1), day(3, 8), diagnosis="N40", sex="M", member="m2"),
            stay(
                "B",
                day(3, 1),
                day(3, 8),
                diagnosis="P07.3",
                birth_date=datetime.date(2025, 2, 20),
                member="m3",
            ),
        ],
        ReviewSettings(),
        None,
        ["W", "M", "B"],
    ),
]


@pytest.mark.parametrize("rule, encounters, rule_settings, fires_on, quiet_on", CASES)
def test_rule(rule, encounters, rule_settings, fires_on, quiet_on):
    result = review(encounters, rule_settings)
    assert list(result) == [e.ref for e in encounters]
    if fires_on is not None:
        flags = [f for f in result[fires_on] if f["code"] == rule]
        assert len(flags) == 1, result
        assert any("\u4e00" <= ch <= "\u9fff" for ch in flags[0]["message"])  # explained in Chinese
    for ref in quiet_on:
        assert rule not in codes_of(result, ref), result[ref]


def test_every_rule_is_covered_both_ways():
    fired = {rule for rule, *_, fires_on, _ in CASES if fires_on is not None}
    quiet = {rule for rule, *_, quiet_on in CASES if quiet_on}
    assert fired == quiet == set(RULES)


def test_messages_name_what_was_found():
    result = review([stay("A", day(3, 1), day(3, 8)), stay("B", day(3, 20), day(3, 25))])
    assert result["B"] == [
        {
            "code": "readmission",
            "message": "同一疾病（K35）距上次住院A出院（2025-03-08）12天再次入院（15天内），疑似分解住院。",
        }
    ]
    shares = review(
        [stay("D", day(3, 1), day(3, 8), items=bill(("western_drug", "A", "4500"), ("exam", "C", "5500")))]
    )
    assert [f["message"] for f in shares["D"]] == [
        "药占比45.0%（药品费用4500.00元），超过40.0%。",
        "丙类费用占比55.0%（5500.00元），超过10.0%。",
    ]


def test_disabled_rules_do_not_run():
    encounters = [stay("A", day(3, 1), day(3, 8)), stay("B", day(3, 1), day(3, 8))]
    assert review(encounters, ReviewSettings(enabled=frozenset({"overlap"})))["B"] == [
        {
            "code": "overlap",
            "message": "与住院记录A（2025-03-01至2025-03-08）时间重叠，同一患者不能同时在两处住院。",
        }
    ]
    assert review(encounters, ReviewSettings(enabled=frozenset()))["B"] == []


def test_robust_z():
    assert robust_z([D(1), D(2), D(3), D(4), D(100)])[-1] > D("3.5")
    assert robust_z([D(5)] * 5) is None  # no spread
