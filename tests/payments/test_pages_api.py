"""Pages and API of payments: role scoping (a clinic sees its township's people-lines only,
supervisors read), account numbers masked everywhere but the bank file, Idempotency-Key on
creates, the fund page's figures, and bounded queries on lists."""

import datetime
import io
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from openpyxl import load_workbook
from rest_framework.test import APIClient

from payments import selectors, services
from payments.models import BankAccount, BatchStatus, Fund, LineKind, LineStatus, PaymentBatch
from registry import fact_services
from settlement import services as settlement_services
from settlement.models import SettlementLine
from tests.factories import make_settlement
from tests.sheets import EVIL, assert_evil_is_text, workbook

from .conftest import walk_to_export

FULL_EAST = "6217000012345678901"


@pytest.fixture
def refund_batch(world):
    """A batch with a refund to the east patient (people-line) and institution lines."""
    old = world["settlements"][0]
    make_settlement(old.encounter, {"basic_insurance": Decimal("720.00")}, replaces=old)
    SettlementLine.objects.filter(settlement__encounter=old.encounter, settlement__is_current=True).update(
        difference=Decimal("120.00")
    )
    return services.batch_draft(user=world["drafter"], fund=world["fund"], year=2025, month=2)


def api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_clinic_sees_only_its_townships_people_lines(world, refund_batch, township_user, other_township_user):
    lines = api(township_user).get("/api/v1/payments/lines/").json()
    results = lines["results"] if isinstance(lines, dict) else lines
    assert [(r["kind"], r["payee_name"]) for r in results] == [(LineKind.REFUND, "张东")]
    assert results[0]["account_number"] == "****8901"
    # The other township sees no line and not the batch.
    other = api(other_township_user).get("/api/v1/payments/lines/").json()
    assert (other["results"] if isinstance(other, dict) else other) == []
    assert api(other_township_user).get(f"/api/v1/payments/batches/{refund_batch.pk}/").status_code == 404
    mine = api(township_user).get(f"/api/v1/payments/batches/{refund_batch.pk}/").json()
    assert (mine["total"], mine["line_count"]) == ("120.00", 1)  # its own line only
    # Institution lines are county-wide: not even by id.
    hospital = refund_batch.lines.filter(kind=LineKind.INSTITUTION).first()
    assert api(township_user).get(f"/api/v1/payments/lines/{hospital.pk}/").status_code == 404
    # Pages: the batch page shows the clinic its own line only; funds are county-wide.
    client = Client()
    client.force_login(township_user)
    page = client.get(reverse("payments:batch_detail", args=[refund_batch.pk]))
    assert [line.payee_name for line in page.context["lines"]] == ["张东"]
    assert "县人民医院" not in page.content.decode()
    assert client.get(reverse("payments:fund_list")).status_code == 403
    # A clinic cannot act on a batch.
    assert api(township_user).post(f"/api/v1/payments/batches/{refund_batch.pk}/check/").status_code == 403


def test_supervisor_reads_and_changes_nothing(world, refund_batch, supervisor):
    client = api(supervisor)
    assert client.get("/api/v1/payments/batches/").status_code == 200
    assert client.get(f"/api/v1/payments/funds/{world['fund'].pk}/account/?year=2025").status_code == 200
    assert client.post(f"/api/v1/payments/batches/{refund_batch.pk}/check/").status_code == 403
    assert (
        client.post(
            "/api/v1/payments/batches/", {"fund": world["fund"].pk, "year": 2025, "month": 4}, format="json"
        ).status_code
        == 403
    )


