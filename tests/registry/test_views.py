"""Registry pages, exports and API: roles, township isolation, masking, version conflicts."""

import io

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from core.outbox import outbox_dispatch
from registry.idnumber import mask_id_number
from registry.models import Household
from tests.factories import HouseholdFactory, MemberFactory


@pytest.fixture
def people(areas):
    """One household with two members in each township."""
    east = HouseholdFactory(village=areas["east_village"], number="E001")
    west = HouseholdFactory(village=areas["west_village"], number="W001")
    return {
        "east": east,
        "west": west,
        "east_head": MemberFactory(household=east, name="王秀英", sex="F", relation="head"),
        "east_child": MemberFactory(household=east, name="王小明", relation="son"),
        "west_head": MemberFactory(household=west, name="李建国", relation="head"),
    }


def _client(client, user):
    client.force_login(user)
    return client


def test_pages_require_login(client, people):
    response = client.get(reverse("registry:household_list"))
    assert response.status_code == 302 and reverse("login") in response["Location"]
    assert client.get("/api/v1/registry/households/").status_code in (401, 403)


def test_login_page_is_chinese_and_logs_in(client, county_user):
    page = client.get(reverse("login"))
    assert "登录" in page.content.decode()
    response = client.post(reverse("login"), {"username": "county", "password": "test-pass-123"})
    assert response.status_code == 302
    assert client.get(reverse("home")).status_code == 200


def test_township_user_sees_only_own_township(client, township_user, people):
    c = _client(client, township_user)
    listing = c.get(reverse("registry:household_list")).content.decode()
    assert "E001" in listing and "W001" not in listing
    members = c.get(reverse("registry:member_list")).content.decode()
    assert "王秀英" in members and "李建国" not in members
    assert c.get(reverse("registry:household_detail", args=[people["west"].pk])).status_code == 404
    assert c.get(reverse("registry:household_edit", args=[people["west"].pk])).status_code == 404
    assert c.get(reverse("registry:member_detail", args=[people["west_head"].pk])).status_code == 404
    assert c.get(reverse("registry:member_edit", args=[people["west_head"].pk])).status_code == 404
    assert c.post(reverse("registry:member_create", args=[people["west"].pk]), {}).status_code == 404
    # Searching for another township's person finds nothing either.
    found = c.get(reverse("registry:member_list"), {"q": people["west_head"].id_number[:10]}).content.decode()
    assert "李建国" not in found


def test_township_user_export_holds_only_own_township(client, township_user, people):
    c = _client(client, township_user)
    response = c.get(reverse("registry:member_list"), {"export": "xlsx"})
    sheet = load_workbook(io.BytesIO(response.getvalue())).active
    names = [row[3] for row in sheet.iter_rows(min_row=3, values_only=True)]
    assert sorted(names) == ["王小明", "王秀英"]


