"""Daily housekeeping (core.housekeeping): old idempotency keys go, a running export that lost
its worker is failed with a message, old finished exports go with their files."""

import datetime

import pytest
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from core.housekeeping import MSG_STALLED, housekeeping_run
from core.models import ExportJob, IdempotencyKey

pytestmark = pytest.mark.django_db

NOW = timezone.make_aware(datetime.datetime(2026, 12, 1, 3, 10))


def _aged(model, obj, **when):
    # created_at is auto_now_add: set the age afterwards, as time would.
    model.objects.filter(pk=obj.pk).update(**when)
    obj.refresh_from_db()
    return obj


def _job(user, status, **fields):
    return ExportJob.objects.create(
        user=user, view_name="registry:member_list", title="成员", status=status, **fields
    )


def test_keys_older_than_the_retention_are_forgotten_newer_ones_kept(county_user, settings):
    settings.IDEMPOTENCY_KEY_DAYS = 30
    old = IdempotencyKey.objects.create(user=county_user, scope="s", key="old", fingerprint="x")
    new = IdempotencyKey.objects.create(user=county_user, scope="s", key="new", fingerprint="x")
    _aged(IdempotencyKey, old, created_at=NOW - datetime.timedelta(days=30, seconds=1))
    _aged(IdempotencyKey, new, created_at=NOW - datetime.timedelta(days=29))

    assert housekeeping_run(now=NOW)["idempotency_keys"] == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]


def test_a_running_export_without_progress_fails_with_a_message(client, county_user, settings):
    settings.EXPORT_STALL_MINUTES = 15
    stalled = _job(county_user, ExportJob.Status.RUNNING, progress_at=NOW - datetime.timedelta(minutes=16))
    moving = _job(county_user, ExportJob.Status.RUNNING, progress_at=NOW - datetime.timedelta(minutes=14))
    queued = _aged(
        ExportJob, _job(county_user, ExportJob.Status.QUEUED), created_at=NOW - datetime.timedelta(hours=2)
    )

    assert housekeeping_run(now=NOW)["stalled_exports"] == 1
    for job in (stalled, moving, queued):
        job.refresh_from_db()
    assert (stalled.status, stalled.error) == (ExportJob.Status.FAILED, MSG_STALLED)
    assert moving.status == ExportJob.Status.RUNNING
    assert queued.status == ExportJob.Status.QUEUED  # the outbox starts it; not ours to fail

    client.force_login(county_user)
    progress = client.get(reverse("core:export_job_progress", args=[stalled.pk])).json()
    assert progress["done"] is True and progress["error"] == MSG_STALLED


def test_old_finished_exports_are_deleted_with_their_files(county_user, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.EXPORT_RETENTION_DAYS = 30
    old = _job(county_user, ExportJob.Status.DONE)
    old.file.save("old.xlsx", ContentFile(b"x"))
    recent = _job(county_user, ExportJob.Status.DONE)
    recent.file.save("recent.xlsx", ContentFile(b"y"))
    old_path, recent_path = old.file.path, recent.file.path
    _aged(ExportJob, old, created_at=NOW - datetime.timedelta(days=31))
    _aged(ExportJob, recent, created_at=NOW - datetime.timedelta(days=29))

    assert housekeeping_run(now=NOW)["expired_exports"] == 1
    assert list(ExportJob.objects.values_list("pk", flat=True)) == [recent.pk]
    assert not (tmp_path / old_path).exists() and (tmp_path / recent_path).exists()
    assert housekeeping_run(now=NOW)["expired_exports"] == 0  # again: nothing left to do


def test_the_command_reports_in_chinese(county_user, capsys):
    call_command("housekeeping")
    assert "已清理幂等键" in capsys.readouterr().out
