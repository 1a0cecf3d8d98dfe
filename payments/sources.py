"""Where payment lines come from: a small registry of *sources*.

A source has a ``kind`` (the line's kind), ``collect(*, fund, year, month)`` returning the
``Payable``s that fund owes up to that month and that no live line holds yet, and optional
hooks run in the transaction that marks a line paid (``paid(*, line, user)``) or returns a paid
line (``returned(*, line, user)``). The built-in sources are the re-settlement refunds and
the institutions' ledger cells (``register_builtin``, called by ``PaymentsConfig.ready``);
apps above payments add theirs with ``register_source`` in their own ``ready()``
(the aid app: docs/payments.md, "Adding a source").

Every payable names its source by ``source_key`` (and ``source_seq``); the database keeps a
source in at most one line that was not returned (``payment_line_source_once``)."""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db.models import Max, Sum

from aid import selectors as aid_selectors
from aid import services as aid_services
from settlement import selectors as settlement_selectors
from settlement import services as settlement_services
from settlement.models import Settlement, SettlementLine

from .models import BatchStatus, LineKind, LineStatus, PaymentLine

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Payable:
    kind: str
    source_key: str
    amount: Decimal
    period_year: int
    period_month: int
    purpose: str
    payee_name: str
    source_seq: int = 0
    institution_id: int | None = None
    member_id: int | None = None


@dataclass(frozen=True)
class Source:
    kind: str
    collect: Callable[..., list[Payable]]
    paid: Callable | None = None
    returned: Callable | None = None
    label: str = field(default="")


_SOURCES: dict[str, Source] = {}


def register_source(kind: str, collect, *, paid=None, returned=None, label: str = "") -> None:
    """Add (or replace) the source of ``kind``; sources are drafted in registration order."""
    _SOURCES[kind] = Source(kind=kind, collect=collect, paid=paid, returned=returned, label=label)


def registered() -> list[Source]:
    return list(_SOURCES.values())


def source_of(kind: str) -> Source | None:
    return _SOURCES.get(kind)


def live_lines():
    """Lines that hold their source: not returned, in a batch not cancelled."""
    return PaymentLine.objects.exclude(status=LineStatus.RETURNED).exclude(
        batch__status=BatchStatus.CANCELLED
    )


def held_keys(prefix: str) -> set[str]:
    return set(live_lines().filter(source_key__startswith=prefix).values_list("source_key", flat=True))


def held(key: str) -> bool:
    """Whether a live line holds the source ``key`` (for sources outside this module)."""
    return live_lines().filter(source_key=key).exists()


def aid_key(application_id: int) -> str:
    return f"aid:{application_id}"


def aid_id(line) -> int:
    """The aid application a line of kind ``aid`` pays (its ``source_key`` ``aid:<id>``)."""
    return int(line.source_key.split(":", 1)[1])


def next_seq(key: str) -> int:
    last = PaymentLine.objects.filter(source_key=key).aggregate(m=Max("source_seq"))["m"]
    return 0 if last is None else last + 1


# --- re-settlement refunds (退还) -------------------------------------------------------------


def refund_key(settlement_id: int, fund) -> str:
    return f"refund:{settlement_id}:{fund.pk}"


def refunds_owed(*, fund, year: int, month: int) -> list[Payable]:
    """Each re-settlement of ``year`` (service month ≤ ``month``) that lowered the patient's
    self-pay owes the patient the difference; ``fund`` pays its part: the funds whose share
    rose, in the policy's tier order, until the refund is covered. Refunds in a live line are
    left out."""
    settlements = (
        Settlement.objects.filter(
            year=year, self_pay_difference__lt=0, supersedes__isnull=False, service_date__month__lte=month
        )
        .select_related("member")
        .order_by("service_date", "id")
    )
    rises = defaultdict(list)
    for line in (
        SettlementLine.objects.filter(settlement__in=settlements.order_by(), difference__gt=0)
        .order_by("settlement_id", "position")
        .values("settlement_id", "fund", "difference")
    ):
        rises[line["settlement_id"]].append((line["fund"], line["difference"]))
    held = held_keys("refund:")
    out = []
    for settlement in settlements:
        left = -settlement.self_pay_difference
        share = ZERO
        for fund_name, rise in rises.get(settlement.pk, []):
            part = min(rise, left)
            left -= part
            if fund_name == fund.name:
                share += part
        key = refund_key(settlement.pk, fund)
        if share > 0 and key not in held:
            out.append(
                Payable(
                    kind=LineKind.REFUND,
                    source_key=key,
                    amount=share,
                    period_year=year,
                    period_month=settlement.service_date.month,
                    purpose=f"重新结算退还个人自付（结算单{settlement.pk}）",
                    payee_name=settlement.member.name,
                    institution_id=settlement.institution_id,
                    member_id=settlement.member_id,
                )
            )
    return out


