"""Dated registry facts: status and aid-category periods, exits, yearly enrollment with the
premium subsidy; their services, the facts-on-a-date selector, the API and the pages."""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.models import OutboxEntry
from registry import events, fact_services, facts
from registry.models import Enrollment, HouseholdStatusPeriod, MemberAidPeriod
from registry.services import RegistryError, household_update, member_update
from tests.factories import HouseholdFactory, MemberFactory, make_user

D = datetime.date


@pytest.fixture
def east(areas):
    household = HouseholdFactory(village=areas["east_village"], number="E1", poverty_status="poor")
    return MemberFactory(household=household, name="张三", aid_category="dibao")


@pytest.fixture
def west(areas):
    household = HouseholdFactory(village=areas["west_village"], number="W1", poverty_status="poor")
    return MemberFactory(household=household, name="李四")


@pytest.fixture
def clinic(areas):
    return make_user("clinic", "township", township=areas["east"])


# --- services ------------------------------------------------------------------------------------


def test_status_change_keeps_history_and_todays_column(east, county_user):
    household = east.household
    period = fact_services.household_status_change(
        user=county_user,
        household=household,
        poverty_status="lifted",
        effective_from=D(2025, 8, 1),
        reason="脱贫验收通过",
        document_number="县政发〔2025〕12号",
    )
    assert period.event == "lift" and period.get_event_display() == "脱贫"
    household.refresh_from_db()
    assert household.poverty_status == "lifted" and household.version == 2
    # The household's first period was made from the column it had (poor since FACTS_START).
    periods = list(
        household.status_periods.order_by("effective_from").values_list("effective_from", "poverty_status")
    )
    assert periods == [(facts.FACTS_START, "poor"), (D(2025, 8, 1), "lifted")]
    # The outbox entry tells settlement the facts changed from that day on.
    entry = OutboxEntry.objects.get(topic=events.MEMBER_FACTS_CHANGED)
    assert entry.payload == {"member_ids": None, "household_id": household.pk, "effective_from": "2025-08-01"}
    # Later monitoring and its end: events named from the status before.
    fact_services.household_status_change(
        user=county_user,
        household=household,
        poverty_status="monitored",
        effective_from=D(2026, 3, 1),
        reason="纳入监测",
    )
    end = fact_services.household_status_change(
        user=county_user,
        household=household,
        poverty_status="lifted",
        effective_from=D(2026, 9, 1),
        reason="风险消除",
    )
    assert end.get_event_display() == "解除监测"
    # A backdated 返贫 between two periods is history in the middle; today's column unchanged.
    back = fact_services.household_status_change(
        user=county_user,
        household=household,
        poverty_status="poor",
        effective_from=D(2025, 10, 1),
        reason="因病返贫",
    )
    assert back.get_event_display() == "返贫"
    household.refresh_from_db()
    assert household.poverty_status == "lifted"


@pytest.mark.parametrize(
    "kwargs, field, message",
    [
        ({"effective_from": D(2025, 8, 1), "poverty_status": "poor"}, "poverty_status", "状态没有变化"),
        ({"effective_from": D(2025, 8, 1), "poverty_status": "rich"}, "poverty_status", "未知的脱贫状态"),
        ({"effective_from": D(2099, 1, 1), "poverty_status": "lifted"}, "effective_from", "不能晚于今天"),
        ({"effective_from": "2025-08-01", "poverty_status": "lifted"}, "effective_from", "必须是日期"),
        (
            {"effective_from": D(2025, 8, 1), "poverty_status": "lifted", "reason": " "},
            "reason",
            "请填写变动原因",
        ),
    ],
)
def test_status_change_refuses_bad_input(east, county_user, kwargs, field, message):
    with pytest.raises(RegistryError) as caught:
        fact_services.household_status_change(
            user=county_user, household=east.household, **{"reason": "脱贫", **kwargs}
        )
    assert caught.value.field == field and message in caught.value.message
    assert not HouseholdStatusPeriod.objects.exists()  # nothing half-written


