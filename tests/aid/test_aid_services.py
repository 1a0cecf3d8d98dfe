"""The workflow through the services: every step, the refusals, the deadline, the amount."""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied

from aid import selectors, services
from aid.errors import AidError
from aid.models import AidApplication, AidStatus, Holiday
from core.errors import DomainError
from settlement import services as settlement_services

from .conftest import submit

D = datetime.date
pytestmark = pytest.mark.django_db


def _submit(user, world, **kwargs):
    return submit(
        user, world, **{"applicant": "proxy", "proxy_name": "张村长", "proxy_phone": "13800001111", **kwargs}
    )


def test_every_step_walked(world, township_user, county_user):
    application = _submit(township_user, world)
    assert application.status == AidStatus.RECEIVED
    assert application.due_on == selectors.due_date(application.received_on)
    services.aid_application_township_review(
        user=township_user, application=application, note="材料齐全", version=application.version
    )
    application = services.aid_application_county_approve(user=county_user, application=application)
    assert application.status == AidStatus.APPROVED
    # By hand: self-pay 12000.00 + 3234.45 = 15234.45; income 20000.00 × 50% = 10000.00;
    # (15234.45 − 10000.00) × 70% = 3664.115 → 3664.12.
    assert application.amount == Decimal("3664.12")
    assert "倾斜救助（高额自付）" in application.calculation["rule_name"]
    paid = services.aid_application_mark_paid(
        application_id=application.pk, paid_on=application.received_on, reference="BANK-001"
    )
    assert paid.status == AidStatus.PAID
    steps = list(paid.steps.values_list("action", "from_status", "to_status"))
    assert steps == [
        ("submit", "", "received"),
        ("township_review", "received", "township_reviewed"),
        ("county_approve", "township_reviewed", "approved"),
        ("pay", "approved", "paid"),
    ]
    assert paid.steps.first().note == "村干部代办：张村长（13800001111）"
    assert paid.history.count() == 4
    # The payments app may send the same line again: nothing changes.
    again = services.aid_application_mark_paid(
        application_id=application.pk, paid_on=application.received_on, reference="BANK-001"
    )
    assert again.steps.count() == 4
    with pytest.raises(AidError, match="已给付"):
        services.aid_application_mark_paid(
            application_id=application.pk, paid_on=application.received_on, reference="BANK-002"
        )


def test_a_refusal_and_a_return(world, township_user, county_user):
    application = _submit(township_user, world)
    with pytest.raises(AidError) as refused:
        services.aid_application_return(user=township_user, application=application, reason="  ")
    assert refused.value.field == "reason"
    services.aid_application_return(user=township_user, application=application, reason="缺少出院小结")
    application.refresh_from_db()
    assert application.status == AidStatus.RETURNED
    services.aid_application_resubmit(user=township_user, application=application, note="已补齐")
    services.aid_application_township_review(user=township_user, application=application)
    services.aid_application_refuse(user=county_user, application=application, reason="不属于救助对象")
    application.refresh_from_db()
    assert application.status == AidStatus.REFUSED
    assert list(application.steps.values_list("action", flat=True)) == [
        "submit",
        "return",
        "resubmit",
        "township_review",
        "refuse",
    ]
    assert application.steps.get(action="refuse").note == "不属于救助对象"
    with pytest.raises(AidError, match="不予救助") as late:
        services.aid_application_county_approve(user=county_user, application=application)
    assert late.value.code == "conflict"


def test_illegal_transitions_are_refused(world, township_user, county_user, supervisor):
    application = _submit(township_user, world)
    with pytest.raises(AidError, match="须先经乡镇审核"):
        services.aid_application_county_approve(user=county_user, application=application)
    with pytest.raises(AidError, match="须为县级已审批"):
        services.aid_application_mark_paid(
            application_id=application.pk, paid_on=D(2025, 7, 1), reference="X"
        )
    with pytest.raises(AidError, match="只有已退回的申请"):
        services.aid_application_resubmit(user=township_user, application=application)
    with pytest.raises(PermissionDenied):
        services.aid_application_refuse(user=township_user, application=application, reason="x")
    with pytest.raises(PermissionDenied):
        services.aid_application_township_review(user=supervisor, application=application)
    services.aid_application_township_review(user=township_user, application=application)
    with pytest.raises(PermissionDenied):
        services.aid_application_county_approve(user=township_user, application=application)
    with pytest.raises(AidError, match="不能退回"):
        services.aid_application_return(user=township_user, application=application, reason="x")
    with pytest.raises(AidError) as stale:
        services.aid_application_county_approve(user=county_user, application=application, version=1)
    assert stale.value.code == "conflict"
    assert isinstance(stale.value, DomainError)


def test_approval_amount_must_follow_the_rule(world, township_user, county_user):
    application = _submit(township_user, world)
    services.aid_application_township_review(user=township_user, application=application)
    with pytest.raises(AidError, match="3664.12"):
        services.aid_application_county_approve(
            user=county_user, application=application, amount=Decimal("5000")
        )


def test_a_kind_without_a_rule_takes_the_entered_amount(world, township_user, county_user):
    application = _submit(township_user, world, kind="charity", encounters=[], applicant="self")
    services.aid_application_township_review(user=township_user, application=application)
    with pytest.raises(AidError, match="请填写审批金额"):
        services.aid_application_county_approve(user=county_user, application=application)
    done = services.aid_application_county_approve(
        user=county_user, application=application, amount=Decimal("5000.00")
    )
    assert done.amount == Decimal("5000.00")
    assert done.calculation["rule_kind"] == "manual"


