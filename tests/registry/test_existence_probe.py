"""Attack 8 (docs/security.md): a township clinic must not learn that an ID number or an
encounter reference is registered in another township."""

import datetime
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.urls import reverse

from claims import services as claims_services
from registry import services
from registry.models import Member
from tests.factories import HouseholdFactory, InstitutionFactory, MemberFactory, next_id_number


@pytest.fixture(autouse=True)
def _fresh_counters():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def people(areas):
    east = HouseholdFactory(village=areas["east_village"], number="E001")
    west = HouseholdFactory(village=areas["west_village"], number="W001")
    return {
        "east": east,
        "east_head": MemberFactory(household=east, name="王秀英", relation="head"),
        "west_head": MemberFactory(household=west, name="李建国", relation="head"),
    }


def _add(user, household, id_number):
    return services.member_create(
        user=user, household=household, name="新成员", id_number=id_number, relation="son"
    )


def test_duplicate_id_message_does_not_say_where(township_user, people):
    with pytest.raises(services.RegistryError) as elsewhere:
        _add(township_user, people["east"], people["west_head"].id_number)
    with pytest.raises(services.RegistryError) as here:
        _add(township_user, people["east"], people["east_head"].id_number)
    assert elsewhere.value.message == here.value.message == services.DUPLICATE_ID_TOWNSHIP
    assert "其他成员" not in elsewhere.value.message and "北关" not in elsewhere.value.message
    assert elsewhere.value.field == "id_number"


def test_county_staff_get_the_precise_message(county_user, people):
    with pytest.raises(services.RegistryError) as caught:
        _add(county_user, people["east"], people["west_head"].id_number)
    assert caught.value.message == services.DUPLICATE_ID_COUNTY


def test_page_and_api_answer_alike(client, township_user, people):
    client.force_login(township_user)
    form = {
        "name": "新成员",
        "relation": "son",
        "health_status": "healthy",
        "insured": "true",
        "aid_category": "none",
        "id_number": people["west_head"].id_number,
    }
    page = client.post(reverse("registry:member_create", args=[people["east"].pk]), form)
    assert page.status_code == 200 and services.DUPLICATE_ID_TOWNSHIP in page.content.decode()
    assert "已存在" not in page.content.decode() and "其他成员" not in page.content.decode()
    api = client.post(
        "/api/v1/registry/members/",
        {
            "household": people["east"].pk,
            "name": "新成员",
            "id_number": people["west_head"].id_number,
            "relation": "son",
        },
        content_type="application/json",
    )
    assert api.status_code == 400 and api.json()["id_number"] == [services.DUPLICATE_ID_TOWNSHIP]
    # The edit form too (Django's own uniqueness message would say it exists).
    edit = client.post(
        reverse("registry:member_edit", args=[people["east_head"].pk]),
        {**form, "relation": "head", "version": people["east_head"].version},
    )
    assert services.DUPLICATE_ID_TOWNSHIP in edit.content.decode()
    assert "已存在" not in edit.content.decode()


def test_probing_is_rate_limited(township_user, people, settings):
    settings.EXISTENCE_PROBE_LIMIT = 3
    for _ in range(3):
        with pytest.raises(services.RegistryError):
            _add(township_user, people["east"], people["west_head"].id_number)
    # Now every try is refused, whether the number exists or not: no more answers.
    fresh = next_id_number()
    with pytest.raises(services.RegistryError) as caught:
        _add(township_user, people["east"], fresh)
    assert caught.value.code == "throttled" and not Member.objects.filter(id_number=fresh).exists()


def test_race_on_the_id_number_is_the_domain_error(township_user, people, monkeypatch):
    """Two clerks saving the same new number at once: the loser's uniqueness check saw nothing
    (simulated by hiding the first member from it), the database refuses, the clerk gets the
    message, not a 500."""
    number = next_id_number()
    MemberFactory(household=people["east"], id_number=number, relation="son")
    real_filter = Member.objects.filter
    calls = []

    def blind_first_check(*args, **kwargs):
        qs = real_filter(*args, **kwargs)
        if kwargs.get("id_number") == number and not calls:
            calls.append(1)
            return qs.none()
        return qs

    monkeypatch.setattr(Member.objects, "filter", blind_first_check)
    with pytest.raises(services.RegistryError) as caught:
        _add(township_user, people["east"], number)
    assert caught.value.message == services.DUPLICATE_ID_TOWNSHIP


def _visit(user, member, institution, ref):
    return claims_services.encounter_create(
        user=user,
        member=member,
        institution=institution,
        kind="outpatient",
        admission_date=datetime.date.today() - datetime.timedelta(days=3),
        total_cost=Decimal("100.00"),
        in_policy_cost=Decimal("80.00"),
        diagnosis_code="K29.7",
        ref=ref,
    )


def test_duplicate_encounter_ref_does_not_say_where(township_user, county_user, people, settings):
    hospital = InstitutionFactory(name="县人民医院", level="county")
    _visit(county_user, people["west_head"], hospital, "W-REF-1")
    _visit(county_user, people["east_head"], hospital, "E-REF-1")
    messages = []
    for ref in ("W-REF-1", "E-REF-1"):
        with pytest.raises(claims_services.ClaimsError) as caught:
            _visit(township_user, people["east_head"], hospital, ref)
        messages.append(caught.value.message)
    assert messages[0] == messages[1] == claims_services.DUPLICATE_REF_TOWNSHIP
    with pytest.raises(claims_services.ClaimsError) as county:
        _visit(county_user, people["east_head"], hospital, "W-REF-1")
    assert "已存在" in county.value.message
    settings.EXISTENCE_PROBE_LIMIT = 2
    with pytest.raises(claims_services.ClaimsError) as caught:
        _visit(township_user, people["east_head"], hospital, "NEW-REF-9")
    assert caught.value.code == "throttled"
