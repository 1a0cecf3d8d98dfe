"""Exports open in the office suite county offices use: the household list's ``.xlsx`` export,
rendered by LibreOffice (``soffice --headless --convert-to pdf``), gives a PDF of at least one
page. Runs when ``soffice`` is on PATH (CI installs ``libreoffice-calc-nogui``); skipped with a
message otherwise, failed on CI."""

import os
import re
import shutil
import subprocess

import pytest
from django.urls import reverse

from tests.factories import HouseholdFactory, MemberFactory

pytestmark = pytest.mark.django_db


def _soffice():
    found = shutil.which("soffice") or shutil.which("libreoffice")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("soffice is not installed: .ci/run must install libreoffice-calc-nogui")
    pytest.skip("LibreOffice (soffice) is not installed: apt-get install libreoffice-calc-nogui")


def _pdf_pages(data: bytes) -> int:
    """Page objects of a PDF (LibreOffice writes them uncompressed: ``/Type/Page``)."""
    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", data))


def test_household_export_renders_to_pdf_in_libreoffice(client, county_user, areas, tmp_path):
    soffice = _soffice()
    household = HouseholdFactory(village=areas["east_village"], number="640221001001")
    MemberFactory(household=household, name="马德福", relation="head")
    client.force_login(county_user)
    response = client.get(reverse("registry:household_list"), {"export": "xlsx"})
    assert response.status_code == 200
    source = tmp_path / "households.xlsx"
    source.write_bytes(b"".join(response.streaming_content) if response.streaming else response.content)

    # A profile of its own: concurrent runs (and a user's open LibreOffice) would otherwise share one.
    profile = (tmp_path / "profile").as_uri()
    result = subprocess.run(
        [
            soffice,
            f"-env:UserInstallation={profile}",
            "--headless",
            "--norestore",
            "--convert-to",
            "pdf",
            "--outdir",
            str(tmp_path / "out"),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    pdf = tmp_path / "out" / "households.pdf"
    assert result.returncode == 0 and pdf.exists(), result.stdout + result.stderr
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-")
    assert _pdf_pages(data) >= 1
