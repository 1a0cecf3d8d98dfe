"""Payment batches: the file totals equal the ledger's outstanding amounts, a source is in
one live line only (the service refuses, the database refuses), a returned payment reopens,
four eyes, and an overdraft needs an audited override."""

import csv
import datetime
import io
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.http import HttpResponse
from openpyxl import load_workbook

from payments import services, sources
from payments.models import BatchStatus, InstitutionAccount, LineKind, LineStatus, PaymentBatch, PaymentLine
from settlement import selectors as settlement_selectors
from settlement import services as settlement_services
from settlement.models import FundTransfer
from tests.factories import make_settlement
from tests.sheets import EVIL, assert_evil_is_text

from .conftest import BASIC, walk_to_export

PAID_ON = datetime.date(2025, 3, 28)


def _xlsx_rows(content):
    sheet = load_workbook(io.BytesIO(content)).active
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    return rows[0], rows[1:]


def test_file_totals_equal_the_ledger_outstanding(world):
    # Part of January was paid by hand on the ledger already.
    settlement_services.fund_transfer_record(
        user=world["drafter"],
        fund=BASIC,
        institution=world["hospital"],
        year=2025,
        month=1,
        amount=Decimal("100.00"),
        paid_on=datetime.date(2025, 2, 1),
        reference="PZ-001",
    )
    ledger = settlement_selectors.ledger(year=2025, fund=BASIC)
    outstanding = sum((r["outstanding"] for r in ledger["rows"] if r["period"] <= 3), Decimal("0"))
    # By hand: (600.00 − 100.00) + 450.50 + 240.25 = 1190.75 (April's 99.99 is after March).
    assert outstanding == Decimal("1190.75")

    batch = services.batch_draft(user=world["drafter"], fund=world["fund"], year=2025, month=3)
    header, rows = _xlsx_rows(walk_to_export(world, batch))
    assert header == ["序号", "收款账号", "收款户名", "金额", "用途"]
    assert sum((Decimal(str(r[3])) for r in rows), Decimal("0")) == outstanding
    # Account numbers in full in the file only, as text.
    assert {r[1] for r in rows} == {"6222000011112222333", "6222000099998888777"}

    # The CSV layout (GBK) of the same batch carries the same total.
    content, name = services.batch_export(user=world["drafter"], batch=batch, layout=world["csv_layout"])
    assert name.endswith(".csv")
    reader = list(csv.reader(io.StringIO(content.decode("gbk"))))
    assert reader[0] == ["账号", "户名", "金额", "摘要"]
    assert sum((Decimal(r[2]) for r in reader[1:]), Decimal("0")) == outstanding

    # Paid: the ledger owes nothing more for those months.
    for line in batch.lines.all():
        services.line_mark_paid(user=world["drafter"], line=line, reference=f"B{line.pk}", paid_on=PAID_ON)
    ledger = settlement_selectors.ledger(year=2025, fund=BASIC)
    assert sum((r["outstanding"] for r in ledger["rows"] if r["period"] <= 3), Decimal("0")) == 0
    batch.refresh_from_db()
    assert batch.status == BatchStatus.CLOSED


def test_a_source_is_in_one_batch_only(world):
    first = services.batch_draft(user=world["drafter"], fund=world["fund"], year=2025, month=2)
    line = first.lines.first()
    # Nothing left to draft for the same months.
    with pytest.raises(services.PaymentsError, match="没有待拨付"):
        services.batch_draft(user=world["drafter"], fund=world["fund"], year=2025, month=2)
    second = PaymentBatch.objects.create(fund=world["fund"], year=2025, month=2, drafted_by=world["drafter"])
    payable = sources.Payable(
        kind=line.kind,
        source_key=line.source_key,
        source_seq=line.source_seq,
        amount=line.amount,
        period_year=2025,
        period_month=line.period_month,
        purpose="重复",
        payee_name=line.payee_name,
        institution_id=line.institution_id,
    )
    # The service refuses…
    with pytest.raises(services.PaymentsError, match="已在另一个拨付批次中"):
        services.line_add(user=world["drafter"], batch=second, payable=payable)
    # …and so does the database, whatever writes the row.
    with pytest.raises(IntegrityError), transaction.atomic():
        PaymentLine.objects.create(
            batch=second,
            position=1,
            kind=line.kind,
            source_key=line.source_key,
            source_seq=line.source_seq,
            period_year=2025,
            period_month=line.period_month,
            payee_name="x",
            amount=Decimal("1.00"),
            purpose="x",
        )


def test_a_returned_payment_reopens_its_line(world):
    batch = services.batch_draft(user=world["drafter"], fund=world["fund"], year=2025, month=2)
    walk_to_export(world, batch)
    hospital_line = batch.lines.get(institution=world["hospital"], period_month=1)
    clinic_line = batch.lines.get(institution=world["clinic"])
    services.line_mark_paid(user=world["drafter"], line=hospital_line, reference="B-1", paid_on=PAID_ON)
    services.line_mark_paid(user=world["drafter"], line=clinic_line, reference="B-2", paid_on=PAID_ON)
    assert FundTransfer.objects.filter(fund=BASIC).count() == 2
    # The bank sends the clinic's money back (a closed account): 退票.
    services.line_return(
        user=world["drafter"], line=clinic_line, reason="账户已销户", returned_on=datetime.date(2025, 4, 2)
    )
    clinic_line.refresh_from_db()
    assert clinic_line.status == LineStatus.RETURNED
    assert not FundTransfer.objects.filter(institution=world["clinic"]).exists()  # the ledger owes it again
    # The same source goes into a later batch, with the same amount.
    later = services.batch_draft(user=world["drafter"], fund=world["fund"], year=2025, month=2)
    again = later.lines.get(institution=world["clinic"])
    assert again.source_key == clinic_line.source_key and again.amount == Decimal("240.25")
    assert (clinic_line.source_seq, again.source_seq) == (0, 1)


