"""Reads of the claims review (审核): the queue, one claim for review, the per-institution
report and a hospital's feedback. Scoped like every people's list (``roles.scope`` on the
patient's township): a township clinic sees its township's claims only."""

from __future__ import annotations

import datetime
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, Exists, F, OuterRef, Prefetch, Q, Subquery, Sum

from registry import roles
from registry.models import Role

from . import access
from .models import (
    Encounter,
    EncounterItem,
    Institution,
    ReviewDecision,
    ReviewFlag,
    ReviewOutcome,
    ViolationReason,
)
from .review_rules import DRUG_CATEGORIES
from .selectors import MEMBER_TOWNSHIP

_ZERO = Decimal("0.00")

PENDING = "pending"
COUNTY_WIDE = (Role.COUNTY, Role.SUPERVISOR)


def reads_county_wide(user) -> bool:
    """County staff and supervisors: the queue and every institution's feedback. Township
    clinics and hospitals (定点医疗机构) do not (a hospital sees its own feedback only)."""
    return roles.role_of(user) in COUNTY_WIDE


STATES = [(PENDING, "待审核"), *ReviewOutcome.choices, ("changed", "审核后被修改")]


def reasons():
    """The violation codes a reviewer may choose (active ones, in their order)."""
    return ViolationReason.objects.filter(active=True).order_by("position", "id")


def _current_decisions():
    return ReviewDecision.objects.filter(is_current=True).select_related("reason", "decided_by")


def review_queue_for(user):
    """Current encounters with automatic-review flags or a review decision, with their flags
    and current decision (``current_decision`` list of at most one) prefetched: one query for
    the page's rows, one for the flags, one for the decisions."""
    flagged = Exists(ReviewFlag.objects.filter(encounter=OuterRef("pk")))
    decided = Exists(ReviewDecision.objects.filter(encounter=OuterRef("pk")))
    return (
        roles.scope(Encounter.objects.filter(is_current=True), user, MEMBER_TOWNSHIP)
        .filter(flagged | decided)
        .select_related("member__household__village__township", "institution")
        .annotate(
            decision_outcome=Subquery(
                ReviewDecision.objects.filter(encounter=OuterRef("pk"), is_current=True).values("outcome")[:1]
            ),
            decision_version=Subquery(
                ReviewDecision.objects.filter(encounter=OuterRef("pk"), is_current=True).values(
                    "encounter_version"
                )[:1]
            ),
        )
        .prefetch_related(
            "review_flags",
            Prefetch("review_decisions", queryset=_current_decisions(), to_attr="current_decision"),
        )
    )


def review_state(encounter) -> str:
    """待审核, a decision's outcome, or 审核后被修改 (the claim changed after its decision)."""
    outcome = getattr(encounter, "decision_outcome", None)
    if outcome is None:
        return PENDING
    if encounter.decision_version != encounter.version:
        return "changed"
    return outcome


def review_encounter_for(user):
    """One claim for review: the queue's scope without the flag condition (any current or
    past encounter the user may see), with items, flags and every decision."""
    return roles.scope(Encounter.objects.all(), user, MEMBER_TOWNSHIP).select_related(
        "member__household__village__township", "institution"
    )


def decisions_of(encounter):
    return encounter.review_decisions.select_related("reason", "decided_by").order_by("-decided_at", "-id")


# --- the per-institution report ------------------------------------------------------------------


def _ratio(part: Decimal, whole: Decimal) -> Decimal | None:
    return (part / whole).quantize(Decimal("0.0001"), ROUND_HALF_UP) if whole else None


def _period(year: int, month: int | None) -> tuple[datetime.date, datetime.date]:
    if month:
        start = datetime.date(year, month, 1)
        end = datetime.date(year + (month == 12), month % 12 + 1, 1) - datetime.timedelta(days=1)
        return start, end
    return datetime.date(year, 1, 1), datetime.date(year, 12, 31)


