"""Reads for the dashboards and reports.

Dashboard figures come from the aggregate cells (a fixed number of GROUP BY queries over a
few thousand rows, whatever the history); the lists behind them, the risk list, notices and
the survey read the live tables, one page at a time. Everything passes ``roles.scope``.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count, DateField, Exists, ExpressionWrapper, F, OuterRef, Prefetch, Q, Sum
from django.utils import timezone

from claims.codes import FIRST_FOLLOWUP_DAYS, IN_COUNTY_LEVELS
from claims.models import Contract, Encounter, FollowUp, IllnessRecord
from claims.selectors import illnesses_for
from registry import facts, roles
from registry.models import Household, Member, Township, Village
from registry.selectors import households_for, members_for
from settlement.models import Settlement, SettlementLine

from . import definitions
from .definitions import Period, percent
from .models import (
    ContractCell,
    EncounterCell,
    IllnessCell,
    MemberYearCell,
    Notice,
    NoticeObjection,
    PayoutCell,
    RefreshRun,
    RegistryCell,
    RiskCell,
    SettlementCell,
    Target,
    YearStamp,
)

_CELL_TOWNSHIP = "village__township_id"


def today() -> datetime.date:
    return timezone.localdate()


def targets() -> dict[str, Decimal]:
    """Every target's value: the county's setting, else the default."""
    values = {spec.key: spec.default for spec in definitions.TARGETS}
    values.update(Target.objects.values_list("key", "value"))
    return values


def default_year(user) -> int:
    """The year a yearly page opens on: this year if the user's townships have current
    settlements in it, else the latest of the nine years before that has, else this year.
    One indexed existence probe per year (settlement_current_ledger leads with the year)."""
    this_year = today().year
    settlements = roles.scope(
        Settlement.objects.filter(is_current=True), user, "member__household__village__township_id"
    )
    for year in range(this_year, this_year - 10, -1):
        if settlements.filter(year=year).exists():
            return year
    return this_year


def year_stamp(year: int) -> YearStamp | None:
    return YearStamp.objects.filter(year=year).first()


def running_refresh() -> RefreshRun | None:
    """A refresh queued or running within the last hour (older ones were lost with a worker)."""
    since = timezone.now() - datetime.timedelta(hours=1)
    return RefreshRun.objects.filter(
        status__in=(RefreshRun.Status.QUEUED, RefreshRun.Status.RUNNING), created_at__gte=since
    ).first()


def signing_contracts():
    """Contracts that count for 签约率 and 签而不约 (definitions.SIGNING_*)."""
    return Contract.objects.filter(
        status__in=definitions.SIGNING_CONTRACT_STATUSES,
        household__poverty_status__in=definitions.SIGNING_STATUSES,
    )


def contracts_with_first_quarter():
    """``signing_contracts`` annotated with ``followed``: a follow-up within the first
    FIRST_FOLLOWUP_DAYS days (the claims app's 签而不约 rule)."""
    first_quarter_end = ExpressionWrapper(
        F("start_date") + datetime.timedelta(days=FIRST_FOLLOWUP_DAYS), output_field=DateField()
    )
    early = FollowUp.objects.filter(contract=OuterRef("pk"), date__lte=OuterRef("first_quarter_end"))
    return signing_contracts().annotate(first_quarter_end=first_quarter_end).annotate(followed=Exists(early))


# --- figures ------------------------------------------------------------------------------------


def _zero():
    return Decimal("0.00")


@dataclass
class Figures:
    """The dashboard figures of one township, village, month or the whole scope."""

    households: int = 0
    households_poor: int = 0
    households_lifted: int = 0
    households_monitored: int = 0
    members: int = 0
    members_insured: int = 0
    members_uninsured: int = 0
    members_insured_unknown: int = 0
    illnesses_by_status: dict = field(default_factory=lambda: defaultdict(int))
    households_signed: int = 0
    contracts_started: int = 0
    contracts_due: int = 0
    contracts_without_followup: int = 0
    # kind -> [encounters, total_cost, in_policy_cost]
    encounters_by_kind: dict = field(default_factory=lambda: defaultdict(lambda: [0, _zero(), _zero()]))
    encounters_in_county: int = 0
    settlements: int = 0
    settled_cost: Decimal = field(default_factory=_zero)
    payouts_total: Decimal = field(default_factory=_zero)
    self_pay: Decimal = field(default_factory=_zero)
    # "poor" / "monitored" -> [total_cost, self_pay] of inpatient settlements
    inpatient_by_status: dict = field(default_factory=lambda: defaultdict(lambda: [_zero(), _zero()]))
    # (tier_key, tier_kind, tier_name, fund) -> [lines, amount]
    payouts: dict = field(default_factory=lambda: defaultdict(lambda: [0, _zero()]))
    members_at_risk: int = 0
    members_without_income: int = 0

    # registry
    @property
    def insured_rate(self):
        return percent(self.members_insured, self.members)

    @property
    def households_for_signing(self) -> int:
        return sum(getattr(self, f"households_{status}") for status in definitions.SIGNING_STATUSES)

    @property
    def signing_rate(self):
        return percent(self.households_signed, self.households_for_signing)

    @property
    def households_unsigned(self) -> int:
        return max(self.households_for_signing - self.households_signed, 0)

    # illnesses
    @property
    def illnesses_identified(self) -> int:
        return sum(self.illnesses_by_status.values())

    @property
    def illnesses_treated(self) -> int:
        return sum(self.illnesses_by_status[s] for s in definitions.TREATED_ILLNESS_STATUSES)

    @property
    def illnesses_treating(self) -> int:
        return sum(self.illnesses_by_status[s] for s in definitions.TREATING_ILLNESS_STATUSES)

    @property
    def treatment_rate(self):
        return percent(self.illnesses_treated, self.illnesses_identified)

    # encounters
    @property
    def encounters(self) -> int:
        return sum(row[0] for row in self.encounters_by_kind.values())

    @property
    def total_cost(self) -> Decimal:
        return sum((row[1] for row in self.encounters_by_kind.values()), _zero())

    @property
    def encounters_out_of_county(self) -> int:
        return self.encounters - self.encounters_in_county

    @property
    def in_county_rate(self):
        return percent(self.encounters_in_county, self.encounters)

    # settlements
    def _inpatient_ratio(self, statuses):
        cost = sum((self.inpatient_by_status[s][0] for s in statuses), _zero())
        paid = sum((self.inpatient_by_status[s][1] for s in statuses), _zero())
        return percent(paid, cost)

    @property
    def self_pay_ratio(self):
        return self._inpatient_ratio(definitions.SELF_PAY_POOR_STATUSES)

    @property
    def monitored_self_pay_ratio(self):
        return self._inpatient_ratio(definitions.SELF_PAY_MONITORED_STATUSES)

    @property
    def poor_inpatient_cost(self) -> Decimal:
        return sum((self.inpatient_by_status[s][0] for s in definitions.SELF_PAY_POOR_STATUSES), _zero())

    @property
    def poor_inpatient_self_pay(self) -> Decimal:
        return sum((self.inpatient_by_status[s][1] for s in definitions.SELF_PAY_POOR_STATUSES), _zero())

    def value(self, key: str):
        return getattr(self, key)

    def misses(self, target_values: dict) -> set[str]:
        return {
            key
            for key, target in target_values.items()
            if definitions.misses_target(key, getattr(self, key), target)
        }


@dataclass
class Group:
    """A row of a comparison table: a township (with its villages below) or a village."""

    id: int
    name: str
    figures: Figures
    misses: set = field(default_factory=set)


@dataclass
class Board:
    period: Period
    township: Township | None  # None: the rows are townships; else this township's villages
    groups: list[Group]
    total: Figures
    months: dict[int, Figures]  # the period's year, month by month (trend charts)
    targets: dict
    total_misses: set
    measured_month: int | None  # where 签约率 is read
    stamp: YearStamp | None

    @property
    def level(self) -> str:
        return "village" if self.township else "township"

    def payouts(self) -> list[tuple[tuple, list]]:
        """(tier_key, tier_kind, tier_name, fund) → [lines, amount] of the period, largest first."""
        return sorted(self.total.payouts.items(), key=lambda item: (-item[1][1], item[0]))

    def funds(self) -> list[tuple[str, Decimal]]:
        """Money of the period by paying fund, and the patients' own share last."""
        by_fund: dict[str, Decimal] = defaultdict(_zero)
        for (_key, _kind, _name, fund), (_lines, amount) in self.payouts():
            by_fund[fund] += amount
        ordered = sorted(by_fund.items(), key=lambda item: -item[1])
        return ordered + [("个人自付", self.total.self_pay)]


def _scoped_cells(model, user, township: Township | None):
    queryset = roles.scope(model.objects.all(), user, _CELL_TOWNSHIP)
    return queryset.filter(village__township=township) if township else queryset


def board(
    user, period: Period, *, township: Township | None = None, on: datetime.date | None = None
) -> Board:
    """The figures of ``period`` per township (``township`` None) or per village of
    ``township``, their total, and the period's year month by month: ten queries."""
    on = on or today()
    group_key = "village_id" if township else _CELL_TOWNSHIP
    if township:
        names = list(Village.objects.filter(township=township).order_by("name").values_list("id", "name"))
    else:
        names = list(
            roles.scope(Township.objects.all(), user, "id").order_by("name").values_list("id", "name")
        )
    groups = {pk: Group(pk, name, Figures()) for pk, name in names}
    total = Figures()
    months = {month: Figures() for month in range(1, 13)}
    in_period = range(period.first_month, period.last_month + 1)
    measured = period.last_month_measured(on)

    def targets_of(row, *, with_month=True):
        """The Figures a cell row adds to: its group and the total (in the period), its month."""
        found = []
        group = groups.get(row[group_key])
        if group is None:  # a cell of a township outside the user's scope cannot occur; be safe
            return found
        month = row.get("month")
        if not with_month or month in in_period:
            found += [group.figures, total]
        if with_month and month is not None:
            found.append(months[month])
        return found

    def cells(model, *fields, **sums):
        queryset = _scoped_cells(model, user, township)
        if "year" in {f.name for f in model._meta.fields}:
            queryset = queryset.filter(year=period.year)
        return queryset.values(group_key, *fields).annotate(**sums).order_by()

    registry_sums = {
        name: Sum(name)
        for name in (
            "households",
            "households_poor",
            "households_lifted",
            "households_monitored",
            "members",
            "members_insured",
            "members_uninsured",
            "members_insured_unknown",
        )
    }
    for row in cells(RegistryCell, **{f"sum_{k}": v for k, v in registry_sums.items()}):
        for figures in targets_of(row, with_month=False):
            for name in registry_sums:
                setattr(figures, name, getattr(figures, name) + (row[f"sum_{name}"] or 0))

    for row in cells(
        EncounterCell,
        "month",
        "kind",
        "in_county",
        n=Sum("encounters"),
        cost=Sum("total_cost"),
        in_policy=Sum("in_policy_cost"),
    ):
        for figures in targets_of(row):
            entry = figures.encounters_by_kind[row["kind"]]
            entry[0] += row["n"]
            entry[1] += row["cost"]
            entry[2] += row["in_policy"]
            if row["in_county"]:
                figures.encounters_in_county += row["n"]

    for row in cells(
        SettlementCell,
        "month",
        "kind",
        "poverty_status",
        n=Sum("settlements"),
        cost=Sum("total_cost"),
        paid=Sum("payouts_total"),
        own=Sum("self_pay"),
    ):
        for figures in targets_of(row):
            figures.settlements += row["n"]
            figures.settled_cost += row["cost"]
            figures.payouts_total += row["paid"]
            figures.self_pay += row["own"]
            if row["kind"] == "inpatient":
                entry = figures.inpatient_by_status[row["poverty_status"]]
                entry[0] += row["cost"]
                entry[1] += row["own"]

    for row in cells(
        PayoutCell,
        "month",
        "tier_key",
        "tier_kind",
        "tier_name",
        "fund",
        n=Sum("lines"),
        amount=Sum("amount"),
    ):
        for figures in targets_of(row):
            entry = figures.payouts[(row["tier_key"], row["tier_kind"], row["tier_name"], row["fund"])]
            entry[0] += row["n"]
            entry[1] += row["amount"]

    for row in cells(IllnessCell, "month", "status", n=Sum("records")):
        for figures in targets_of(row):
            figures.illnesses_by_status[row["status"]] += row["n"]

    for row in cells(
        ContractCell,
        "month",
        signed=Sum("households_signed"),
        started=Sum("contracts_started"),
        due=Sum("contracts_due"),
        missing=Sum("contracts_without_followup"),
    ):
        for figures in targets_of(row):
            figures.contracts_started += row["started"]
            figures.contracts_due += row["due"]
            figures.contracts_without_followup += row["missing"]
        # 签约率 is a state, not a flow: read at the period's measuring month, not summed.
        if row["month"] == measured:
            for figures in targets_of(row, with_month=False):
                figures.households_signed += row["signed"]
        months[row["month"]].households_signed += row["signed"]

    for row in cells(RiskCell, risk=Sum("members_at_risk"), unknown=Sum("members_without_income")):
        for figures in targets_of(row, with_month=False):
            figures.members_at_risk += row["risk"]
            figures.members_without_income += row["unknown"]

    target_values = targets()
    ordered = [groups[pk] for pk, _ in names]
    for group in ordered:
        group.misses = group.figures.misses(target_values)
    return Board(
        period=period,
        township=township,
        groups=ordered,
        total=total,
        months=months,
        targets=target_values,
        total_misses=total.misses(target_values),
        measured_month=measured,
        stamp=year_stamp(period.year),
    )


# --- the lists behind the figures (live) -----------------------------------------------------------


def uninsured_members(user):
    """Members not counted as insured: 否 and 未知 alike."""
    return members_for(user).exclude(insured=True).order_by("household__number", "id")


def unsigned_households(user, period: Period, *, on: datetime.date | None = None):
    """Households that count for 签约率 without a contract in force on the period's measuring
    day (nothing for a period that has not begun)."""
    month = period.last_month_measured(on or today())
    if month is None:
        return Household.objects.none()
    day = definitions.measuring_day(period.year, month, on or today())
    in_force = signing_contracts().filter(household=OuterRef("pk"), start_date__lte=day, end_date__gte=day)
    return (
        households_for(user)
        .filter(poverty_status__in=definitions.SIGNING_STATUSES)
        .annotate(in_force=Exists(in_force))
        .filter(in_force=False)
    )


def contracts_without_followup(user, period: Period, *, on: datetime.date | None = None):
    """签而不约 of the period: contracts started in it, past their first 90 days, without a
    follow-up in them."""
    cutoff = (on or today()) - datetime.timedelta(days=FIRST_FOLLOWUP_DAYS)
    return (
        roles.scope(contracts_with_first_quarter(), user, "household__village__township_id")
        .filter(start_date__gte=period.start, start_date__lte=min(period.end, cutoff), followed=False)
        .select_related("household__village__township", "team")
        .annotate(member_count=Count("members", distinct=True))
        .order_by("start_date", "id")
    )


def out_of_county_encounters(user, period: Period):
    return (
        roles.scope(
            Encounter.objects.select_related("member__household__village__township", "institution"),
            user,
            "member__household__village__township_id",
        )
        .filter(is_current=True, service_date__gte=period.start, service_date__lte=period.end)
        .exclude(institution__level__in=IN_COUNTY_LEVELS)
        .order_by("service_date", "id")
    )


def poor_inpatient_settlements(user, period: Period):
    """The settlements behind 未脱贫住院患者个人自付比例."""
    return (
        roles.scope(
            Settlement.objects.select_related(
                "member__household__village__township", "institution", "encounter"
            ),
            user,
            "member__household__village__township_id",
        )
        .filter(
            is_current=True,
            year=period.year,
            service_date__gte=period.start,
            service_date__lte=period.end,
            encounter__kind="inpatient",
        )
        # The status on the day of care, as the figures count it (dashboards.services).
        .alias(status_then=facts.poverty_status_on("member__household", "service_date"))
        .filter(status_then__in=definitions.SELF_PAY_POOR_STATUSES)
        .order_by("service_date", "id")
    )


def risk_members(user, year: int, *, without_income: bool = False):
    """因病返贫 risk: members whose current settlements of ``year`` left them more self-pay
    than RISK_INCOME_SHARE of their household's income (as of the last refresh); with
    ``without_income``, those with self-pay whose household has no income recorded."""
    income = F("member__household__annual_income")
    queryset = roles.scope(MemberYearCell.objects.filter(year=year), user, _CELL_TOWNSHIP)
    if without_income:
        queryset = queryset.filter(member__household__annual_income__isnull=True, self_pay__gt=0)
    else:
        queryset = queryset.filter(self_pay__gt=income * definitions.RISK_INCOME_SHARE)
    return queryset.select_related("member__household__village__township").order_by("-self_pay", "member_id")


# --- public notice ------------------------------------------------------------------------------


@dataclass
class NoticeRow:
    settlement_id: int
    masked_name: str
    institution: str
    kind: str
    admission_date: datetime.date
    discharge_date: datetime.date | None
    total_cost: Decimal
    payouts: dict  # fund -> Decimal, in the order of the policy's tiers
    payouts_total: Decimal
    self_pay: Decimal
    current: bool = True
    entry_id: int | None = None
    position: int | None = None
    fund_positions: dict = field(default_factory=dict)  # fund -> its tier's position


def notice_preview(*, village: Village, year: int, month: int) -> list[NoticeRow]:
    """A village's reimbursed patients of a month, from the current settlements (what a
    notice published now would show): two queries."""
    start = datetime.date(year, month, 1)
    settlements = (
        Settlement.objects.filter(
            is_current=True,
            member__household__village=village,
            service_date__gte=start,
            service_date__lte=definitions.month_end(year, month),
            payouts_total__gt=0,
        )
        .select_related("member", "institution", "encounter")
        .prefetch_related(Prefetch("lines", queryset=SettlementLine.objects.order_by("position")))
        .order_by("service_date", "id")
    )
    rows = []
    for settlement in settlements:
        payouts: dict[str, Decimal] = {}
        positions: dict[str, int] = {}
        for line in settlement.lines.all():
            if line.amount:
                payouts[line.fund] = payouts.get(line.fund, _zero()) + line.amount
                positions.setdefault(line.fund, line.position)
        encounter = settlement.encounter
        rows.append(
            NoticeRow(
                settlement_id=settlement.pk,
                masked_name=definitions.mask_name(settlement.member.name),
                institution=settlement.institution.name,
                kind=encounter.kind,
                admission_date=encounter.admission_date,
                discharge_date=encounter.discharge_date,
                total_cost=settlement.total_cost,
                payouts=payouts,
                payouts_total=settlement.payouts_total,
                self_pay=settlement.self_pay,
                fund_positions=positions,
            )
        )
    return rows


def fund_columns(rows) -> list[str]:
    """The payers' columns: every fund that pays on some row, in the order of the policy's
    tiers (basic insurance first), whichever row happens to come first."""
    order: dict[str, int] = {}
    for row in rows:
        for fund in row.payouts:
            order[fund] = min(order.get(fund, 10**6), row.fund_positions.get(fund, 10**6))
    return sorted(order, key=lambda fund: (order[fund], fund))


def notices_for(user):
    return (
        roles.scope(
            Notice.objects.select_related("village__township", "published_by"), user, "village__township_id"
        )
        .annotate(
            entry_count=Count("entries", distinct=True),
            open_objections=Count(
                "objections", filter=Q(objections__resolved_at__isnull=True), distinct=True
            ),
        )
        .order_by("-year", "-month", "village__township__name", "village__name")
    )


def notice_rows(notice: Notice) -> list[NoticeRow]:
    """A published notice's entries, flagged where the settlement has since been replaced."""
    rows = []
    for entry in notice.entries.select_related("settlement").order_by("position"):
        rows.append(
            NoticeRow(
                settlement_id=entry.settlement_id,
                masked_name=entry.masked_name,
                institution=entry.institution,
                kind=entry.kind,
                admission_date=entry.admission_date,
                discharge_date=entry.discharge_date,
                total_cost=entry.total_cost,
                payouts={fund: Decimal(amount) for fund, amount in entry.payouts.items()},
                payouts_total=entry.payouts_total,
                self_pay=entry.self_pay,
                current=entry.settlement.is_current,
                entry_id=entry.pk,
                position=entry.position,
            )
        )
    return rows


def objections_of(notice: Notice):
    return (
        NoticeObjection.objects.filter(notice=notice)
        .select_related("entry", "recorded_by", "resolved_by")
        .order_by("received_on", "id")
    )


def objection_for(user, pk: int) -> NoticeObjection:
    from django.shortcuts import get_object_or_404

    return get_object_or_404(
        roles.scope(
            NoticeObjection.objects.select_related("notice__village"), user, "notice__village__township_id"
        ),
        pk=pk,
    )


# --- fund use -----------------------------------------------------------------------------------


@dataclass
class FundUse:
    year: int
    funds: list[str]
    months: dict  # month -> {fund: Decimal}
    settlements: dict  # month -> int
    self_pay: dict  # month -> Decimal
    tiers: list  # [(tier_name, fund, lines, amount)] of the whole year
    stamp: YearStamp | None


def fund_use(user, year: int, *, township: Township | None = None) -> FundUse:
    """Money each fund paid per month of ``year`` (current settlements, by service month)."""
    months: dict[int, dict] = {month: defaultdict(_zero) for month in range(1, 13)}
    tiers: dict[tuple, list] = defaultdict(lambda: [0, _zero()])
    funds: dict[str, Decimal] = defaultdict(_zero)
    payouts = (
        _scoped_cells(PayoutCell, user, township)
        .filter(year=year)
        .values("month", "tier_name", "fund")
        .annotate(n=Sum("lines"), amount=Sum("amount"))
        .order_by()
    )
    for row in payouts:
        months[row["month"]][row["fund"]] += row["amount"]
        funds[row["fund"]] += row["amount"]
        entry = tiers[(row["tier_name"], row["fund"])]
        entry[0] += row["n"]
        entry[1] += row["amount"]
    settlements = {month: 0 for month in range(1, 13)}
    self_pay = {month: _zero() for month in range(1, 13)}
    for row in (
        _scoped_cells(SettlementCell, user, township)
        .filter(year=year)
        .values("month")
        .annotate(n=Sum("settlements"), own=Sum("self_pay"))
        .order_by()
    ):
        settlements[row["month"]] = row["n"]
        self_pay[row["month"]] = row["own"]
    ordered_funds = [fund for fund, _ in sorted(funds.items(), key=lambda item: -item[1])]
    tier_rows = sorted(
        ((name, fund, n, amount) for (name, fund), (n, amount) in tiers.items()), key=lambda row: -row[3]
    )
    return FundUse(
        year=year,
        funds=ordered_funds,
        months=months,
        settlements=settlements,
        self_pay=self_pay,
        tiers=tier_rows,
        stamp=year_stamp(year),
    )


# --- 因病致贫 survey ----------------------------------------------------------------------------


@dataclass
class SurveyRow:
    member: Member
    illnesses: list
    total_cost: Decimal | None
    basic_insurance: Decimal | None
    catastrophic_insurance: Decimal | None
    medical_aid: Decimal | None
    other: Decimal | None
    self_pay: Decimal | None
    from_settlements: bool

    @property
    def first(self):
        return self.illnesses[0]

    @property
    def diagnoses(self) -> str:
        return "；".join(record.diagnosis_name for record in self.illnesses)

    @property
    def result(self) -> str:
        results = [record.result for record in self.illnesses if record.result]
        return "；".join(results) if results else self.illnesses[-1].get_status_display()


def survey_members(user):
    """Members with at least one illness record (one survey row each)."""
    has_illness = IllnessRecord.objects.filter(member=OuterRef("pk"))
    return (
        members_for(user)
        .filter(Exists(has_illness))
        .order_by("household__village__township__name", "household__village__name", "household__number", "id")
    )


def survey_rows(members, year: int) -> list[SurveyRow]:
    """The survey figures of ``members`` (a page, or all for the export) in ``year``: from
    their current settlements by tier kind; a member without any keeps the figures entered
    by hand on the illness records. Three queries whatever the number of members."""
    members = list(members)
    ids = [member.pk for member in members]
    illnesses = defaultdict(list)
    for record in (
        IllnessRecord.objects.filter(member_id__in=ids)
        .select_related("diagnosed_at")
        .order_by("diagnosed_on", "id")
    ):
        illnesses[record.member_id].append(record)
    settled = {
        row["member_id"]: row
        for row in Settlement.objects.filter(is_current=True, year=year, member_id__in=ids)
        .values("member_id")
        .annotate(cost=Sum("total_cost"), own=Sum("self_pay"))
        .order_by()
    }
    by_kind = defaultdict(lambda: defaultdict(_zero))
    for row in (
        SettlementLine.objects.filter(
            settlement__is_current=True, settlement__year=year, settlement__member_id__in=ids
        )
        .values("settlement__member_id", "tier_kind")
        .annotate(amount=Sum("amount"))
        .order_by()
    ):
        kind = row["tier_kind"] if row["tier_kind"] in definitions.SURVEY_TIER_KINDS else "other"
        by_kind[row["settlement__member_id"]][kind] += row["amount"]
    rows = []
    for member in members:
        records = illnesses[member.pk]
        if not records:
            continue
        if member.pk in settled:
            kinds = by_kind[member.pk]
            rows.append(
                SurveyRow(
                    member,
                    records,
                    settled[member.pk]["cost"],
                    kinds["basic_insurance"],
                    kinds["catastrophic_insurance"],
                    kinds["medical_aid"],
                    kinds["other"],
                    settled[member.pk]["own"],
                    True,
                )
            )
        else:

            def hand(name):
                values = [getattr(record, name) for record in records if getattr(record, name) is not None]  # noqa: B023
                return sum(values, _zero()) if values else None

            rows.append(
                SurveyRow(
                    member,
                    records,
                    hand("total_cost"),
                    hand("basic_insurance"),
                    hand("catastrophic_insurance"),
                    hand("civil_aid"),
                    None,
                    hand("self_pay"),
                    False,
                )
            )
    return rows


ILLNESS_STATES = {
    "all": None,
    "treating": definitions.TREATING_ILLNESS_STATUSES,
    "treated": definitions.TREATED_ILLNESS_STATUSES,
}


def illnesses_in_period(user, period: Period, state: str = "all"):
    """Illness records diagnosed in the period (救治率's denominator), or those of them in a
    state of ILLNESS_STATES."""
    queryset = illnesses_for(user).filter(diagnosed_on__gte=period.start, diagnosed_on__lte=period.end)
    statuses = ILLNESS_STATES[state]
    if statuses:
        queryset = queryset.filter(status__in=statuses)
    return queryset.order_by("diagnosed_on", "id")