def test_checker_and_approver_are_other_people(world):
    batch = services.batch_draft(user=world["drafter"], fund=world["fund"], year=2025, month=2)
    with pytest.raises(services.PaymentsError, match="复核人不能是起草人"):
        services.batch_check(user=world["drafter"], batch=batch)
    services.batch_check(user=world["checker"], batch=batch)
    with pytest.raises(services.PaymentsError, match="审批人不能是复核人"):
        services.batch_approve(user=world["checker"], batch=batch)
    # The database holds the rule too.
    with pytest.raises(IntegrityError), transaction.atomic():
        PaymentBatch.objects.filter(pk=batch.pk).update(checked_by=world["drafter"])


def test_overdraft_needs_an_audited_override(world):
    # Spend the fund: 100000.00 in, 99500.00 paid out by hand → 500.00 available.
    settlement_services.fund_transfer_record(
        user=world["drafter"],
        fund=BASIC,
        institution=world["hospital"],
        year=2025,
        month=12,
        amount=Decimal("99500.00"),
        paid_on=datetime.date(2025, 1, 20),
        reference="PZ-BIG",
    )
    batch = services.batch_draft(user=world["drafter"], fund=world["fund"], year=2025, month=2)
    # By hand: 600.00 + 450.50 + 240.25 = 1290.75 against 500.00 → 790.75 short.
    services.batch_check(user=world["checker"], batch=batch)
    with pytest.raises(services.PaymentsError) as refused:
        services.batch_approve(user=world["approver"], batch=batch)
    assert refused.value.code == "overdraft" and "790.75" in refused.value.message
    batch.refresh_from_db()
    assert batch.status == BatchStatus.CHECKED
    # The database refuses an overdraft without a reason.
    with pytest.raises(IntegrityError), transaction.atomic():
        PaymentBatch.objects.filter(pk=batch.pk).update(overdraft=Decimal("790.75"))

    services.batch_approve(
        user=world["approver"], batch=batch, override_reason="县政府专题会议纪要〔2025〕3号同意垫付"
    )
    batch.refresh_from_db()
    assert batch.status == BatchStatus.APPROVED and batch.overdraft == Decimal("790.75")
    record = batch.history.first()
    assert record.history_user == world["approver"]
    assert "超支审批" in record.history_change_reason and "专题会议" in record.history_change_reason


def test_refund_to_a_patient_after_resettlement(world):
    """A re-settlement that raised the fund's share by 120.00 and lowered the patient's
    self-pay by 120.00: the patient gets 120.00 back from the fund, and the hospital's cell
    is paid the rest, so the batch still equals the ledger's outstanding."""
    old = world["settlements"][0]
    make_settlement(old.encounter, {"basic_insurance": Decimal("720.00")}, replaces=old)
    new = old.encounter.settlements.get(is_current=True)
    new.lines.update(difference=Decimal("120.00"))
    batch = services.batch_draft(user=world["drafter"], fund=world["fund"], year=2025, month=1)
    refund = batch.lines.get(kind=LineKind.REFUND)
    assert refund.amount == Decimal("120.00") and refund.member == world["east"]
    assert refund.township_id == world["east"].household.village.township_id
    hospital = batch.lines.get(kind=LineKind.INSTITUTION)
    assert hospital.amount == Decimal("600.00")
    ledger = settlement_selectors.ledger(year=2025, fund=BASIC)
    january = sum((r["outstanding"] for r in ledger["rows"] if r["period"] == 1), Decimal("0"))
    assert refund.amount + hospital.amount == january == Decimal("720.00")


def test_idempotent_draft(world):
    one = services.batch_draft(
        user=world["drafter"], fund=world["fund"], year=2025, month=2, idempotency_key="k-1"
    )
    two = services.batch_draft(
        user=world["drafter"], fund=world["fund"], year=2025, month=2, idempotency_key="k-1"
    )
    assert one.pk == two.pk and PaymentBatch.objects.count() == 1


def test_bank_files_are_formula_safe(world):
    """An account name that a spreadsheet would run as a formula stays text in both files."""
    InstitutionAccount.objects.filter(institution=world["hospital"]).update(account_name=EVIL)
    batch = services.batch_draft(user=world["drafter"], fund=world["fund"], year=2025, month=1)
    content = walk_to_export(world, batch)
    response = HttpResponse(
        content, content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert_evil_is_text(response)
    world["csv_layout"].encoding = "utf-8-sig"
    world["csv_layout"].save()
    content, _ = services.batch_export(user=world["drafter"], batch=batch, layout=world["csv_layout"])
    names = [row[1] for row in csv.reader(io.StringIO(content.decode("utf-8-sig")))]
    assert "'" + EVIL in names and EVIL not in names
