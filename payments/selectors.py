"""Reads of payments: fund accounts (income, outflow, balance, projection), batches and lines
scoped by role (a township clinic sees only its township's people-lines and the batches that
hold them; institution lines are county-wide), bank accounts."""

from __future__ import annotations

import datetime
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, Exists, OuterRef, Q, Sum
from django.db.models.functions import ExtractMonth
from django.utils import timezone

from registry import roles
from registry.models import Enrollment, Household, Member
from settlement import selectors as settlement_selectors
from settlement.models import FundTransfer, SettlementLine

from .models import (
    BankAccount,
    BatchStatus,
    Fund,
    FundIncome,
    LineKind,
    LineStatus,
    PaymentBatch,
    PaymentLine,
)

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
MEMBER_TOWNSHIP = "member__household__village__township_id"


# --- funds ----------------------------------------------------------------------------------


def funds():
    return Fund.objects.all()


def named_funds(year: int) -> list[str]:
    """The funds the policies of ``year`` name (tier order), then the enrollments' subsidy funds."""
    names = list(settlement_selectors.year_funds(year))
    for name in (
        Enrollment.objects.filter(year=year, subsidy__gt=0)
        .exclude(subsidy_fund="")
        .order_by("subsidy_fund")
        .values_list("subsidy_fund", flat=True)
        .distinct()
    ):
        if name not in names:
            names.append(name)
    return names


def incomes(*, fund: Fund, year: int):
    return FundIncome.objects.filter(fund=fund, received_on__year=year).select_related("created_by")


def _by_month(queryset, date_field: str) -> dict[int, Decimal]:
    """Σ amount of ``queryset`` by the month of ``date_field`` (one grouped query)."""
    out = defaultdict(lambda: ZERO)
    for month, amount in (
        queryset.order_by()
        .annotate(m=ExtractMonth(date_field))
        .values("m")
        .annotate(a=Sum("amount"))
        .values_list("m", "a")
    ):
        out[month] += amount or ZERO
    return out


def fund_balance(fund: Fund, year: int) -> dict:
    """Income and outflow of ``fund`` in ``year`` by month, and the balance. Outflow: every
    transfer recorded for the fund (paid batch lines to institutions and refunds are recorded
    as transfers; transfers entered by hand on the ledger too), paid lines recorded without a
    transfer (aid to people), and the year's premium subsidy (参保资助, Σ ``Enrollment.subsidy``
    of the fund: no date of its own, counted in January)."""
    income = _by_month(FundIncome.objects.filter(fund=fund, received_on__year=year), "received_on")
    transfers = _by_month(FundTransfer.objects.filter(fund=fund.name, paid_on__year=year), "paid_on")
    direct = _by_month(
        PaymentLine.objects.filter(
            batch__fund=fund, status=LineStatus.PAID, transfer__isnull=True, paid_on__year=year
        ),
        "paid_on",
    )
    subsidy = Enrollment.objects.filter(year=year, subsidy_fund=fund.name, subsidy__gt=0).aggregate(
        a=Sum("subsidy"), n=Count("id")
    )
    subsidy_total = subsidy["a"] or ZERO
    months, running = [], ZERO
    for month in range(1, 13):
        paid = transfers[month] + direct[month]
        out = paid + (subsidy_total if month == 1 else ZERO)
        running += income[month] - out
        months.append(
            {"month": month, "income": income[month], "paid": paid, "outflow": out, "balance": running}
        )
    total_income = sum(income.values(), ZERO)
    total_paid = sum(transfers.values(), ZERO) + sum(direct.values(), ZERO)
    return {
        "months": months,
        "income": total_income,
        "paid": total_paid,
        "subsidy": subsidy_total,
        "subsidy_people": subsidy["n"],
        "outflow": total_paid + subsidy_total,
        "balance": total_income - total_paid - subsidy_total,
    }


def committed(fund: Fund, year: int, *, exclude: PaymentBatch | None = None) -> Decimal:
    """Lines not yet paid in the fund's approved or exported batches of ``year``."""
    lines = PaymentLine.objects.filter(
        batch__fund=fund,
        batch__year=year,
        batch__status__in=[BatchStatus.APPROVED, BatchStatus.EXPORTED],
        status=LineStatus.PENDING,
    )
    if exclude is not None:
        lines = lines.exclude(batch=exclude)
    return lines.aggregate(a=Sum("amount"))["a"] or ZERO


def batch_total(batch: PaymentBatch) -> Decimal:
    return batch.lines.exclude(status=LineStatus.RETURNED).aggregate(a=Sum("amount"))["a"] or ZERO


def approval_check(batch: PaymentBatch) -> dict:
    """What approving ``batch`` does to its fund: available = balance − other approved,
    unpaid lines; shortfall = total − available when positive (the overdraft)."""
    balance = fund_balance(batch.fund, batch.year)["balance"]
    available = balance - committed(batch.fund, batch.year, exclude=batch)
    total = batch_total(batch)
    return {
        "balance": balance,
        "available": available,
        "total": total,
        "after": available - total,
        "shortfall": max(total - available, ZERO),
    }


