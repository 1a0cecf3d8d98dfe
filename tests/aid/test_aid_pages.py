"""The aid pages and API: scoping (another township's case is a 404), the 受理 form with 代办,
the step buttons, the list's filters, export and query count, documents, the 审批表."""

import datetime
import io
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from aid import services
from aid.errors import AidError
from aid.models import AidApplication, AidDocument, AidStatus

from .conftest import client_of, submit

D = datetime.date
pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 64


def test_the_form_takes_a_proxy_application(world, township_user):
    client = client_of(township_user)
    found = client.get(reverse("aid:application_create"), {"q": "王大山"})
    assert found.status_code == 200 and f"?member={world['member'].pk}" in found.content.decode()
    url = reverse("aid:application_create") + f"?member={world['member'].pk}"
    page = client.get(url)
    token = page.context["form"]["form_token"].value()
    data = {
        "kind": "tilted",
        "reason": "村干部代办：两次住院自付高",
        "encounters": [e.pk for e in world["encounters"]],
        "applicant": "proxy",
        "proxy_name": "张村长",
        "proxy_phone": "",
        "form_token": token,
    }
    refused = client.post(url, data)
    assert refused.status_code == 200 and "代办村干部的联系电话" in refused.content.decode()
    data["proxy_phone"] = "13800001111"
    saved = client.post(url, data)
    assert saved.status_code == 302
    again = client.post(url, data)  # the same form sent twice
    assert again.status_code == 302
    application = AidApplication.objects.get()
    assert (application.proxy_name, application.encounters.count()) == ("张村长", 2)


def test_another_townships_case_is_not_found(world, township_user, other_township_user, supervisor):
    application = submit(township_user, world)
    document = services.aid_document_add(
        user=township_user, application=application, kind="invoice", upload=SimpleUploadedFile("a.png", PNG)
    )
    other = client_of(other_township_user)
    for name in ("application_detail", "statement"):
        assert other.get(reverse(f"aid:{name}", args=[application.pk])).status_code == 404
    assert other.post(reverse("aid:review", args=[application.pk]), {"review-version": 1}).status_code == 404
    assert other.get(reverse("aid:document", args=[document.pk])).status_code == 404
    assert other.get(f"/api/v1/aid/applications/{application.pk}/").status_code == 404
    assert other.post(f"/api/v1/aid/applications/{application.pk}/review/", {}).status_code == 404
    assert other.get("/api/v1/aid/applications/").json()["count"] == 0
    reader = client_of(supervisor)
    assert reader.get(reverse("aid:application_detail", args=[application.pk])).status_code == 200
    assert reader.post(reverse("aid:review", args=[application.pk]), {"review-version": 1}).status_code == 403
    assert reader.post(f"/api/v1/aid/applications/{application.pk}/review/", {}).status_code == 403


def test_steps_through_the_buttons(world, township_user, county_user):
    application = submit(township_user, world)
    clinic, county = client_of(township_user), client_of(county_user)
    detail = reverse("aid:application_detail", args=[application.pk])
    clinic.post(reverse("aid:review", args=[application.pk]), {"review-version": 1, "review-note": "属实"})
    page = county.get(detail).content.decode()
    assert "3,664.12" in page  # the proposal, before approving
    county.post(reverse("aid:approve", args=[application.pk]), {"approve-version": 2})
    application.refresh_from_db()
    assert application.status == AidStatus.APPROVED and application.amount == Decimal("3664.12")
    stale = county.post(
        reverse("aid:refuse", args=[application.pk]), {"refuse-version": 2, "refuse-reason": "x"}, follow=True
    )
    assert "请刷新页面后重试" in stale.content.decode()
    statement = county.get(reverse("aid:statement", args=[application.pk])).content.decode()
    assert "医疗救助审批表" in statement and "倾斜救助（高额自付）" in statement
    assert "(15234.45 − 10000.00) × 70%" not in statement  # the steps are shown one by one:
    assert "max(15234.45 − 10000.00, 0) = 5234.45 元" in statement
    assert "5234.45 × 70% = 3664.12 元" in statement


