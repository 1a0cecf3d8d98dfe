"""Dashboard figures against counts computed directly from the rows (conftest.expected), also
after a re-settlement and registry changes; constant query counts."""

import datetime
from decimal import Decimal

import pytest
from django.db import connection, reset_queries
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from dashboards import selectors, services
from dashboards.definitions import Period
from dashboards.models import EncounterCell, YearStamp
from registry.models import Household, Member
from settlement.models import Settlement
from tests.dashboards.conftest import TODAY, YEAR, build_county, expected, figures_of
from tests.factories import make_settlement, make_user

pytestmark = pytest.mark.django_db

PERIODS = [Period("year", YEAR), Period("quarter", YEAR, 2), Period("month", YEAR, 11)]


def _check_board(user, period, townships):
    board = selectors.board(user, period, on=TODAY)
    groups = {group.id: group for group in board.groups}
    for township in townships:
        want = expected(township, period.start, period.end)
        got = figures_of(groups[township.pk].figures)
        assert got == {key: want[key] for key in got}, (period.label, township.name)
    want = expected(None, period.start, period.end)
    assert figures_of(board.total) == {key: want[key] for key in figures_of(board.total)}
    funds = dict(board.funds())
    for fund, amount in want["by_fund"].items():
        assert funds[fund] == amount
    assert funds["个人自付"] == want["self_pay"]
    return board


@pytest.mark.parametrize("period", PERIODS, ids=lambda p: p.label)
def test_figures_match_the_rows(county, county_user, period):
    services.aggregates_refresh(year=YEAR)
    board = _check_board(county_user, period, county)
    # The data has something of everything, so the comparison means something.
    total = board.total
    assert total.encounters and total.settlements and total.illnesses_identified and total.households_signed
    assert total.self_pay_ratio is not None


def test_village_level_matches_the_rows(county, county_user):
    services.aggregates_refresh(year=YEAR)
    township = county[0]
    period = Period("year", YEAR)
    board = selectors.board(county_user, period, township=township, on=TODAY)
    assert [g.name for g in board.groups] == sorted(v.name for v in township.villages.all())
    assert (
        sum(g.figures.encounters for g in board.groups)
        == expected(township, period.start, period.end)["encounters"]
    )
    want = expected(township, period.start, period.end)
    assert figures_of(board.total) == {key: want[key] for key in figures_of(board.total)}


def test_resettlement_and_registry_changes_show_after_a_refresh(county, county_user):
    services.aggregates_refresh(year=YEAR)
    period = Period("year", YEAR)
    # Re-settle a poor inpatient's stay: the patient now pays more.
    household = Household.objects.filter(village__township=county[0]).first()
    household.poverty_status = "poor"
    household.save()
    member = household.members.first()
    stay = Settlement.objects.filter(is_current=True, member=member).first()
    if stay is None:
        from tests.factories import EncounterFactory, InstitutionFactory

        encounter = EncounterFactory(
            member=member,
            institution=InstitutionFactory(level="county"),
            kind="inpatient",
            admission_date=datetime.date(YEAR, 5, 3),
            discharge_date=datetime.date(YEAR, 5, 9),
            total_cost=Decimal("9000.00"),
            in_policy_cost=Decimal("8000.00"),
        )
        encounter.refresh_from_db()
        stay = make_settlement(encounter, {"basic_insurance": Decimal("6000.00")})
    make_settlement(stay.encounter, {"basic_insurance": Decimal("1.00")}, replaces=stay)
    # Registry: an insured flag flips, a household's income drops, a household leaves the register's poor.
    flipped = Member.objects.filter(household__village__township=county[1]).exclude(insured=True).first()
    flipped.insured = True
    flipped.save()
    Household.objects.filter(pk=household.pk).update(annual_income=Decimal("10.00"))
    Household.objects.filter(village__township=county[1]).exclude(pk=household.pk).update(
        poverty_status="lifted"
    )

    stale = selectors.board(county_user, period, on=TODAY)
    assert figures_of(stale.total) != {
        k: v for k, v in expected(None, period.start, period.end).items() if k != "by_fund"
    }
    services.aggregates_refresh(year=YEAR)
    _check_board(county_user, period, county)


