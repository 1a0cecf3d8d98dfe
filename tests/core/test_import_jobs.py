"""The import-job stack (core.imports) through the roster kind: the whole file back after a
refusal (issue 10, flow 4), starts through the outbox (issue 12), the poison guard, refused
uploads not kept (issue 13)."""

import copy
import io
from pathlib import Path

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from core.imports import MSG_POISON
from core.models import OutboxEntry
from core.outbox import outbox_dispatch
from registry import roster, tasks
from registry.demo import synthetic_roster, write_xlsx
from registry.models import Household, RosterImport
from tests.core.test_reader import _cell, xlsx

COL = {name: i for i, name in enumerate(roster.CANONICAL_HEADERS)}


@pytest.fixture
def county(client, county_user):
    client.force_login(county_user)
    return client


def _upload(client, path, **options):
    with open(path, "rb") as handle:
        return client.post(
            reverse("registry:roster_upload"), {"file": handle, "create_areas": "on", **options}
        )


def _job(response):
    return RosterImport.objects.get(pk=int(response["Location"].rstrip("/").split("/")[-1]))


def _stored_files(settings):
    root = Path(settings.MEDIA_ROOT)
    return sorted(p.name for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_refused_roster_offers_the_whole_file_back_and_the_fixed_file_imports_every_household(
    county, tmp_path, django_capture_on_commit_callbacks, settings
):
    rows = synthetic_roster(10, seed=5)
    good_id = rows[4][COL["证件号码"]]
    bad = copy.deepcopy(rows)
    bad[4][COL["证件号码"]] = good_id[:17]  # one faulty member: all-or-nothing refuses the file
    path = tmp_path / "花名册.xlsx"
    write_xlsx(bad, path)
    with django_capture_on_commit_callbacks(execute=True):
        response = _upload(county, path)
    job = _job(response)
    assert job.status == "refused"
    page = county.get(response["Location"]).content.decode()
    assert "整个文件未导入，没有写入任何数据" in page and "整个文件的全部行" in page
    assert Household.objects.count() == 0
    assert not job.file  # the refused upload is not kept…
    assert _stored_files(settings) == [job.rejected_file.name.rsplit("/", 1)[-1]]  # …only the error file

    download = county.get(reverse("registry:roster_import_rejected", args=[job.pk]))
    assert "%E9%94%99%E8%AF%AF%E6%A0%87%E6%B3%A8" in download["Content-Disposition"]  # 错误标注
    sheet = load_workbook(io.BytesIO(download.getvalue())).active
    back = [list(r) for r in sheet.iter_rows(values_only=True)]
    header, body = back[0], back[1:]
    assert header[-2:] == ["错误原因", "原行号"]
    assert len(body) == len(rows) - 1  # every data row, not only the faulty household
    assert body[0][-1] == 5 and "证件号码" in body[0][-2]  # the faulty row first, with its reason
    assert all(r[-2] in (None, "") for r in body if r[COL["户编号"]] != bad[4][COL["户编号"]])

    # The clerk fixes the row in the downloaded file and uploads that file again.
    body[0][COL["证件号码"]] = good_id
    fixed = tmp_path / "花名册-改正.xlsx"
    write_xlsx([header, *body], fixed)
    with django_capture_on_commit_callbacks(execute=True):
        response = _upload(county, fixed)
    again = _job(response)
    assert again.status == "previewed", again.preview["errors"]
    county.post(reverse("registry:roster_import_confirm", args=[again.pk]))
    outbox_dispatch()  # the sweeper (the test's one transaction never commits)
    again.refresh_from_db()
    assert again.status == "done"
    assert Household.objects.count() == len({r[COL["户编号"]] for r in rows[1:]})


def test_skip_invalid_offers_only_the_rows_not_imported(county, tmp_path, django_capture_on_commit_callbacks):
    rows = synthetic_roster(6, seed=2)
    rows[2][COL["性别"]] = "未知"
    path = tmp_path / "r.xlsx"
    write_xlsx(rows, path)
    with django_capture_on_commit_callbacks(execute=True):
        response = _upload(county, path, skip_invalid="on")
    job = _job(response)
    assert job.status == "previewed" and job.file  # kept: the import still needs it
    sheet = load_workbook(
        io.BytesIO(county.get(reverse("registry:roster_import_rejected", args=[job.pk])).getvalue())
    ).active
    body = list(sheet.iter_rows(min_row=2, values_only=True))
    assert body and all(r[-2] for r in body)  # each one with its reason
    assert len(body) < len(rows) - 1


def test_upload_answers_at_once_when_the_broker_is_down_and_the_sweeper_starts_the_job(
    county, tmp_path, django_capture_on_commit_callbacks, monkeypatch
):
    from django.core.cache import cache

    from core import tasks as core_tasks

    cache.clear()  # progress of an earlier test's job with the same id

    def down(*args, **kwargs):
        raise ConnectionError("broker down")

    path = tmp_path / "r.xlsx"
    write_xlsx(synthetic_roster(3, seed=1), path)
    monkeypatch.setattr(core_tasks.outbox_dispatch_task, "apply_async", down)
    monkeypatch.setattr(tasks.run_roster_job, "apply_async", down)
    with django_capture_on_commit_callbacks(execute=True):
        response = _upload(county, path)
    assert response.status_code == 302
    job = _job(response)
    assert job.status == "previewing"
    entry = OutboxEntry.objects.get(topic="core.import_job_start", done_at__isnull=True)
    assert entry.payload == {"kind": "roster", "job": job.pk, "confirm": False}
    progress = county.get(reverse("registry:roster_import_progress", args=[job.pk])).json()
    assert progress["done"] is False and "排队" in progress["stage"]

    assert outbox_dispatch() == 0  # the broker is still down: the entry waits
    entry.refresh_from_db()
    assert entry.attempts == 1 and entry.done_at is None
    monkeypatch.undo()  # the broker is back: the sweeper queues the preview
    assert outbox_dispatch() == 1
    job.refresh_from_db()
    assert job.status == "previewed"


def test_a_task_that_keeps_killing_its_worker_fails_the_job(county_user, tmp_path, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from registry import services

    path = tmp_path / "r.xlsx"
    write_xlsx(synthetic_roster(3, seed=1), path)
    job = services.roster_job_create(
        user=county_user,
        uploaded_file=SimpleUploadedFile("r.xlsx", path.read_bytes()),
        create_areas=True,
        skip_invalid=False,
    )
    # A delivery that finishes resets the count.
    RosterImport.objects.filter(pk=job.pk).update(deliveries=2)
    tasks.run_roster_job.delay(job.pk, False)
    job.refresh_from_db()
    assert job.status == "previewed" and job.deliveries == 0

    # Three deliveries that never finished (the worker died each time): the fourth gives up.
    services.roster_job_confirm(user=county_user, job=job)
    settings.IMPORT_MAX_DELIVERIES = 3
    RosterImport.objects.filter(pk=job.pk).update(deliveries=3)
    tasks.run_roster_job.delay(job.pk, True)
    job.refresh_from_db()
    assert job.status == "failed" and Household.objects.count() == 0
    assert job.result["errors"][0]["message"] == MSG_POISON.format(n=3)


def test_a_non_excel_file_is_refused_at_upload_and_not_kept(county, tmp_path, settings):
    path = tmp_path / "名单.xlsx"
    path.write_bytes(b"name,id\n1,2\n")
    response = _upload(county, path)
    assert response.status_code == 200
    page = response.content.decode()
    assert "不是有效的 .xlsx" in page and "Cannot" not in page
    assert not RosterImport.objects.exists() and _stored_files(settings) == []

    settings.IMPORT_MAX_FILE_MB = 0.001
    write_xlsx(synthetic_roster(3, seed=1), path)
    response = _upload(county, path)
    assert "文件过大" in response.content.decode()
    assert not RosterImport.objects.exists() and _stored_files(settings) == []


def test_a_sheet_bomb_is_refused_by_the_job_and_not_kept(
    county, tmp_path, settings, django_capture_on_commit_callbacks
):
    path = xlsx(
        tmp_path / "far.xlsx",
        f'<row r="1">{_cell("A1", "乡镇")}</row><row r="1048576">{_cell("XFD1048576", "x")}</row>',
        dimension="A1:XFD1048576",
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = _upload(county, path)
    job = _job(response)
    assert job.status == "refused" and "使用范围过大" in job.preview["errors"][0]["message"]
    assert not job.file and not job.rejected_file and _stored_files(settings) == []
    assert "使用范围过大" in county.get(response["Location"]).content.decode()
