"""The roster import through a real Celery worker on Redis and PostgreSQL (CI runs this)."""

import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from registry import services, tasks
from registry.demo import synthetic_roster, write_xlsx
from registry.models import Household, Member, RosterImport

pytestmark = pytest.mark.integration


def _wait_for(job_id, status, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = RosterImport.objects.get(pk=job_id)
        if job.status == status:
            return job
        time.sleep(0.2)
    pytest.fail(f"job {job_id} stayed {RosterImport.objects.get(pk=job_id).status}, expected {status}")


def test_upload_preview_and_confirm_run_on_the_worker(celery_worker_process, county_user, tmp_path):
    rows = synthetic_roster(60, seed=5)
    path = tmp_path / "roster.xlsx"
    write_xlsx(rows, path)
    job = services.roster_job_create(
        user=county_user,
        uploaded_file=SimpleUploadedFile("roster.xlsx", path.read_bytes()),
        create_areas=True,
        skip_invalid=False,
    )
    tasks.run_roster_job.delay(job.pk, False)
    job = _wait_for(job.pk, RosterImport.Status.PREVIEWED)
    assert job.preview["members_created"] == len(rows) - 1
    assert Member.objects.count() == 0

    services.roster_job_confirm(user=county_user, job=job)
    # The same task sent twice at once: the job lock makes the second a no-op.
    first = tasks.run_roster_job.delay(job.pk, True)
    second = tasks.run_roster_job.delay(job.pk, True)
    assert first.get(timeout=90) == second.get(timeout=90) == RosterImport.Status.DONE
    job.refresh_from_db()
    assert Member.objects.count() == len(rows) - 1
    assert Member.history.count() == len(rows) - 1
    assert Household.objects.count() == len({r[2] for r in rows[1:]})
    # Had the duplicate run the import again, its report (all unchanged) would have replaced this one.
    assert job.result["members_created"] == len(rows) - 1 and job.result["members_unchanged"] == 0
