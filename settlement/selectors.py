"""Reads of settlements: for the settlement pages and API, other apps (claims pages,
dashboards) and the batch runs. Township scoping goes through ``roles.scope``."""

from __future__ import annotations

import datetime
from collections import defaultdict
from decimal import Decimal

from django.db.models import Count, Q, Sum
from django.db.models.functions import ExtractMonth

from claims import access
from claims.codes import ITEM_CATEGORIES, ITEM_CLASSES
from claims.models import Encounter, Institution
from registry import facts, roles
from registry.idnumber import mask_id_number
from registry.models import Enrollment

from . import batch, explain
from .models import (
    FundTransfer,
    Policy,
    PolicyStatus,
    Settlement,
    SettlementLine,
    SettlementProblem,
    SettlementRun,
)

MEMBER_TOWNSHIP = "member__household__village__township_id"
_ZERO = Decimal("0.00")


# --- used by other apps -------------------------------------------------------------------------


def settled_encounter_ids(encounter_ids) -> set:
    """The ids among ``encounter_ids`` that have a current settlement."""
    ids = [pk for pk in encounter_ids if pk is not None]
    if not ids:
        return set()
    return set(
        Settlement.objects.filter(encounter_id__in=ids, is_current=True).values_list(
            "encounter_id", flat=True
        )
    )


def current_self_pay(encounter_ids) -> dict[int, Decimal]:
    """The self-pay (个人自付) of each encounter's current settlement: ``{encounter_id:
    amount}``; unsettled encounters are absent (the aid applications' base)."""
    ids = [pk for pk in encounter_ids if pk is not None]
    if not ids:
        return {}
    return dict(
        Settlement.objects.filter(encounter_id__in=ids, is_current=True).values_list(
            "encounter_id", "self_pay"
        )
    )


def member_cost_totals(member_ids) -> dict[int, dict[str, Decimal]]:
    """The 因病致贫 survey figures from current settlements, all years: ``{member_id:
    {total_cost, basic_insurance, catastrophic_insurance, civil_aid, self_pay}}`` (civil aid:
    the medical-aid tiers); members without settlements are absent."""
    ids = list(member_ids)
    out = {}
    for row in (
        Settlement.objects.filter(member_id__in=ids, is_current=True)
        .values("member_id")
        .annotate(total_cost=Sum("total_cost"), self_pay=Sum("self_pay"))
    ):
        out[row["member_id"]] = {
            "total_cost": row["total_cost"],
            "basic_insurance": _ZERO,
            "catastrophic_insurance": _ZERO,
            "civil_aid": _ZERO,
            "self_pay": row["self_pay"],
        }
    by_kind = {
        "basic_insurance": "basic_insurance",
        "catastrophic_insurance": "catastrophic_insurance",
        "medical_aid": "civil_aid",
    }
    for row in (
        SettlementLine.objects.filter(
            settlement__member_id__in=ids, settlement__is_current=True, tier_kind__in=list(by_kind)
        )
        .values("settlement__member_id", "tier_kind")
        .annotate(amount=Sum("amount"))
    ):
        out[row["settlement__member_id"]][by_kind[row["tier_kind"]]] += row["amount"]
    return out


def member_years_with_encounters(
    *, member_ids=None, household_id=None, since: datetime.date | None = None
) -> set[tuple[int, int]]:
    """(member id, year) of the current encounters of some members or of a household, those
    of service date ``since`` or later when it is given."""
    encounters = Encounter.objects.filter(is_current=True)
    if since is not None:
        encounters = encounters.filter(service_date__gte=since)
    if member_ids is not None:
        encounters = encounters.filter(member_id__in=list(member_ids))
    if household_id is not None:
        encounters = encounters.filter(member__household_id=household_id)
    return {(m, d.year) for m, d in encounters.values_list("member_id", "service_date").distinct()}


# --- querysets for pages and the API ------------------------------------------------------------


