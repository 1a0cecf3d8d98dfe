"""Settling members' years in bulk: the one unit of work behind every path.

An encounter entered on a page, a clinic's import, a registry change and a county-wide batch
all end in ``settle_members(member_ids, year)``: it loads the members' current encounters of
the year in one query, settles them all from zero with the year's active policy (one engine
call: the yearly accumulators need every encounter of the member-year), compares the outcome
with the stored current settlements (one query for settlements, one for their lines, one for
problems) and writes only what changed, in bulk. The caller holds the transaction and the
member-years' advisory locks (``lock_member_years``), so a retried or duplicated task finds
everything unchanged and writes nothing.

Also here: ``simulate_members`` (the same load and engine call, nothing written) and
``Outcome``, the figures a simulation compares.
"""

from __future__ import annotations

import datetime
import itertools
import operator
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection
from django.db.models import BigIntegerField, F
from django.db.models.functions import Cast
from django.utils import timezone

from claims.models import Encounter, EncounterItem
from core import bulk
from core.bulk import fetch_rows, fetch_rows_in, fetch_rows_of  # noqa: F401 (fetch_rows: settlement.selectors uses it from here)
from core.lookups import Ids
from registry import facts

from . import engine
from .models import Policy, PolicyStatus, Settlement, SettlementLine, SettlementProblem

Reason = SettlementProblem.Reason

# --- policies ----------------------------------------------------------------------------------

_compiled: dict[int, tuple] = {}


def compiled_policy(policy: Policy) -> engine.CompiledPolicy:
    """``policy`` compiled once per process and version (id, updated_at): compiling validates
    the whole document, and a compiled policy's plan cache warms up over the first encounters."""
    hit = _compiled.get(policy.pk)
    if hit is not None and hit[0] == policy.updated_at:
        return hit[1]
    compiled = engine.compile_policy(policy.document)
    if len(_compiled) > 32:
        _compiled.clear()
    _compiled[policy.pk] = (policy.updated_at, compiled)
    return compiled


_versions: dict[int, tuple] = {}


def policy_version(policy: Policy) -> int:
    """``policy``'s version (how many history records it has: each save adds one and moves
    ``updated_at``), counted once per process and (id, updated_at) like ``compiled_policy``."""
    hit = _versions.get(policy.pk)
    if hit is not None and hit[0] == policy.updated_at:
        return hit[1]
    version = policy.history.filter(id=policy.pk).count()
    if len(_versions) > 32:
        _versions.clear()
    _versions[policy.pk] = (policy.updated_at, version)
    return version


def active_policy(year: int) -> Policy | None:
    return Policy.objects.filter(year=year, status=PolicyStatus.ACTIVE).first()


# --- locks and loading ----------------------------------------------------------------------


def lock_member_years(member_ids, year: int) -> None:
    """Serialise all work on each (member, year) until the caller's transaction ends:
    PostgreSQL advisory locks, taken in ascending member order so that overlapping batches
    cannot deadlock. SQLite lets one writer at a time in anyway."""
    if connection.vendor != "postgresql" or not member_ids:
        return
    # (No ``synchronous_commit = off`` here: a committed settlement is money owed and must
    # survive a crash of the database; a run commits once per chunk, so waiting for the WAL
    # flush costs a few milliseconds per chunk.)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(m, %s) FROM unnest(%s::integer[]) AS m", [year, sorted(member_ids)]
        )


def members_in(field: str, member_ids) -> dict:
    """Lookups for ``field`` (a member id column) among ``member_ids``: ``field = ANY(ids)``
    and between the smallest and the largest id. The bounds are what the planner can estimate
    (an array looks like a handful of rows to it): with them it reads a chunk's members — a
    slice of the sorted ids — through the member index instead of scanning the whole table.
    ``any_of`` (``core.lookups``: ``= ANY(ids)``, hashed by PostgreSQL) rather than
    ``IN (SELECT unnest(…))``: with the table's statistics stale after a year's COPY, the
    sub-select was planned as a nested loop that re-scanned 5,000 ids per settlement line of
    a simulation's stored side (2.9 s instead of 45 ms for one chunk). The list goes as
    ``Ids`` (``core.lookups``), which the ORM does not walk id by id."""
    ids = list(member_ids)
    if not ids:
        return {f"{field}__any_of": []}
    return {f"{field}__any_of": Ids(ids), f"{field}__gte": min(ids), f"{field}__lte": max(ids)}


def year_bounds(year: int) -> tuple[datetime.date, datetime.date]:
    return datetime.date(year, 1, 1), datetime.date(year, 12, 31)


# Positions in an encounter row from ``load_claims``; amounts are int cents.
(
    E_ID,
    E_MEMBER,
    E_DATE,
    E_KIND,
    E_LEVEL,
    E_DESIGNATED,
    E_REFERRED,
    E_TOTAL,
    E_IN_POLICY,
    E_DIAGNOSIS,
    E_PACKAGE,
    E_INSTITUTION,
    E_SUPERSEDES,
) = range(13)
_ENCOUNTER_VALUES = (
    "id",
    "member_id",
    "service_date",
    "kind",
    "institution__level",
    "institution__designated",
    "referred",
    "total_cost",
    "in_policy_cost",
    "diagnosis_code",
    "package",
    "institution_id",
    "supersedes_id",
)
# What a simulation needs (it stores nothing, so no institution or correction).
_SIMULATION_VALUES = _ENCOUNTER_VALUES[:E_INSTITUTION]


