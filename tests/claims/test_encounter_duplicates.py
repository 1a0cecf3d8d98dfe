"""The same stay entered twice: suspected duplicates refused unless confirmed with a reason
(service, API, pages, import), and idempotent entry (``Idempotency-Key``, the form token)."""

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from claims import services
from claims.models import Encounter
from core.models import IdempotencyKey
from tests.claims.test_claims_import import HEADER, _row
from tests.factories import make_user

API = "/api/v1/claims/encounters/"


def _stay(world, **overrides):
    values = dict(
        member=world.east_son,
        institution=world.county_hospital,
        kind="inpatient",
        admission_date=datetime.date(2025, 5, 1),
        discharge_date=datetime.date(2025, 5, 9),
        total_cost=Decimal("28937.28"),
        in_policy_cost=Decimal("25000.00"),
        diagnosis_code="I63.9",
    )
    values.update(overrides)
    return values


def _json(world, **overrides):
    data = {
        "member": world.east_son.pk,
        "institution": world.county_hospital.pk,
        "kind": "inpatient",
        "admission_date": "2025-05-01",
        "discharge_date": "2025-05-09",
        "total_cost": "28937.28",
        "in_policy_cost": "25000.00",
        "diagnosis_code": "I63.9",
    }
    data.update(overrides)
    return data


# --- the service ----------------------------------------------------------------------------------


def test_an_identical_stay_is_refused_unless_confirmed_with_a_reason(world, township_user, settlement_spy):
    first, _ = services.encounter_create(user=township_user, **_stay(world))
    with pytest.raises(services.ClaimsError) as refused:
        services.encounter_create(user=township_user, **_stay(world))
    assert refused.value.code == "duplicate" and refused.value.field == "confirm_duplicate"
    assert "疑似重复录入" in refused.value.message and first.ref in refused.value.message
    with pytest.raises(services.ClaimsError) as no_reason:
        services.encounter_create(user=township_user, confirm_duplicate=True, **_stay(world))
    assert no_reason.value.field == "duplicate_reason"
    assert Encounter.objects.filter(member=world.east_son).count() == 1

    second, _ = services.encounter_create(
        user=township_user, confirm_duplicate=True, duplicate_reason="同日转院后再次入院", **_stay(world)
    )
    assert second.duplicate_reason == "同日转院后再次入院" and first.duplicate_reason == ""
    assert Encounter.objects.filter(member=world.east_son).count() == 2


@pytest.mark.parametrize(
    "change",
    [
        {"total_cost": Decimal("28937.29")},
        {"admission_date": datetime.date(2025, 5, 2)},
        {"discharge_date": datetime.date(2025, 5, 10)},
        {"kind": "outpatient", "discharge_date": None},
        {"institution": "city_hospital"},
        {"member": "east_head"},
    ],
)
def test_a_stay_that_differs_in_one_identifying_field_is_not_a_duplicate(
    world, township_user, settlement_spy, change
):
    services.encounter_create(user=township_user, **_stay(world))
    change = {
        k: getattr(world, v) if isinstance(v, str) and hasattr(world, v) else v for k, v in change.items()
    }
    encounter, _ = services.encounter_create(user=township_user, **_stay(world, **change))
    assert encounter.duplicate_reason == ""


def test_a_corrected_encounter_no_longer_counts_and_edits_are_checked_too(
    world, township_user, settlement_spy
):
    first, _ = services.encounter_create(user=township_user, **_stay(world))
    other, _ = services.encounter_create(user=township_user, **_stay(world, total_cost=Decimal("30000.00")))
    # Editing the other stay into a copy of the first is refused the same way.
    with pytest.raises(services.ClaimsError) as refused:
        services.encounter_update(
            user=township_user, encounter=other, version=1, changes={"total_cost": Decimal("28937.28")}
        )
    assert refused.value.code == "duplicate"
    # Editing a field outside the identity (the diagnosis) of a confirmed duplicate asks nothing.
    services.encounter_update(
        user=township_user, encounter=first, version=1, changes={"diagnosis_code": "I63.8"}
    )
    # Once the first is corrected (settled, then replaced), only its correction is current.
    settlement_spy.settled.add(first.pk)
    corrected, _ = services.encounter_correct(
        user=township_user,
        encounter=first,
        version=2,
        changes={"total_cost": Decimal("28000.00")},
        reason="医院重新结算",
    )
    again, _ = services.encounter_create(user=township_user, **_stay(world))
    assert again.duplicate_reason == "" and corrected.is_current