def test_account_numbers_are_masked_but_in_full_in_the_bank_file(world, refund_batch, client, county_user):
    client.force_login(county_user)
    for url in (
        reverse("payments:account_list"),
        reverse("payments:account_detail", args=[BankAccount.objects.get(member=world["east"]).pk]),
        reverse("payments:batch_detail", args=[refund_batch.pk]),
        reverse("payments:line_list"),
    ):
        html = client.get(url).content.decode()
        assert FULL_EAST not in html and "****8901" in html, url
        # Nothing else on the page carries other digits of the number.
        assert FULL_EAST[:-4] not in html and FULL_EAST[6:] not in html, url
    # A changed number: the history shows both masked.
    account = BankAccount.objects.get(member=world["east"])
    services.bank_account_save(
        user=county_user,
        household=account.household,
        member=account.member,
        kind="yikatong",
        bank_name="农商银行",
        account_name="张东",
        account_number="6217000012340000555",
        account=account,
    )
    html = client.get(reverse("payments:account_detail", args=[account.pk])).content.decode()
    assert "****8901" in html and "****0555" in html and FULL_EAST not in html and "621700001234" not in html
    data = api(county_user).get("/api/v1/payments/accounts/").json()
    rows = data["results"] if isinstance(data, dict) else data
    assert {r["account_number"] for r in rows} <= {"****0555", "****1098"}
    # The bank file: in full (the line keeps the number it was drafted with).
    content = walk_to_export(world, refund_batch)
    cells = {c.value for row in load_workbook(io.BytesIO(content)).active.iter_rows() for c in row}
    assert FULL_EAST in cells


def test_batch_create_with_idempotency_key(world, staff):
    client = api(staff["drafter"])
    body = {"fund": world["fund"].pk, "year": 2025, "month": 2}
    first = client.post("/api/v1/payments/batches/", body, format="json", HTTP_IDEMPOTENCY_KEY="abc")
    again = client.post("/api/v1/payments/batches/", body, format="json", HTTP_IDEMPOTENCY_KEY="abc")
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"] and again["Idempotent-Replayed"] == "true"
    assert PaymentBatch.objects.count() == 1
    assert Decimal(first.json()["total"]) == Decimal("1290.75")  # 600.00 + 450.50 + 240.25
    other = client.post(
        "/api/v1/payments/batches/", {**body, "month": 4}, format="json", HTTP_IDEMPOTENCY_KEY="abc"
    )
    assert other.status_code == 422


def test_api_walks_a_batch_and_refuses_an_overdraft_without_reason(world, staff):
    batch = services.batch_draft(user=staff["drafter"], fund=world["fund"], year=2025, month=2)
    assert api(staff["checker"]).post(f"/api/v1/payments/batches/{batch.pk}/check/").status_code == 200
    # Spend the fund by hand (its income is 100000.00) so approval would overdraw it.
    settlement_services.fund_transfer_record(
        user=staff["drafter"],
        fund=world["fund"].name,
        institution=world["hospital"],
        year=2025,
        month=11,
        amount=Decimal("99000.00"),
        paid_on=datetime.date(2025, 1, 6),
        reference="X",
    )
    refused = api(staff["approver"]).post(f"/api/v1/payments/batches/{batch.pk}/approve/", {}, format="json")
    assert refused.status_code == 400 and refused.json()["code"] == "overdraft"
    ok = api(staff["approver"]).post(
        f"/api/v1/payments/batches/{batch.pk}/approve/", {"override_reason": "县长办公会同意"}, format="json"
    )
    # By hand: 1290.75 against 1000.00 available → 290.75 over.
    assert ok.status_code == 200 and ok.json()["overdraft"] == "290.75"


def test_fund_page_figures(world, client, supervisor, county_user):
    fact_services.enrollment_record(
        user=county_user,
        member=world["east"],
        year=2025,
        insured=True,
        premium="380.00",
        subsidy="380.00",
        subsidy_fund=world["fund"].name,
        subsidy_category="特困",
    )
    services.fund_income_record(
        user=county_user,
        fund=world["fund"],
        kind="donation",
        received_on=datetime.date(2025, 6, 1),
        amount="2500.50",
        document_number="捐-1",
    )
    client.force_login(supervisor)
    page = client.get(reverse("payments:fund_detail", args=[world["fund"].pk]), {"year": 2025})
    account = page.context["account"]
    # By hand: income 100000.00 + 2500.50; outflow: the 380.00 subsidy (nothing paid yet).
    assert account["income"] == Decimal("102500.50")
    assert account["outflow"] == Decimal("380.00")
    assert account["balance"] == Decimal("102120.50")
    assert account["months"][5]["balance"] == Decimal("102120.50")
    assert 'id="fund-chart"' in page.content.decode()