def test_refresh_of_some_villages_replaces_only_their_cells(county, county_user):
    services.aggregates_refresh(year=YEAR)
    before = {
        row["village_id"]: row["n"]
        for row in EncounterCell.objects.values("village_id").annotate(n=Sum("encounters"))
    }
    village = county[0].villages.first()
    services.aggregates_refresh(year=YEAR, villages=[village])
    after = {
        row["village_id"]: row["n"]
        for row in EncounterCell.objects.values("village_id").annotate(n=Sum("encounters"))
    }
    assert before == after
    _check_board(county_user, Period("year", YEAR), county)


def test_stamp_and_refresh_runs(county, county_user):
    assert selectors.year_stamp(YEAR) is None
    run = services.refresh_request(user=county_user, year=YEAR)
    done = services.refresh_run_execute(run_id=run.pk)
    assert done.status == "done" and done.cells > 0
    assert YearStamp.objects.get(year=YEAR).run_id == run.pk
    # A redelivered task finds the run finished and does nothing.
    assert services.refresh_run_execute(run_id=run.pk).finished_at == done.finished_at
    beat = services.refresh_run_execute()
    assert beat.status == "done" and beat.years == [TODAY.year - 1, TODAY.year] and beat.requested_by is None


def test_township_user_board_holds_only_own_township(county, township_user):
    services.aggregates_refresh(year=YEAR)
    period = Period("year", YEAR)
    board = selectors.board(township_user, period, on=TODAY)
    assert [g.id for g in board.groups] == [county[0].pk]
    want = expected(county[0], period.start, period.end)
    assert figures_of(board.total) == {key: want[key] for key in figures_of(board.total)}


def test_targets_mark_townships_behind(county, county_user):
    services.aggregates_refresh(year=YEAR)
    period = Period("year", YEAR)
    services.targets_update(
        user=county_user,
        values={
            "insured_rate": Decimal("0"),
            "treatment_rate": Decimal("0"),
            "signing_rate": Decimal("0"),
            "in_county_rate": Decimal("0"),
            "self_pay_ratio": Decimal("100"),
        },
    )
    assert all(not g.misses for g in selectors.board(county_user, period, on=TODAY).groups)
    services.targets_update(user=county_user, values={"insured_rate": Decimal("100")})
    board = selectors.board(county_user, period, on=TODAY)
    for group in board.groups:
        assert ("insured_rate" in group.misses) == (group.figures.insured_rate < 100)
    with pytest.raises(services.DashboardError):
        services.targets_update(user=county_user, values={"insured_rate": Decimal("101")})


def _queries(client, url):
    # The request clears the query log when it starts (request_started → reset_queries), so
    # start from an empty log or the count would be off by what an earlier request left.
    reset_queries()
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured)


def test_query_count_does_not_grow_with_data(areas, today, client):
    """The overview and the township table cost the same queries for a small county and
    for one with three times the townships, villages and encounters per person."""
    user = make_user("bench-county", "county", is_staff=True)
    client.force_login(user)
    build_county(
        townships=1, villages_per_township=1, households_per_village=2, encounters_per_member=1, seed=3
    )
    services.aggregates_refresh(year=YEAR)
    urls = [
        reverse("dashboards:overview") + f"?year={YEAR}",
        reverse("dashboards:township_table") + f"?year={YEAR}",
    ]
    small = [_queries(client, url) for url in urls]
    build_county(
        townships=3, villages_per_township=3, households_per_village=3, encounters_per_member=3, seed=4
    )
    services.aggregates_refresh(year=YEAR)
    large = [_queries(client, url) for url in urls]
    assert small == large
    assert 5 < min(large) and max(large) <= 25
