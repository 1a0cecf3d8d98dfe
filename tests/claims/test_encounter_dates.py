"""Attack 9 (docs/security.md): impossible dates. An encounter before the member's birth is
refused by the service (form, API and import alike); an admission long ago is accepted with a
warning."""

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from claims import encounter_rows, services
from claims.models import Encounter

BIRTH = datetime.date(1975, 6, 15)


@pytest.fixture
def born_1975(world):
    world.east_head.birth_date = BIRTH
    world.east_head.save()
    return world.east_head


def _values(**overrides):
    values = dict(
        kind="inpatient",
        admission_date=datetime.date(1900, 3, 1),
        discharge_date=datetime.date(1900, 3, 8),
        diagnosis_code="C16.9",
        total_cost=Decimal("8432.00"),
        in_policy_cost=Decimal("7000.00"),
    )
    values.update(overrides)
    return values


def test_service_refuses_an_admission_before_birth(world, born_1975, township_user, settlement_spy):
    with pytest.raises(services.ClaimsError) as caught:
        services.encounter_create(
            user=township_user, member=born_1975, institution=world.county_hospital, **_values()
        )
    assert caught.value.field == "admission_date"
    assert "入院日期早于该患者的出生日期" in caught.value.message
    assert "1975" not in caught.value.message  # the birth date is not disclosed
    # The day before birth too; the day of birth is possible.
    with pytest.raises(services.ClaimsError):
        services.encounter_create(
            user=township_user,
            member=born_1975,
            institution=world.county_hospital,
            **_values(admission_date=BIRTH - datetime.timedelta(days=1), discharge_date=BIRTH),
        )
    encounter, _ = services.encounter_create(
        user=township_user,
        member=born_1975,
        institution=world.county_hospital,
        **_values(admission_date=BIRTH, discharge_date=BIRTH + datetime.timedelta(days=3)),
    )
    assert encounter.pk


def test_update_and_correction_refuse_it_too(world, born_1975, county_user, settlement_spy):
    encounter = world.east_encounter
    with pytest.raises(services.ClaimsError) as caught:
        services.encounter_update(
            user=county_user,
            encounter=encounter,
            version=encounter.version,
            changes={"admission_date": datetime.date(1970, 1, 1)},
        )
    assert caught.value.field == "admission_date"
    with pytest.raises(services.ClaimsError):
        services.encounter_correct(
            user=county_user,
            encounter=encounter,
            version=encounter.version,
            changes={"admission_date": datetime.date(1970, 1, 1)},
            reason="改日期",
        )


