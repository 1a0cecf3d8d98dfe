"""Claims pages, exports and API: township isolation (404), supervisors read-only (403),
reference data for county staff, query counts, and the page flows."""

import datetime
import io

from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from openpyxl import load_workbook

from claims.models import Contract, Encounter, FollowUp, IllnessRecord, Screening
from tests.factories import (
    ContractFactory,
    EncounterFactory,
    FollowUpFactory,
    HouseholdFactory,
    IllnessFactory,
    MemberFactory,
)

LISTS = [
    "encounter_list",
    "illness_list",
    "screening_list",
    "team_list",
    "contract_list",
    "contract_nofollowup",
    "followup_list",
    "followup_due",
    "institution_list",
    "disease_list",
    "package_list",
]
API_LISTS = [
    "encounters",
    "illnesses",
    "screenings",
    "teams",
    "contracts",
    "followups",
    "institutions",
    "diseases",
    "packages",
]


def _west_pages(w):
    """Every page of a west-township record (as name, args)."""
    return [
        ("claims:encounter_detail", [w.west_encounter.pk]),
        ("claims:encounter_edit", [w.west_encounter.pk]),
        ("claims:illness_detail", [w.west_illness.pk]),
        ("claims:illness_edit", [w.west_illness.pk]),
        ("claims:team_detail", [w.west_team.pk]),
        ("claims:team_edit", [w.west_team.pk]),
        ("claims:team_member_add", [w.west_team.pk]),
        ("claims:contract_detail", [w.west_contract.pk]),
        ("claims:contract_edit", [w.west_contract.pk]),
        ("claims:followup_create", [w.west_contract.pk]),
        ("claims:followup_edit", [w.west_followup.pk]),
        ("claims:contract_create", [w.west_household.pk]),
    ]


def test_township_user_gets_404_for_every_page_of_another_township(as_user, world, township_user):
    c = as_user(township_user)
    for name, args in _west_pages(world):
        assert c.get(reverse(name, args=args)).status_code == 404, name
        if not name.endswith("_detail"):
            assert c.post(reverse(name, args=args), {}).status_code == 404, name
    assert c.post(reverse("claims:contract_terminate", args=[world.west_contract.pk]), {}).status_code == 404
    member = world.west_team.members.create(name="外乡医生", role="nurse")
    assert c.post(reverse("claims:team_member_toggle", args=[member.pk])).status_code == 404
    # The same pages of the own township open.
    assert c.get(reverse("claims:encounter_edit", args=[world.east_encounter.pk])).status_code == 200
    assert c.get(reverse("claims:contract_detail", args=[world.east_contract.pk])).status_code == 200


def test_township_lists_and_exports_hold_only_the_own_township(as_user, world, township_user, in_2025):
    for head in (world.east_head, world.west_head):
        Screening.objects.create(
            member=head, year=2025, round="checkup", checked_on=datetime.date(2025, 3, 1)
        )
    for village, team, number in (
        (world.east_village, world.east_team, "E002"),
        (world.west_village, world.west_team, "W002"),
    ):
        household = HouseholdFactory(village=village, number=number)
        MemberFactory(household=household, relation="head", name="王大山" if number == "E002" else "李二河")
        ContractFactory(household=household, team=team, start_date=datetime.date(2024, 1, 1))  # 签而不约
    c = as_user(township_user)
    # (The institution filter lists every clinic, 北关乡卫生院 too: reference data is shared.)
    west = {"李建国", "李二河", "W001", "W002", "W-ENC-1", "北关乡一村", "北关团队"}
    for name in LISTS[:8]:
        page = c.get(reverse(f"claims:{name}")).content.decode()
        assert not [w for w in west if w in page], name
        assert "城关镇" in page, name
        export = c.get(reverse(f"claims:{name}"), {"export": "xlsx"})
        cells = {
            cell
            for row in load_workbook(io.BytesIO(export.getvalue())).active.iter_rows(values_only=True)
            for cell in row
        }
        assert not (west | {"北关乡"}) & cells, name
        assert cells & {"王秀英", "王大山", "E001", "E002", "城关镇", "城关团队"}, name
    # Searching for the other township's person finds nothing.
    found = c.get(reverse("claims:member_search"), {"q": world.west_head.id_number}).json()
    assert found["results"] == []
    assert c.get(reverse("claims:member_search"), {"q": "王"}).json()["results"]


