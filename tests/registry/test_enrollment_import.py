"""The enrollment-list import (参保名单导入): parser, service, job flow, pages and roles."""

import datetime
import io
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from openpyxl import load_workbook

from core.imports import import_job_run
from core.models import OutboxEntry
from registry import fact_services
from registry.demo import write_xlsx
from registry.enrollment_list import parse_enrollment_list
from registry.events import MEMBER_FACTS_CHANGED
from registry.models import Enrollment, EnrollmentImport
from tests.factories import HouseholdFactory, MemberFactory, next_id_number

HEADER = [
    "身份证号码",
    "姓名",
    "参保年度",
    "是否参保",
    "保费",
    "个人缴费",
    "资助金额",
    "资助类别",
    "资助资金",
]


@pytest.fixture
def people(areas):
    east = HouseholdFactory(village=areas["east_village"], number="E1")
    west = HouseholdFactory(village=areas["west_village"], number="W1")
    return {
        "a": MemberFactory(household=east, name="张一"),
        "b": MemberFactory(household=east, name="张二", relation="spouse"),
        "c": MemberFactory(household=west, name="李三"),
    }


def _rows(people):
    a, b, c = people["a"], people["b"], people["c"]
    return [
        ["2025年城乡居民医保参保名单"],  # a title row above the header
        HEADER,
        [a.id_number, "张一", 2025, "是", 380, 0, 380, "低保对象全额资助", "医疗救助资金"],
        [b.id_number, "张二", "2025", "是", "380.00", "180.00", None, "脱贫人口定额资助", "衔接资金"],
        [c.id_number, "", 2025, "否", None, None, None, "", ""],
    ]


def _import(rows, user, **kwargs):
    return fact_services.enrollment_list_import(rows=[list(r) for r in rows], user=user, **kwargs)


def _events():
    return list(OutboxEntry.objects.filter(topic=MEMBER_FACTS_CHANGED).values_list("payload", flat=True))


def test_parser_reports_row_and_column_in_chinese():
    parsed = parse_enrollment_list([HEADER, ["123", "王五", "二〇二五", "也许", "abc", None, None, "", ""]])
    columns = {(e.row, e.column) for e in parsed.errors}
    assert {(2, "证件号码"), (2, "年度"), (2, "是否参保"), (2, "缴费标准")} <= columns
    assert parsed.rows == []
    assert "第2行 是否参保" in str(next(e for e in parsed.errors if e.column == "是否参保"))
    missing = parse_enrollment_list([["证件号码", "姓名"], ["x", "y"]])
    assert missing.refused_file and {e.column for e in missing.errors} == {"年度", "是否参保"}


def test_a_good_file_imports(county_user, people):
    report = _import(_rows(people), county_user, source_name="名单.xlsx")

    assert not report.refused and report.errors == []
    assert (report.rows, report.created, report.updated, report.unchanged) == (3, 3, 0, 0)
    a = Enrollment.objects.get(member=people["a"], year=2025)
    assert (a.insured, a.premium, a.personal_share, a.subsidy) == (True, 380, 0, 380)
    assert a.subsidy_fund == "医疗救助资金" and a.source == "参保名单导入：名单.xlsx"
    b = Enrollment.objects.get(member=people["b"], year=2025)
    assert b.subsidy == Decimal("200.00")  # computed: premium − personal share
    assert Enrollment.objects.get(member=people["c"], year=2025).insured is False
    # One event for the year, effective 1 January, naming the three members.
    (payload,) = _events()
    assert payload["effective_from"] == "2025-01-01"
    assert payload["member_ids"] == sorted(p.pk for p in people.values())


def test_reimporting_the_same_file_changes_nothing(county_user, people):
    _import(_rows(people), county_user)
    history, events = Enrollment.history.count(), len(_events())

    report = _import(_rows(people), county_user, source_name="名单（重发）.xlsx")  # another file name

    assert (report.created, report.updated, report.unchanged) == (0, 0, 3)
    assert Enrollment.history.count() == history and len(_events()) == events


def test_update_records_an_event_only_for_changed_insured_status(county_user, people):
    _import(_rows(people), county_user)
    rows = _rows(people)
    rows[2][6:9] = [300, "低保对象全额资助", "医疗救助资金"]  # a's amounts change; still insured
    rows[2][5] = 80
    rows[4][3] = "是"  # c is insured after all
    before = len(_events())

    report = _import(rows, county_user)

    assert (report.created, report.updated, report.unchanged, report.insured_changed) == (0, 2, 1, 1)
    assert Enrollment.objects.get(member=people["a"], year=2025).subsidy == Decimal("300.00")
    new = _events()[before:]
    assert [p["member_ids"] for p in new] == [[people["c"].pk]]


def test_one_bad_row_imports_nothing(county_user, people):
    rows = _rows(people)
    rows[3][0] = next_id_number("F", datetime.date(1990, 3, 7))  # valid, but nobody on record has it
    rows[4][4:9] = [100, 0, 100, "", "医疗救助资金"]  # not insured with a subsidy

    report = _import(rows, county_user)

    assert report.refused and not Enrollment.objects.exists() and not _events()
    by_row = {(e.row, e.column): e.message for e in report.errors}
    assert "系统中没有该证件号码" in by_row[(4, "证件号码")]
    assert (5, "资助金额") in by_row
    assert report.rejected_rows == [4, 5]