def test_an_idempotency_key_makes_a_repeat_return_the_first_encounter(world, township_user, settlement_spy):
    first, _ = services.encounter_create(user=township_user, idempotency_key="k-1", **_stay(world))
    again, _ = services.encounter_create(user=township_user, idempotency_key="k-1", **_stay(world))
    assert again.pk == first.pk and again._replayed and not first._replayed
    assert Encounter.objects.filter(member=world.east_son).count() == 1
    assert settlement_spy.queued == [(world.east_son.pk, 2025)]  # queued once
    # The same key with another request is refused, and creates nothing.
    with pytest.raises(services.ClaimsError) as reused:
        services.encounter_create(
            user=township_user, idempotency_key="k-1", **_stay(world, total_cost=Decimal("30000.00"))
        )
    assert reused.value.code == "key_reused"
    assert Encounter.objects.filter(member=world.east_son).count() == 1
    # Keys belong to their user: another clerk's "k-1" is another request (here a duplicate).
    colleague = make_user("clinic-b", "township", township=world.east)
    with pytest.raises(services.ClaimsError) as duplicate:
        services.encounter_create(user=colleague, idempotency_key="k-1", **_stay(world))
    assert duplicate.value.code == "duplicate"
    # A refused request leaves its key unused: sent again, confirmed, it is saved.
    confirmed, _ = services.encounter_create(
        user=colleague,
        idempotency_key="k-1",
        confirm_duplicate=True,
        duplicate_reason="再次入院",
        **_stay(world),
    )
    assert confirmed.pk != first.pk and IdempotencyKey.objects.filter(key="k-1").count() == 2


def test_the_database_refuses_a_second_row_of_one_key(world, township_user):
    from django.db import IntegrityError, transaction

    IdempotencyKey.objects.create(user=township_user, scope="s", key="k", fingerprint="a")
    with pytest.raises(IntegrityError), transaction.atomic():
        IdempotencyKey.objects.create(user=township_user, scope="s", key="k", fingerprint="a")


# --- the API ----------------------------------------------------------------------------------------


def test_api_refuses_a_duplicate_with_409_and_accepts_it_confirmed(
    as_user, world, township_user, settlement_spy
):
    c = as_user(township_user)
    assert c.post(API, _json(world), content_type="application/json").status_code == 201
    response = c.post(API, _json(world), content_type="application/json")
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "duplicate" and "疑似重复录入" in body["detail"]
    response = c.post(API, _json(world, confirm_duplicate=True), content_type="application/json")
    assert response.status_code == 400 and "duplicate_reason" in response.json()
    response = c.post(
        API,
        _json(world, confirm_duplicate=True, duplicate_reason="同日两次住院"),
        content_type="application/json",
    )
    assert response.status_code == 201 and response.json()["duplicate_reason"] == "同日两次住院"
    assert "confirm_duplicate" not in response.json()
    assert Encounter.objects.filter(member=world.east_son).count() == 2


