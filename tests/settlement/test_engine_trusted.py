"""The engine's trusted path (``trusted_row`` + ``settle_sorted``), which the database path uses
for rows the database already validated, against the validated one (``Encounter`` +
``settle``): the same rows, the same settlements to the cent, on random policies and claims."""

import datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_engine_properties import FAST, KINDS, LEVELS, claims_docs, policies  # noqa: I001 (beside this file)

from settlement.engine import (
    ENCOUNTER_SIGNATURES,
    Encounter,
    compile_policy,
    parse_claims,
    settle,
    settle_sorted,
    trusted_row,
)

CENTS = st.integers(0, 10**11)


def _cents(amount: Decimal) -> int:
    return int(amount.scaleb(2))


def _trusted(e: Encounter, ref=None):
    """What the database path builds from a stored encounter row (amounts as int cents)."""
    return trusted_row(
        e.ref if ref is None else ref,
        e.kind,
        e.level,
        e.designated,
        e.referred,
        e.date.year,
        _cents(e.total_cost),
        _cents(e.in_policy_cost),
        e.disease_code or "",
        e.package or "",
        poverty_status=e.poverty_status,  # the encounter's own facts, when it has them
        aid_category=e.aid_category,
    )


def _as_read(encounters):
    """(indexes in the order the database path reads them — by member, then by (date, entry
    order) —, [(member key, [indexes]), …] per member in that order)."""
    order = sorted(range(len(encounters)), key=lambda i: (encounters[i].member, encounters[i].date, i))
    groups = []
    for i in order:
        if not groups or groups[-1][0] != encounters[i].member:
            groups.append((encounters[i].member, []))
        groups[-1][1].append(i)
    return order, groups


@FAST
@given(
    kind=st.sampled_from(KINDS),
    level=st.sampled_from(LEVELS),
    designated=st.booleans(),
    referred=st.booleans(),
    amounts=st.tuples(CENTS, CENTS),
    disease=st.sampled_from(["", "C16.9", "E11"]),
    package=st.sampled_from(["", "K35"]),
    day=st.dates(datetime.date(2000, 1, 1), datetime.date(2100, 12, 31)),
)
def test_a_trusted_row_is_the_validated_encounters_row(
    kind, level, designated, referred, amounts, disease, package, day
):
    total, in_policy = max(amounts), min(amounts)
    validated = Encounter(
        ref="E-1",
        member="m",
        date=day,
        kind=kind,
        level=level,
        designated=designated,
        referred=referred,
        total_cost=Decimal(total).scaleb(-2),
        in_policy_cost=Decimal(in_policy).scaleb(-2),
        disease_code=disease or None,
        package=package or None,
    )
    # The database gives "" for a blank code, the validated constructor takes None: same row.
    assert (
        trusted_row("E-1", kind, level, designated, referred, day.year, total, in_policy, disease, package)
        == validated._row
    )
    assert _trusted(validated) == validated._row


@FAST
@given(doc=policies(), claims=claims_docs())
def test_settling_trusted_rows_gives_what_settle_gives(doc, claims):
    policy = compile_policy(doc)
    members, encounters = parse_claims(claims)
    expected = settle(policy, members, encounters)
    order, groups = _as_read(encounters)
    settled = settle_sorted(
        policy, [(members[key], [_trusted(encounters[i], ref=i) for i in idxs]) for key, idxs in groups]
    )
    assert [s.ref for s in settled] == order
    for s in settled:
        want = expected[s.ref]
        assert (
            s.total_cost_cents,
            s.payout_cents,
            s.in_policy_self_pay_cents,
            s.out_of_policy_self_pay_cents,
        ) == (
            want.total_cost_cents,
            want.payout_cents,
            want.in_policy_self_pay_cents,
            want.out_of_policy_self_pay_cents,
        )


@FAST
@given(doc=policies(), claims=claims_docs())
def test_summing_mode_gives_the_sums_of_the_settlements(doc, claims):
    """``settle_sorted(..., sums=[])`` (simulations) = per member, the sums of what the
    Settlements hold, to the cent (claims may span several years: per-tier sums add them)."""
    policy = compile_policy(doc)
    members, encounters = parse_claims(claims)
    expected = settle(policy, members, encounters)
    _, groups = _as_read(encounters)
    sums = settle_sorted(
        policy,
        [(members[key], [_trusted(encounters[i], ref=i) for i in idxs]) for key, idxs in groups],
        sums=[],
    )
    assert len(sums) == len(groups)
    for (n, total, in_self, out_self, paid), (_, idxs) in zip(sums, groups):
        want = [expected[i] for i in idxs]
        assert n == len(want)
        assert total == sum(s.total_cost_cents for s in want)
        assert in_self == sum(s.in_policy_self_pay_cents for s in want)
        assert out_self == sum(s.out_of_policy_self_pay_cents for s in want)
        assert paid == [sum(column) for column in zip(*(s.payout_cents for s in want))]


def test_a_trusted_row_still_refuses_an_unknown_kind_or_level():
    with pytest.raises(ValueError, match="不认识的值"):
        trusted_row(1, "inpatient", "moon", True, True, 2025, 100, 100)
    with pytest.raises(ValueError, match="不认识的值"):
        trusted_row(1, "dental", "county", True, True, 2025, 100, 100)


def test_every_signature_is_distinct_and_fits_the_plan_table():
    assert (
        len(set(ENCOUNTER_SIGNATURES.values())) == len(ENCOUNTER_SIGNATURES) == len(KINDS) * len(LEVELS) * 4
    )
    assert set(ENCOUNTER_SIGNATURES.values()) == set(range(len(ENCOUNTER_SIGNATURES)))