def test_one_period_per_date_in_the_service_and_the_database(east, county_user):
    fact_services.household_status_change(
        user=county_user,
        household=east.household,
        poverty_status="lifted",
        effective_from=D(2025, 8, 1),
        reason="脱贫",
    )
    with pytest.raises(RegistryError, match="同一天只能有一条"):
        fact_services.household_status_change(
            user=county_user,
            household=east.household,
            poverty_status="monitored",
            effective_from=D(2025, 8, 1),
            reason="监测",
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        HouseholdStatusPeriod.objects.create(
            household=east.household,
            poverty_status="poor",
            event="relapse",
            effective_from=D(2025, 8, 1),
            reason="x",
        )


def test_roles_on_fact_changes(east, west, clinic, supervisor):
    with pytest.raises(PermissionDenied):
        fact_services.household_status_change(
            user=supervisor,
            household=east.household,
            poverty_status="lifted",
            effective_from=D(2025, 8, 1),
            reason="x",
        )
    with pytest.raises(RegistryError, match="本乡镇"):
        fact_services.member_aid_category_change(
            user=clinic, member=west, aid_category="dibao", effective_from=D(2025, 8, 1), reason="x"
        )
    period = fact_services.member_aid_category_change(
        user=clinic, member=east, aid_category="tekun", effective_from=D(2025, 8, 1), reason="认定特困"
    )
    assert period.get_event_display() == "变更" and period.created_by == clinic


def test_correction_is_history_too(east, county_user):
    period = fact_services.household_status_change(
        user=county_user,
        household=east.household,
        poverty_status="lifted",
        effective_from=D(2025, 8, 1),
        reason="脱贫",
    )
    fact_services.household_status_period_correct(
        user=county_user, period=period, effective_from=D(2025, 7, 1), reason="文件生效日期录错"
    )
    period.refresh_from_db()
    assert period.effective_from == D(2025, 7, 1)
    shown = facts.status_periods_of(east.household)
    corrections = shown[0].corrections
    assert [(who, why) for _, who, why in corrections] == [(county_user, "更正：文件生效日期录错")]
    assert period.history.earliest().effective_from == D(2025, 8, 1)


def test_facts_on_a_date_with_a_bounded_number_of_queries(east, county_user, django_assert_max_num_queries):
    fact_services.household_status_change(
        user=county_user,
        household=east.household,
        poverty_status="lifted",
        effective_from=D(2025, 8, 1),
        reason="脱贫",
    )
    fact_services.member_aid_category_change(
        user=county_user, member=east, aid_category="none", effective_from=D(2025, 8, 1), reason="退出低保"
    )
    fact_services.enrollment_record(user=county_user, member=east, year=2025, insured=False)
    others = [MemberFactory(household=HouseholdFactory(village=east.household.village)) for _ in range(5)]
    ids = [east.pk, *(m.pk for m in others)]
    with django_assert_max_num_queries(2):
        answer = facts.facts_on(ids, [D(2025, 1, 20), D(2025, 8, 1), D(2026, 3, 1)])
    assert answer[east.pk][D(2025, 1, 20)] == facts.Facts("poor", "dibao", False)
    assert answer[east.pk][D(2025, 8, 1)] == facts.Facts("lifted", "none", False)
    assert answer[east.pk][D(2026, 3, 1)].insured is True  # no 2026 record: the member's flag
    # Members without any period: today's values on every day.
    assert answer[others[0].pk][D(2025, 1, 20)] == facts.Facts("poor", "none", True)
    # Before the first period: the first period's value.
    assert facts.facts_on([east.pk], [D(2010, 1, 1)])[east.pk][D(2010, 1, 1)].poverty_status == "poor"


def test_year_facts_read_dated_facts_only_where_they_change(east, county_user, django_assert_max_num_queries):
    """A chunk's facts through a year (``year_facts``): one query for everybody, dated facts only
    for the members whose facts may change in the year; the answers are ``fact_book``'s."""
    village = east.household.village
    change = {"user": county_user, "reason": "变动"}

    def member(status, **fields):
        return MemberFactory(household=HouseholdFactory(village=village, poverty_status=status), **fields)

    fact_services.household_status_change(
        household=east.household, poverty_status="lifted", effective_from=D(2025, 8, 1), **change
    )
    earlier = member("poor", aid_category="dibao")  # changed before 2025 only: not dated
    fact_services.member_aid_category_change(
        member=earlier, aid_category="tekun", effective_from=D(2024, 5, 1), **change
    )
    later = member("poor")  # changes after 2025 only: 2025 keeps the value before, not dated
    fact_services.household_status_change(
        household=later.household, poverty_status="lifted", effective_from=D(2026, 2, 1), **change
    )
    fact_services.enrollment_record(user=county_user, member=later, year=2025, insured=False)
    gone = member("monitored")  # left in 2025: dated (care after the exit is not settled)
    fact_services.member_exit(user=county_user, member=gone, left_on=D(2025, 6, 30), reason="death")
    plain = member("poor", insured=None)
    ids = [m.pk for m in (east, earlier, later, gone, plain)]

    with django_assert_max_num_queries(3):  # one for all, two for the dated ones' book
        year = facts.year_facts(ids, 2025)
    assert year.dated == {east.pk, gone.pk}
    assert set(year.book.members) == {east.pk, gone.pk}
    assert {m: year.start(m) for m in ids} == {
        east.pk: ("poor", "dibao"),
        earlier.pk: ("poor", "tekun"),
        later.pk: ("poor", "none"),
        gone.pk: ("monitored", "none"),
        plain.pk: ("poor", "none"),
    }
    assert [year.insured(m) for m in ids] == [True, True, False, True, None]
    assert year.poverty_status(east.pk, D(2025, 8, 1)) == "lifted"
    assert year.poverty_status(later.pk, D(2025, 12, 31)) == "poor"
    assert year.exited_before(gone.pk, D(2025, 7, 1)) == D(2025, 6, 30)
    assert year.exited_before(plain.pk, D(2025, 7, 1)) is None
    # Everything as the full book answers it, on every day of the year that matters.
    book = facts.fact_book(ids, years=[2025])
    for m in ids:
        for day in (D(2025, 1, 1), D(2025, 7, 31), D(2025, 8, 1), D(2025, 12, 31)):
            assert (year.poverty_status(m, day), year.aid_category(m, day)) == (
                book.poverty_status(m, day),
                book.aid_category(m, day),
            )
        assert year.insured(m) == book.insured(m, 2025)
    # The year-end status of many members in one query.
    with django_assert_max_num_queries(1):
        at_end = facts.member_status_on(ids, D(2025, 12, 31))
    assert at_end == {
        east.pk: "lifted",
        earlier.pk: "poor",
        later.pk: "poor",
        gone.pk: "monitored",
        plain.pk: "poor",
    }


def test_general_edit_form_dates_facts_today(east, county_user):
    fact_services.household_status_change(
        user=county_user,
        household=east.household,
        poverty_status="lifted",
        effective_from=D(2025, 8, 1),
        reason="脱贫",
    )
    household = east.household
    household.refresh_from_db()
    household_update(
        user=county_user,
        household=household,
        version=household.version,
        changes={"poverty_status": "monitored"},
    )
    today = timezone.localdate()
    assert household.status_periods.get(effective_from=today).poverty_status == "monitored"
    member_update(user=county_user, member=east, version=east.version, changes={"insured": False})
    assert Enrollment.objects.get(member=east, year=today.year).insured is False


# --- enrollment ----------------------------------------------------------------------------------


def test_enrollment_amounts_reconcile(east, county_user):
    enrollment, created = fact_services.enrollment_record(
        user=county_user,
        member=east,
        year=2025,
        insured=True,
        premium="380.00",
        subsidy="300",
        subsidy_category="低保对象定额资助",
        subsidy_fund="医疗救助资金",
    )
    assert created and enrollment.personal_share == Decimal("80.00")
    # A second record of the same year updates it (idempotent per member-year).
    again, created = fact_services.enrollment_record(
        user=county_user,
        member=east,
        year=2025,
        insured=True,
        premium="380.00",
        subsidy="300.00",
        personal_share="80.00",
        subsidy_category="低保对象定额资助",
        subsidy_fund="医疗救助资金",
    )
    assert not created and again.pk == enrollment.pk and again.history.count() == 1
    with pytest.raises(RegistryError, match="须等于"):
        fact_services.enrollment_record(
            user=county_user,
            member=east,
            year=2025,
            insured=True,
            premium="380",
            personal_share="80",
            subsidy="200",
        )
    with pytest.raises(RegistryError, match="资助资金"):
        fact_services.enrollment_record(
            user=county_user,
            member=east,
            year=2025,
            insured=True,
            premium="380",
            personal_share="0",
            subsidy="380",
        )
    # The database refuses what does not add up, even without the service.
    with pytest.raises(IntegrityError), transaction.atomic():
        Enrollment.objects.filter(pk=enrollment.pk).update(personal_share=Decimal("1.00"))


def test_this_years_enrollment_keeps_the_flag_in_step(east, county_user):
    this_year = timezone.localdate().year
    fact_services.enrollment_record(user=county_user, member=east, year=this_year - 1, insured=False)
    east.refresh_from_db()
    assert east.insured is True  # last year's record leaves today's flag alone
    fact_services.enrollment_record(user=county_user, member=east, year=this_year, insured=False)
    east.refresh_from_db()
    assert east.insured is False


def test_enrollment_figures_by_year(east, west, county_user, clinic):
    fact_services.enrollment_record(
        user=county_user,
        member=east,
        year=2025,
        insured=True,
        premium="380",
        personal_share="0",
        subsidy="380",
        subsidy_fund="医疗救助资金",
    )
    fact_services.enrollment_record(user=county_user, member=west, year=2025, insured=False)
    rows, total, funds = facts.enrollment_figures(county_user, 2025)
    assert [(r.township, r.members, r.insured, r.not_insured, r.unrecorded) for r in rows] == [
        ("北关乡", 1, 0, 1, 0),
        ("城关镇", 1, 1, 0, 0),
    ]
    assert (
        total.rate == 50
        and funds == ["医疗救助资金"]
        and total.subsidy == {"医疗救助资金": Decimal("380.00")}
    )
    rows, total, _ = facts.enrollment_figures(clinic, 2025)
    assert [r.township for r in rows] == ["城关镇"]


def test_member_exit(east, county_user):
    gone = fact_services.member_exit(user=county_user, member=east, left_on=D(2025, 9, 1), reason="death")
    assert gone.get_reason_display() == "死亡"
    with pytest.raises(RegistryError, match="已登记减员"):
        fact_services.member_exit(user=county_user, member=east, left_on=D(2025, 9, 2), reason="death")
    rows, _, _ = facts.enrollment_figures(county_user, 2026)
    assert rows == []  # left before 2026: not counted among the registered members


# --- API ----------------------------------------------------------------------------------------


def _client(user):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(user)
    return client


def test_api_status_changes(east, west, county_user, clinic, supervisor):
    url = f"/api/v1/registry/households/{east.household_id}/status-changes/"
    body = {"poverty_status": "lifted", "effective_from": "2025-08-01", "reason": "脱贫验收"}
    response = _client(clinic).post(url, body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["event_display"] == "脱贫"
    response = _client(clinic).post(url, {**body, "effective_from": "2025-08-01"}, format="json")
    assert response.status_code == 400 and "effective_from" in response.json()
    listed = _client(supervisor).get(url).json()
    assert [p["effective_from"] for p in listed] == ["2025-08-01", "2014-01-01"]  # newest first
    assert _client(supervisor).post(url, body, format="json").status_code == 403
    other = f"/api/v1/registry/households/{west.household_id}/status-changes/"
    assert _client(clinic).get(other).status_code == 404
    assert _client(clinic).post(other, body, format="json").status_code == 404


def test_api_aid_category_changes_and_enrollments(east, west, county_user, clinic):
    url = f"/api/v1/registry/members/{east.pk}/aid-category-changes/"
    response = _client(clinic).post(
        url, {"aid_category": "none", "effective_from": "2025-05-01", "reason": "退出低保"}, format="json"
    )
    assert response.status_code == 201 and response.json()["event_display"] == "取消"
    assert MemberAidPeriod.objects.filter(member=east).count() == 2
    assert _client(clinic).get(f"/api/v1/registry/members/{west.pk}/aid-category-changes/").status_code == 404

    url = f"/api/v1/registry/members/{east.pk}/enrollments/"
    body = {
        "year": 2025,
        "insured": True,
        "premium": "380.00",
        "personal_share": "80.00",
        "subsidy": "300.00",
        "subsidy_fund": "医疗救助资金",
    }
    assert _client(clinic).post(url, body, format="json").status_code == 201
    response = _client(clinic).post(
        url, {**body, "personal_share": "0.00", "subsidy": "380.00"}, format="json"
    )
    assert response.status_code == 200 and response.json()["subsidy"] == "380.00"
    bad = _client(clinic).post(url, {**body, "subsidy": "1.00"}, format="json")
    assert bad.status_code == 400 and "premium" in bad.json()
    assert [e["year"] for e in _client(clinic).get(url).json()] == [2025]


# --- pages --------------------------------------------------------------------------------------


def test_pages_show_the_dated_history(client, east, county_user):
    fact_services.household_status_change(
        user=county_user,
        household=east.household,
        poverty_status="lifted",
        effective_from=D(2025, 8, 1),
        reason="脱贫验收通过",
        document_number="县政发〔2025〕12号",
    )
    fact_services.enrollment_record(user=county_user, member=east, year=2025, insured=True)
    client.force_login(county_user)
    page = client.get(f"/registry/households/{east.household_id}/").content.decode()
    assert "脱贫状态变动" in page and "县政发〔2025〕12号" in page and "2025-08-01" in page
    page = client.get(f"/registry/members/{east.pk}/").content.decode()
    assert "年度参保及参保资助" in page and "救助类别变动" in page
    page = client.get("/registry/enrollment/?year=2025").content.decode()
    assert "2025年度参保及参保资助" in page and "城关镇" in page


def test_pages_record_dated_changes(client, east, west, clinic, supervisor):
    client.force_login(clinic)
    url = f"/registry/households/{east.household_id}/status/new/"
    assert client.get(url).status_code == 200
    response = client.post(
        url,
        {
            "poverty_status": "lifted",
            "effective_from": "2025-08-01",
            "reason": "脱贫验收",
            "document_number": "",
        },
    )
    assert response.status_code == 302
    assert east.household.status_periods.filter(
        effective_from=D(2025, 8, 1), poverty_status="lifted"
    ).exists()
    # A refused change shows the service's message on the form, nothing written.
    response = client.post(
        url, {"poverty_status": "lifted", "effective_from": "2025-09-01", "reason": "再次"}
    )
    assert response.status_code == 200 and "状态没有变化" in response.content.decode()
    response = client.post(
        f"/registry/members/{east.pk}/enrollment/new/",
        {
            "year": 2025,
            "insured": "1",
            "premium": "380",
            "personal_share": "0",
            "subsidy": "380",
            "subsidy_fund": "医疗救助资金",
        },
    )
    assert response.status_code == 302 and Enrollment.objects.get(member=east, year=2025).subsidy == Decimal(
        "380.00"
    )
    response = client.post(f"/registry/members/{east.pk}/exit/", {"reason": "death", "left_on": "2025-12-01"})
    assert response.status_code == 302 and east.exit.get_reason_display() == "死亡"
    assert client.get(f"/registry/members/{west.pk}/aid/new/").status_code == 404
    client.force_login(supervisor)
    assert client.get(f"/registry/members/{east.pk}/aid/new/").status_code == 403
