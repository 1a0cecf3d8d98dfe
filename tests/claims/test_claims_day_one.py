"""Flows a new clinic or county user hits on day one (patient search, filtered exports, …)."""

import datetime
import re

from django.urls import reverse

from claims.models import Contract, Encounter, IllnessRecord
from tests.factories import EncounterFactory
from tests.pages import export_rows


def _picked_label(client, query):
    """What the search box shows after the clerk picks the first suggestion."""
    results = client.get(reverse("claims:member_search"), {"q": query}).json()["results"]
    assert results
    return results[0]


def test_picking_a_suggested_patient_saves_the_encounter(as_user, world, township_user, settlement_spy):
    """Regression: every suggestion label was 51–52 characters and the box allowed 50."""
    c = as_user(township_user)
    world.east_head.household.village.name = "城关镇第一行政村东片区下属自然村"
    world.east_head.household.village.save()
    picked = _picked_label(c, "王秀英")
    assert len(picked["label"]) > 50
    response = c.post(
        reverse("claims:encounter_create"),
        {
            "member": picked["id"],
            "member_query": picked["label"],
            "institution": world.county_hospital.pk,
            "kind": "inpatient",
            "admission_date": "2025-04-01",
            "discharge_date": "2025-04-05",
            "diagnosis_code": "I63.9",
            "total_cost": "1000.00",
            "in_policy_cost": "800.00",
            "referred": "on",
        },
    )
    assert response.status_code == 302, response.context["form"].errors
    assert Encounter.objects.get(diagnosis_code="I63.9").member == world.east_head


def test_picking_a_suggested_patient_saves_the_illness(as_user, world, township_user):
    c = as_user(township_user)
    picked = _picked_label(c, "王小明")
    response = c.post(
        reverse("claims:illness_create"),
        {
            "member": picked["id"],
            "member_query": picked["label"] + " " * 3 + "x" * 60,
            "diagnosis_code": "E11.9",
            "diagnosed_on": "2025-02-01",
            "status": "managed",
        },
    )
    assert response.status_code == 302, response.context["form"].errors
    assert IllnessRecord.objects.get(diagnosis_code="E11.9").member == world.east_son


def test_patient_of_another_township_cannot_be_carried_by_id(as_user, world, township_user):
    c = as_user(township_user)
    response = c.post(
        reverse("claims:illness_create"),
        {
            "member": world.west_head.pk,
            "member_query": "李建国",
            "diagnosis_code": "E11.9",
            "diagnosed_on": "2025-02-01",
            "status": "managed",
        },
    )
    assert response.status_code == 200
    assert "本乡镇在册人员中找不到「李建国」" in response.content.decode()
    assert not IllnessRecord.objects.filter(diagnosis_code="E11.9", member=world.west_head).exists()


def test_filtered_encounter_export_holds_exactly_the_filtered_rows(as_user, world, county_user):
    """Regression: with a filter the link read ``?township=3&export=xlsx?township=3``."""
    for n in range(3):
        EncounterFactory(member=world.east_son, institution=world.city_hospital, ref=f"E-CITY-{n}")
    c = as_user(county_user)
    url = reverse("claims:encounter_list")
    rows = export_rows(c, url, {"township": world.east.pk})
    expected = Encounter.objects.filter(member__household__village__township=world.east).count()
    assert len(rows) == expected == 4
    assert not any("李建国" in str(cell) for row in rows for cell in row)
    rows = export_rows(c, url, {"township": world.west.pk})
    assert len(rows) == 1 and any("李建国" == cell for cell in rows[0])
    assert len(export_rows(c, url, {})) == Encounter.objects.count()


def test_expire_contracts_is_scheduled_daily(settings):
    schedules = [
        e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "claims.tasks.expire_contracts"
    ]
    assert len(schedules) == 1
    schedule = schedules[0]["schedule"]
    # A crontab running once a day, or a plain period of one day.
    runs_daily = (
        getattr(schedule, "hour", None) is not None and len(schedule.hour) == 1 and len(schedule.minute) == 1
    )
    assert runs_daily or schedule == 86400


def test_a_lapsed_contract_the_beat_missed_does_not_block_signing_again(as_user, world, township_user):
    """Regression: expire_contracts never ran, so a contract past its end date stayed 履约中 and
    its household could not sign again."""
    old = world.east_contract
    assert old.status == "active" and old.end_date < datetime.date.today()
    c = as_user(township_user)
    response = c.post(
        reverse("claims:contract_create", args=[world.east_household.pk]),
        {"team": world.east_team.pk, "package": world.package.pk, "start_date": datetime.date.today()},
    )
    assert response.status_code == 302, response.content.decode()
    old.refresh_from_db()
    assert old.status == "expired"
    assert Contract.objects.get(household=world.east_household, status="active").pk != old.pk


