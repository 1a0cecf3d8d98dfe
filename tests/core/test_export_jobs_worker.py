"""A large list export through the outbox and a real Celery worker on Redis and PostgreSQL:
the request answers a redirect at once, the worker writes the file (CI runs this)."""

import time

import pytest
from django.urls import reverse

from core.models import ExportJob
from tests.factories import HouseholdFactory, MemberFactory
from tests.sheets import workbook

pytestmark = pytest.mark.integration


def test_the_worker_writes_a_clinics_export(celery_worker_process, client, township_user, areas, settings):
    east = HouseholdFactory(village=areas["east_village"], number="E001")
    west = HouseholdFactory(village=areas["west_village"], number="W001")
    for i in range(6):
        MemberFactory(household=east, name=f"东{i}", relation="head" if i == 0 else "son")
        MemberFactory(household=west, name=f"西{i}", relation="head" if i == 0 else "son")
    settings.EXPORT_ASYNC_ROWS = 3
    client.force_login(township_user)
    response = client.get(reverse("registry:member_list"), {"export": "xlsx"})
    assert response.status_code == 302
    job = ExportJob.objects.get()
    deadline = time.monotonic() + 90
    while job.running and time.monotonic() < deadline:
        time.sleep(0.2)
        job.refresh_from_db()
    assert job.status == ExportJob.Status.DONE, (job.status, job.error)
    sheet = workbook(client.get(reverse("core:export_job_file", args=[job.pk]))).active
    header, *rows = sheet.iter_rows(min_row=2, values_only=True)
    assert sorted(row[header.index("姓名")] for row in rows) == [f"东{i}" for i in range(6)]
