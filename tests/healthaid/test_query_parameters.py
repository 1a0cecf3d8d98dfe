"""Attack 6 (docs/security.md): odd query parameters answer 400 / a form error / 404, never a
500 — on pages and the API, for every role. Run on PostgreSQL as well (NUL bytes)."""

import pytest

from tests.factories import HouseholdFactory, MemberFactory

LISTS = [
    "/claims/encounters/",
    "/api/v1/claims/encounters/",
    "/registry/members/",
    "/api/v1/registry/members/",
    "/registry/households/",
    "/api/v1/registry/households/",
    "/claims/illnesses/",
    "/api/v1/claims/illnesses/",
    "/claims/screenings/",
    "/api/v1/claims/screenings/",
    "/claims/members/search/",
    "/settlement/",
    "/api/v1/settlement/settlements/",
    "/dashboards/",
    "/dashboards/townships/",
    "/api/v1/dashboards/townships/",
    "/dashboards/risk/",
    "/claims/contracts/",
    "/claims/followups/",
    "/settlement/ledger/",
    "/api/v1/settlement/ledger/",
    "/dashboards/funds/",
    "/dashboards/survey/",
]
ODD = [
    {"year": "0"},
    {"year": "-1"},
    {"year": "99999999999"},
    {"period": "month", "year": "99999"},
    {"period": "month", "month": "99999999999999999999"},
    {"year": "1e400"},
    {"page": "99999"},
    {"page": "-1"},
    {"page": "abc"},
    {"date_from": "0001-01-01"},
    {"date_from": "99999-01-01"},
    {"member": "99999999999999999999"},
    {"institution": "-99999999999999999999"},
    {"township": "99999999999999999999"},
    {"ordering": "-" * 300},
]


@pytest.mark.parametrize("url", LISTS)
def test_no_server_error_on_odd_parameters(client, county_user, township_user, url):
    for user in (county_user, township_user):
        client.force_login(user)
        for params in ODD:
            response = client.get(url, params)
            assert response.status_code < 500, (url, params, response.status_code)


@pytest.mark.parametrize(
    "url", ["/registry/members/", "/api/v1/registry/members/", "/claims/members/search/"]
)
def test_nul_bytes_are_refused_with_400(client, county_user, url):
    client.force_login(county_user)
    assert client.get(url, {"q": "\x00"}).status_code == 400
    assert client.get(url, {"q": "王\x00"}).status_code == 400
    assert client.get(url + "?q=%00").status_code == 400


def test_years_out_of_range_are_a_400_on_the_api_and_a_form_error_on_pages(client, county_user, settings):
    client.force_login(county_user)
    response = client.get("/api/v1/claims/encounters/", {"year": "99999"})
    assert response.status_code == 400 and "year" in response.json()
    assert client.get("/api/v1/claims/encounters/", {"year": "1999"}).status_code == 400
    assert client.get("/api/v1/claims/encounters/", {"year": "2025"}).status_code == 200
    assert settings.YEAR_MIN == 2000 and settings.YEAR_MAX == 2100
    page = client.get("/claims/encounters/", {"year": "0"})
    assert page.status_code == 200


def test_page_out_of_range_is_404(client, county_user, areas):
    household = HouseholdFactory(village=areas["east_village"])
    MemberFactory(household=household)
    client.force_login(county_user)
    assert client.get("/registry/members/", {"page": "99999"}).status_code == 404
    assert client.get("/api/v1/registry/members/", {"page": "99999"}).status_code == 404