def in_cents(expression) -> tuple:
    """(``expression`` — yuan, NUMERIC — to select as int cents, converter of the value read).
    PostgreSQL computes the cents itself (exact NUMERIC arithmetic; psycopg2 then reads a
    plain int instead of building a Decimal); elsewhere the Decimal is read and converted."""
    if connection.vendor == "postgresql":
        return Cast(expression * 100, BigIntegerField()), None
    return expression, _cents


def load_claims(member_ids, year: int, values=_ENCOUNTER_VALUES) -> tuple[facts.YearFacts, list[tuple]]:
    """``(the members' facts through the year, encounter rows)``: the facts as
    ``registry.facts.year_facts`` loads them (one query, dated facts only for the few members
    whose facts may change during the year), and the members' current encounters
    whose service date is in ``year``, by member, then in (service_date, id) order — the order
    the engine settles a member's encounters in (ties: entry order). Amounts in int cents;
    ``values`` is a prefix of ``_ENCOUNTER_VALUES``."""
    return facts.year_facts(member_ids, year), _encounter_rows(member_ids, year, values)


def _encounter_rows(member_ids, year: int, values=_ENCOUNTER_VALUES) -> list[tuple]:
    _, convert = in_cents(F("total_cost"))
    first, last = year_bounds(year)

    def query(*, ids, low, high, first, last):
        total, _ = in_cents(F("total_cost"))
        in_policy, _ = in_cents(F("in_policy_cost"))
        names = [{"total_cost": "total_cents", "in_policy_cost": "in_policy_cents"}.get(v, v) for v in values]
        return (
            Encounter.objects.filter(
                member_id__any_of=ids,
                member_id__gte=low,
                member_id__lte=high,
                is_current=True,
                service_date__range=(first, last),
            )
            .annotate(total_cents=total, in_policy_cents=in_policy)
            .order_by("member_id", "service_date", "id")
            .values_list(*names)
        )

    # Built and compiled once per process (the window settles one member-year per request).
    rows = fetch_rows_in(
        f"settlement.encounter_rows:{','.join(values)}",
        query,
        sorted(set(member_ids)),
        first=first,
        last=last,
    )
    if convert is None:
        return rows
    return [(*r[:E_TOTAL], convert(r[E_TOTAL]), convert(r[E_IN_POLICY]), *r[E_IN_POLICY + 1 :]) for r in rows]


_engine_members: dict[tuple, engine.Member] = {}


def engine_member(poverty_status: str, aid_category: str) -> engine.Member:
    """The engine's view of a registry member. Household statuses are poor / lifted /
    monitored, the engine's codes too (every registered household is 建档立卡, so the engine's
    ``none`` only occurs in previews of people outside the registry)."""
    key = (poverty_status, aid_category)
    member = _engine_members.get(key)
    if member is None:
        member = _engine_members[key] = engine.Member(
            poverty_status=poverty_status, aid_category=aid_category
        )
    return member


def engine_encounter(row: tuple) -> engine.Encounter:
    """A row as a fully validated ``engine.Encounter`` (names what is wrong with a bad row)."""
    return engine.Encounter(
        ref=str(row[E_ID]),
        member=row[E_MEMBER],
        date=row[E_DATE],
        kind=row[E_KIND],
        level=row[E_LEVEL],
        designated=row[E_DESIGNATED],
        referred=row[E_REFERRED],
        total_cost=Decimal(row[E_TOTAL]).scaleb(-2),
        in_policy_cost=Decimal(row[E_IN_POLICY]).scaleb(-2),
        disease_code=row[E_DIAGNOSIS] or None,
        package=row[E_PACKAGE] or None,
    )


def problem_detail(reason: str, *, year: int, insured=None, error: str = "") -> str:
    if reason == Reason.NO_POLICY:
        return f"{year}年度没有生效的结算政策：请县级工作人员导入并启用{year}年度政策，启用后自动结算。"
    if reason == Reason.NOT_INSURED:
        state = "登记为未参保" if insured is False else "参保情况未登记"
        return (
            f"患者{year}年度{state}。一站式结算以参加城乡居民基本医疗保险为前提；核实后登记该年度参保情况，"
            "系统将自动重新结算。"
        )
    return f"就诊数据无法结算：{error}"


def exit_detail(left_on: datetime.date) -> str:
    return (
        f"患者已于{left_on:%Y-%m-%d}减员（死亡、迁出等），之后的就诊不在本县一站式结算；"
        "如减员登记有误，请在成员信息中更正。"
    )


def member_year_facts(book: facts.YearFacts, member_id: int):
    """``(engine member, dated)`` for one member-year: the engine member carries the facts of
    the year's first day; ``dated`` is True when poverty status or aid category changes during
    the year (or the member left the record), so that each encounter must carry its own day's
    facts (``encounter_facts``)."""
    return engine_member(*book.start(member_id)), member_id in book.dated


def encounter_facts(book: facts.YearFacts, member_id: int, day: datetime.date) -> dict:
    """The engine's per-encounter facts (``trusted_row`` keywords) on ``day``."""
    return {
        "poverty_status": book.poverty_status(member_id, day),
        "aid_category": book.aid_category(member_id, day),
    }