def test_lapsed_contracts_do_not_count_as_in_force(as_user, world, township_user):
    end = world.east_contract.end_date
    assert set(Contract.objects.in_force(on=end)) == {world.east_contract, world.west_contract}
    assert list(Contract.objects.in_force(on=end + datetime.timedelta(days=1))) == []
    c = as_user(township_user)
    # A lapsed contract is not terminated as if it were in force.
    c.post(
        reverse("claims:contract_terminate", args=[world.east_contract.pk]), {"reason": "迁出", "version": 1}
    )
    world.east_contract.refresh_from_db()
    assert world.east_contract.status != "terminated"
    # 整村签约 signs the household of the lapsed contract again.
    response = c.post(
        reverse("claims:sign_village"),
        {
            "village": world.east_village.pk,
            "team": world.east_team.pk,
            "package": world.package.pk,
            "start_date": datetime.date.today(),
            "confirm": "1",
        },
    )
    assert response.status_code == 302, response.content.decode()
    assert Contract.objects.in_force().get().household == world.east_household
    world.east_contract.refresh_from_db()
    assert world.east_contract.status == "expired"


def _select(page, name):
    """The <select name=...> element of a page (its HTML), or None."""
    match = re.search(rf'<select name="{name}"[^>]*>.*?</select>', page, re.S)
    return match.group(0) if match else None


def _selected(select):
    match = re.search(r'<option value="([^"]*)"[^>]*selected', select)
    return match.group(1) if match else None


def test_list_filters_read_like_a_clerk_expects(as_user, world, township_user, county_user):
    c = as_user(township_user)
    for url in (
        reverse("registry:member_list"),
        reverse("claims:encounter_list"),
        reverse("claims:contract_list"),
    ):
        page = c.get(url).content.decode()
        assert _select(page, "township") is None, url  # a clinic has one township
        assert "---------" not in page and "全部</option>" in page, url
    insured = _select(c.get(reverse("registry:member_list")).content.decode(), "insured")
    assert re.findall(r"<option[^>]*>([^<]*)</option>", insured) == ["全部", "是", "否"]
    assert _selected(insured) in ("", None)
    # A clinic's filter finds only its own people whatever the query string says.
    page = c.get(reverse("registry:member_list"), {"township": world.west.pk}).content.decode()
    assert "李建国" not in page and "王秀英" in page

    c = as_user(county_user)
    page = c.get(reverse("registry:household_list")).content.decode()
    assert _select(page, "township") and "城关镇一村" in _select(page, "village") and "北关乡一村" in page
    page = c.get(reverse("registry:household_list"), {"township": world.west.pk}).content.decode()
    villages = _select(page, "village")
    assert "北关乡一村" in villages and "城关镇一村" not in villages
    assert 'data-leads="township"' in _select(page, "township")


def test_forms_start_with_the_clinic_own_choices(as_user, world, township_user):
    c = as_user(township_user)
    page = c.get(reverse("claims:encounter_create")).content.decode()
    assert _selected(_select(page, "institution")) == str(world.east_clinic.pk)
    page = c.get(reverse("claims:illness_create")).content.decode()
    assert _selected(_select(page, "diagnosed_at")) == str(world.east_clinic.pk)
    # 城关团队 is the township's only active team: preselected.
    page = c.get(reverse("claims:contract_create", args=[world.east_household.pk])).content.decode()
    assert _selected(_select(page, "team")) == str(world.east_team.pk)


def test_history_reads_in_chinese(as_user, world, township_user, in_2025):
    """Regression: ``members：claims.HistoricalContract_members.None → …``."""
    from claims import services

    contract = world.east_contract
    services.contract_update(
        user=township_user, contract=contract, version=contract.version, changes={}, members=[world.east_head]
    )
    c = as_user(township_user)
    page = c.get(reverse("claims:contract_detail", args=[contract.pk])).content.decode()
    assert "Historical" not in page and "members：" not in page
    assert "签约成员：王秀英、王小明 → <strong>王秀英</strong>" in page


def test_history_shows_yes_no_in_chinese(as_user, world, township_user):
    from registry import services as registry_services

    c = as_user(township_user)
    member = world.east_son
    registry_services.member_update(
        user=township_user, member=member, version=member.version, changes={"insured": not member.insured}
    )
    page = c.get(reverse("registry:member_detail", args=[member.pk])).content.decode()
    old, new = ("是", "否") if member.insured else ("否", "是")
    assert f"{old} → <strong>{new}</strong>" in page and "True" not in page and "False" not in page


def test_signing_finds_the_household_by_head_name_id_number_or_number(as_user, world, township_user):
    c = as_user(township_user)
    lookup = reverse("claims:contract_sign_lookup")
    target = reverse("claims:contract_create", args=[world.east_household.pk])
    for typed in ("王秀英", world.east_head.id_number, world.east_head.id_number[:14], "E001"):
        assert c.get(lookup, {"number": typed})["Location"] == target, typed
        results = c.get(reverse("claims:household_search"), {"q": typed}).json()["results"]
        assert [r["url"] for r in results] == [target], typed
        assert "户主 王秀英" in results[0]["label"]
    # Another township's household is not found, by suggestion or by lookup.
    assert c.get(reverse("claims:household_search"), {"q": "李建国"}).json()["results"] == []
    response = c.get(lookup, {"number": "李建国"}, follow=True)
    assert "找不到「李建国」" in response.content.decode()
    page = c.get(reverse("claims:contract_list")).content.decode()
    assert reverse("claims:household_search") in page and "户主姓名、证件号码或户编号" in page