def test_api_idempotency_key_replays_the_first_result(as_user, world, township_user, settlement_spy):
    c = as_user(township_user)
    first = c.post(API, _json(world), content_type="application/json", HTTP_IDEMPOTENCY_KEY="abc-1")
    again = c.post(API, _json(world), content_type="application/json", HTTP_IDEMPOTENCY_KEY="abc-1")
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"] and again.json()["ref"] == first.json()["ref"]
    assert again["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first
    assert Encounter.objects.filter(member=world.east_son).count() == 1
    other = c.post(
        API,
        _json(world, total_cost="30000.00"),
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="abc-1",
    )
    assert other.status_code == 422 and "幂等键" in other.json()["detail"]
    long_key = c.post(API, _json(world), content_type="application/json", HTTP_IDEMPOTENCY_KEY="x" * 201)
    assert long_key.status_code == 400


# --- pages ------------------------------------------------------------------------------------------


def _form(world, token, **overrides):
    form = {
        "member_query": world.east_son.id_number,
        "institution": world.county_hospital.pk,
        "kind": "inpatient",
        "admission_date": "2025-05-01",
        "discharge_date": "2025-05-09",
        "diagnosis_code": "I63.9",
        "total_cost": "28937.28",
        "in_policy_cost": "25000.00",
        "referred": "on",
        "form_token": token,
    }
    form.update(overrides)
    return form


def test_a_form_submitted_twice_saves_once(as_user, world, township_user, settlement_spy):
    c = as_user(township_user)
    url = reverse("claims:encounter_create")
    token = c.get(url).context["form"]["form_token"].value()
    assert token and len(token) == 32
    assert c.get(url).context["form"]["form_token"].value() != token  # a new token per page
    first = c.post(url, _form(world, token))
    again = c.post(url, _form(world, token), follow=True)
    encounter = Encounter.objects.get(member=world.east_son)
    assert first.url == again.redirect_chain[0][0] == reverse("claims:encounter_detail", args=[encounter.pk])
    assert "已经提交过" in again.content.decode()
    # The same token with other content: refused, and the page carries a fresh token.
    response = c.post(url, _form(world, token, total_cost="30500.00"))
    assert "幂等键" in response.content.decode()
    fresh = response.context["form"]["form_token"].value()
    assert fresh != token
    c.post(url, _form(world, fresh, total_cost="30500.00"))
    assert Encounter.objects.filter(member=world.east_son).count() == 2


def test_the_form_says_suspected_duplicate_and_keeps_the_confirmed_reason(
    as_user, world, township_user, settlement_spy
):
    c = as_user(township_user)
    url = reverse("claims:encounter_create")
    page = c.get(url).content.decode()
    assert 'type="checkbox" name="confirm_duplicate"' not in page  # hidden until needed
    c.post(url, _form(world, "t1"))
    response = c.post(url, _form(world, "t2"))
    page = response.content.decode()
    assert response.status_code == 200 and "疑似重复录入" in page
    assert 'type="checkbox" name="confirm_duplicate"' in page and "确认不是重复录入" in page
    response = c.post(url, _form(world, "t2", confirm_duplicate="on"))
    assert "请填写原因" in response.content.decode()
    response = c.post(
        url, _form(world, "t2", confirm_duplicate="on", duplicate_reason="同日两次住院"), follow=True
    )
    second = Encounter.objects.filter(member=world.east_son).order_by("-id").first()
    assert second.duplicate_reason == "同日两次住院"
    detail = c.get(reverse("claims:encounter_detail", args=[second.pk])).content.decode()
    assert "确认非重复录入" in detail and "同日两次住院" in detail


# --- the import -------------------------------------------------------------------------------------


def test_the_import_rejects_rows_that_repeat_a_stay(world, county_user, settlement_spy):
    existing = world.east_encounter  # 王秀英, 县人民医院, 门诊 2025-03-10, 200.00
    copy = _row(
        world,
        "ZY-COPY",
        **{
            "就诊类型": "门诊",
            "入院日期": "2025-03-10",
            "出院日期": "",
            "医疗总费用": "200.00",
            "政策范围内费用": "150.00",
        },
    )
    stay = {"入院日期": "2025-06-01", "出院日期": "2025-06-03"}
    twice = [_row(world, "ZY-A", **stay), _row(world, "ZY-B", **stay)]
    rows = [HEADER, copy, *twice]
    report = services.encounter_import(rows=rows, user=county_user)
    assert report.refused and report.rejected_rows == [2, 4]
    messages = {e.row: e.message for e in report.errors}
    assert "疑似重复录入" in messages[2] and existing.ref in messages[2]
    assert "疑似重复录入" in messages[4] and "ZY-A" in messages[4]
    report = services.encounter_import(rows=rows, user=county_user, skip_invalid=True)
    assert report.created == 1 and not Encounter.objects.filter(ref__in=["ZY-COPY", "ZY-B"]).exists()
    # Re-importing the same file: the imported row is unchanged, the copies still refused.
    report = services.encounter_import(rows=rows, user=county_user, skip_invalid=True)
    assert report.created == 0 and report.unchanged == 1 and report.rejected_rows == [2, 4]