def test_exports_mask_id_numbers(as_user, world, county_user):
    c = as_user(county_user)
    export = c.get(reverse("claims:encounter_list"), {"export": "xlsx"})
    cells = [
        cell
        for row in load_workbook(io.BytesIO(export.getvalue())).active.iter_rows(values_only=True)
        for cell in row
    ]
    assert world.east_head.id_number not in cells
    assert world.east_head.id_number not in c.get(reverse("claims:encounter_list")).content.decode()


def test_township_api_is_scoped(as_user, world, township_user):
    c = as_user(township_user)
    assert [e["ref"] for e in c.get("/api/v1/claims/encounters/").json()["results"]] == ["E-ENC-1"]
    for route, obj in [
        ("encounters", world.west_encounter),
        ("illnesses", world.west_illness),
        ("contracts", world.west_contract),
        ("followups", world.west_followup),
        ("teams", world.west_team),
    ]:
        url = f"/api/v1/claims/{route}/{obj.pk}/"
        assert c.get(url).status_code == 404, route
        assert c.patch(url, {"version": 1}, content_type="application/json").status_code in (404, 405), route
    for route in ("illnesses", "contracts", "followups", "screenings"):
        text = str(c.get(f"/api/v1/claims/{route}/").json())
        assert "李建国" not in text and str(world.west_head.pk) not in [
            str(r.get("member")) for r in c.get(f"/api/v1/claims/{route}/").json()["results"]
        ]
    # Creating an encounter for another township's person is refused.
    response = c.post(
        "/api/v1/claims/encounters/",
        {
            "member": world.west_head.pk,
            "institution": world.county_hospital.pk,
            "kind": "outpatient",
            "admission_date": "2025-03-01",
            "total_cost": "10.00",
            "in_policy_cost": "5.00",
        },
        content_type="application/json",
    )
    assert (
        response.status_code == 400
        and not Encounter.objects.filter(member=world.west_head, total_cost=10).exists()
    )


def test_supervisor_reads_everything_and_changes_nothing(as_user, world, supervisor):
    c = as_user(supervisor)
    page = c.get(reverse("claims:encounter_list")).content.decode()
    assert "E-ENC-1" in page and "W-ENC-1" in page
    forbidden = [
        ("claims:encounter_create", []),
        ("claims:illness_create", []),
        ("claims:team_create", []),
        ("claims:sign_village", []),
        ("claims:institution_create", []),
        ("claims:disease_create", []),
        ("claims:package_create", []),
    ] + _west_pages(world)
    for name, args in forbidden:
        if name.endswith("detail"):
            continue
        assert c.get(reverse(name, args=args)).status_code == 403, name
        assert c.post(reverse(name, args=args), {}).status_code == 403, name
    assert c.post(reverse("claims:screening_village"), {}).status_code == 403
    assert (
        c.post(
            reverse("claims:contract_terminate", args=[world.east_contract.pk]), {"reason": "x", "version": 1}
        ).status_code
        == 403
    )
    assert Contract.objects.get(pk=world.east_contract.pk).status == "active"
    for route in API_LISTS:
        assert c.get(f"/api/v1/claims/{route}/").status_code == 200, route
        assert c.post(f"/api/v1/claims/{route}/", {}, content_type="application/json").status_code in (
            403,
            405,
        ), route
    response = c.patch(
        f"/api/v1/claims/encounters/{world.east_encounter.pk}/",
        {"total_cost": "1", "version": 1},
        content_type="application/json",
    )
    assert response.status_code == 403