def settlements_for(user):
    """Settlements as the user may see them: a township's, or a hospital's own institution's."""
    return access.scope(
        Settlement.objects.select_related("encounter", "member", "institution", "policy"),
        user,
        MEMBER_TOWNSHIP,
        "institution_id",
    )


def problems_for(user):
    return access.scope(
        SettlementProblem.objects.select_related("encounter__member", "encounter__institution"),
        user,
        f"encounter__{MEMBER_TOWNSHIP}",
        "encounter__institution_id",
    )


def policies():
    return Policy.objects.all()


def runs():
    return SettlementRun.objects.select_related("policy", "started_by")


# --- one settlement, one member ---------------------------------------------------------------


def tier_keys(policy: Policy) -> tuple[str, ...]:
    return tuple(t.key for t in batch.compiled_policy(policy).tiers)


def settlement_as_dict(settlement: Settlement, lines=None) -> dict:
    """The contract's output for a stored settlement: every tier of its policy in policy
    order, 0.00 where no line was stored (zero payouts are not stored), then any line of a
    tier the policy no longer has."""
    lines = list(settlement.lines.all()) if lines is None else lines
    amounts = {line.tier_key: line.amount for line in sorted(lines, key=lambda l: l.position)}
    keys = list(tier_keys(settlement.policy))
    keys += [k for k in amounts if k not in keys]
    money = lambda d: f"{d:.2f}"
    return {
        "ref": settlement.encounter.ref,
        "total_cost": money(settlement.total_cost),
        "payouts": {k: money(amounts.get(k, _ZERO)) for k in keys},
        "self_pay": money(settlement.self_pay),
        "in_policy_self_pay": money(settlement.in_policy_self_pay),
        "out_of_policy_self_pay": money(settlement.out_of_policy_self_pay),
        **({} if settlement.deducted is None else {"deducted": money(settlement.deducted)}),
    }


_MEMBER_CONDITIONS = {"poverty_statuses", "aid_categories"}


def _holds(when: dict, facts: dict) -> bool:
    for key, allowed in when.items():
        allowed = allowed if isinstance(allowed, list) else [allowed]
        if facts[key] not in allowed:
            return False
    return True


def member_year_totals(member, year: int) -> dict:
    """Where a member stands in ``year``, per tier of the year's policy: paid so far (current
    settlements), encounters it paid for, and the deductible and yearly cap as the policy
    writes them for this member (overrides that depend only on poverty status and aid
    category applied; those depending on the visit — level, kind, disease — are not, and the
    engine does not expose its accumulators, so the deductible used is not shown)."""
    policy = batch.active_policy(year)
    paid = {
        row["tier_key"]: row
        for row in (
            SettlementLine.objects.filter(
                settlement__member=member, settlement__year=year, settlement__is_current=True
            )
            .values("tier_key")
            .annotate(paid=Sum("amount"), encounters=Count("id", filter=~Q(amount=0)))
        )
    }
    facts = {"poverty_statuses": member.household.poverty_status, "aid_categories": member.aid_category}
    tiers = []
    for tier in policy.document["tiers"] if policy else []:
        fields = {name: tier.get(name) for name in ("deductible", "cap", "self_pay_cap")}
        for override in tier.get("overrides", []):
            when = override.get("when", {})
            if set(when) <= _MEMBER_CONDITIONS and _holds(when, facts):
                fields.update({k: v for k, v in override.get("set", {}).items() if k in fields})
        amount = paid.get(tier["key"], {}).get("paid") or _ZERO
        cap_per_year = (fields["cap"] or {}).get("per_year")
        cap_per_year = (
            Decimal(str(cap_per_year)).quantize(Decimal("0.01")) if cap_per_year is not None else None
        )
        tiers.append(
            {
                "key": tier["key"],
                "kind": tier["kind"],
                "name": tier["name"],
                "fund": tier["fund"],
                "paid": amount,
                "encounters": paid.get(tier["key"], {}).get("encounters", 0),
                "deductible": fields["deductible"],
                "cap_per_year": cap_per_year,
                "cap_left": max(cap_per_year - amount, _ZERO) if cap_per_year is not None else None,
                "self_pay_cap": fields["self_pay_cap"],
                "deductible_used": None,
            }
        )
    totals = Settlement.objects.filter(member=member, year=year, is_current=True).aggregate(
        total_cost=Sum("total_cost"),
        payouts=Sum("payouts_total"),
        self_pay=Sum("self_pay"),
        in_policy_self_pay=Sum("in_policy_self_pay"),
        encounters=Count("id"),
    )
    return {
        "year": year,
        "policy": policy.code if policy else None,
        "tiers": tiers,
        **{k: (v if v is not None else _ZERO) for k, v in totals.items()},
    }


