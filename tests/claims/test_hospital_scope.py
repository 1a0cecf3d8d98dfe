"""A 定点医疗机构 user sees its own institution's encounters, settlements, statements and
patients — pages, API, exports — and nothing else; county staff manage its API tokens."""

import pytest
from rest_framework.test import APIClient

from claims import selectors
from claims.models import InstitutionToken
from tests.factories import (
    EncounterFactory,
    HouseholdFactory,
    InstitutionFactory,
    MemberFactory,
    hospital_token,
    make_hospital_user,
)
from tests.sheets import workbook


@pytest.fixture
def world(areas):
    own = InstitutionFactory(name="县人民医院", level="county")
    other = InstitutionFactory(name="县中医院", level="county")
    ours = MemberFactory(household=HouseholdFactory(village=areas["east_village"]), name="本院患者")
    theirs = MemberFactory(household=HouseholdFactory(village=areas["east_village"]), name="他院患者")
    mine = [EncounterFactory(member=ours, institution=own) for _ in range(3)]
    foreign = EncounterFactory(member=theirs, institution=other)
    return type(
        "World",
        (),
        dict(
            own=own,
            other=other,
            ours=ours,
            theirs=theirs,
            mine=mine,
            foreign=foreign,
            user=make_hospital_user("h", own),
        ),
    )


def test_selectors_scope_by_institution(world):
    assert set(selectors.encounters_for(world.user)) == set(world.mine)
    assert list(selectors.members_for(world.user)) == [world.ours]


def test_an_unbound_hospital_user_sees_nothing(world):
    from tests.factories import make_user

    unbound = make_user("unbound", "hospital")
    assert not selectors.encounters_for(unbound).exists()
    assert not selectors.members_for(unbound).exists()


def test_encounter_pages_and_export(client, world):
    client.force_login(world.user)
    page = client.get("/claims/encounters/")
    assert page.status_code == 200
    text = page.content.decode()
    assert world.mine[0].ref in text and world.foreign.ref not in text
    assert client.get(f"/claims/encounters/{world.foreign.pk}/").status_code == 404
    assert client.get(f"/claims/encounters/{world.mine[0].pk}/").status_code == 200
    sheet = workbook(client.get("/claims/encounters/", {"export": "xlsx"})).active
    refs = {cell for row in sheet.iter_rows(values_only=True) for cell in row}
    assert {e.ref for e in world.mine} <= refs and world.foreign.ref not in refs


def test_encounter_api_lists_its_own_in_few_queries(world, django_assert_max_num_queries):
    client = APIClient()
    client.force_login(world.user)
    with django_assert_max_num_queries(12):
        listed = client.get("/api/v1/claims/encounters/").json()
    assert {row["ref"] for row in listed["results"]} == {e.ref for e in world.mine}
    assert client.get(f"/api/v1/claims/encounters/{world.foreign.pk}/").status_code == 404
    # No writes through the ordinary encounter API, no registry at all.
    assert client.post("/api/v1/claims/encounters/", {}).status_code == 403
    assert client.patch(f"/api/v1/claims/encounters/{world.mine[0].pk}/", {}).status_code == 403
    assert client.get("/api/v1/registry/members/").status_code == 403
    assert client.get("/registry/members/").status_code == 403
    assert client.get("/dashboards/").status_code == 403
    assert client.get("/settlement/ledger/").status_code == 403


# --- tokens: county staff's page and the admin -----------------------------------------------------


def test_county_staff_create_a_token_on_the_page_and_revoke_it(client, county_user, world):
    client.force_login(county_user)
    page = client.post(
        "/claims/tokens/", {"institution": world.own.pk, "account": world.user.pk, "note": "收费处"}
    )
    assert page.status_code == 200
    token = InstitutionToken.objects.get()
    key = page.context["new_key"]
    assert key.startswith("hw_") and key in page.content.decode()
    assert key not in str(InstitutionToken.objects.values_list().get())  # only the digest is kept
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/v1/claims/encounters/").status_code == 200
    assert key not in client.get("/claims/tokens/").content.decode()  # shown once
    assert client.post(f"/claims/tokens/{token.pk}/revoke/").status_code == 302
    assert api.get("/api/v1/claims/encounters/").status_code == 401


def test_a_token_goes_only_to_a_hospital_account_of_that_institution(client, county_user, world):
    client.force_login(county_user)
    page = client.post("/claims/tokens/", {"institution": world.other.pk, "account": world.user.pk})
    assert page.status_code == 200 and "new_key" not in page.context
    assert not InstitutionToken.objects.exists()


@pytest.mark.parametrize("who", ["township_user", "supervisor"])
def test_only_county_staff_manage_tokens(client, request, who, world, county_user):
    token, _ = hospital_token(county_user, world.user)
    client.force_login(request.getfixturevalue(who))
    assert client.get("/claims/tokens/").status_code == 403
    assert client.post(f"/claims/tokens/{token.pk}/revoke/").status_code == 403
    client.force_login(world.user)
    assert client.get("/claims/tokens/").status_code == 403
    token.refresh_from_db()
    assert token.revoked_at is None


def test_admin_creates_a_token_through_the_service_and_revokes_with_the_action(client, world):
    from tests.factories import make_user

    county_user = make_user("admin", "county", is_staff=True, is_superuser=True)
    client.force_login(county_user)
    page = client.post(
        "/admin/claims/institutiontoken/add/",
        {"institution": world.own.pk, "user": world.user.pk, "note": ""},
    )
    assert page.status_code == 200, page.content[:500]
    token = InstitutionToken.objects.get()
    assert page.context["key"].startswith("hw_") and token.prefix == page.context["key"][:10]
    client.post(
        "/admin/claims/institutiontoken/",
        {"action": "revoke", "_selected_action": [token.pk]},
    )
    token.refresh_from_db()
    assert token.revoked_at is not None and token.revoked_by == county_user