def projection(
    fund: Fund, year: int, *, today: datetime.date | None = None, balance: dict | None = None
) -> dict:
    """The balance expected at the year's end. The policy simulation of settlement
    (``SettlementRun`` of kind 政策模拟) re-settles a past year's encounters under a draft
    policy; it says nothing about encounters not yet entered, so it does not fit here. We
    project linearly instead (docs/payments.md): what the fund's current settlement lines of
    ``year`` come to so far, per elapsed day, times the days left; the projected balance is
    the balance less what the ledger still owes (institutions), less approved unpaid people
    lines, less that projection."""
    today = today or timezone.localdate()
    balance = balance or fund_balance(fund, year)
    ledger = settlement_selectors.ledger(year=year, fund=fund.name)
    owed = ledger["funds"].get(fund.name, {}).get("outstanding", ZERO)
    settled = (
        SettlementLine.objects.filter(
            fund=fund.name,
            settlement__year=year,
            settlement__is_current=True,
            settlement__service_date__lte=today,
        ).aggregate(a=Sum("amount"))["a"]
        or ZERO
    )
    first, last = datetime.date(year, 1, 1), datetime.date(year, 12, 31)
    if today < first or today >= last:
        elapsed, remaining, expected = (0 if today < first else 365), 0, ZERO
    else:
        elapsed = (today - first).days + 1
        remaining = (last - today).days
        expected = (settled * remaining / elapsed).quantize(CENT, ROUND_HALF_UP)
    people_committed = (
        PaymentLine.objects.filter(
            batch__fund=fund,
            batch__year=year,
            batch__status__in=[BatchStatus.APPROVED, BatchStatus.EXPORTED],
            status=LineStatus.PENDING,
            kind=LineKind.AID,
        ).aggregate(a=Sum("amount"))["a"]
        or ZERO
    )
    return {
        "settled": settled,
        "days_elapsed": elapsed,
        "days_remaining": remaining,
        "expected_claims": expected,
        "owed": owed,
        "people_committed": people_committed,
        "projected_balance": balance["balance"] - owed - people_committed - expected,
    }


def fund_account(fund: Fund, year: int, *, today: datetime.date | None = None) -> dict:
    balance = fund_balance(fund, year)
    return {
        "fund": fund,
        "year": year,
        **balance,
        "committed": committed(fund, year),
        "projection": projection(fund, year, today=today, balance=balance),
    }


# --- batches and lines ----------------------------------------------------------------------


def batches_for(user):
    """County staff and supervisors: every batch; a clinic: the batches holding a people-line
    of its township."""
    township = roles.township_id_of(user)
    mine = Q(lines__township_id=township) if township is not None else Q()
    qs = PaymentBatch.objects.select_related("fund", "drafted_by", "checked_by", "approved_by").annotate(
        # A clinic's total and count are of its own lines only.
        total=Sum("lines__amount", filter=~Q(lines__status=LineStatus.RETURNED) & mine),
        line_count=Count("lines", filter=mine),
    )
    if not roles.can_read(user):
        return qs.none()
    if township is not None:
        qs = qs.filter(Exists(PaymentLine.objects.filter(batch=OuterRef("pk"), township_id=township)))
    return qs


def lines_for(user):
    """Lines ``user`` may see: a clinic only its township's people-lines (institution lines
    have no township and stay county-wide)."""
    return roles.scope(
        PaymentLine.objects.select_related("batch__fund", "institution", "member", "township"),
        user,
        "township_id",
    )


def member_townships(member_ids) -> dict[int, int]:
    ids = [m for m in member_ids if m]
    return dict(Member.objects.filter(pk__in=ids).values_list("pk", "household__village__township_id"))


def account_of_member(member_id: int) -> BankAccount | None:
    """The active account of the member, else the active account of their household."""
    member = Member.objects.only("household_id").get(pk=member_id)
    accounts = BankAccount.objects.filter(household_id=member.household_id, active=True)
    return accounts.filter(member_id=member_id).first() or accounts.filter(member__isnull=True).first()


def accounts_for(user):
    return roles.scope(
        BankAccount.objects.select_related("household__village__township", "member"),
        user,
        "household__village__township_id",
    )


def batch_years() -> list[int]:
    years = set(PaymentBatch.objects.values_list("year", flat=True).distinct())
    years.update(settlement_selectors.settlement_years())
    years.add(timezone.localdate().year)
    return sorted(years, reverse=True)


def household_for(user, number: str) -> Household | None:
    """The household of ``number`` when ``user`` may see it."""
    return (
        roles.scope(Household.objects.all(), user, "village__township_id")
        .filter(number=(number or "").strip())
        .first()
    )