# --- batch runs ---------------------------------------------------------------------------------


def member_ids_to_settle(year: int, *, stored_too: bool = True) -> list[int]:
    """Members with current encounters in ``year``; with ``stored_too`` also those with current
    settlements or problems there (their stale rows are cleared by settling them). One query
    (a UNION), sorted ids."""
    first, last = batch.year_bounds(year)
    # order_by(): the models' default orderings would join the DISTINCT (one row per encounter).
    encounters = (
        Encounter.objects.filter(is_current=True, service_date__range=(first, last))
        .order_by()
        .values_list("member_id", flat=True)
    )
    if not stored_too:
        return sorted(encounters.distinct())
    return sorted(
        encounters.union(
            Settlement.objects.filter(year=year, is_current=True)
            .order_by()
            .values_list("member_id", flat=True),
            SettlementProblem.objects.filter(encounter__service_date__range=(first, last))
            .order_by()
            .values_list("encounter__member_id", flat=True),
        )
    )


def year_outcome(
    year: int,
    *,
    threshold: int | None,
    members: tuple[int | None, int | None] | None = None,
    known: facts.YearFacts | None = None,
) -> batch.Outcome:
    """The figures of what is stored for ``year`` (current settlements), to set a simulated
    policy against: per patient totals from one grouped query, per fund from another.
    ``members``: only the members whose ids are in [low, high) (None: unbounded) — each chunk
    of a simulation sums its own range of members (``services._stored_range``), so no chunk
    reads the whole year; ``known``: facts of the year already loaded for (most of) them, whose
    status at the year's end is then read without a query."""
    outcome = batch.Outcome()
    sums = {
        name: batch.in_cents(Sum(name))[0]
        for name in ("total_cost", "payouts_total", "self_pay", "in_policy_self_pay")
    }
    cents = batch.in_cents(Sum("total_cost"))[1] or int
    settlements = Settlement.objects.filter(year=year, is_current=True)
    lines = SettlementLine.objects.filter(settlement__year=year, settlement__is_current=True)
    low, high = members or (None, None)
    if low is not None:
        settlements = settlements.filter(member_id__gte=low)
        lines = lines.filter(settlement__member_id__gte=low)
    if high is not None:
        settlements = settlements.filter(member_id__lt=high)
        lines = lines.filter(settlement__member_id__lt=high)
    # Grouped by member alone (no join per settlement row: 100,000 rows joined to member and
    # household cost twice the aggregation), then the patients' statuses.
    per_member = batch.fetch_rows(
        settlements.order_by()
        .values_list("member_id")
        .annotate(n=Count("id"), **{f"{name}_cents": expression for name, expression in sums.items()})
    )
    # A patient counts as poor by the household's status at the year's end (dated facts), as
    # the simulated side (``batch.simulate_members``) counts them.
    year_end = batch.year_bounds(year)[1]
    poverty = {}
    if known is not None:
        poverty = {row[0]: known.poverty_status(row[0], year_end) for row in per_member if row[0] in known}
    if len(poverty) < len(per_member):
        poverty.update(
            facts.member_status_on((row[0] for row in per_member if row[0] not in poverty), year_end)
        )
    for member_id, n, total, paid, self_pay, in_self in per_member:
        outcome.add_member(
            poverty_status=poverty[member_id],
            encounters=n,
            total=cents(total),
            payouts=cents(paid),
            self_pay=cents(self_pay),
            in_policy_self_pay=cents(in_self),
            threshold=threshold,
        )
    amount, _ = batch.in_cents(Sum("amount"))
    for fund, paid in batch.fetch_rows(lines.order_by().values_list("fund").annotate(amount_cents=amount)):
        outcome.add_fund(fund, cents(paid))
    return outcome