def _claims_for_engine(policy, book: facts.YearFacts, rows, year):
    """(engine groups ``[(engine member, [trusted row, …]), …]`` for ``engine.settle_sorted``,
    the settleable rows in the same order, {encounter id: (reason, detail)}). ``rows`` come
    from ``load_claims`` (by member, in settlement order). The database's constraints already
    hold what ``engine.Encounter`` would check again (amounts of two decimals, 0 ≤ in-policy ≤
    total, known kinds), so rows become the engine's trusted rows directly; a row the engine
    still refuses (an unknown institution level) gets the validated path's message.

    Facts are those of the day of care (``book``: dated registry facts): insured by the year's
    enrollment; poverty status and aid category on the encounter's date — carried by each row
    only for the few members whose facts change during the year (``member_year_facts``); an
    encounter after the member left the record is not settled."""
    problems, groups, settleable = {}, [], []
    trusted_row = engine.trusted_row
    current, group, member, dated, insured = None, None, None, False, None
    no_facts = {}
    for row in rows:
        member_id = row[E_MEMBER]
        if policy is None:
            problems[row[E_ID]] = (Reason.NO_POLICY, problem_detail(Reason.NO_POLICY, year=year))
            continue
        if member_id != current:
            current, group = member_id, None
            member, dated = member_year_facts(book, member_id)
            insured = book.insured(member_id)
        if insured is not True:
            # Not enrolled (or not known to be): basic insurance pays only its own insured, and
            # every later tier is defined on what basic insurance left. Staff must check first.
            problems[row[E_ID]] = (
                Reason.NOT_INSURED,
                problem_detail(Reason.NOT_INSURED, year=year, insured=insured),
            )
            continue
        day_facts = no_facts
        if dated:
            left_on = book.exited_before(member_id, row[E_DATE])
            if left_on is not None:
                problems[row[E_ID]] = (Reason.INVALID, exit_detail(left_on))
                continue
            day_facts = encounter_facts(book, member_id, row[E_DATE])
        try:
            trusted = trusted_row(
                row[E_ID],
                row[E_KIND],
                row[E_LEVEL],
                row[E_DESIGNATED],
                row[E_REFERRED],
                year,
                row[E_TOTAL],
                row[E_IN_POLICY],
                row[E_DIAGNOSIS],
                row[E_PACKAGE],
                **day_facts,
            )
        except ValueError as refused:
            exc = refused
            try:
                engine_encounter(row)
            except ValueError as precise:
                exc = precise
            problems[row[E_ID]] = (Reason.INVALID, problem_detail(Reason.INVALID, year=year, error=str(exc)))
            continue
        if group is None:
            group = []
            groups.append((member, group))
        group.append(trusted)
        settleable.append(row)
    return groups, settleable, problems


# --- the unit of work ---------------------------------------------------------------------------


def _cents(amount) -> int:
    return int(amount.scaleb(2))


@dataclass
class SettleResult:
    """What a settlement of member-years did. Additive (chunks of a run are merged); amounts in
    cents. ``refund_*``: patients whose self-pay went down (退还), ``charge_*``: up (补收), per
    patient net over the re-settled encounters; ``funds``: per fund [补付 top-up, 收回 recovered]."""

    member_years: int = 0
    encounters: int = 0
    settled: int = 0
    resettled: int = 0
    unchanged: int = 0
    retired: int = 0
    problems: int = 0
    refund_patients: int = 0
    refund_cents: int = 0
    charge_patients: int = 0
    charge_cents: int = 0
    funds: dict = field(default_factory=dict)

    @property
    def written(self) -> int:
        return self.settled + self.resettled + self.retired

    def add(self, other: SettleResult) -> SettleResult:
        for name in (
            "member_years",
            "encounters",
            "settled",
            "resettled",
            "unchanged",
            "retired",
            "problems",
            "refund_patients",
            "refund_cents",
            "charge_patients",
            "charge_cents",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for fund, (up, down) in other.funds.items():
            mine = self.funds.setdefault(fund, [0, 0])
            mine[0] += up
            mine[1] += down
        return self

    def to_json(self) -> dict:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, data: dict) -> SettleResult:
        return cls(**{**data, "funds": {k: list(v) for k, v in data.get("funds", {}).items()}})

    def summary(self) -> dict:
        """The run's result as shown to staff: counts, and yuan as two-decimal strings."""
        money = engine.format_cents
        return {
            "member_years": self.member_years,
            "encounters": self.encounters,
            "settled": self.settled,
            "resettled": self.resettled,
            "unchanged": self.unchanged,
            "retired": self.retired,
            "problems": self.problems,
            "patients_with_difference": self.refund_patients + self.charge_patients,
            "refund_patients": self.refund_patients,
            "refund_total": money(self.refund_cents),
            "charge_patients": self.charge_patients,
            "charge_total": money(self.charge_cents),
            "funds": {
                fund: {"top_up": money(up), "recovered": money(-down)}
                for fund, (up, down) in sorted(self.funds.items())
            },
        }


@dataclass(slots=True)
class _Stored:
    """A stored settlement as far as the comparison needs it (amounts in cents)."""

    id: int
    encounter_id: int
    member_id: int
    institution_id: int
    service_date: datetime.date
    total: int
    in_self: int
    out_self: int
    lines: dict = field(default_factory=dict)  # tier key -> (amount, kind, name, fund), non-zero only


def _load_stored(**filters) -> dict[int, _Stored]:
    """Settlements (with their non-zero lines) matching ``filters``, by encounter id; when an
    encounter has several, the latest wins."""
    stored = {}
    by_id = {}
    for values in (
        Settlement.objects.filter(**filters)
        .order_by("id")
        .values_list(
            "id",
            "encounter_id",
            "member_id",
            "institution_id",
            "service_date",
            "total_cost",
            "in_policy_self_pay",
            "out_of_policy_self_pay",
        )
    ):
        s = _Stored(
            values[0],
            values[1],
            values[2],
            values[3],
            values[4],
            _cents(values[5]),
            _cents(values[6]),
            _cents(values[7]),
        )
        stored[s.encounter_id] = by_id[s.id] = s
    if by_id:
        for settlement_id, key, kind, name, fund, amount in (
            SettlementLine.objects.filter(settlement_id__any_of=Ids(list(by_id)))
            .exclude(amount=0)
            .values_list("settlement_id", "tier_key", "tier_kind", "tier_name", "fund", "amount")
        ):
            by_id[settlement_id].lines[key] = (_cents(amount), kind, name, fund)
    return stored