# --- institutions' ledger cells (定期拨付) ----------------------------------------------------


def cell_key(fund, institution_id: int, year: int, month: int) -> str:
    return f"institution:{fund.pk}:{institution_id}:{year}-{month:02d}"


def institutions_owed(*, fund, year: int, month: int) -> list[Payable]:
    """What ``fund`` still owes each institution per month of ``year`` up to ``month``: the
    ledger's outstanding (owed − transfers, paid lines included) less lines not yet paid and
    less the refunds of the cell not yet in a line (they are paid to the patient instead)."""
    ledger = settlement_selectors.ledger(year=year, period="month", fund=fund.name)
    taken = defaultdict(lambda: ZERO)
    for inst, m, amount in (
        live_lines()
        .filter(
            status=LineStatus.PENDING,
            batch__fund=fund,
            period_year=year,
            kind__in=[LineKind.INSTITUTION, LineKind.REFUND],
        )
        .values_list("institution_id", "period_month")
        .annotate(amount=Sum("amount"))
    ):
        taken[(inst, m)] += amount
    for refund in refunds_owed(fund=fund, year=year, month=month):
        taken[(refund.institution_id, refund.period_month)] += refund.amount
    out = []
    for row in ledger["rows"]:
        if row["period"] > month:
            continue
        amount = row["outstanding"] - taken[(row["institution_id"], row["period"])]
        if amount <= 0:
            continue
        key = cell_key(fund, row["institution_id"], year, row["period"])
        out.append(
            Payable(
                kind=LineKind.INSTITUTION,
                source_key=key,
                source_seq=next_seq(key),
                amount=amount,
                period_year=year,
                period_month=row["period"],
                purpose=f"{year}年{row['period']}月{fund.name}医疗费用拨付",
                payee_name=row["institution"],
                institution_id=row["institution_id"],
            )
        )
    return out


# --- hooks: a paid line is a transfer on the institution's ledger cell -----------------------


def record_transfer(*, line, user) -> None:
    """A paid institution line, or a refund paid to the patient on the institution's behalf
    (the patient had paid that part to the institution), is recorded as a ``FundTransfer``
    of the cell, so the settlement ledger shows it paid."""
    line.transfer = settlement_services.fund_transfer_record(
        user=user,
        fund=line.batch.fund.name,
        institution=line.institution,
        year=line.period_year,
        month=line.period_month,
        amount=line.amount,
        paid_on=line.paid_on,
        reference=line.bank_reference,
        note=f"拨付批次{line.batch_id}第{line.position}行"
        + ("（退还患者）" if line.kind == LineKind.REFUND else ""),
    )


def withdraw_transfer(*, line, user) -> None:
    if line.transfer_id:
        transfer = line.transfer
        line.transfer = None
        settlement_services.fund_transfer_withdraw(
            user=user, transfer=transfer, reason=f"退票：拨付批次{line.batch_id}第{line.position}行"
        )


# --- approved medical-aid applications (医疗救助给付) -----------------------------------------


def aid_owed(*, fund, year: int, month: int) -> list[Payable]:
    """Approved aid applications not yet in a live line, received up to the end of ``month``,
    paid from the fund named by ``AID_PAYMENT_FUND`` (the civil-affairs medical-aid account:
    an application's amount names no fund of its own). One line per application, to the member."""
    if fund.name != settings.AID_PAYMENT_FUND:
        return []
    end = datetime.date(year + month // 12, month % 12 + 1, 1)
    held_now = held_keys("aid:")
    return [
        Payable(
            kind=LineKind.AID,
            source_key=aid_key(application.pk),
            amount=application.amount,
            period_year=year,
            period_month=month,
            purpose=f"医疗救助给付（{application.number}，{application.get_kind_display()}）",
            payee_name=application.member.name,
            member_id=application.member_id,
        )
        for application in aid_selectors.awaiting_payment().filter(received_on__lt=end)
        if aid_key(application.pk) not in held_now and application.amount
    ]


def aid_paid(*, line, user) -> None:
    aid_services.aid_application_mark_paid(
        application_id=aid_id(line), paid_on=line.paid_on, reference=line.bank_reference, user=user
    )


def aid_returned(*, line, user) -> None:
    aid_services.aid_application_payment_returned(
        application_id=aid_id(line), reason=line.return_reason or "退票", user=user
    )


def register_aid() -> None:
    register_source(LineKind.AID, aid_owed, paid=aid_paid, returned=aid_returned, label="医疗救助给付")


def register_builtin() -> None:
    register_source(
        LineKind.REFUND, refunds_owed, paid=record_transfer, returned=withdraw_transfer, label="重新结算退还"
    )
    register_source(
        LineKind.INSTITUTION,
        institutions_owed,
        paid=record_transfer,
        returned=withdraw_transfer,
        label="医疗机构拨付",
    )
