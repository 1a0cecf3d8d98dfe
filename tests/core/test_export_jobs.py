"""Attack 5 (docs/security.md): a list export of any size. Above ``EXPORT_ASYNC_ROWS`` rows the
request answers a redirect at once and a background job (core.exportjobs) writes the same
filtered, role-scoped rows; only its owner sees the job and its file."""

import pytest
from django.urls import reverse

from core.models import ExportJob
from registry.models import Member
from tests.factories import HouseholdFactory, MemberFactory, make_user
from tests.sheets import EVIL, assert_evil_is_text, workbook


@pytest.fixture
def people(areas):
    """Five members in the east township (two households), two in the west."""
    east = HouseholdFactory(village=areas["east_village"], number="E001")
    east2 = HouseholdFactory(village=areas["east_village"], number="E002")
    west = HouseholdFactory(village=areas["west_village"], number="W001")
    return {
        "east": [
            MemberFactory(household=east, name="王秀英", sex="F", relation="head"),
            MemberFactory(household=east, name="王小明", relation="son"),
            MemberFactory(household=east, name="王小红", sex="F", relation="daughter"),
            MemberFactory(household=east2, name="张大山", relation="head"),
            MemberFactory(household=east2, name="张小山", relation="son"),
        ],
        "west": [
            MemberFactory(household=west, name="李建国", relation="head"),
            MemberFactory(household=west, name="李小国", relation="son"),
        ],
    }


def _data_rows(sheet):
    """Header and data rows (row 1, the title, holds the time of export)."""
    return [list(row) for row in sheet.iter_rows(min_row=2, values_only=True)]