def test_a_name_that_differs_from_the_record_is_a_row_error(county_user, people):
    rows = _rows(people)
    rows[2][1] = "张壹"
    report = _import(rows, county_user)
    assert report.refused and report.errors[0].column == "姓名" and "张一" in report.errors[0].message


def test_skip_invalid_imports_the_other_rows(county_user, people):
    rows = _rows(people)
    rows[3][3] = "不知道"
    report = _import(rows, county_user, skip_invalid=True)
    assert not report.refused and report.created == 2 and report.rows_skipped == 1
    assert not Enrollment.objects.filter(member=people["b"]).exists()


def test_only_county_staff_import(township_user, supervisor, people):
    for user in (township_user, supervisor):
        with pytest.raises(PermissionDenied):
            _import(_rows(people), user)
        with pytest.raises(PermissionDenied):
            fact_services.enrollment_job_create(user=user, uploaded_file=SimpleUploadedFile("x.xlsx", b"x"))


def _upload(rows, tmp_path):
    path = tmp_path / "list.xlsx"
    write_xlsx(rows, path)
    return SimpleUploadedFile("参保名单.xlsx", path.read_bytes())


def test_job_flow_bad_file_offers_the_whole_file_back(
    client, county_user, people, tmp_path, django_capture_on_commit_callbacks
):
    rows = _rows(people)[1:]
    rows[2][3] = "不知道"
    client.force_login(county_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("registry:enrollment_import_upload"), {"file": _upload(rows, tmp_path)}
        )
    job = EnrollmentImport.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(f"/{job.pk}/")
    job.refresh_from_db()  # eager Celery: previewed by now
    assert job.status == "refused"
    page = client.get(reverse("registry:enrollment_import_detail", args=[job.pk])).content.decode()
    assert "是否参保" in page and "不知道" in page
    response = client.get(reverse("registry:enrollment_import_rejected", args=[job.pk]))
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    values = [[c.value for c in r] for r in sheet.iter_rows()]
    assert values[0][-2:] == ["错误原因", "原行号"]
    assert len(values) == 4  # the header and every data row: the faulty one first
    assert values[1][-1] == 3 and "是否参保" in values[1][-2]
    assert not Enrollment.objects.exists()


def test_job_flow_preview_confirm_and_rerun(
    client, county_user, people, tmp_path, django_capture_on_commit_callbacks
):
    client.force_login(county_user)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("registry:enrollment_import_upload"), {"file": _upload(_rows(people), tmp_path)})
    job = EnrollmentImport.objects.get()
    job.refresh_from_db()
    assert job.status == "previewed" and job.preview["created"] == 3
    assert not Enrollment.objects.exists()
    progress = client.get(reverse("registry:enrollment_import_progress", args=[job.pk])).json()
    assert progress["done"] is True
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("registry:enrollment_import_confirm", args=[job.pk]))
    job.refresh_from_db()
    assert job.status == "done" and job.result["created"] == 3
    assert Enrollment.objects.count() == 3
    history = Enrollment.history.count()
    again = import_job_run(kind="enrollments", job_id=job.pk, confirm=True)
    assert again.result == job.result and Enrollment.history.count() == history


def test_pages_are_for_county_staff_only(client, township_user, supervisor, county_user, people, tmp_path):
    for user in (township_user, supervisor):
        client.force_login(user)
        for name in ("enrollment_import_list", "enrollment_import_template"):
            assert client.get(reverse(f"registry:{name}")).status_code == 403
        response = client.post(
            reverse("registry:enrollment_import_upload"), {"file": _upload(_rows(people), tmp_path)}
        )
        assert response.status_code == 403
        assert "参保名单导入" not in client.get(reverse("registry:household_list")).content.decode()
    assert not EnrollmentImport.objects.exists()
    client.force_login(county_user)
    assert "参保名单导入" in client.get(reverse("registry:household_list")).content.decode()


def test_template_has_text_id_column_and_insured_dropdown(client, county_user):
    client.force_login(county_user)
    response = client.get(reverse("registry:enrollment_import_template"))
    book = load_workbook(io.BytesIO(response.getvalue()))
    sheet = book.worksheets[0]
    headers = [c.value.strip("*") for c in sheet[1] if c.value]
    assert headers[:4] == ["证件号码", "姓名", "年度", "是否参保"]
    assert sheet["A2"].number_format == "@"
    validations = [dv for dv in sheet.data_validations.dataValidation if dv.type == "list"]
    assert any("是否参保" in (dv.error or "") and "是/否" in dv.error for dv in validations)
    # The template, filled in, imports (its own example row names nobody on record: a row error).
    report = fact_services.enrollment_list_import(
        rows=[[c.value for c in r] for r in sheet.iter_rows(max_row=2)], user=county_user, dry_run=True
    )
    assert report.refused and report.errors[0].column == "证件号码"
