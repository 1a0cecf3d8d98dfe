"""Dashboard pages opened from the menu (no query string) as a new user does on day one."""

import re

import pytest
from django.urls import reverse

from dashboards import services
from settlement.models import Settlement
from tests.dashboards.conftest import TODAY, YEAR
from tests.factories import EncounterFactory, make_settlement
from tests.sheets import workbook

pytestmark = pytest.mark.django_db

PAGES = [("dashboards:risk_list", "risk"), ("dashboards:survey", "survey")]


def _rows(client, url):
    # Row 1: the title with the filters (core.export); row 2: the header.
    return list(workbook(client.get(url)).active.iter_rows(values_only=True))[2:]


def _selected_year(page):
    match = re.search(r'<option value="(\d{4})" selected>', page)
    return int(match.group(1)) if match else None


@pytest.mark.parametrize("name,export", PAGES)
def test_page_from_the_menu_shows_the_latest_year_with_settlements(client, county, county_user, name, export):
    """Regression: opened from the menu (no ?year=) both pages showed 暂无数据."""
    assert TODAY.year == YEAR + 1 and not Settlement.objects.filter(year=TODAY.year).exists()
    services.aggregates_refresh(year=YEAR)
    client.force_login(county_user)
    url = reverse(name)
    expected = _rows(client, f"{url}?year={YEAR}&export={export}")
    assert expected
    page = client.get(url).content.decode()
    assert "暂无数据" not in page
    assert f"{YEAR}年" in page and _selected_year(page) == YEAR
    assert _rows(client, f"{url}?export={export}") == expected


@pytest.mark.parametrize("name,export", PAGES)
def test_page_from_the_menu_shows_this_year_once_it_has_settlements(
    client, county, county_user, name, export
):
    member = Settlement.objects.filter(year=YEAR).first().member
    encounter = EncounterFactory(member=member, admission_date=TODAY.replace(month=1, day=5))
    make_settlement(encounter, {})
    client.force_login(county_user)
    page = client.get(reverse(name)).content.decode()
    assert _selected_year(page) == TODAY.year and f"{TODAY.year}年" in page