def resettlement_differences(run: SettlementRun, *, user=None) -> list[dict]:
    """Patients whose settlements ``run`` changed, with what each payer's share changed by:
    ``self_pay_difference`` (negative: 退还 to the patient, positive: to collect) and per fund
    (positive: 补付 by the fund). Patients whose changes net to zero everywhere are left out.
    Sorted by the refund, largest first."""
    # Through the (member, year) index: settlements have no index on ``run`` (each index costs
    # every batch an insertion per settlement); a run's settlements are its year's and its
    # chunks' members'.
    members = [m for ids in run.chunks.values_list("member_ids", flat=True) for m in ids]
    settlements = Settlement.objects.filter(
        year=run.year, run=run, supersedes__isnull=False, **batch.members_in("member_id", members)
    )
    if user is not None:
        settlements = roles.scope(settlements, user, MEMBER_TOWNSHIP)
    people = {}
    for row in settlements.values(
        "member_id",
        "member__name",
        "member__id_number",
        "member__household__number",
        "member__household__village__name",
        "member__household__village__township__name",
    ).annotate(encounters=Count("id"), self_pay_difference=Sum("self_pay_difference")):
        people[row["member_id"]] = {
            "member_id": row["member_id"],
            "name": row["member__name"],
            "id_number": mask_id_number(row["member__id_number"]),
            "household": row["member__household__number"],
            "township": row["member__household__village__township__name"],
            "village": row["member__household__village__name"],
            "encounters": row["encounters"],
            "self_pay_difference": row["self_pay_difference"],
            "funds": {},
        }
    for member_id, fund, difference in (
        SettlementLine.objects.filter(settlement__in=settlements)
        .exclude(difference=0)
        .values_list("settlement__member_id", "fund")
        .annotate(difference=Sum("difference"))
    ):
        people[member_id]["funds"][fund] = difference
    out = [p for p in people.values() if p["self_pay_difference"] or any(p["funds"].values())]
    return sorted(out, key=lambda p: (p["self_pay_difference"], p["member_id"]))


# --- the fund ledger ----------------------------------------------------------------------------

PERIODS = ("month", "quarter")