def test_api_refuses_with_400_naming_the_field(as_user, world, born_1975, township_user, settlement_spy):
    c = as_user(township_user)
    response = c.post(
        "/api/v1/claims/encounters/",
        {
            "member": born_1975.pk,
            "institution": world.county_hospital.pk,
            "kind": "inpatient",
            "admission_date": "1900-01-01",
            "discharge_date": "1900-01-05",
            "diagnosis_code": "C16.9",
            "total_cost": "100.00",
            "in_policy_cost": "100.00",
        },
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "出生日期" in response.json()["admission_date"][0]
    assert not Encounter.objects.filter(member=born_1975, admission_date__year=1900).exists()


def test_import_refuses_the_row(world, born_1975, county_user, settlement_spy):
    values = {
        "住院号/流水号": "OLD-1",
        "姓名": born_1975.name,
        "证件号码": born_1975.id_number,
        "医疗机构": world.county_hospital.name,
        "就诊类型": "住院",
        "入院日期": "1900-01-01",
        "出院日期": "1900-01-05",
        "诊断编码": "C16.9",
        "诊断名称": "",
        "医疗总费用": "100.00",
        "政策范围内费用": "100.00",
        "单病种编码": "",
        "是否按规定转诊": "是",
    }
    header = list(encounter_rows.CANONICAL_HEADERS)
    report = services.encounter_import(rows=[header, [values[h] for h in header]], user=county_user)
    assert report.created == 0
    assert any(e.column == encounter_rows.COL_ADMISSION and "出生日期" in e.message for e in report.errors), (
        report.errors
    )
    assert not Encounter.objects.filter(ref="OLD-1").exists()


def test_trying_dates_one_by_one_does_not_find_the_birth_date(world, born_1975, township_user, settings):
    """Each refusal says only "before birth": a clinic (which sees the birth year only) that
    bisects the year with admission dates is stopped after EXISTENCE_PROBE_LIMIT refusals."""
    from django.core.cache import cache

    cache.clear()
    settings.EXISTENCE_PROBE_LIMIT = 3
    for day in (1, 2, 3):
        with pytest.raises(services.ClaimsError):
            services.encounter_create(
                user=township_user,
                member=born_1975,
                institution=world.county_hospital,
                **_values(
                    admission_date=datetime.date(1975, 1, day), discharge_date=datetime.date(1975, 7, 1)
                ),
            )
    with pytest.raises(services.ClaimsError) as caught:  # after the birth, yet refused now
        services.encounter_create(
            user=township_user,
            member=born_1975,
            institution=world.county_hospital,
            **_values(admission_date=datetime.date(1975, 7, 1), discharge_date=datetime.date(1975, 7, 2)),
        )
    assert caught.value.code == "throttled"
    cache.clear()


def test_old_admissions_are_accepted_with_a_warning(as_user, world, township_user, settings, settlement_spy):
    settings.ENCOUNTER_OLD_ADMISSION_DAYS = 365
    today = datetime.date.today()
    old = today - datetime.timedelta(days=400)
    encounter, warnings = services.encounter_create(
        user=township_user,
        member=world.east_head,
        institution=world.county_hospital,
        **_values(admission_date=old, discharge_date=old + datetime.timedelta(days=2)),
    )
    assert encounter.pk and any("已超过365天" in w for w in warnings)
    recent = today - datetime.timedelta(days=30)
    _, warnings = services.encounter_create(
        user=township_user,
        member=world.east_head,
        institution=world.county_hospital,
        **_values(admission_date=recent, discharge_date=recent + datetime.timedelta(days=2)),
    )
    assert not any("已超过" in w for w in warnings)
    # The API returns it in ``warnings``; the page as a message.
    response = as_user(township_user).post(
        "/api/v1/claims/encounters/",
        {
            "member": world.east_head.pk,
            "institution": world.county_hospital.pk,
            "kind": "inpatient",
            "admission_date": old.isoformat(),
            "discharge_date": (old + datetime.timedelta(days=2)).isoformat(),
            "diagnosis_code": "C16.9",
            "total_cost": "100.00",
            "in_policy_cost": "100.00",
        },
        content_type="application/json",
    )
    assert response.status_code == 201 and any("已超过365天" in w for w in response.json()["warnings"])
    assert reverse("claims:encounter_list")


# --- after the member's exit (registry.MemberExit) --------------------------------------------

LEFT_ON = datetime.date(2024, 5, 10)


@pytest.fixture
def left_in_may(world):
    from registry.models import MemberExit

    MemberExit.objects.create(member=world.east_head, left_on=LEFT_ON, reason="death")
    return world.east_head


def test_service_refuses_an_admission_after_the_exit(
    world, left_in_may, township_user, other_township_user, settlement_spy
):
    after = LEFT_ON + datetime.timedelta(days=1)
    with pytest.raises(services.ClaimsError) as caught:
        services.encounter_create(
            user=township_user,
            member=left_in_may,
            institution=world.county_hospital,
            **_values(admission_date=after, discharge_date=after + datetime.timedelta(days=3)),
        )
    assert caught.value.field == "admission_date"
    assert "入院日期晚于该患者的减员日期" in caught.value.message
    assert "2024-05-10" in caught.value.message  # the member's own township sees it
    # Another township's clinic is refused for the member, and learns nothing of the exit.
    with pytest.raises(services.ClaimsError) as caught:
        services.encounter_create(
            user=other_township_user,
            member=left_in_may,
            institution=world.county_hospital,
            **_values(admission_date=after, discharge_date=after + datetime.timedelta(days=3)),
        )
    assert "2024" not in caught.value.message and "减员" not in caught.value.message
    # Admitted on the day of the exit (e.g. died in hospital) is possible.
    encounter, _ = services.encounter_create(
        user=township_user,
        member=left_in_may,
        institution=world.county_hospital,
        **_values(admission_date=LEFT_ON, discharge_date=LEFT_ON),
    )
    assert encounter.pk
    assert not Encounter.objects.filter(member=left_in_may, admission_date=after).exists()


def test_update_and_correction_refuse_an_admission_after_the_exit(
    world, left_in_may, county_user, settlement_spy
):
    encounter = world.east_encounter
    assert encounter.member_id == left_in_may.pk
    after = LEFT_ON + datetime.timedelta(days=30)
    changes = {"admission_date": after, "discharge_date": after + datetime.timedelta(days=2)}
    with pytest.raises(services.ClaimsError) as caught:
        services.encounter_update(
            user=county_user, encounter=encounter, version=encounter.version, changes=changes
        )
    assert caught.value.field == "admission_date" and "减员日期" in caught.value.message
    with pytest.raises(services.ClaimsError) as caught:
        services.encounter_correct(
            user=county_user, encounter=encounter, version=encounter.version, changes=changes, reason="改日期"
        )
    assert caught.value.field == "admission_date" and "减员日期" in caught.value.message
    encounter.refresh_from_db()
    assert encounter.admission_date != after


def test_api_and_import_refuse_an_admission_after_the_exit(
    as_user, world, left_in_may, township_user, county_user, settlement_spy
):
    response = as_user(township_user).post(
        "/api/v1/claims/encounters/",
        {
            "member": left_in_may.pk,
            "institution": world.county_hospital.pk,
            "kind": "inpatient",
            "admission_date": "2024-06-01",
            "discharge_date": "2024-06-05",
            "diagnosis_code": "C16.9",
            "total_cost": "100.00",
            "in_policy_cost": "100.00",
        },
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "减员日期" in response.json()["admission_date"][0]
    values = {
        "住院号/流水号": "LATE-1",
        "姓名": left_in_may.name,
        "证件号码": left_in_may.id_number,
        "医疗机构": world.county_hospital.name,
        "就诊类型": "住院",
        "入院日期": "2024-06-01",
        "出院日期": "2024-06-05",
        "诊断编码": "C16.9",
        "诊断名称": "",
        "医疗总费用": "100.00",
        "政策范围内费用": "100.00",
        "单病种编码": "",
        "是否按规定转诊": "是",
    }
    header = list(encounter_rows.CANONICAL_HEADERS)
    report = services.encounter_import(rows=[header, [values[h] for h in header]], user=county_user)
    assert report.created == 0
    assert any(e.column == encounter_rows.COL_ADMISSION and "减员日期" in e.message for e in report.errors), (
        report.errors
    )
    assert not Encounter.objects.filter(ref="LATE-1").exists()
    assert not Encounter.objects.filter(member=left_in_may, admission_date=datetime.date(2024, 6, 1)).exists()