def test_fund_projection_is_linear(world):
    # On 2025-03-01 (day 60): settled so far 600.00 + 450.50 + 240.25 = 1290.75 → per day
    # 21.5125; 305 days left → 6561.3125 → 6561.31. Owed to institutions: all four settlements,
    # 1390.74 (April's 99.99 is in the ledger). Balance 100000.00.
    p = selectors.projection(world["fund"], 2025, today=datetime.date(2025, 3, 1))
    assert (p["days_elapsed"], p["days_remaining"]) == (60, 305)
    assert p["expected_claims"] == Decimal("6561.31")
    assert p["owed"] == Decimal("1390.74")
    assert p["projected_balance"] == Decimal("100000.00") - Decimal("1390.74") - Decimal("6561.31")


def test_lists_have_bounded_queries(world, refund_batch, client, county_user, django_assert_max_num_queries):
    client.force_login(county_user)
    for url in (
        reverse("payments:batch_list"),
        reverse("payments:line_list"),
        reverse("payments:account_list"),
    ):
        with django_assert_max_num_queries(12):
            assert client.get(url).status_code == 200
    with django_assert_max_num_queries(12):
        assert api(county_user).get("/api/v1/payments/lines/").status_code == 200


def test_pages_walk_a_batch_from_draft_to_a_returned_line(world, staff):
    """County staff on the pages: draft, check, approve (over the balance, with a reason),
    export the bank file, record one line paid and one returned."""
    drafter, checker, approver = (Client() for _ in range(3))
    drafter.force_login(staff["drafter"])
    checker.force_login(staff["checker"])
    approver.force_login(staff["approver"])
    assert "城乡居民医保基金" in drafter.get(reverse("payments:fund_list"), {"year": 2025}).content.decode()
    assert drafter.get(reverse("payments:batch_list")).status_code == 200
    form = drafter.get(reverse("payments:batch_list")).context["draft_form"]
    response = drafter.post(
        reverse("payments:batch_draft"),
        {"fund": world["fund"].pk, "year": 2025, "month": 2, "form_token": form["form_token"].value()},
    )
    batch = PaymentBatch.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(f"/payments/batches/{batch.pk}/")
    # The drafter cannot check their own batch.
    drafter.post(reverse("payments:batch_check", args=[batch.pk]))
    batch.refresh_from_db()
    assert batch.status == BatchStatus.DRAFT
    checker.post(reverse("payments:batch_check", args=[batch.pk]))
    batch.refresh_from_db()
    assert batch.status == BatchStatus.CHECKED
    settlement_services.fund_transfer_record(
        user=staff["drafter"],
        fund=world["fund"].name,
        institution=world["hospital"],
        year=2025,
        month=11,
        amount=Decimal("99999.00"),
        paid_on=datetime.date(2025, 1, 6),
        reference="X",
    )
    page = approver.get(reverse("payments:batch_detail", args=[batch.pk]))
    assert "审批将超支" in page.content.decode()
    approver.post(reverse("payments:batch_approve", args=[batch.pk]), {"override_reason": ""})
    batch.refresh_from_db()
    assert batch.status == BatchStatus.CHECKED
    approver.post(reverse("payments:batch_approve", args=[batch.pk]), {"override_reason": "先行垫付"})
    batch.refresh_from_db()
    assert batch.status == BatchStatus.APPROVED and batch.override_reason == "先行垫付"
    exported = drafter.post(reverse("payments:batch_export", args=[batch.pk]), {"layout": world["layout"].pk})
    assert exported.status_code == 200 and "attachment" in exported["Content-Disposition"]
    first, second = batch.lines.order_by("position")[:2]
    drafter.post(
        reverse("payments:line_paid", args=[first.pk]), {"reference": "YH-1", "paid_on": "2025-03-01"}
    )
    drafter.post(
        reverse("payments:line_return", args=[second.pk]), {"reason": "户名不符", "returned_on": "2025-03-02"}
    )
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == (LineStatus.PAID, LineStatus.RETURNED)
    html = drafter.get(reverse("payments:batch_detail", args=[batch.pk])).content.decode()
    assert "YH-1" in html and "户名不符" in html and "先行垫付" in html


