"""Accessibility: axe-core (``axe-playwright-python``) in the real browser, against gunicorn, on
the main pages of each role — no serious or critical violation (colour contrast ≥ 4.5:1,
labels, names, landmarks…). The pages are rendered as served, under the app's own headers
(nothing is bypassed), on the dashboards tests' small county."""

import json

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.utils import timezone

from settlement.models import Settlement
from tests.dashboards.conftest import YEAR, build_county
from tests.e2e.conftest import ARTIFACTS, login

BLOCKING = {"serious", "critical"}


@pytest.fixture
def small_county(areas, county_user, township_user, supervisor):
    """Two townships with households, encounters and settlements, aggregates refreshed; one
    settlement of 城关镇 (the clinic user's township) for the statement page."""
    from dashboards.services import aggregates_refresh

    build_county(
        townships=2,
        villages_per_township=1,
        households_per_village=3,
        encounters_per_member=2,
        township_objects=[areas["east"], areas["west"]],
    )
    aggregates_refresh(years=sorted({YEAR, timezone.localdate().year}))
    return Settlement.objects.filter(
        member__household__village__township=areas["east"], superseded_by__isnull=True
    ).first()


# (name, path) per role: what each one opens in a working day. Supervisors do not write
# (no encounter form); the roster import is county staff's.
COMMON = [
    ("home", "/"),
    ("household-list", "/registry/households/"),
    ("member-list", "/registry/members/"),
    ("encounter-list", "/claims/encounters/"),
    ("settlement-list", "/settlement/"),
    ("statement", "/settlement/{statement}/statement/"),
    ("dashboards-overview", "/dashboards/"),
    ("risk-list", "/dashboards/risk/"),
    ("aid-list", "/aid/"),
]
PAGES = {
    "county": [
        *COMMON,
        ("encounter-form", "/claims/encounters/new/"),
        ("roster-import", "/registry/imports/"),
        ("enrollment-import", "/registry/enrollment-imports/"),
        ("enrollment-figures", "/registry/enrollment/"),
    ],
    "clinic": [*COMMON, ("encounter-form", "/claims/encounters/new/"), ("aid-form", "/aid/new/?q=a")],
    "leader": COMMON,
}


def _blocking(results) -> list[str]:
    """One line per serious/critical violation: rule, impact, the first few elements."""
    lines = []
    for violation in results.response["violations"]:
        if violation["impact"] in BLOCKING:
            targets = [" ".join(map(str, node["target"])) for node in violation["nodes"]]
            lines.append(
                f"{violation['id']} ({violation['impact']}, {len(targets)} elements): "
                f"{violation['help']} — {'; '.join(targets[:5])}"
            )
    return lines


def test_login_page_has_no_serious_violations(live_app, browser_page):
    browser_page.goto(live_app + "/accounts/login/")
    assert _blocking(Axe().run(browser_page)) == []


@pytest.mark.parametrize("username", ["county", "clinic", "leader"])
def test_main_pages_have_no_serious_violations(live_app, browser_page, small_county, username):
    assert small_county is not None, "the small county has a settlement in 城关镇"
    page = browser_page
    login(page, live_app, username)
    axe = Axe()
    problems = {}
    for name, path in PAGES[username]:
        response = page.goto(live_app + path.format(statement=small_county.pk))
        assert response.status == 200, (name, response.status)
        page.wait_for_load_state("networkidle")
        results = axe.run(page)
        page.screenshot(path=str(ARTIFACTS / f"a11y-{username}-{name}.png"), full_page=True)
        found = _blocking(results)
        if found:
            # What to fix, for CI's artifacts: axe's findings with each element's colours and ratio.
            (ARTIFACTS / f"a11y-{username}-{name}.json").write_text(
                json.dumps(results.response["violations"], ensure_ascii=False, indent=1), encoding="utf-8"
            )
            problems[name] = found
    assert problems == {}