def test_list_filters_export_and_queries(world, township_user, county_user, django_assert_max_num_queries):
    for day in (D(2025, 1, 24), D(2025, 11, 3), D(2025, 11, 4)):
        submit(township_user, world, received_on=day)
    done = submit(township_user, world, received_on=D(2025, 1, 24))
    services.aid_application_refuse(user=county_user, application=done, reason="不符合条件")
    client = client_of(township_user)
    url = reverse("aid:application_list")
    with django_assert_max_num_queries(12):
        page = client.get(url)
    assert len(page.context["rows"]) == 4
    overdue = client.get(url, {"overdue": "true"}).context["rows"]
    # Everything received in 2025 and still open is overdue now (the deadlines have passed).
    assert {a.status for a in overdue} == {"received"} and len(overdue) == 3
    assert len(client.get(url, {"status": "refused"}).context["rows"]) == 1
    export = client.get(url, {"export": "xlsx", "status": "refused"})
    assert export.status_code == 200 and export["Content-Type"].startswith("application/vnd.openxmlformats")
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(b"".join(export.streaming_content))).active
    values = [cell.value for row in sheet.iter_rows() for cell in row]
    assert "不予救助" in values and world["member"].id_number not in values
    with django_assert_max_num_queries(12):
        api = client.get("/api/v1/aid/applications/")
    assert api.json()["count"] == 4


def test_documents_are_checked_by_content_and_size(world, township_user, settings):
    application = submit(township_user, world)
    with pytest.raises(AidError, match="改扩展名无效"):
        services.aid_document_add(
            user=township_user,
            application=application,
            kind="invoice",
            upload=SimpleUploadedFile("发票.jpg", EXE),
        )
    settings.AID_DOCUMENT_MAX_BYTES = 1000
    big = SimpleUploadedFile("scan.png", PNG + b"\x00" * 2000)
    with pytest.raises(AidError, match="文件太大"):
        services.aid_document_add(user=township_user, application=application, kind="invoice", upload=big)
    client = client_of(township_user)
    page = client.post(
        reverse("aid:document_add", args=[application.pk]),
        {"document-kind": "invoice", "document-upload": SimpleUploadedFile("setup.pdf", EXE)},
        follow=True,
    )
    assert "只能上传 JPEG、PNG 图片或 PDF 文件" in page.content.decode()
    assert not AidDocument.objects.exists()
    client.post(
        reverse("aid:document_add", args=[application.pk]),
        {"document-kind": "discharge", "document-upload": SimpleUploadedFile("出院小结.pdf", PDF)},
    )
    document = AidDocument.objects.get()
    assert document.content_type == "application/pdf"
    assert "出院小结" not in document.file.name and document.file.name.startswith("private/aid/")
    served = client.get(reverse("aid:document", args=[document.pk]))
    assert served["Content-Type"] == "application/pdf" and served["Content-Disposition"] == "inline"
    assert b"".join(served.streaming_content) == PDF


def test_api_create_is_idempotent_and_walks_the_steps(world, township_user, county_user):
    clinic, county = client_of(township_user), client_of(county_user)
    body = {
        "member": world["member"].pk,
        "kind": "tilted",
        "reason": "自付费用高",
        "encounters": [e.pk for e in world["encounters"]],
        "applicant": "proxy",
        "proxy_name": "张村长",
        "proxy_phone": "13800001111",
    }
    first = clinic.post(
        "/api/v1/aid/applications/", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="a1"
    )
    again = clinic.post(
        "/api/v1/aid/applications/", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="a1"
    )
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true" and first.json()["id"] == again.json()["id"]
    pk = first.json()["id"]
    early = county.post(f"/api/v1/aid/applications/{pk}/approve/", {}, content_type="application/json")
    assert early.status_code == 409
    assert (
        clinic.post(
            f"/api/v1/aid/applications/{pk}/review/", {"version": 1}, content_type="application/json"
        ).status_code
        == 200
    )
    approved = county.post(f"/api/v1/aid/applications/{pk}/approve/", {}, content_type="application/json")
    assert approved.status_code == 200, approved.json()
    assert approved.json()["amount"] == "3664.12" and approved.json()["status"] == "approved"
    assert [s["action"] for s in approved.json()["steps"]] == ["submit", "township_review", "county_approve"]
    refused = clinic.post(
        f"/api/v1/aid/applications/{pk}/return/", {"reason": ""}, content_type="application/json"
    )
    assert refused.status_code == 400


def test_the_overview_counts_overdue_cases(world, township_user, county_user, other_township_user):
    submit(township_user, world, received_on=D(2025, 1, 24))
    cards = {c.label: c for c in client_of(county_user).get(reverse("dashboards:overview")).context["cards"]}
    assert cards["救助申请超期"].value == 1 and cards["救助申请超期"].missed
    other = {
        c.label: c
        for c in client_of(other_township_user).get(reverse("dashboards:overview")).context["cards"]
    }
    assert other["救助申请超期"].value == 0