def test_funds_are_created_from_the_policies(world, client, county_user):
    client.force_login(county_user)
    response = client.post(reverse("payments:fund_sync"), {"year": 2025})
    assert response.status_code == 302
    # The world's policy names five funds (tests.factories.TEST_FUNDS); one had an account.
    assert Fund.objects.count() == 5
    assert set(Fund.objects.exclude(code="YB").values_list("code", flat=True)) == {"F01", "F02", "F03", "F04"}
    client.post(reverse("payments:fund_sync"), {"year": 2025})
    assert Fund.objects.count() == 5


def test_clinic_registers_its_households_account_once(world, client, township_user):
    client.force_login(township_user)
    form = client.get(reverse("payments:account_create")).context["form"]
    body = {
        "household": world["east"].household.number,
        "member_id_number": "",
        "kind": "yikatong",
        "bank_name": "信用社",
        "account_name": "张东家",
        "account_number": "6230 0000 1111 2222",
        "form_token": form["form_token"].value(),
    }
    assert client.post(reverse("payments:account_create"), body).status_code == 302
    assert client.post(reverse("payments:account_create"), body).status_code == 302  # sent twice
    shared = BankAccount.objects.filter(household=world["east"].household, member__isnull=True)
    assert shared.count() == 1 and shared.get().account_number == "6230000011112222"
    # Another township's household is not found for this clinic.
    other = client.post(
        reverse("payments:account_create"),
        {**body, "household": world["west"].household.number, "form_token": "another"},
    )
    assert other.status_code == 200 and "没有找到该户编号" in other.content.decode()


def test_api_account_for_another_townships_household_is_not_found(world, township_user):
    body = {
        "household": world["west"].household.pk,
        "kind": "social_card",
        "bank_name": "信用社",
        "account_name": "李西",
        "account_number": "6230000011112222",
    }
    refused = api(township_user).post("/api/v1/payments/accounts/", body, format="json")
    missing = api(township_user).post(
        "/api/v1/payments/accounts/", {**body, "household": 10**9}, format="json"
    )
    assert refused.status_code == missing.status_code == 400
    assert refused.json()["household"] == [
        m.replace(str(10**9), str(world["west"].household.pk)) for m in missing.json()["household"]
    ]
    ok = api(township_user).post(
        "/api/v1/payments/accounts/",
        {**body, "household": world["east"].household.pk, "account_name": "张东家"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="acc-1",
    )
    assert ok.status_code == 201 and ok.json()["account_number"] == "****2222"


def test_list_exports_are_masked_and_formula_safe(world, refund_batch, client, county_user, township_user):
    BankAccount.objects.filter(member=world["east"]).update(account_name=EVIL)
    client.force_login(county_user)
    sheet = assert_evil_is_text(client.get(reverse("payments:account_list"), {"export": "xlsx"}))
    values = {c.value for row in sheet.iter_rows() for c in row}
    assert "****8901" in values and FULL_EAST not in values
    client.force_login(township_user)
    sheet = workbook(client.get(reverse("payments:line_list"), {"export": "xlsx"})).active
    rows = [[c.value for c in row] for row in sheet.iter_rows()][2:]
    assert [(r[4], r[9]) for r in rows] == [("张东", "****8901")]  # its own people-line only
