"""What the database itself refuses about settlements (PostgreSQL: the CI database).

``Settlement.encounter`` has no FOREIGN KEY constraint since migration 0007: triggers check
it per statement instead (cheaper for a year's COPY). These tests hold the triggers to what
the FOREIGN KEY guaranteed, and the one-current-per-encounter unique index (which now also
serves look-ups by encounter) to its rule."""

import pytest
from django.db import IntegrityError, connection, transaction

from core import bulk
from settlement import services
from settlement.batch import SETTLEMENT_CENTS, SETTLEMENT_FIELDS
from settlement.models import Settlement

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="triggers are PostgreSQL's"),
]


@pytest.fixture
def settled(golden_world, policies):
    member = golden_world.members["A"]
    services.settle_member_year(member_id=member.pk, year=2025)
    settlement = Settlement.objects.filter(member=member, is_current=True).order_by("id").first()
    assert settlement is not None
    return settlement


def _copy_row(settlement, **changes):
    """``settlement``'s values as a COPY text row for ``bulk.insert``, with ``changes``."""
    values = {name: getattr(settlement, name) for name in SETTLEMENT_FIELDS}
    values.update(changes)
    row = []
    for name in SETTLEMENT_FIELDS:
        value = values[name]
        if name in SETTLEMENT_CENTS:
            value = int(value.scaleb(2))
        elif value is None:
            value = bulk.NULL
        elif not isinstance(value, (int, bool)):
            value = bulk.text_safe(str(value))
        row.append(value)
    return tuple(row)


def test_copy_of_a_settlement_for_a_missing_encounter_is_refused(settled):
    missing = settled.encounter_id + 10_000
    good = _copy_row(settled, is_current=False)
    bad = _copy_row(settled, encounter_id=missing, is_current=False)
    with pytest.raises(IntegrityError, match=f"encounter_id = {missing}"), transaction.atomic():
        bulk.insert(
            Settlement, SETTLEMENT_FIELDS, iter([good, bad]), text_ready=True, count=2, cents=SETTLEMENT_CENTS
        )
    # The whole statement was refused, the good row too.
    assert Settlement.objects.filter(encounter_id=settled.encounter_id).count() == 1


def test_orm_insert_and_update_to_a_missing_encounter_are_refused(settled):
    missing = settled.encounter_id + 10_000
    with pytest.raises(IntegrityError, match="就诊记录不存在"), transaction.atomic():
        Settlement.objects.create(
            **{
                **{name: getattr(settled, name) for name in SETTLEMENT_FIELDS if name != "computed_at"},
                "encounter_id": missing,
                "is_current": False,
            }
        )
    with pytest.raises(IntegrityError, match="就诊记录不存在"), transaction.atomic():
        Settlement.objects.filter(pk=settled.pk).update(encounter_id=missing)
    settled.refresh_from_db()
    assert Settlement.objects.filter(pk=settled.pk, encounter_id=settled.encounter_id).exists()


def test_an_encounter_with_settlements_cannot_be_deleted_even_by_sql(settled):
    with (
        pytest.raises(IntegrityError, match="已有结算记录"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM claims_encounter WHERE id = %s", [settled.encounter_id])
    with (
        pytest.raises(IntegrityError, match="已有结算记录"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE claims_encounter SET id = id + 100000 WHERE id = %s", [settled.encounter_id])
    assert Settlement.objects.filter(encounter_id=settled.encounter_id).exists()


def test_an_encounter_without_settlements_can_still_be_deleted_by_sql(golden_world):
    encounter = next(iter(golden_world.encounters.values()))
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM claims_encounter WHERE id = %s", [encounter.pk])
        assert cursor.rowcount == 1


def test_one_current_settlement_per_encounter(settled):
    fields = {name: getattr(settled, name) for name in SETTLEMENT_FIELDS if name != "computed_at"}
    with pytest.raises(IntegrityError, match="settlement_one_current_per_encounter"), transaction.atomic():
        Settlement.objects.create(**fields)
    # Superseded (not current) rows of the same encounter are many.
    for _ in range(2):
        Settlement.objects.create(**{**fields, "is_current": False})
    assert Settlement.objects.filter(encounter_id=settled.encounter_id).count() == 3
    assert Settlement.objects.filter(encounter_id=settled.encounter_id, is_current=True).get() == settled