def test_reference_data_is_edited_by_county_staff_only(as_user, world, township_user, county_user):
    c = as_user(township_user)
    assert c.get(reverse("claims:institution_list")).status_code == 200
    assert "县人民医院" in c.get(reverse("claims:institution_list")).content.decode()
    assert c.get(reverse("claims:institution_edit", args=[world.county_hospital.pk])).status_code == 403
    assert c.get(reverse("claims:disease_create")).status_code == 403
    response = c.post(
        "/api/v1/claims/institutions/", {"name": "新医院", "level": "county"}, content_type="application/json"
    )
    assert response.status_code == 403
    c = as_user(county_user)
    response = c.post(
        reverse("claims:institution_create"), {"name": "新医院", "level": "city", "designated": "on"}
    )
    assert response.status_code == 302
    response = c.post(reverse("claims:institution_create"), {"name": "新医院", "level": "city"})
    assert response.status_code == 200 and "已存在" in response.content.decode()
    response = c.post(
        "/api/v1/claims/diseases/",
        {"code": "k35", "name": "急性阑尾炎", "group": "other"},
        content_type="application/json",
    )
    assert response.status_code == 201 and response.json()["code"] == "K35"


def _count_queries(c, urls):
    with CaptureQueriesContext(connection) as ctx:
        for url in urls:
            assert c.get(url).status_code == 200, url
    return len(ctx.captured_queries)


def _more_rows(world, n):
    for i in range(n):
        household = HouseholdFactory(village=world.east_village if i % 2 else world.west_village)
        head = MemberFactory(household=household, relation="head", health_status="chronic")
        MemberFactory(household=household, relation="spouse")
        contract = ContractFactory(
            household=household,
            team=world.east_team if i % 2 else world.west_team,
            start_date=datetime.date(2024, 1, 1),
            end_date=datetime.date(2099, 1, 1),
        )
        FollowUpFactory(contract=contract, member=head, date=datetime.date(2024, 1, 10))
        EncounterFactory(member=head, institution=world.county_hospital)
        IllnessFactory(member=head)
        Screening.objects.create(
            member=head, year=2025, round="checkup", checked_on=datetime.date(2025, 3, 1)
        )


def test_list_pages_and_api_lists_do_not_query_per_row(as_user, world, county_user):
    c = as_user(county_user)
    urls = [reverse(f"claims:{name}") for name in LISTS] + [f"/api/v1/claims/{r}/" for r in API_LISTS]
    urls += [
        reverse("claims:encounter_list") + "?export=xlsx",
        reverse("claims:contract_list") + "?export=xlsx",
    ]
    _more_rows(world, 3)
    small = _count_queries(c, urls)
    _more_rows(world, 20)
    assert FollowUp.objects.count() > 20 and Encounter.objects.count() > 20
    assert _count_queries(c, urls) == small


def test_encounter_form_finds_the_patient_validates_and_warns(as_user, world, township_user, settlement_spy):
    c = as_user(township_user)
    url = reverse("claims:encounter_create")
    form = {
        "member_query": world.east_head.id_number,
        "institution": world.county_hospital.pk,
        "kind": "inpatient",
        "admission_date": "2025-04-01",
        "discharge_date": "2025-03-30",
        "diagnosis_code": "I63.9",
        "total_cost": "1000.00",
        "in_policy_cost": "800.00",
        "referred": "on",
    }
    response = c.post(url, form)
    assert response.status_code == 200 and "出院日期早于入院日期" in response.content.decode()
    response = c.post(url, {**form, "discharge_date": "2025-04-05", "in_policy_cost": "1200"})
    assert "政策范围内费用不能大于医疗总费用" in response.content.decode()
    response = c.post(url, {**form, "discharge_date": "2025-04-05", "total_cost": "10.123"})
    assert "total_cost" in response.context["form"].errors  # two decimal places at most
    response = c.post(url, {**form, "member_query": "王"})
    assert "找到多人" in response.content.decode()
    response = c.post(
        url, {**form, "member_query": world.west_head.id_number, "discharge_date": "2025-04-05"}
    )
    assert "找不到" in response.content.decode()

    world.east_head.insured = False
    world.east_head.save()
    response = c.post(url, {**form, "discharge_date": "2025-04-05"}, follow=True)
    encounter = Encounter.objects.get(diagnosis_code="I63.9")
    assert encounter.member == world.east_head and encounter.diagnosis_name == "脑卒中"
    page = response.content.decode()
    assert "已保存" in page and "未参加城乡居民基本医疗保险" in page
    assert settlement_spy.queued == [(world.east_head.pk, 2025)]