def test_township_user_api_is_scoped(client, township_user, people):
    c = _client(client, township_user)
    data = c.get("/api/v1/registry/households/").json()
    assert [h["number"] for h in data["results"]] == ["E001"]
    assert c.get(f"/api/v1/registry/households/{people['west'].pk}/").status_code == 404
    assert c.get(f"/api/v1/registry/members/{people['west_head'].pk}/").status_code == 404
    response = c.patch(
        f"/api/v1/registry/households/{people['west'].pk}/",
        {"phone": "1", "version": 1},
        content_type="application/json",
    )
    assert response.status_code == 404
    # Creating a household in another township's village is refused.
    response = c.post(
        "/api/v1/registry/households/",
        {"number": "X1", "village": people["west"].village_id, "poverty_status": "poor"},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert not Household.objects.filter(number="X1").exists()


def test_ids_are_masked_in_lists_exports_and_api_lists(client, county_user, people):
    c = _client(client, county_user)
    full = people["east_head"].id_number
    listing = c.get(reverse("registry:member_list")).content.decode()
    assert full not in listing and mask_id_number(full) in listing
    export = c.get(reverse("registry:member_list"), {"export": "xlsx"})
    cells = [
        cell
        for row in load_workbook(io.BytesIO(export.getvalue())).active.iter_rows(values_only=True)
        for cell in row
    ]
    assert full not in cells and mask_id_number(full) in cells
    api_list = c.get("/api/v1/registry/members/").json()
    assert full not in str(api_list)
    assert c.get(f"/api/v1/registry/members/{people['east_head'].pk}/").json()["id_number"] == full
    assert full in c.get(reverse("registry:member_detail", args=[people["east_head"].pk])).content.decode()


def test_supervisor_reads_everything_changes_nothing(client, supervisor, people):
    c = _client(client, supervisor)
    listing = c.get(reverse("registry:household_list")).content.decode()
    assert "E001" in listing and "W001" in listing
    page = c.get(reverse("registry:member_detail", args=[people["east_head"].pk])).content.decode()
    assert people["east_head"].id_number not in page
    assert c.get(reverse("registry:household_edit", args=[people["east"].pk])).status_code == 403
    response = c.patch(
        f"/api/v1/registry/households/{people['east'].pk}/",
        {"phone": "1", "version": 1},
        content_type="application/json",
    )
    assert response.status_code == 403
    assert c.get(reverse("registry:roster_import_list")).status_code == 403


def test_saving_over_a_newer_version_is_refused(client, county_user, people):
    c = _client(client, county_user)
    household = people["east"]
    url = reverse("registry:household_edit", args=[household.pk])
    form = {
        "village": household.village_id,
        "phone": "13900000000",
        "attribute": "general",
        "poverty_status": "lifted",
        "main_cause": "illness",
        "annual_income": "",
        "version": 1,
    }
    assert c.post(url, form).status_code == 302  # first clerk saves: version 2
    stale = {
        **form,
        "phone": "13800000000",
        "poverty_status": "monitored",
    }  # second clerk, opened at version 1
    response = c.post(url, stale)
    assert response.status_code == 200
    assert "已被他人修改" in response.content.decode()
    household.refresh_from_db()
    assert (household.phone, household.poverty_status, household.version) == ("13900000000", "lifted", 2)
    # The status change is visible on the household's page with who made it.
    page = c.get(reverse("registry:household_detail", args=[household.pk])).content.decode()
    assert "已脱贫" in page and "county" in page


def test_api_version_conflict_is_409(client, county_user, people):
    c = _client(client, county_user)
    url = f"/api/v1/registry/households/{people['east'].pk}/"
    assert c.patch(url, {"phone": "1", "version": 1}, content_type="application/json").status_code == 200
    response = c.patch(url, {"phone": "2", "version": 1}, content_type="application/json")
    assert response.status_code == 409 and "已被他人修改" in response.json()["detail"]


def test_member_create_derives_sex_and_birth_and_refuses_bad_ids(client, county_user, people):
    from tests.factories import next_id_number

    c = _client(client, county_user)
    url = reverse("registry:member_create", args=[people["east"].pk])
    good = next_id_number("F")
    base = {
        "name": "王小红",
        "relation": "daughter",
        "health_status": "healthy",
        "insured": "true",
        "aid_category": "none",
    }
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    response = c.post(url, {**base, "id_number": bad})
    assert response.status_code == 200 and "校验位" in response.content.decode()
    assert c.post(url, {**base, "id_number": good}).status_code == 302
    member = people["east"].members.get(name="王小红")
    assert member.sex == "F" and member.birth_date.isoformat() == f"{good[6:10]}-{good[10:12]}-{good[12:14]}"
    second_head = c.post(url, {**base, "name": "王二", "relation": "head", "id_number": next_id_number()})
    assert "已有户主" in second_head.content.decode()


def test_list_query_count_does_not_grow_with_rows(client, county_user, areas, django_assert_num_queries):
    c = _client(client, county_user)

    def count_queries():
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as ctx:
            for name in ("registry:household_list", "registry:member_list"):
                assert c.get(reverse(name)).status_code == 200
            assert c.get("/api/v1/registry/households/").status_code == 200
            assert c.get("/api/v1/registry/members/").status_code == 200
        return len(ctx.captured_queries)

    for _i in range(3):
        h = HouseholdFactory(village=areas["east_village"])
        MemberFactory(household=h)
    small = count_queries()
    for i in range(30):
        h = HouseholdFactory(village=areas["west_village"] if i % 2 else areas["east_village"])
        MemberFactory(household=h)
        MemberFactory(household=h, relation="spouse")
    assert count_queries() == small


def test_roster_upload_preview_confirm_and_rejected_rows(
    client, county_user, tmp_path, django_capture_on_commit_callbacks
):
    import copy

    from registry import roster
    from registry.demo import synthetic_roster, write_xlsx

    col = {name: i for i, name in enumerate(roster.CANONICAL_HEADERS)}
    rows = synthetic_roster(12, seed=11)
    bad = copy.deepcopy(rows)
    bad[4][col["证件号码"]] = bad[4][col["证件号码"]][:17]
    path = tmp_path / "花名册.xlsx"
    write_xlsx(bad, path)
    c = _client(client, county_user)
    assert c.get(reverse("registry:roster_import_list")).status_code == 200
    with path.open("rb") as handle, django_capture_on_commit_callbacks(execute=True):
        response = c.post(
            reverse("registry:roster_upload"), {"file": handle, "create_areas": "on", "skip_invalid": "on"}
        )
    assert response.status_code == 302
    detail = c.get(response["Location"]).content.decode()
    assert "预检完成" in detail and "第5行" in detail and "长度应为18位" in detail
    job_id = int(response["Location"].rstrip("/").split("/")[-1])
    assert Household.objects.count() == 0

    c.post(reverse("registry:roster_import_confirm", args=[job_id]))
    outbox_dispatch()  # the sweeper (the test's one transaction never commits)
    assert "导入完成" in c.get(reverse("registry:roster_import_detail", args=[job_id])).content.decode()
    bad_household = bad[4][col["户编号"]]
    expected = len({r[col["户编号"]] for r in bad[1:]}) - 1
    assert Household.objects.count() == expected
    assert not Household.objects.filter(number=bad_household).exists()

    rejected = c.get(reverse("registry:roster_import_rejected", args=[job_id]))
    sheet = load_workbook(io.BytesIO(rejected.getvalue())).active
    out = list(sheet.iter_rows(values_only=True))
    assert out[0][-2:] == ("错误原因", "原行号")
    assert {r[col["户编号"]] for r in out[1:]} == {bad_household}
    progress = c.get(reverse("registry:roster_import_progress", args=[job_id])).json()
    assert progress["done"] is True and progress["percent"] == 100


def test_openapi_schema_and_docs_render(client, county_user):
    c = _client(client, county_user)
    schema = c.get("/api/v1/schema/")
    assert schema.status_code == 200 and b"/api/v1/registry/households/" in schema.content
    docs = c.get("/api/v1/docs/")
    assert docs.status_code == 200 and b"cdn" not in docs.content.lower()


def test_roster_template_download_has_the_canonical_headers(client, county_user):
    from registry.roster import CANONICAL_HEADERS

    response = _client(client, county_user).get(reverse("registry:roster_template"))
    assert response.status_code == 200
    sheet = load_workbook(
        io.BytesIO(b"".join(response.streaming_content) if response.streaming else response.content)
    ).active
    assert [cell.value for cell in sheet[1]] == list(CANONICAL_HEADERS)
    book = sheet.parent
    id_column = CANONICAL_HEADERS.index("证件号码") + 1
    assert sheet.cell(row=2, column=id_column).data_type == "s"  # the example, as text
    assert sheet.cell(row=3, column=id_column).number_format == "@"  # typed IDs stay text
    validated = {str(v.sqref).split(":")[0][:-1] for v in sheet.data_validations.dataValidation}
    letters = {h: sheet.cell(row=1, column=i + 1).column_letter for i, h in enumerate(CANONICAL_HEADERS)}
    for coded in ("与户主关系", "性别", "贫困户属性", "脱贫状态", "主要致贫原因", "健康状况", "救助类别"):
        assert letters[coded] in validated, coded
    notes = book["填写说明"]
    assert [notes.cell(row=r, column=1).value for r in range(2, 2 + len(CANONICAL_HEADERS))] == list(
        CANONICAL_HEADERS
    )


def test_member_and_household_exports_write_a_formula_name_as_text(client, county_user, people):
    from registry.models import Member
    from tests.sheets import EVIL, assert_evil_is_text

    Member.objects.filter(pk=people["east_head"].pk).update(name=EVIL)
    Household.objects.filter(pk=people["east"].pk).update(annual_income="12345.60")
    c = _client(client, county_user)
    members = assert_evil_is_text(c.get(reverse("registry:member_list"), {"export": "xlsx"}))
    assert members.title == "家庭成员名单" and members.freeze_panes == "A3"
    households = c.get(reverse("registry:household_list"), {"export": "xlsx", "q": "E001"})
    sheet = assert_evil_is_text(households)
    assert sheet.title == "贫困户名单"
    header = [cell.value for cell in sheet[2]]
    income = sheet.cell(row=3, column=header.index("家庭年收入") + 1)
    assert income.value == 12345.6 and income.number_format == "#,##0.00"
