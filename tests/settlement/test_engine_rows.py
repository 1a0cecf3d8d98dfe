"""``batch.engine_rows``: on PostgreSQL the database builds the engine's trusted rows itself
(signature joined from the engine's own table, cents by NUMERIC arithmetic). They must be
exactly what ``engine.trusted_row`` makes of the rows ``load_claims`` reads."""

import pytest

from settlement import batch, engine
from tests.settlement_world import add_encounter

pytestmark = pytest.mark.django_db

B = batch


def _reference(member_ids, year):
    """The Python path: load_claims rows through engine.trusted_row, member id as ``ref``."""
    _, rows = batch.load_claims(member_ids, year)
    out = []
    for r in rows:
        try:
            trusted = engine.trusted_row(
                r[B.E_MEMBER],
                r[B.E_KIND],
                r[B.E_LEVEL],
                r[B.E_DESIGNATED],
                r[B.E_REFERRED],
                year,
                r[B.E_TOTAL],
                r[B.E_IN_POLICY],
                r[B.E_DIAGNOSIS],
                r[B.E_PACKAGE],
            )
        except ValueError:
            continue
        out.append(trusted)
    return out


def test_engine_rows_are_the_trusted_rows_of_the_loaded_claims(golden_world, golden):
    members = golden_world.members
    # Besides the golden encounters (all kinds and levels, packages, disease codes, a 2026 one):
    # a superseded encounter (not current: left out) and amounts with odd cents.
    raw = dict(
        golden.claims["encounters"][0],
        ref="X-odd",
        total_cost="1234.57",
        in_policy_cost="1000.01",
        date="2025-12-31",
    )
    add_encounter(members[raw["member"]], raw)
    old = dict(raw, ref="X-old", total_cost="99.99", in_policy_cost="0.00", date="2025-01-01")
    add_encounter(members[raw["member"]], old, is_current=False)
    ids = sorted(m.pk for m in members.values())
    for year in (2025, 2026):
        rows = batch.engine_rows(ids, year)
        assert rows == _reference(ids, year)
        assert rows and all(type(v) is int for row in rows for v in row[:5])
    rows = batch.engine_rows(ids, 2025)
    assert len(rows) == sum(1 for e in golden.claims["encounters"] if e["date"].startswith("2025")) + 1
    assert (members[raw["member"]].pk, 123457, 100001) in {(r[0], r[3], r[4]) for r in rows}
    # A chunk: only its members.
    some = ids[:2]
    assert batch.engine_rows(some, 2025) == _reference(some, 2025) and {
        r[0] for r in batch.engine_rows(some, 2025)
    } <= set(some)
    assert batch.engine_rows([], 2025) == []