def test_patient_search_listens_to_input_not_keyup(as_user, world, township_user):
    """Regression: the search box reacted to key-up only, so a name typed with a Chinese input
    method or pasted (no key events) never searched, and a person chosen before stayed in the
    hidden field while the box showed someone else. tests/e2e/test_clinic_day.py types the
    name as an input method does."""
    c = as_user(township_user)
    script = (settings.BASE_DIR / "static" / "js" / "member-search.js").read_text(encoding="utf-8")
    assert "input.oninput = function" in script and "onkeyup" not in script
    for name in ("claims:encounter_create", "claims:illness_create"):
        page = c.get(reverse(name)).content.decode()
        assert "js/member-search.js" in page and "onkeyup" not in page, name


def test_settled_encounter_page_offers_correction_and_keeps_both_versions(
    as_user, world, township_user, settlement_spy
):
    c = as_user(township_user)
    old = world.east_encounter
    settlement_spy.settled.add(old.pk)
    url = reverse("claims:encounter_edit", args=[old.pk])
    page = c.get(url).content.decode()
    assert "更正已结算的就诊记录" in page and "更正原因" in page
    form = {
        "member": world.east_head.pk,
        "member_query": "x",
        "institution": old.institution_id,
        "kind": "outpatient",
        "admission_date": "2025-03-10",
        "diagnosis_code": "J06.9",
        "total_cost": "250.00",
        "in_policy_cost": "150.00",
        "referred": "on",
        "version": 1,
        "reason": "医院重新结算",
    }
    response = c.post(url, form, follow=True)
    new = Encounter.objects.get(supersedes=old)
    assert new.ref == "E-ENC-1-R1" and "取代" in response.content.decode()
    listing = c.get(reverse("claims:encounter_list")).content.decode()
    assert "E-ENC-1-R1" in listing and "已被更正" in listing
    detail = c.get(reverse("claims:encounter_detail", args=[old.pk])).content.decode()
    assert "更正历史" in detail and "E-ENC-1-R1" in detail
    # The superseded version cannot be opened for editing.
    assert c.get(url).status_code == 302


def test_api_encounter_create_update_conflict_and_correct(as_user, world, township_user, settlement_spy):
    c = as_user(township_user)
    response = c.post(
        "/api/v1/claims/encounters/",
        {
            "member": world.east_son.pk,
            "institution": world.county_hospital.pk,
            "kind": "outpatient_chronic",
            "admission_date": "2025-03-01",
            "diagnosis_code": "K29.7",
            "total_cost": "120.00",
            "in_policy_cost": "100.00",
        },
        content_type="application/json",
    )
    assert response.status_code == 201
    data = response.json()
    assert data["ref"].startswith("HA20250301-") and len(data["warnings"]) == 1
    url = f"/api/v1/claims/encounters/{data['id']}/"
    assert c.patch(url, {"total_cost": "130.00"}, content_type="application/json").status_code == 400
    assert (
        c.patch(url, {"total_cost": "130.00", "version": 1}, content_type="application/json").status_code
        == 200
    )
    assert (
        c.patch(url, {"total_cost": "140.00", "version": 1}, content_type="application/json").status_code
        == 409
    )
    settlement_spy.settled.add(data["id"])
    assert (
        c.patch(url, {"total_cost": "140.00", "version": 2}, content_type="application/json").status_code
        == 409
    )
    response = c.post(
        url + "correct/",
        {"total_cost": "140.00", "version": 2, "reason": "更正"},
        content_type="application/json",
    )
    assert response.status_code == 201 and response.json()["ref"] == data["ref"] + "-R1"
    assert response.json()["supersedes"] == data["id"]