def _export_job(client, params, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.get(reverse("registry:member_list"), {**params, "export": "xlsx"})
    assert response.status_code == 302, response.status_code
    job = ExportJob.objects.latest("pk")
    assert response["Location"] == reverse("core:export_job", args=[job.pk])
    return job


def test_a_large_export_becomes_a_job_with_exactly_the_filtered_rows(
    client, county_user, people, settings, django_capture_on_commit_callbacks
):
    client.force_login(county_user)
    params = {"q": "王"}  # three of the seven members
    settings.EXPORT_ASYNC_ROWS = 100
    direct = client.get(reverse("registry:member_list"), {**params, "export": "xlsx"})
    expected = _data_rows(workbook(direct).active)
    assert len(expected) == 1 + 3

    settings.EXPORT_ASYNC_ROWS = 2
    job = _export_job(client, params, django_capture_on_commit_callbacks)
    job.refresh_from_db()
    assert job.user == county_user and job.view_name == "registry:member_list"
    assert job.params == {"q": ["王"]}
    assert job.status == ExportJob.Status.DONE and job.total == job.done == 3
    assert job.progress_at is not None  # the sign of life housekeeping watches (test_housekeeping)
    page = client.get(reverse("core:export_job", args=[job.pk]))
    assert page.status_code == 200 and reverse("core:export_job_file", args=[job.pk]) in page.content.decode()
    progress = client.get(reverse("core:export_job_progress", args=[job.pk])).json()
    assert progress["done"] and progress["percent"] == 100
    sheet = workbook(client.get(reverse("core:export_job_file", args=[job.pk]))).active
    assert sheet.title == "家庭成员名单"
    assert "搜索：王" in sheet["A1"].value
    assert _data_rows(sheet) == expected


def test_below_the_threshold_the_export_is_written_in_the_request(client, county_user, people, settings):
    settings.EXPORT_ASYNC_ROWS = 7
    client.force_login(county_user)
    response = client.get(reverse("registry:member_list"), {"export": "xlsx"})
    assert len(_data_rows(workbook(response).active)) == 1 + 7
    assert not ExportJob.objects.exists()


def test_a_clinics_job_holds_only_its_township(
    client, township_user, people, settings, django_capture_on_commit_callbacks
):
    settings.EXPORT_ASYNC_ROWS = 3
    client.force_login(township_user)
    job = _export_job(client, {}, django_capture_on_commit_callbacks)
    sheet = workbook(client.get(reverse("core:export_job_file", args=[job.pk]))).active
    header, *rows = _data_rows(sheet)
    names = sorted(row[header.index("姓名")] for row in rows)
    assert names == sorted(m.name for m in people["east"])
    # Even a township filter naming the other township gives nothing of it.
    job = _export_job(
        client,
        {"township": str(people["west"][0].household.village.township_id)},
        django_capture_on_commit_callbacks,
    )
    job.refresh_from_db()
    header, *rows = _data_rows(workbook(client.get(reverse("core:export_job_file", args=[job.pk]))).active)
    assert not {"李建国", "李小国"} & {row[header.index("姓名")] for row in rows}


def test_only_the_owner_sees_the_job_and_its_file(
    client, county_user, township_user, supervisor, people, settings, django_capture_on_commit_callbacks
):
    settings.EXPORT_ASYNC_ROWS = 3
    client.force_login(county_user)
    job = _export_job(client, {}, django_capture_on_commit_callbacks)
    urls = [
        reverse(name, args=[job.pk])
        for name in ("core:export_job", "core:export_job_progress", "core:export_job_file")
    ]
    assert [client.get(url).status_code for url in urls] == [200, 200, 200]
    other_county = make_user("county2", "county", is_staff=True)
    for user in (township_user, supervisor, other_county):
        client.force_login(user)
        assert [client.get(url).status_code for url in urls] == [404, 404, 404], user.username
        assert (
            reverse("core:export_job", args=[job.pk])
            not in client.get(reverse("core:export_job_list")).content.decode()
        )
    client.logout()
    assert all(client.get(url).status_code == 302 for url in urls)  # to the login page
    client.force_login(county_user)
    assert (
        reverse("core:export_job", args=[job.pk])
        in client.get(reverse("core:export_job_list")).content.decode()
    )


def test_a_supervisor_may_export_and_a_formula_stays_text(
    client, supervisor, people, settings, django_capture_on_commit_callbacks
):
    Member.objects.filter(pk=people["east"][0].pk).update(name=EVIL)
    settings.EXPORT_ASYNC_ROWS = 3
    client.force_login(supervisor)
    job = _export_job(client, {}, django_capture_on_commit_callbacks)
    job.refresh_from_db()
    assert job.status == ExportJob.Status.DONE and job.total == 7
    assert_evil_is_text(client.get(reverse("core:export_job_file", args=[job.pk])))


def test_a_job_of_a_user_who_lost_the_role_fails_with_a_message(
    client, county_user, people, settings, django_capture_on_commit_callbacks
):
    from core.exportjobs import export_job_create, export_job_run

    job = export_job_create(
        user=county_user, view_name="registry:member_list", view_kwargs={}, params={}, title="家庭成员名单"
    )
    county_user.profile.delete()
    export_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == ExportJob.Status.FAILED and "没有分配角色" in job.error and not job.file
    # Running it again (a duplicated task) changes nothing.
    export_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == ExportJob.Status.FAILED


def _exportable_lists():
    from django.urls import URLPattern, URLResolver, get_resolver

    from registry.pages import FilteredListView

    def walk(patterns, namespace=None):
        for p in patterns:
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns, p.namespace or namespace)
            elif isinstance(p, URLPattern) and p.name and not p.pattern.regex.groupindex:
                view_class = getattr(p.callback, "view_class", None)
                if (
                    view_class
                    and issubclass(view_class, FilteredListView)
                    and view_class.exportable(view_class())
                ):
                    yield f"{namespace}:{p.name}" if namespace else p.name

    return sorted(set(walk(get_resolver().url_patterns)))


def test_every_exportable_list_can_run_as_a_job(
    client, county_user, people, settings, django_capture_on_commit_callbacks
):
    """Each list's job rebuilds its view from the URL name and finishes (an empty list too)."""
    settings.EXPORT_ASYNC_ROWS = -1
    client.force_login(county_user)
    names = _exportable_lists()
    assert {
        "registry:member_list",
        "registry:household_list",
        "claims:encounter_list",
        "settlement:settlement_list",
    } <= set(names)
    for name in names:
        with django_capture_on_commit_callbacks(execute=True):
            response = client.get(reverse(name), {"export": "xlsx"})
        assert response.status_code == 302, (name, response.status_code)
        job = ExportJob.objects.latest("pk")
        assert job.view_name == name and job.status == ExportJob.Status.DONE, (name, job.status, job.error)
        workbook(client.get(reverse("core:export_job_file", args=[job.pk])))