def _predecessors(wanted: dict[int, int], stored: dict[int, _Stored]) -> dict[int, _Stored]:
    """For new encounters that correct an older one (``{encounter id: supersedes id}``), the
    settlement the correction replaces: the latest not yet superseded along the chain of
    corrected encounters (a correction of a correction that was never settled reaches back)."""
    found = {}
    frontier = dict(wanted)
    for _ in range(50):  # chains of corrections are short; never loop forever
        if not frontier:
            break
        look = {}
        for pk, older in frontier.items():
            if older in stored:
                found[pk] = stored[older]
            else:
                look[pk] = older
        if not look:
            break
        settled = _load_stored(encounter_id__in=set(look.values()), superseded_by__isnull=True)
        parents = dict(
            Encounter.objects.filter(pk__in=[o for o in look.values() if o not in settled]).values_list(
                "pk", "supersedes_id"
            )
        )
        frontier = {}
        for pk, older in look.items():
            if older in settled:
                found[pk] = settled[older]
            elif parents.get(older):
                frontier[pk] = parents[older]
    return found


SETTLEMENT_FIELDS = (
    "encounter_id",
    "member_id",
    "institution_id",
    "year",
    "service_date",
    "policy_id",
    "policy_version",
    "total_cost",
    "payouts_total",
    "self_pay",
    "in_policy_self_pay",
    "out_of_policy_self_pay",
    "is_current",
    "superseded_by_id",
    "self_pay_difference",
    "computed_at",
    "task_id",
    "run_id",
)
LINE_FIELDS = (
    "settlement_id",
    "position",
    "tier_key",
    "tier_kind",
    "tier_name",
    "fund",
    "amount",
    "difference",
)


@bulk.gc_paused()
def settle_members(member_ids, year: int, *, run_id: int | None = None, task_id: str = "") -> SettleResult:
    """Settle the members' encounters of ``year`` and store what changed. Call inside a
    transaction, after ``lock_member_years(member_ids, year)``.

    * Unchanged outcome (same amounts per tier and fund, same member, institution, date):
      the stored settlement is left untouched, whatever policy version computed it.
    * Changed: a new current settlement supersedes the old one (kept, ``is_current`` false,
      ``superseded_by`` set); each line's ``difference`` is new − old (positive: 补付 by the
      fund) and ``self_pay_difference`` new − old (negative: 退还 to the patient). A tier that
      paid before and pays nothing now keeps a zero line carrying its negative difference.
    * A correction (``Encounter.supersedes``) settled for the first time supersedes the
      corrected encounter's settlement the same way.
    * No active policy for the year, or the member not registered as insured: a
      SettlementProblem and no new settlement (an existing one is kept: money already paid is
      not reversed silently); the problem goes once the encounter settles.
    * A current settlement of an encounter that is no longer current (it was corrected) or no
      longer in this member-year stops being current.
    Zero payouts are not stored as lines; the policy's tier list gives them back on display.
    """
    member_ids = sorted(set(member_ids))
    result = SettleResult(member_years=len(member_ids))
    policy = active_policy(year)
    members, rows = load_claims(member_ids, year)
    result.encounters = len(rows)
    stored = _load_stored(**members_in("member_id", member_ids), year=year, is_current=True)
    rows, deducted = _with_bills(policy, rows, year)
    groups, settleable, problems = _claims_for_engine(policy, members, rows, year)

    fresh = []  # [row, engine settlement, non-zero payouts or None, previous or None]
    if settleable:
        compiled = compiled_policy(policy)
        tiers = compiled.tiers
        for row, settled in zip(settleable, engine.settle_sorted(compiled, groups)):
            old = stored.get(row[E_ID]) if stored else None
            if old is None:
                fresh.append([row, settled, None, None])  # lines straight from payout_cents
                continue
            payouts = _payouts(tiers, settled)
            if (
                old.lines == payouts
                and old.total == settled.total_cost_cents
                and old.in_self == settled.in_policy_self_pay_cents
                and old.out_self == settled.out_of_policy_self_pay_cents
                and old.member_id == row[E_MEMBER]
                and old.institution_id == row[E_INSTITUTION]
                and old.service_date == row[E_DATE]
            ):
                result.unchanged += 1
                continue
            fresh.append([row, settled, payouts, old])
        corrections = {
            row[E_ID]: row[E_SUPERSEDES]
            for row, _, _, old in fresh
            if old is None and row[E_SUPERSEDES] is not None
        }
        if corrections:
            found = _predecessors(corrections, stored)
            for item in fresh:
                if item[3] is None:
                    item[3] = found.get(item[0][E_ID])

    loaded = {row[E_ID] for row in rows}
    replaced = {item[3].id for item in fresh if item[3] is not None}
    stale = [s.id for s in stored.values() if s.encounter_id not in loaded and s.id not in replaced]
    result.retired = len(stale)
    if replaced or stale:
        # Before the new rows go in: one current settlement per encounter.
        Settlement.objects.filter(pk__any_of=Ids([*replaced, *stale])).update(is_current=False)
    if fresh:
        _write(fresh, compiled, policy, year, run_id, task_id, result)
        if deducted:
            _store_deducted(deducted)
    _sync_problems(member_ids, year, problems)
    result.problems = len(problems)
    return result


# --- itemised bills (费用明细) -------------------------------------------------------------------