def test_illness_pages(as_user, world, township_user):
    c = as_user(township_user)
    response = c.post(
        reverse("claims:illness_create"),
        {
            "member_query": world.east_son.id_number,
            "diagnosis_code": "E11.9",
            "diagnosed_on": "2025-02-01",
            "status": "managed",
        },
        follow=True,
    )
    record = IllnessRecord.objects.get(member=world.east_son)
    assert record.diagnosis_name == "2型糖尿病" and "已保存" in response.content.decode()
    url = reverse("claims:illness_edit", args=[record.pk])
    response = c.post(
        url, {"diagnosis_code": "E11.9", "diagnosed_on": "2025-02-01", "status": "pending", "version": 1}
    )
    assert "不能从“签约管理中”改为“待救治”" in response.content.decode()
    detail = c.get(reverse("claims:illness_detail", args=[record.pk])).content.decode()
    assert "手工填报" in detail and "2型糖尿病" in detail


def test_screening_village_page(as_user, world, township_user):
    c = as_user(township_user)
    query = {"village": world.east_village.pk, "year": 2025, "round": "checkup", "checked_on": "2025-03-01"}
    page = c.get(reverse("claims:screening_village"), query).content.decode()
    assert "王秀英" in page and "王小明" in page and "李建国" not in page
    assert (
        c.get(reverse("claims:screening_village"), {**query, "village": world.west_village.pk})
        .context["form"]
        .errors
    )  # not a choice for this user
    response = c.post(
        reverse("claims:screening_village"),
        {
            **query,
            "member": [world.east_head.pk, world.east_son.pk],
            "checked": [world.east_head.pk],
            f"findings_{world.east_head.pk}": "血压偏高",
        },
        follow=True,
    )
    assert "新登记 1 人" in response.content.decode()
    assert Screening.objects.get(member=world.east_head).findings == "血压偏高"
    assert not Screening.objects.filter(member=world.east_son).exists()


def test_sign_village_preview_then_confirm(as_user, world, township_user, in_2025):
    c = as_user(township_user)
    households = [HouseholdFactory(village=world.east_village, number=f"E9{i}") for i in range(2)]
    for household in households:
        MemberFactory(household=household, relation="head")
    form = {
        "village": world.east_village.pk,
        "team": world.east_team.pk,
        "package": world.package.pk,
        "start_date": "2025-05-01",
    }
    response = c.post(reverse("claims:sign_village"), {**form, "preview": "1"})
    page = response.content.decode()
    assert "预览：将为 <strong>2</strong> 户" in page and "E90" in page and "E001" not in page
    assert not Contract.objects.filter(household__in=households).exists()
    response = c.post(reverse("claims:sign_village"), {**form, "confirm": "1"}, follow=True)
    assert "已签约 2 户" in response.content.decode()
    assert Contract.objects.filter(household__in=households, status="active").count() == 2
    response = c.post(reverse("claims:sign_village"), {**form, "team": world.west_team.pk, "preview": "1"})
    assert response.status_code == 200 and "form" in response.context and response.context["form"].errors


