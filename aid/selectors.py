"""Reads of aid applications (township scoping through ``roles.scope``), the working-day
calendar, and the figures other apps show (``overdue_count``)."""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.conf import settings
from django.db.models import Prefetch
from django.utils import timezone

from claims.models import Encounter
from registry import roles
from settlement import selectors as settlement_selectors
from settlement.models import PolicyStatus

from . import workdays
from .models import OPEN_STATUSES, AidApplication, AidStatus, AidStep, Holiday, HolidayKind

TOWNSHIP = "member__household__village__township_id"


def today() -> datetime.date:
    return timezone.localdate()


def deadline_days() -> int:
    return int(getattr(settings, "AID_DEADLINE_WORKING_DAYS", 7))


def applications_for(user):
    queryset = AidApplication.objects.select_related(
        "member", "member__household", "member__household__village__township"
    )
    return roles.scope(queryset, user, TOWNSHIP)


def application_detail_for(user):
    return applications_for(user).prefetch_related(
        Prefetch("steps", queryset=AidStep.objects.select_related("by")),
        "documents",
        "invoices",
        Prefetch("encounters", queryset=Encounter.objects.select_related("institution")),
    )


def overdue(queryset, on: datetime.date | None = None):
    """Open applications (not yet paid, returned or refused) past their deadline on ``on``."""
    return queryset.filter(status__in=OPEN_STATUSES, due_on__lt=on or today())


def overdue_count(township=None, on: datetime.date | None = None) -> int:
    """How many open applications are past their deadline on ``on`` (today by default), in
    ``township`` (a Township or its id) or the whole county."""
    queryset = AidApplication.objects.all()
    if township is not None:
        queryset = queryset.filter(**{TOWNSHIP: getattr(township, "pk", township)})
    return overdue(queryset, on).count()


def awaiting_payment(user=None):
    """Applications approved by the county and not yet paid (县级已审批（待给付）), oldest
    deadline first: what the payments app draws aid payment lines from. ``user``: scoped to
    what that user may see; None: the whole county."""
    queryset = applications_for(user) if user is not None else AidApplication.objects.select_related("member")
    return queryset.filter(status=AidStatus.APPROVED).order_by("due_on", "id")


def calendar(start: datetime.date, end: datetime.date) -> tuple[set, set]:
    """(holidays, adjusted working days) between ``start`` and ``end``, inclusive."""
    holidays, worked = set(), set()
    for day, kind in Holiday.objects.filter(date__gte=start, date__lte=end).values_list("date", "kind"):
        (worked if kind == HolidayKind.WORKDAY else holidays).add(day)
    return holidays, worked


def due_date(received_on: datetime.date, days: int | None = None) -> datetime.date:
    """The deadline of a case received on ``received_on``: the N-th working day after it."""
    days = deadline_days() if days is None else days
    # Never more than 3 calendar days per working day, even over the Spring Festival.
    holidays, worked = calendar(received_on, received_on + datetime.timedelta(days=3 * days + 30))
    return workdays.add_working_days(received_on, days, holidays=holidays, workdays=worked)


def working_days_used(application: AidApplication, on: datetime.date | None = None) -> int:
    end = application.paid_on or on or today()
    holidays, worked = calendar(application.received_on, end)
    return workdays.working_days_between(application.received_on, end, holidays=holidays, workdays=worked)


def is_overdue(application: AidApplication, on: datetime.date | None = None) -> bool:
    if application.status in OPEN_STATUSES:
        return application.due_on < (on or today())
    return application.paid_on is not None and application.paid_on > application.due_on


def active_policy(year: int):
    return settlement_selectors.policies().filter(year=year, status=PolicyStatus.ACTIVE).first()


def settled_self_pay(encounter_ids) -> dict[int, Decimal]:
    return settlement_selectors.current_self_pay(encounter_ids)


def member_encounters(member):
    """The member's current encounters an application may cover."""
    return (
        Encounter.objects.filter(member=member, is_current=True)
        .select_related("institution")
        .order_by("-service_date", "-id")
    )