def _with_bills(policy, rows, year: int) -> tuple[list[tuple], dict[int, int]]:
    """(``rows`` with each itemised encounter's total and in-policy cents replaced by its bill
    under the policy's catalogue — ``CompiledPolicy.bill``: the net total and the in-policy cost
    —, {encounter id: deducted cents} of the itemised ones). One query for the rows' items; rows
    of encounters without items are passed on as they are (the fast path). ``rows``: current
    encounters of ``year`` by member (``load_claims``)."""
    if policy is None or not rows:
        return rows, {}
    lines = _bill_lines(
        [row[E_ID] for row in rows], members=(rows[0][E_MEMBER], rows[-1][E_MEMBER]), year=year
    )
    if not lines:
        return rows, {}
    return _apply_bills(compiled_policy(policy), rows, lines)


def _bill_lines(encounter_ids, *, members=None, year=None) -> dict[int, list[tuple]]:
    """{encounter id: [(class, category or None, amount cents, deducted cents), …]} of the
    itemised encounters among ``encounter_ids`` (one query, built once per process:
    ``fetch_rows_of``). With ``members`` (lowest, highest id) and ``year``, when the
    encounters are current ones of ``year`` of members in that range (a chunk's): the items are
    found through the range instead of the list of ids, which costs the database ~10 ms per
    7,000 ids to read and plan even when nothing is itemised."""
    _, convert = in_cents(F("amount"))
    wanted = set(encounter_ids)
    if members is None:
        rows = fetch_rows_of("settlement.bill_lines", _bill_lines_query, ids=list(wanted))
    else:
        first, last = year_bounds(year)
        rows = fetch_rows_of(
            "settlement.bill_lines_of_members",
            _bill_lines_of_members_query,
            low=members[0],
            high=members[1],
            first=first,
            last=last,
        )
    lines = defaultdict(list)
    for encounter_id, item_class, category, cents, deducted_cents in rows:
        if encounter_id not in wanted:
            continue  # (the range holds other members too)
        if convert is not None:
            cents, deducted_cents = convert(cents), convert(deducted_cents)
        lines[encounter_id].append((item_class, category or None, cents, deducted_cents))
    return lines


def _bill_lines_query(*, ids):
    return _bill_lines_rows(EncounterItem.objects.filter(encounter_id__any_of=ids))


def _bill_lines_of_members_query(*, low, high, first, last):
    return _bill_lines_rows(
        EncounterItem.objects.filter(
            encounter__member_id__gte=low,
            encounter__member_id__lte=high,
            encounter__is_current=True,
            encounter__service_date__range=(first, last),
        )
    )


def _bill_lines_rows(items):
    amount, _ = in_cents(F("amount"))
    deducted, _ = in_cents(F("deducted"))
    return (
        items.annotate(amount_cents=amount, deducted_cents=deducted)
        .order_by("encounter_id", "position")
        .values_list("encounter_id", "item_class", "category", "amount_cents", "deducted_cents")
    )


def _apply_bills(compiled, rows, lines) -> tuple[list[tuple], dict[int, int]]:
    out, deducted_of = [], {}
    for row in rows:
        bill = lines.get(row[E_ID])
        if bill is None:
            out.append(row)
            continue
        total, in_policy, deducted_of[row[E_ID]] = compiled.bill(bill)
        out.append((*row[:E_TOTAL], total, in_policy, *row[E_IN_POLICY + 1 :]))
    return out, deducted_of


def _billed_member_rows(member_ids, year: int, compiled) -> dict[int, list[tuple]]:
    """For a simulation: {member id: all the member's trusted rows of ``year``, itemised bills
    under ``compiled``'s catalogue} for the members that have itemised encounters (one query,
    empty without items; then those members' claims are loaded again with their items)."""
    wanted = set(member_ids)
    if not wanted:
        return {}
    # By the range of ids only (a chunk's members are a slice of the patients): without the
    # list of ids the query is planned in a fraction of a millisecond, and it finds nothing at
    # once when no encounter of the range is itemised — the usual case.
    itemised = sorted(
        wanted.intersection(
            EncounterItem.objects.filter(
                encounter__member_id__gte=min(wanted),
                encounter__member_id__lte=max(wanted),
                encounter__is_current=True,
                encounter__service_date__range=year_bounds(year),
            )
            .order_by()
            .values_list("encounter__member_id", flat=True)
            .distinct()
        )
    )
    if not itemised:
        return {}
    rows = _encounter_rows(itemised, year, _SIMULATION_VALUES)
    rows, _ = _apply_bills(compiled, rows, _bill_lines([row[E_ID] for row in rows]))
    out = defaultdict(list)
    for row in _member_rows(rows, year):
        out[row[0]].append(row)
    return out


def _store_deducted(deducted: dict[int, int]) -> None:
    """Σ deducted on the current settlements of itemised encounters that have none yet (the
    settlements just written: COPY leaves the column empty)."""
    values = {
        pk: Decimal(deducted[encounter_id]).scaleb(-2)
        for pk, encounter_id in Settlement.objects.filter(
            encounter_id__any_of=Ids(list(deducted)), is_current=True, deducted__isnull=True
        ).values_list("pk", "encounter_id")
    }
    bulk.update_column(Settlement, "deducted", values)


def _payouts(tiers, settled) -> dict:
    """A settlement's non-zero payouts as stored lines compare: tier key -> (cents, kind, name, fund)."""
    return {t.key: (pay, t.kind, t.name, t.fund) for t, pay in zip(tiers, settled.payout_cents) if pay}


# The amounts of a settlement and of a line, given to ``bulk.insert`` as int cents.
SETTLEMENT_CENTS = (
    "total_cost",
    "payouts_total",
    "self_pay",
    "in_policy_self_pay",
    "out_of_policy_self_pay",
    "self_pay_difference",
)
LINE_CENTS = ("amount", "difference")


