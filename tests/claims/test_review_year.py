"""The automatic review of a whole year at once (``claims.review.review_year`` and ``manage.py
review_year``): the same flags as the review of each encounter on entry, written once."""

import datetime
from decimal import Decimal as D
from io import StringIO

from django.core.management import call_command

from claims import review, services
from claims.models import ReviewFlag
from tests.factories import EncounterFactory


def _stays(world):
    """Encounters stored without the service (as a bulk load would), so nothing is flagged yet."""
    day = datetime.date(2025, 4, 1)
    common = dict(institution=world.county_hospital, kind="inpatient", diagnosis_code="K35.8")
    a = EncounterFactory(
        member=world.east_head, admission_date=day, discharge_date=day + datetime.timedelta(days=5), **common
    )
    twin = EncounterFactory(
        member=world.east_head, admission_date=day, discharge_date=day + datetime.timedelta(days=5), **common
    )
    again = EncounterFactory(  # 10 days after the discharge: 分解住院
        member=world.east_head,
        admission_date=day + datetime.timedelta(days=15),
        discharge_date=day + datetime.timedelta(days=18),
        **common,
    )
    man = EncounterFactory(
        member=world.east_son, admission_date=day, diagnosis_code="O80.0", total_cost=D("900")
    )
    return a, twin, again, man


def test_a_year_is_reviewed_like_each_encounter_and_written_once(world, settlement_spy):
    a, twin, again, man = _stays(world)
    assert not ReviewFlag.objects.exists()
    result = review.review_year(year=2025)
    assert result.encounters == 6  # the world's two visits too
    stored = {
        e.pk: list(ReviewFlag.objects.filter(encounter=e).order_by("id").values_list("code", flat=True))
        for e in (a, twin, again, man)
    }
    assert stored == {
        a.pk: ["duplicate", "overlap"],
        twin.pk: ["duplicate", "overlap"],
        again.pk: ["readmission"],
        man.pk: ["sex_age"],
    }
    assert result.by_rule == {"duplicate": 2, "overlap": 2, "readmission": 1, "sex_age": 1}
    assert result.changed == 4
    # The per-encounter review on entry finds the same (it compares with the same year).
    for encounter in (a, twin, again, man):
        bulk = list(
            ReviewFlag.objects.filter(encounter=encounter).order_by("id").values_list("code", "message")
        )
        one = services.encounter_review(encounter=encounter)
        assert [(f["code"], f["message"]) for f in one] == bulk
    # Run again: nothing to write.
    assert review.review_year(year=2025).changed == 0
    # A flag that no longer holds goes away.
    twin.is_current = False
    twin.save()
    assert review.review_year(year=2025).changed == 2
    assert list(a.review_flags.values_list("code", flat=True)) == []


def test_the_command(world, settlement_spy):
    _stays(world)
    out = StringIO()
    call_command("review_year", "--year", "2025", stdout=out)
    assert "2025年度：审核 6 条就诊记录，4 条有审核提示" in out.getvalue()
    assert "疑似分解住院：1" in out.getvalue()
