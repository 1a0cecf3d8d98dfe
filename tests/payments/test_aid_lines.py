"""Approved medical-aid applications are paid to the people through a batch of the aid fund
(``AID_PAYMENT_FUND``): the line marks the application 已给付, a 退票 makes it await payment
again and its next batch takes it once more; another fund's batch never takes it."""

import datetime
from decimal import Decimal

import pytest

from aid import services as aid_services
from aid.models import AidStatus
from payments import services
from payments.models import LineKind
from tests.factories import make_user
from tests.payments.conftest import walk_to_export

AID_FUND = "医疗救助资金专户"


@pytest.fixture
def approved(world, areas, settings):
    settings.AID_PAYMENT_FUND = AID_FUND
    clinic_user = make_user("east-clinic", "township", township=areas["east"])
    application = aid_services.aid_application_submit(
        user=clinic_user,
        member=world["east"],
        kind="charity",
        reason="大病住院后生活困难，申请慈善帮扶。",
        received_on=datetime.date(2025, 2, 3),
    )
    aid_services.aid_application_township_review(user=clinic_user, application=application)
    return aid_services.aid_application_county_approve(
        user=world["approver"], application=application, amount=Decimal("1234.56")
    )


@pytest.fixture
def aid_fund(world):
    fund = services.fund_create(user=world["drafter"], code="JZ", name=AID_FUND)
    services.fund_income_record(
        user=world["drafter"],
        fund=fund,
        kind="appropriation",
        received_on=datetime.date(2025, 1, 5),
        amount="50000.00",
        document_number="民财〔2025〕3号",
    )
    return fund


def test_an_approved_application_is_paid_once_through_the_aid_fund(world, approved, aid_fund):
    other = services.batch_draft(user=world["drafter"], fund=world["fund"], year=2025, month=2)
    assert not other.lines.filter(kind=LineKind.AID).exists()  # the insurance fund does not pay aid

    batch = services.batch_draft(user=world["drafter"], fund=aid_fund, year=2025, month=2)
    line = batch.lines.get(kind=LineKind.AID)
    assert (line.amount, line.member_id) == (Decimal("1234.56"), world["east"].pk)
    assert approved.number in line.purpose
    # Drafting again finds nothing new: the application is held by the first batch's line.
    with pytest.raises(services.PaymentsError, match="没有待拨付的款项"):
        services.batch_draft(user=world["drafter"], fund=aid_fund, year=2025, month=2)

    walk_to_export(world, batch)
    services.line_mark_paid(
        user=world["drafter"], line=line, reference="JZ-0001", paid_on=datetime.date(2025, 3, 1)
    )
    approved.refresh_from_db()
    assert (approved.status, approved.payment_reference) == (AidStatus.PAID, "JZ-0001")

    services.line_return(
        user=world["drafter"], line=line, reason="账户已冻结", returned_on=datetime.date(2025, 3, 5)
    )
    approved.refresh_from_db()
    assert approved.status == AidStatus.APPROVED  # awaiting payment again
    again = services.batch_draft(user=world["drafter"], fund=aid_fund, year=2025, month=3)
    assert again.lines.get(kind=LineKind.AID).source_key == line.source_key


def test_an_application_received_after_the_month_waits(world, approved, aid_fund):
    with pytest.raises(services.PaymentsError, match="没有待拨付的款项"):
        services.batch_draft(user=world["drafter"], fund=aid_fund, year=2025, month=1)