def _write(fresh, compiled, policy, year, run_id, task_id, result: SettleResult) -> None:
    """Settlements and their lines with two COPYs. The rows are generators of plain tuples
    (amounts in int cents, strings made COPY-safe once), consumed while COPY runs
    (``bulk.insert``): PostgreSQL inserts the first ones while the next are made."""
    now = timezone.now()
    version = policy_version(policy)
    safe = bulk.text_safe
    # Values every row shares, and dates (a year has 365), converted once.
    dates = {}
    policy_part = (policy.pk, version)
    tail = (str(now), safe(task_id), bulk.NULL if run_id is None else run_id)

    def settlement_rows():
        for row, settled, _, old in fresh:
            in_self, out_self = settled.in_policy_self_pay_cents, settled.out_of_policy_self_pay_cents
            self_pay = in_self + out_self
            total = settled.total_cost_cents
            date = dates.get(row[E_DATE])
            if date is None:
                date = dates[row[E_DATE]] = row[E_DATE].isoformat()
            yield (
                row[E_ID],
                row[E_MEMBER],
                row[E_INSTITUTION],
                year,
                date,
                *policy_part,
                total,
                total - self_pay,
                self_pay,
                in_self,
                out_self,
                True,
                bulk.NULL,
                self_pay - old.in_self - old.out_self if old is not None else 0,
                *tail,
            )

    ids = bulk.insert(
        Settlement,
        SETTLEMENT_FIELDS,
        settlement_rows(),
        text_ready=True,
        count=len(fresh),
        cents=SETTLEMENT_CENTS,
    )

    position = {t.key: i for i, t in enumerate(compiled.tiers, start=1)}
    tier_of = {t.key: t for t in compiled.tiers}
    # (position, key, kind, name, fund) per tier, policy order, COPY-safe: the head of a new line.
    heads = [
        (i, safe(t.key), safe(t.kind), safe(t.name), safe(t.fund))
        for i, t in enumerate(compiled.tiers, start=1)
    ]
    links, nets = {}, defaultdict(int)

    def line_rows():
        # Also counts what the run reports (settled, re-settled, per fund, per patient).
        for settlement_id, (row, settled, payouts, old) in zip(ids, fresh):
            if old is None:
                result.settled += 1
                for head, amount in zip(heads, settled.payout_cents):
                    if amount:
                        yield (settlement_id, *head, amount, 0)
                continue
            result.resettled += 1
            links[old.id] = settlement_id
            if payouts is None:
                payouts = _payouts(compiled.tiers, settled)
            changes = [
                (key, amount, kind, name, fund, amount - old.lines.get(key, (0,))[0])
                for key, (amount, kind, name, fund) in payouts.items()
            ]
            # A tier that paid before and pays nothing now: a zero line carries its difference.
            for key in [k for k in old.lines if k not in payouts]:
                before, kind, name, fund = old.lines[key]
                tier = tier_of.get(key)
                if tier is not None:
                    kind, name, fund = tier.kind, tier.name, tier.fund
                changes.append((key, 0, kind, name, fund, -before))
            for key, amount, kind, name, fund, difference in changes:
                yield (
                    settlement_id,
                    position.get(key) or _extra_position(position, key, old),
                    safe(key),
                    safe(kind),
                    safe(name),
                    safe(fund),
                    amount,
                    difference,
                )
                if difference:
                    pair = result.funds.setdefault(fund, [0, 0])
                    pair[0 if difference > 0 else 1] += difference
            nets[row[E_MEMBER]] += (
                settled.in_policy_self_pay_cents
                + settled.out_of_policy_self_pay_cents
                - old.in_self
                - old.out_self
            )

    bulk.insert(SettlementLine, LINE_FIELDS, line_rows(), return_ids=False, text_ready=True, cents=LINE_CENTS)
    bulk.update_column(Settlement, "superseded_by_id", links)
    for net in nets.values():
        if net < 0:
            result.refund_patients += 1
            result.refund_cents -= net
        elif net > 0:
            result.charge_patients += 1
            result.charge_cents += net


def _extra_position(position: dict, key: str, old: _Stored) -> int:
    """Where a line of a tier the policy no longer has goes: after the policy's tiers, in the
    order of the old settlement's lines."""
    gone = [k for k in old.lines if k not in position]
    return len(position) + 1 + gone.index(key)


def _problems_query(*, ids, low, high, first, last):
    return SettlementProblem.objects.filter(
        encounter__member_id__any_of=ids,
        encounter__member_id__gte=low,
        encounter__member_id__lte=high,
        encounter__service_date__range=(first, last),
    ).values_list("pk", "encounter_id", "reason", "detail")


def _sync_problems(member_ids, year: int, wanted: dict) -> None:
    """Make the stored problems of these member-years exactly ``wanted``, writing only changes
    (a re-run that finds the same problems writes nothing)."""
    first, last = year_bounds(year)
    existing = {
        encounter_id: (pk, reason, detail)
        for pk, encounter_id, reason, detail in fetch_rows_in(
            "settlement.problems", _problems_query, sorted(set(member_ids)), first=first, last=last
        )
    }
    create, update = [], []
    for encounter_id, (reason, detail) in wanted.items():
        have = existing.get(encounter_id)
        if have is None:
            create.append(SettlementProblem(encounter_id=encounter_id, reason=reason, detail=detail))
        elif have[1:] != (reason, detail):
            update.append(
                SettlementProblem(
                    pk=have[0],
                    encounter_id=encounter_id,
                    reason=reason,
                    detail=detail,
                    noticed_at=timezone.now(),
                )
            )
    gone = [pk for encounter_id, (pk, _, _) in existing.items() if encounter_id not in wanted]
    if gone:
        SettlementProblem.objects.filter(pk__in=gone).delete()
    if create:
        SettlementProblem.objects.bulk_create(create, batch_size=500)
    if update:
        SettlementProblem.objects.bulk_update(update, ["reason", "detail", "noticed_at"], batch_size=500)