def review_report(user, *, year: int, month: int | None = None, institution=None) -> dict:
    """The review figures of each institution for a year (or one month of it), by the
    encounter's settlement date: current claims, flagged claims and flags, decisions, Σ
    deductions by violation code, 药占比 (drug items' net / bill net, itemised claims only),
    次均费用 (Σ total / claims) and 平均住院日 (mean stay of discharged inpatient claims, a
    same-day discharge counting one day). A handful of grouped queries, whatever the size.
    ``{"rows": [...], "reasons": [...], "totals": {...}}``."""
    start, end = _period(year, month)
    # A hospital user: its own institution's claims only (access.scope), whatever it asks for.
    encounters = access.scope(
        Encounter.objects.filter(is_current=True, service_date__range=(start, end)),
        user,
        MEMBER_TOWNSHIP,
        "institution_id",
    )
    if institution and not roles.is_hospital(user):
        encounters = encounters.filter(institution_id=getattr(institution, "pk", institution))
    rows: dict[int, dict] = {}

    def row(pk):
        return rows.setdefault(
            pk,
            {
                "institution_id": pk,
                "claims": 0,
                "total_cost": _ZERO,
                "stays": 0,
                "stay_days": 0,
                "flagged": 0,
                "flags": 0,
                "decided": 0,
                "approved": 0,
                "deducted_claims": 0,
                "rejected": 0,
                "deducted": _ZERO,
                "by_reason": defaultdict(lambda: _ZERO),
                "drug": _ZERO,
                "bill_net": _ZERO,
            },
        )

    for pk, claims, total in (
        encounters.order_by().values_list("institution_id").annotate(n=Count("id"), total=Sum("total_cost"))
    ):
        r = row(pk)
        r["claims"], r["total_cost"] = claims, total or _ZERO
    stays = encounters.filter(kind="inpatient", discharge_date__isnull=False)
    for pk, admission, discharge in stays.values_list("institution_id", "admission_date", "discharge_date"):
        r = row(pk)
        r["stays"] += 1
        r["stay_days"] += max((discharge - admission).days, 1)
    for pk, flagged, flags in (
        encounters.filter(review_flags__isnull=False)
        .order_by()
        .values_list("institution_id")
        .annotate(claims=Count("id", distinct=True), flags=Count("review_flags"))
    ):
        row(pk).update(flagged=flagged, flags=flags)
    decisions = ReviewDecision.objects.filter(is_current=True, encounter__in=encounters.values("pk"))
    reason_names = {}
    for pk, outcome, reason_id, reason_name, n, deducted in (
        decisions.order_by()
        .values_list("encounter__institution_id", "outcome", "reason_id", "reason__name")
        .annotate(n=Count("id"), deducted=Sum("deducted"))
    ):
        r = row(pk)
        r["decided"] += n
        r[{"approve": "approved", "deduct": "deducted_claims", "reject": "rejected"}[outcome]] += n
        r["deducted"] += deducted or _ZERO
        if reason_id is not None and deducted:
            reason_names[reason_id] = reason_name
            r["by_reason"][reason_id] += deducted
    net = F("amount") - F("deducted")
    for pk, drug, whole in (
        EncounterItem.objects.filter(encounter__in=encounters.values("pk"))
        .order_by()
        .values_list("encounter__institution_id")
        .annotate(drug=Sum(net, filter=Q(category__in=DRUG_CATEGORIES)), whole=Sum(net))
    ):
        row(pk).update(drug=drug or _ZERO, bill_net=whole or _ZERO)
    names = dict(Institution.objects.filter(pk__in=rows).values_list("pk", "name"))
    order = [
        (pk, reason_names[pk])
        for pk in ViolationReason.objects.filter(pk__in=reason_names).values_list("pk", flat=True)
    ]
    out = []
    for pk, r in sorted(rows.items(), key=lambda kv: (names.get(kv[0], ""), kv[0])):
        out.append(_finish(r, names.get(pk, ""), order))
    totals = _finish(_sum_rows(rows.values()), "合计", order)
    return {
        "year": year,
        "month": month,
        "rows": out,
        "reasons": [{"id": pk, "name": name} for pk, name in order],
        "totals": totals,
    }


def _sum_rows(rows) -> dict:
    total = {"institution_id": None, "by_reason": defaultdict(lambda: _ZERO)}
    for r in rows:
        for name, value in r.items():
            if name == "by_reason":
                for k, v in value.items():
                    total["by_reason"][k] += v
            elif name != "institution_id":
                total[name] = total.get(name, 0) + value
    for name in ("total_cost", "deducted", "drug", "bill_net"):
        total.setdefault(name, _ZERO)
    for name in (
        "claims",
        "stays",
        "stay_days",
        "flagged",
        "flags",
        "decided",
        "approved",
        "deducted_claims",
        "rejected",
    ):
        total.setdefault(name, 0)
    return total


def _finish(r: dict, name: str, reasons_order) -> dict:
    claims = r["claims"]
    return {
        **{k: v for k, v in r.items() if k != "by_reason"},
        "institution": name,
        "by_reason": [r["by_reason"].get(pk, _ZERO) for pk, _ in reasons_order],
        "drug_share": _ratio(r["drug"], r["bill_net"]),
        "cost_per_claim": (r["total_cost"] / claims).quantize(Decimal("0.01"), ROUND_HALF_UP)
        if claims
        else None,
        "average_stay": (Decimal(r["stay_days"]) / r["stays"]).quantize(Decimal("0.1"), ROUND_HALF_UP)
        if r["stays"]
        else None,
    }


# --- a hospital's feedback ----------------------------------------------------------------------


def review_feedback_for_institution(institution):
    """What the review decided on ``institution``'s claims that costs it money: the current
    deductions and rejections (newest first), with the reason, the note and the lines
    deducted. A hospital user's feedback page reads only this, for its own institution."""
    if institution is None:
        return ReviewDecision.objects.none()
    return (
        ReviewDecision.objects.filter(
            is_current=True,
            encounter__institution=institution,
            outcome__in=(ReviewOutcome.DEDUCT, ReviewOutcome.REJECT),
        )
        .select_related("reason", "encounter__member", "encounter__institution")
        .prefetch_related("encounter__items")
        .order_by("-decided_at", "-id")
    )