def ledger(
    *, year: int, period: str = "month", fund: str | None = None, institution: Institution | int | None = None
) -> dict:
    """What each fund owes each institution per period of ``year`` (Σ current settlement lines
    by the settlement's service date), what it paid (Σ fund transfers, by the month they are
    for) and what is outstanding (owed − paid; negative: the institution was paid too much,
    e.g. after a re-settlement that lowered a fund's share)."""
    if period not in PERIODS:
        raise ValueError(f"period must be one of {PERIODS}")
    institution_id = getattr(institution, "pk", institution)
    lines = SettlementLine.objects.filter(settlement__year=year, settlement__is_current=True).exclude(
        amount=0
    )
    transfers = FundTransfer.objects.filter(year=year)
    if fund:
        lines, transfers = lines.filter(fund=fund), transfers.filter(fund=fund)
    if institution_id:
        lines = lines.filter(settlement__institution_id=institution_id)
        transfers = transfers.filter(institution_id=institution_id)
    to_period = (lambda m: m) if period == "month" else (lambda m: (m - 1) // 3 + 1)
    cells = defaultdict(lambda: [_ZERO, _ZERO])
    for fund_name, inst, month, amount in lines.values_list(
        "fund", "settlement__institution_id", ExtractMonth("settlement__service_date")
    ).annotate(amount=Sum("amount")):
        cells[(fund_name, inst, to_period(month))][0] += amount
    for fund_name, inst, month, amount in transfers.values_list("fund", "institution_id", "month").annotate(
        amount=Sum("amount")
    ):
        cells[(fund_name, inst, to_period(month))][1] += amount
    names = dict(Institution.objects.filter(pk__in={k[1] for k in cells}).values_list("pk", "name"))
    rows = [
        {
            "fund": f,
            "institution_id": i,
            "institution": names.get(i, ""),
            "period": p,
            "owed": owed,
            "paid": paid,
            "outstanding": owed - paid,
        }
        for (f, i, p), (owed, paid) in sorted(
            cells.items(), key=lambda kv: (kv[0][0], names.get(kv[0][1], ""), kv[0][1], kv[0][2])
        )
    ]
    funds = {}
    for row in rows:
        total = funds.setdefault(row["fund"], {"owed": _ZERO, "paid": _ZERO, "outstanding": _ZERO})
        for name in ("owed", "paid", "outstanding"):
            total[name] += row[name]
    owed, paid = sum((r["owed"] for r in rows), _ZERO), sum((r["paid"] for r in rows), _ZERO)
    return {
        "year": year,
        "period": period,
        "rows": rows,
        "funds": funds,
        "totals": {"owed": owed, "paid": paid, "outstanding": owed - paid},
        "subsidy": premium_subsidy(year=year),
        "accounts": institution_accounts(year=year, institution=institution_id),
    }


def institution_accounts(*, year: int, institution: Institution | int | None = None) -> dict:
    """Each institution's account of ``year`` (current settlements): what it billed (Σ gross:
    the settled total plus 违规扣除), what the funds owe it, what its patients paid (个人自付)
    and what the claims review deducted (borne by the institution). billed = funds + patients
    + deducted, to the cent: a deduction moves money from the first two to the last.
    ``{"rows": [{institution_id, institution, billed, funds, patients, deducted}], "totals"}``."""
    institution_id = getattr(institution, "pk", institution)
    settlements = Settlement.objects.filter(year=year, is_current=True)
    if institution_id:
        settlements = settlements.filter(institution_id=institution_id)
    figures = (
        settlements.order_by()
        .values_list("institution_id")
        .annotate(
            total=Sum("total_cost"),
            funds=Sum("payouts_total"),
            patients=Sum("self_pay"),
            deducted=Sum("deducted"),
        )
    )
    names = dict(Institution.objects.filter(pk__in=[f[0] for f in figures]).values_list("pk", "name"))
    rows = []
    for pk, total, funds, patients, deducted in figures:
        deducted = deducted or _ZERO
        rows.append(
            {
                "institution_id": pk,
                "institution": names.get(pk, ""),
                "billed": total + deducted,
                "funds": funds,
                "patients": patients,
                "deducted": deducted,
            }
        )
    rows.sort(key=lambda r: (r["institution"], r["institution_id"]))
    totals = {k: sum((r[k] for r in rows), _ZERO) for k in ("billed", "funds", "patients", "deducted")}
    return {"rows": rows, "totals": totals}


def premium_subsidy(*, year: int) -> dict:
    """参保资助 of ``year`` by paying fund: the premiums the civil-affairs / poverty funds paid
    for the insured (Σ ``Enrollment.subsidy``, one grouped query). County-wide and for the
    whole year: a subsidy is paid to the insurer, not to an institution, so the ledger's
    institution and fund filters do not apply. {"rows": [{fund, people, amount}], "total"}."""
    rows = [
        {"fund": fund, "people": people, "amount": amount}
        for fund, people, amount in Enrollment.objects.filter(year=year, subsidy__gt=0)
        .order_by("subsidy_fund")
        .values_list("subsidy_fund")
        .annotate(people=Count("id"), amount=Sum("subsidy"))
    ]
    return {
        "rows": rows,
        "people": sum(r["people"] for r in rows),
        "total": sum((r["amount"] for r in rows), _ZERO),
    }


# --- reads for the pages ------------------------------------------------------------------------


def settlement_list_for(user):
    """The settlement list page and its Excel export: one query for the rows (person, place,
    institution, policy joined), one for all their lines."""
    return (
        settlements_for(user).select_related("member__household__village__township").prefetch_related("lines")
    )


def statement_for(user, pk: int) -> Settlement:
    """One settlement for its statement (一站式结算单), scoped: another township's is absent
    (``Settlement.DoesNotExist``). Lines, what it replaced and what replaced it come along."""
    return (
        settlements_for(user)
        .select_related("member__household__village__township", "run", "superseded_by", "supersedes")
        .prefetch_related("lines", "supersedes__lines")
        .get(pk=pk)
    )


def zero_payout_reasons(settlement: Settlement) -> list[tuple[str, str]]:
    """Why each tier paid nothing (``explain.zero_payout_reasons``), for a statement whose
    payers all paid 0.00; empty when something was paid."""
    if settlement.payouts_total:
        return []
    encounter, member = settlement.encounter, settlement.member
    facts = {
        "kind": encounter.kind,
        "level": settlement.institution.level,
        "designated": settlement.institution.designated,
        "referred": encounter.referred,
        "poverty_status": member.household.poverty_status or "none",
        "aid_category": member.aid_category or "none",
        "disease_code": encounter.diagnosis_code,
        "package": encounter.package,
        "total_cost": settlement.total_cost,
        "in_policy_cost": encounter.in_policy_cost,
    }
    return explain.zero_payout_reasons(settlement.policy.document, facts)


def current_settlement_of(encounter) -> Settlement | None:
    return Settlement.objects.filter(encounter=encounter, is_current=True).first()


def problem_of(encounter) -> SettlementProblem | None:
    return SettlementProblem.objects.filter(encounter=encounter).first()


def settlement_years() -> list[int]:
    """Years that have settlements, encounters or policies, newest first."""
    years = set(Policy.objects.values_list("year", flat=True))
    years.update(Settlement.objects.values_list("year", flat=True).distinct())
    return sorted(years, reverse=True)


def tier_columns(settlements) -> list[tuple[str, str]]:
    """(tier key, tier name) of the lines of ``settlements``, in policy position order: the
    per-tier columns of an export."""
    seen = {}
    for key, name, _position in (
        SettlementLine.objects.filter(settlement__in=settlements.order_by())
        .values_list("tier_key", "tier_name", "position")
        .distinct()
        .order_by("position", "tier_key")
    ):
        seen.setdefault(key, name)
    return list(seen.items())


def year_funds(year: int) -> list[str]:
    """The funds the policies of ``year`` name (those a transfer may be recorded for)."""
    funds = []
    for document in Policy.objects.filter(year=year).values_list("document", flat=True):
        for tier in (document or {}).get("tiers") or []:
            if isinstance(tier, dict) and tier.get("fund") and tier["fund"] not in funds:
                funds.append(tier["fund"])
    return funds


def transfers(*, year: int, fund: str | None = None, institution=None):
    qs = FundTransfer.objects.filter(year=year).select_related("institution", "created_by")
    if fund:
        qs = qs.filter(fund=fund)
    if institution:
        qs = qs.filter(institution_id=getattr(institution, "pk", institution))
    return qs


def draft_policies():
    return Policy.objects.filter(status=PolicyStatus.DRAFT).order_by("-year", "code")


def statement(settlement: Settlement) -> dict:
    """What the statement (一站式结算单) shows beyond the settlement's own fields: every tier
    of its policy in policy order (0.00 where nothing was paid; name and fund as stored on the
    line, else as the policy writes them), the encounter's out-of-list cost, the settlement it
    replaced (a re-settlement) and the current one (when this one was superseded)."""
    lines = {line.tier_key: line for line in settlement.lines.all()}
    tiers = []
    for tier in (settlement.policy.document or {}).get("tiers") or []:
        line = lines.pop(tier.get("key"), None)
        tiers.append(
            {
                "key": tier.get("key"),
                "name": line.tier_name if line else tier.get("name", ""),
                "fund": line.fund if line else tier.get("fund", ""),
                "amount": line.amount if line else _ZERO,
                "difference": line.difference if line else _ZERO,
            }
        )
    for line in sorted(lines.values(), key=lambda l: l.position):
        tiers.append(
            {
                "key": line.tier_key,
                "name": line.tier_name,
                "fund": line.fund,
                "amount": line.amount,
                "difference": line.difference,
            }
        )
    try:
        previous = settlement.supersedes
    except Settlement.DoesNotExist:
        previous = None
    current = settlement
    for _ in range(100):  # a chain of re-settlements, each a few at most
        if current.is_current or current.superseded_by_id is None:
            break
        current = Settlement.objects.select_related("encounter").get(pk=current.superseded_by_id)
    encounter = settlement.encounter
    fund_differences = defaultdict(lambda: _ZERO)
    for tier in tiers:
        if tier["difference"]:
            fund_differences[tier["fund"]] += tier["difference"]
    bill = statement_bill(settlement) if settlement.deducted is not None else None
    in_policy_cost = bill["in_policy_cost"] if bill else encounter.in_policy_cost
    return {
        "tiers": tiers,
        "bill": bill,
        "in_policy_cost": in_policy_cost,
        "out_of_policy_cost": (settlement.total_cost if bill else encounter.total_cost) - in_policy_cost,
        "previous": previous,
        "current": current if current.pk != settlement.pk else None,
        "fund_differences": dict(fund_differences),
    }


_CLASS_LABELS = dict(ITEM_CLASSES)
_CATEGORY_LABELS = dict(ITEM_CATEGORIES)


def statement_bill(settlement: Settlement) -> dict:
    """An itemised encounter's bill on its statement: the items (by category, then class, then
    entry order), the amounts per category and class (甲/乙/丙), Σ amount, the deduction borne by
    the institution, and the in-policy cost the settlement's policy catalogue derives."""
    items = sorted(
        settlement.encounter.items.all(),
        key=lambda i: (_CATEGORY_ORDER.get(i.category, len(_CATEGORY_ORDER)), i.item_class, i.position),
    )
    classes = [c for c, _ in ITEM_CLASSES]
    rows = {}
    for item in items:
        row = rows.setdefault(
            item.category,
            {
                "label": _CATEGORY_LABELS.get(item.category, "未分类"),
                "by_class": dict.fromkeys(classes, _ZERO),
                "total": _ZERO,
            },
        )
        row["by_class"][item.item_class] += item.amount - item.deducted
        row["total"] += item.amount - item.deducted
    by_class = {c: sum((r["by_class"][c] for r in rows.values()), _ZERO) for c in classes}
    _, in_policy, _ = batch.compiled_policy(settlement.policy).bill(
        [
            (i.item_class, i.category or None, int(i.amount.scaleb(2)), int(i.deducted.scaleb(2)))
            for i in items
        ]
    )
    return {
        "items": [
            {
                "item": item,
                "category": _CATEGORY_LABELS.get(item.category, "未分类"),
                "class": _CLASS_LABELS[item.item_class],
                "net": item.amount - item.deducted,
            }
            for item in items
        ],
        "categories": [{**row, "by_class": [row["by_class"][c] for c in classes]} for row in rows.values()],
        "classes": [_CLASS_LABELS[c] for c in classes],
        "by_class": [by_class[c] for c in classes],
        "gross": sum((i.amount for i in items), _ZERO),
        "deducted": settlement.deducted,
        "in_policy_cost": Decimal(in_policy).scaleb(-2),
    }


_CATEGORY_ORDER = {c: i for i, (c, _) in enumerate(ITEM_CATEGORIES)}