# --- simulation ---------------------------------------------------------------------------------

SELF_PAY_BANDS = (
    (0, "0"),
    (100000, "≤1000"),
    (300000, "≤3000"),
    (500000, "≤5000"),
    (1000000, "≤10000"),
    (None, ">10000"),
)


def backstop_threshold(document: dict) -> int | None:
    """The yearly self-pay limit a simulation counts poor patients above, in cents: the
    ``self_pay_cap`` of the policy's first backstop tier for the ``county`` level (its
    ``by_level`` entry, else its ``amount``, else its first ``by_level`` entry); None when the
    policy has no backstop cap. Only the tier's own cap counts, not its overrides."""
    for tier in document.get("tiers", []):
        if tier.get("kind") != "backstop" or not isinstance(tier.get("self_pay_cap"), dict):
            continue
        cap = tier["self_pay_cap"]
        by_level = cap.get("by_level") or {}
        amount = by_level.get("county", cap.get("amount"))
        if amount is None and by_level:
            amount = next(iter(by_level.values()))
        if amount is not None:
            return _cents(Decimal(str(amount)).quantize(Decimal("0.01")))
    return None


@dataclass
class Outcome:
    """A year's figures under one policy, additive over disjoint sets of members (cents)."""

    encounters: int = 0
    total_cost: int = 0
    payouts: int = 0
    funds: dict = field(default_factory=dict)
    patients: int = 0
    helped: int = 0
    poor_patients: int = 0
    poor_total_cost: int = 0
    poor_self_pay: int = 0
    poor_over_threshold: int = 0
    poor_bands: dict = field(default_factory=lambda: {label: 0 for _, label in SELF_PAY_BANDS})

    def add_member(
        self, *, poverty_status, encounters, total, payouts, self_pay, in_policy_self_pay, threshold
    ):
        """One patient's year: ``payouts`` all funds together, amounts in cents."""
        self.patients += 1
        self.encounters += encounters
        self.total_cost += total
        self.payouts += payouts
        if payouts > 0:
            self.helped += 1
        if poverty_status != "poor":
            return
        self.poor_patients += 1
        self.poor_total_cost += total
        self.poor_self_pay += self_pay
        if threshold is not None and in_policy_self_pay > threshold:
            self.poor_over_threshold += 1
        for upper, label in SELF_PAY_BANDS:
            if upper is None or self_pay <= upper:
                self.poor_bands[label] += 1
                break

    def add_fund(self, fund, cents):
        self.funds[fund] = self.funds.get(fund, 0) + cents

    def add(self, other: Outcome) -> Outcome:
        for name in (
            "encounters",
            "total_cost",
            "payouts",
            "patients",
            "helped",
            "poor_patients",
            "poor_total_cost",
            "poor_self_pay",
            "poor_over_threshold",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for fund, cents in other.funds.items():
            self.add_fund(fund, cents)
        for label, count in other.poor_bands.items():
            self.poor_bands[label] = self.poor_bands.get(label, 0) + count
        return self

    def to_json(self) -> dict:
        return {**self.__dict__, "funds": dict(self.funds), "poor_bands": dict(self.poor_bands)}

    @classmethod
    def from_json(cls, data: dict) -> Outcome:
        return cls(**data)

    def summary(self) -> dict:
        money = engine.format_cents
        ratio = f"{self.poor_self_pay / self.poor_total_cost:.4f}" if self.poor_total_cost else None
        return {
            "encounters": self.encounters,
            "patients": self.patients,
            "total_cost": money(self.total_cost),
            "payouts": money(self.payouts),
            "funds": {fund: money(c) for fund, c in sorted(self.funds.items())},
            "helped": self.helped,
            "poor_patients": self.poor_patients,
            "poor_total_cost": money(self.poor_total_cost),
            "poor_self_pay": money(self.poor_self_pay),
            "poor_self_pay_ratio": ratio,
            "poor_self_pay_bands": dict(self.poor_bands),
            "poor_over_threshold": self.poor_over_threshold,
        }


def _signature_table() -> list[list]:
    """``engine.ENCOUNTER_SIGNATURES`` as five parallel arrays (kinds, levels, designated,
    referred, signatures): the table ``engine_rows`` joins, so the database computes exactly
    the signatures the engine's own dict holds."""
    keys = list(engine.ENCOUNTER_SIGNATURES)
    return [[key[i] for key in keys] for i in range(4)] + [[engine.ENCOUNTER_SIGNATURES[key] for key in keys]]


_ENGINE_ROWS_SQL = """
SELECT e.member_id, s.esig, %s, CAST(e.total_cost * 100 AS bigint), CAST(e.in_policy_cost * 100 AS bigint),
       NULLIF(e.package, ''), NULLIF(e.diagnosis_code, '')
  FROM claims_encounter e
  JOIN claims_institution i ON i.id = e.institution_id
  JOIN unnest(%s::text[], %s::text[], %s::boolean[], %s::boolean[], %s::integer[])
       AS s(kind, level, designated, referred, esig)
    ON s.kind = e.kind AND s.level = i.level AND s.designated = i.designated AND s.referred = e.referred
 WHERE e.is_current AND (e.member_id + 0) = ANY(%s::bigint[]) AND e.member_id BETWEEN %s AND %s
   AND e.service_date BETWEEN %s AND %s
 ORDER BY e.member_id, e.service_date, e.id
"""


def engine_rows(member_ids, year: int) -> list[tuple]:
    """The members' current encounters of ``year`` as the engine's trusted rows, by member in
    settlement order, with the member id in the row's ``ref`` place: ``(member_id, encounter
    signature, year, total cents, in-policy cents, package or None, disease code or None)`` —
    what ``engine.trusted_row`` makes of a ``load_claims`` row. On PostgreSQL the database
    builds the tuples (the signature from a join with the engine's own table, the cents by
    NUMERIC arithmetic), so no Python code touches a row before the engine. Encounters of a
    kind or level the engine does not know are left out (settling reports them as problems).
    A simulation's members are a slice of the year's patients: the range of ids is the index
    condition and the list a hashed filter (``member_id + 0``: not an index condition — probing
    the index once per id read 8,000 index pages per chunk instead of 34, a fifth of the query)."""
    ids = sorted(set(member_ids))
    if not ids:
        return []
    first, last = year_bounds(year)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_ENGINE_ROWS_SQL, [year, *_signature_table(), ids, ids[0], ids[-1], first, last])
            return cursor.fetchall()
    rows = _encounter_rows(ids, year, _SIMULATION_VALUES)
    return _member_rows(rows, year)