def test_scattered_needs_invoices_and_sums_them(world, township_user, county_user):
    application = _submit(township_user, world, kind="scattered", encounters=[])
    with pytest.raises(AidError, match="发票"):
        services.aid_application_township_review(user=township_user, application=application)
    for amount in ("2000.00", "1200.25"):
        services.aid_invoice_add(
            user=township_user,
            application=application,
            hospital="省人民医院",
            admission_date=D(2025, 4, 1),
            discharge_date=D(2025, 4, 8),
            amount=Decimal(amount),
        )
    services.aid_application_township_review(user=township_user, application=application)
    done = services.aid_application_county_approve(user=county_user, application=application)
    # (2000.00 + 1200.25 − 500.00) × 50% = 1350.125 → 1350.13
    assert done.amount == Decimal("1350.13")


def test_submit_checks_the_applicant(world, township_user, other_township_user):
    with pytest.raises(AidError) as no_phone:
        _submit(township_user, world, proxy_phone="")
    assert no_phone.value.field == "proxy_phone"
    with pytest.raises(AidError, match="本乡镇"):
        _submit(other_township_user, world)
    stranger = world["other"]
    foreign = _encounter_of(stranger)
    with pytest.raises(AidError, match="不是申请人本人的"):
        _submit(township_user, world, encounters=[foreign])
    with pytest.raises(AidError, match="倾斜救助须关联"):
        _submit(township_user, world, encounters=[])
    assert not AidApplication.objects.exists()


def _encounter_of(member):
    from tests.factories import EncounterFactory

    return EncounterFactory(member=member)


def test_submit_with_a_key_creates_once(world, township_user):
    first = _submit(township_user, world, idempotency_key="k-1")
    again = _submit(township_user, world, idempotency_key="k-1")
    assert again.pk == first.pk and again._replayed
    with pytest.raises(AidError) as reused:
        _submit(township_user, world, idempotency_key="k-1", reason="另一件事")
    assert reused.value.code == "key_reused"
    assert AidApplication.objects.count() == 1


def test_deadline_across_a_holiday_and_an_adjusted_working_day(world, township_user):
    # Received Fri 24 Jan 2025: 7 working days end Mon 10 Feb (春节 28 Jan–4 Feb off; Sun 26
    # Jan and Sat 8 Feb worked).
    application = _submit(township_user, world, received_on=D(2025, 1, 24))
    assert application.due_on == D(2025, 2, 10)
    assert selectors.working_days_used(application, on=D(2025, 2, 8)) == 6
    assert selectors.overdue_count(on=D(2025, 2, 10)) == 0
    assert selectors.overdue_count(on=D(2025, 2, 11)) == 1
    assert (
        selectors.overdue_count(township=world["member"].household.village.township, on=D(2025, 2, 11)) == 1
    )
    assert selectors.overdue_count(township=world["other"].household.village.township, on=D(2025, 2, 11)) == 0


def test_a_calendar_change_moves_open_deadlines(world, township_user, county_user):
    application = _submit(township_user, world, received_on=D(2025, 11, 3))
    assert application.due_on == D(2025, 11, 12)
    services.holiday_save(user=county_user, holiday=Holiday(date=D(2025, 11, 5), kind="holiday", name="测试"))
    application.refresh_from_db()
    assert application.due_on == D(2025, 11, 13)


def test_a_policy_with_a_faulty_aid_section_is_refused_on_import(county_user):
    import json
    from pathlib import Path

    document = json.loads(Path("fixtures/policies/demo-county-2025.json").read_text(encoding="utf-8"))
    document["code"] = "demo-aid-test"
    document["aid"] = {"tilted": {"kind": "income_tested", "name": "倾斜", "rate": 7, "cap": None}}
    with pytest.raises(DomainError) as refused:
        settlement_services.policy_import(user=county_user, document=document)
    assert any(e.startswith("aid.tilted.rate") for e in refused.value.errors)
    assert any(e.startswith("aid.tilted.threshold_share_of_income") for e in refused.value.errors)
    document["aid"] = {"tilted": {**document["aid"]["tilted"], "rate": 0.7, "threshold_share_of_income": 0.5}}
    assert settlement_services.policy_import(user=county_user, document=document).document["aid"]


def test_a_zero_amount_is_not_approved(world, township_user, county_user):
    household = world["member"].household
    household.annual_income = Decimal("40000.00")  # threshold 20000.00 > self-pay 15234.45
    household.save()
    application = _submit(township_user, world)
    services.aid_application_township_review(user=township_user, application=application)
    with pytest.raises(AidError, match="0.00 元"):
        services.aid_application_county_approve(user=county_user, application=application)
    household.annual_income = None
    household.save()
    with pytest.raises(AidError, match="未登记家庭年收入"):
        services.aid_application_county_approve(user=county_user, application=application)


def test_a_returned_payment_reopens_the_case(world, township_user, county_user):
    application = _submit(township_user, world)
    services.aid_application_township_review(user=township_user, application=application)
    services.aid_application_county_approve(user=county_user, application=application)
    assert list(selectors.awaiting_payment()) == [application]
    services.aid_application_mark_paid(
        application_id=application.pk, paid_on=selectors.today(), reference="B-1"
    )
    assert not selectors.awaiting_payment().exists()
    with pytest.raises(AidError, match="原因"):
        services.aid_application_payment_returned(application_id=application.pk, reason="")
    reopened = services.aid_application_payment_returned(application_id=application.pk, reason="账户已销户")
    assert (reopened.status, reopened.paid_on, reopened.payment_reference) == ("approved", None, "")
    assert reopened.steps.last().note == "账户已销户（原凭证号 B-1）"
    assert list(selectors.awaiting_payment(township_user)) == [application]
    paid = services.aid_application_mark_paid(
        application_id=application.pk, paid_on=selectors.today(), reference="B-2"
    )
    assert paid.status == "paid" and paid.amount == Decimal("3664.12")