def test_contract_pages_sign_print_followup_terminate(as_user, world, township_user, in_2025):
    c = as_user(township_user)
    household = HouseholdFactory(village=world.east_village, number="E555")
    head = MemberFactory(household=household, relation="head", name="孙大成")
    MemberFactory(household=household, relation="spouse", name="周桂兰")
    assert c.get(reverse("claims:contract_sign_lookup"), {"number": "E555"})["Location"].endswith(
        reverse("claims:contract_create", args=[household.pk])
    )
    assert c.get(reverse("claims:contract_sign_lookup"), {"number": "W001"})["Location"] == reverse(
        "claims:contract_list"
    )
    response = c.post(
        reverse("claims:contract_create", args=[household.pk]),
        {
            "team": world.east_team.pk,
            "package": world.package.pk,
            "start_date": "2025-02-01",
            "members": [head.pk],
        },
    )
    contract = Contract.objects.get(household=household)
    assert response.status_code == 302 and list(contract.members.all()) == [head]
    page = c.get(reverse("claims:contract_detail", args=[contract.pk])).content.decode()
    assert (
        "家庭医生签约服务协议书" in page
        and "print-only" in page
        and "孙大成" in page
        and "周桂兰" not in page
    )
    response = c.post(
        reverse("claims:followup_create", args=[contract.pk]),
        {"member": head.pk, "date": "2025-02-10", "kind": "phone", "systolic": "150"},
    )
    assert "同时填写收缩压和舒张压" in response.content.decode()
    c.post(
        reverse("claims:followup_create", args=[contract.pk]),
        {"member": head.pk, "date": "2025-02-10", "kind": "phone", "systolic": "150", "diastolic": "90"},
    )
    assert contract.followups.count() == 1
    c.post(reverse("claims:contract_terminate", args=[contract.pk]), {"reason": "", "version": 1})
    assert Contract.objects.get(pk=contract.pk).status == "active"
    c.post(reverse("claims:contract_terminate", args=[contract.pk]), {"reason": "外出务工迁出", "version": 1})
    assert Contract.objects.get(pk=contract.pk).status == "terminated"


def test_no_followup_list_shows_contracts_without_a_first_quarter_followup(
    as_user, world, township_user, in_2025
):
    c = as_user(township_user)
    lonely = HouseholdFactory(village=world.east_village, number="E777")
    MemberFactory(household=lonely, relation="head")
    ContractFactory(household=lonely, team=world.east_team, start_date=datetime.date(2024, 1, 1))
    page = c.get(reverse("claims:contract_nofollowup")).content.decode()
    assert "E777" in page and "E001" not in page and "W001" not in page
    due = c.get(reverse("claims:followup_due")).content.decode()
    assert "王秀英" in due and "王小明" not in due


def test_team_pages(as_user, world, township_user):
    c = as_user(township_user)
    response = c.post(
        reverse("claims:team_create"),
        {"name": "城关二团队", "institution": world.east_clinic.pk, "active": "on"},
    )
    assert response.status_code == 302
    response = c.post(
        reverse("claims:team_create"), {"name": "越界团队", "institution": world.west_clinic.pk}
    )
    assert response.status_code == 200  # not a choice for this user
    team = world.east_team
    c.post(reverse("claims:team_member_add", args=[team.pk]), {"name": "钱护士", "role": "nurse"})
    member = team.members.get(name="钱护士")
    c.post(reverse("claims:team_member_toggle", args=[member.pk]))
    member.refresh_from_db()
    assert member.active is False
    page = c.get(reverse("claims:team_detail", args=[team.pk])).content.decode()
    assert "钱护士" in page and "已离开" in page


def test_openapi_schema_lists_the_claims_routes(as_user, county_user):
    schema = as_user(county_user).get("/api/v1/schema/")
    assert schema.status_code == 200 and b"/api/v1/claims/encounters/{id}/correct/" in schema.content


def test_claims_exports_write_a_formula_name_as_text(as_user, world, county_user):
    from registry.models import Member
    from tests.sheets import EVIL, assert_evil_is_text

    Member.objects.filter(pk=world.east_head.pk).update(name=EVIL)
    c = as_user(county_user)
    for name in ("encounter_list", "contract_list", "illness_list"):
        sheet = assert_evil_is_text(c.get(reverse(f"claims:{name}"), {"export": "xlsx"}))
        assert "筛选条件" in sheet["A1"].value, name
    encounters = assert_evil_is_text(c.get(reverse("claims:encounter_list"), {"export": "xlsx"}))
    assert encounters.title == "就诊记录"
    header = [cell.value for cell in encounters[2]]
    total = encounters.cell(row=3, column=header.index("医疗总费用") + 1)
    day = encounters.cell(row=3, column=header.index("入院/就诊日期") + 1)
    assert total.data_type == "n" and total.number_format == "#,##0.00"
    assert day.is_date and day.number_format == "yyyy-mm-dd"