def _member_rows(rows, year: int) -> list[tuple]:
    """``load_claims`` rows as the engine's trusted rows with the member id as ``ref``; rows of a
    kind or level the engine does not know are left out."""
    out = []
    for row in rows:
        try:
            out.append(
                engine.trusted_row(
                    row[E_MEMBER],
                    row[E_KIND],
                    row[E_LEVEL],
                    row[E_DESIGNATED],
                    row[E_REFERRED],
                    year,
                    row[E_TOTAL],
                    row[E_IN_POLICY],
                    row[E_DIAGNOSIS],
                    row[E_PACKAGE],
                )
            )
        except ValueError:
            continue  # a kind or level the engine does not know: left out, as above
    return out


@bulk.gc_paused()
def simulate_members(
    member_ids,
    year: int,
    compiled: engine.CompiledPolicy,
    threshold: int | None,
    *,
    book: facts.YearFacts | None = None,
) -> Outcome:
    """What ``compiled`` would pay for the members' current encounters of ``year`` (the same
    encounters settlement would settle: insured that year, of a kind and level the engine
    knows, on the facts of the day of care; a patient counts as poor by the status at the
    year's end, as ``selectors.year_outcome``). Writes nothing. Integer cents throughout: the engine's trusted rows straight from
    the database (``engine_rows``), settled in the engine's summing mode (per-patient sums and
    per-tier paid sums, no Settlement objects). ``book``: the members' ``year_facts`` when the
    caller has loaded them already."""
    if book is None:
        book = facts.year_facts(member_ids, year)
    insured = [m for m in sorted(book.members) if book.insured(m) is True]
    # As settle_members: only the members insured that year are settled. Most members' facts
    # are the same all year: their rows come from the database ready-made (``engine_rows``).
    # The few whose facts change during the year (or who left) are read with their dates,
    # and each encounter carries its own day's facts.
    plain = [m for m in insured if m not in book.dated]
    dated = [m for m in insured if m in book.dated]
    groups, group_members = [], []
    billed = _billed_member_rows(plain, year, compiled)  # itemised bills: this catalogue
    for member_id, rows in itertools.groupby(engine_rows(plain, year), operator.itemgetter(0)):
        groups.append((member_year_facts(book, member_id)[0], billed.get(member_id) or list(rows)))
        group_members.append(member_id)
    if dated:
        dated_rows = _encounter_rows(dated, year, _SIMULATION_VALUES)
        dated_rows, _ = _apply_bills(compiled, dated_rows, _bill_lines([row[E_ID] for row in dated_rows]))
        for member_id, rows in itertools.groupby(dated_rows, operator.itemgetter(E_MEMBER)):
            trusted = []
            for row in rows:
                if book.exited_before(member_id, row[E_DATE]) is not None:
                    continue  # not settled (needs attention), as in settle_members
                try:
                    trusted.append(
                        engine.trusted_row(
                            member_id,
                            row[E_KIND],
                            row[E_LEVEL],
                            row[E_DESIGNATED],
                            row[E_REFERRED],
                            year,
                            row[E_TOTAL],
                            row[E_IN_POLICY],
                            row[E_DIAGNOSIS],
                            row[E_PACKAGE],
                            **encounter_facts(book, member_id, row[E_DATE]),
                        )
                    )
                except ValueError:
                    continue  # a kind or level the engine does not know, as engine_rows
            if trusted:
                groups.append((member_year_facts(book, member_id)[0], trusted))
                group_members.append(member_id)
    year_end = year_bounds(year)[1]
    outcome = Outcome()
    if not groups:
        return outcome
    funds = [0] * len(compiled.tiers)
    add_member = outcome.add_member
    for (n, total, in_self, out_self, paid), member_id in zip(
        engine.settle_sorted(compiled, groups, sums=[]), group_members
    ):
        self_pay = in_self + out_self
        add_member(
            poverty_status=book.poverty_status(member_id, year_end),
            encounters=n,
            total=total,
            payouts=total - self_pay,
            self_pay=self_pay,
            in_policy_self_pay=in_self,
            threshold=threshold,
        )
        funds = list(map(operator.add, funds, paid))
    for tier, cents in zip(compiled.tiers, funds):
        outcome.add_fund(tier.fund, cents)
    return outcome
