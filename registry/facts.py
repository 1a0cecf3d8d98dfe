"""Reads of dated registry facts (动态管理): a member's facts on a given day.

A household's poverty status and a member's aid category are histories of periods
(``HouseholdStatusPeriod``, ``MemberAidPeriod``): a period runs from its ``effective_from`` to
the next period's. Enrollment (参保) is per year (``Enrollment``). A member may have left
(``MemberExit``). ``fact_book(member_ids)`` loads all of that for a set of members with two
queries (the members, then one query for every period, enrollment and exit of theirs), and
answers ``book.on(member_id, day)`` without further queries. Settlement's chunks (thousands of
members, one year) read ``year_facts(member_ids, year)`` instead: one query gives every member's
facts of 1 January and says whose facts may change during the year; only those few get a
``fact_book``.

Rules where the registry is silent (docs/registry.md, "Dated facts"):
* a day before a member's first period takes the first period's value (the registry knows
  nothing older; migrated and new records start at ``FACTS_START``);
* a household or member without any period (rows written in bulk by an import that records
  no history) has today's value on every day;
* a year without an enrollment record falls back to the member's ``insured`` flag (the
  roster's 是否参保) until the bureau's enrollment list is imported.
"""

from __future__ import annotations

import bisect
import datetime
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection
from django.db.models import Exists, F, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from core import bulk
from core.lookups import Ids

from .models import Enrollment, HouseholdStatusPeriod, Member, MemberAidPeriod, MemberExit

# Migrated and newly registered households and members: their first period starts here
# (建档立卡 began in 2014).
FACTS_START = datetime.date(2014, 1, 1)


@dataclass(frozen=True, slots=True)
class Facts:
    """A member's facts on one day. ``insured``: True / False / None (unknown) for that day's
    year; ``exited``: the member had left the record (死亡, 迁出, …) before that day."""

    poverty_status: str
    aid_category: str
    insured: bool | None
    exited: bool = False


def _as_date(value) -> datetime.date:
    return datetime.date.fromisoformat(value) if isinstance(value, str) else value


class _Timeline:
    """Values from dates on: ``days`` ascending, ``values`` alike."""

    __slots__ = ("days", "values")

    def __init__(self, pairs):
        pairs = sorted(pairs)
        self.days = [d for d, _ in pairs]
        self.values = [v for _, v in pairs]

    def at(self, day):
        i = bisect.bisect_right(self.days, day) - 1
        return self.values[max(i, 0)]

    def varies(self, first, last) -> bool:
        """Whether the value changes within [first, last]."""
        lo = max(bisect.bisect_right(self.days, first) - 1, 0)
        hi = max(bisect.bisect_right(self.days, last) - 1, 0)
        return any(self.values[i] != self.values[lo] for i in range(lo + 1, hi + 1))


class FactBook:
    """The dated facts of a set of members (see the module's docstring)."""

    def __init__(self, members, status, aid, enrollments, exits):
        # members: {id: (household_id, poverty now, aid now, insured flag)}
        self.members = members
        self._status = {hh: _Timeline(pairs) for hh, pairs in status.items()}
        self._aid = {m: _Timeline(pairs) for m, pairs in aid.items()}
        self._enrollments = enrollments  # {(member_id, year): insured}
        self._exits = exits  # {member_id: left_on}

    def __contains__(self, member_id) -> bool:
        return member_id in self.members

    def poverty_status(self, member_id: int, day: datetime.date) -> str:
        household_id, now, _, _ = self.members[member_id]
        timeline = self._status.get(household_id)
        return now if timeline is None else timeline.at(day)

    def aid_category(self, member_id: int, day: datetime.date) -> str:
        timeline = self._aid.get(member_id)
        return self.members[member_id][2] if timeline is None else timeline.at(day)

    def insured(self, member_id: int, year: int) -> bool | None:
        found = self._enrollments.get((member_id, year), _MISSING)
        return self.members[member_id][3] if found is _MISSING else found

    def exited_before(self, member_id: int, day: datetime.date) -> datetime.date | None:
        """The day the member left the record, if that is before ``day`` (None otherwise)."""
        left = self._exits.get(member_id)
        return left if left is not None and left < day else None

    def exit_of(self, member_id: int) -> datetime.date | None:
        return self._exits.get(member_id)

    def on(self, member_id: int, day: datetime.date) -> Facts:
        return Facts(
            self.poverty_status(member_id, day),
            self.aid_category(member_id, day),
            self.insured(member_id, day.year),
            self.exited_before(member_id, day) is not None,
        )

    def varies(self, member_id: int, first: datetime.date, last: datetime.date) -> bool:
        """Whether poverty status or aid category changes between ``first`` and ``last``."""
        status = self._status.get(self.members[member_id][0])
        aid = self._aid.get(member_id)
        return bool((status and status.varies(first, last)) or (aid and aid.varies(first, last)))


_MISSING = object()


def _in_clause(column: str, ids: list[int]) -> tuple[str, list]:
    if connection.vendor == "postgresql":
        # Typed as the columns (bigint): ``bigint = ANY(integer[])`` is not hashed; the bounds
        # let the planner estimate the rows (see settlement.batch.members_in).
        return f"{column} = ANY(%s::bigint[]) AND {column} BETWEEN %s AND %s", [ids, ids[0], ids[-1]]
    return f"{column} IN ({', '.join(['%s'] * len(ids))})", list(ids)


def fact_book(member_ids: Iterable[int], *, years: Iterable[int] | None = None) -> FactBook:
    """The dated facts of ``member_ids``: two queries, whatever the number of members (the
    members; then their households' status periods, their aid periods, their enrollments —
    of ``years`` only when given — and exits in one ``UNION ALL``)."""
    ids = sorted(set(member_ids))
    if not ids:
        return FactBook({}, {}, {}, {}, {})
    members = {}
    for pk, household_id, poverty, aid, insured in _member_rows(ids):
        members[pk] = (household_id, poverty, aid, insured)
    status, aid, enrollments, exits = {}, {}, {}, {}
    for kind, owner, day, value, year in _period_rows(ids, years):
        if kind == "h":
            status.setdefault(owner, set()).add((_as_date(day), value))
        elif kind == "a":
            aid.setdefault(owner, []).append((_as_date(day), value))
        elif kind == "i":
            enrollments[(owner, int(year))] = value in (True, 1, "1", "t", "true", "True")
        else:
            exits[owner] = _as_date(day)
    return FactBook(members, status, aid, enrollments, exits)


def _member_rows(ids):
    rows = []
    step = 30000 if connection.vendor == "postgresql" else 900
    for start in range(0, len(ids), step):
        part = ids[start : start + step]
        rows.extend(
            Member.objects.filter(pk__in=part).values_list(
                "pk", "household_id", "household__poverty_status", "aid_category", "insured"
            )
        )
    return rows


def _period_rows(ids, years):
    status_t = HouseholdStatusPeriod._meta.db_table
    aid_t = MemberAidPeriod._meta.db_table
    enrol_t = Enrollment._meta.db_table
    exit_t = MemberExit._meta.db_table
    member_t = Member._meta.db_table
    out = []
    # SQLite allows ~32,000 parameters; four IN lists per statement.
    step = 100000 if connection.vendor == "postgresql" else 200
    for start in range(0, len(ids), step):
        part = ids[start : start + step]
        where_m, p_m = _in_clause("m.id", part)
        where_a, p_a = _in_clause("a.member_id", part)
        where_e, p_e = _in_clause("e.member_id", part)
        where_x, p_x = _in_clause("x.member_id", part)
        year_sql, p_year = "", []
        if years is not None:
            wanted = sorted(set(years))
            year_sql = f" AND e.year IN ({', '.join(['%s'] * len(wanted))})" if wanted else " AND 1 = 0"
            p_year = wanted
        sql = (
            f"SELECT 'h', m.household_id, p.effective_from, p.poverty_status, CAST(NULL AS integer)"
            f"  FROM {status_t} p JOIN {member_t} m ON m.household_id = p.household_id WHERE {where_m}"
            f" UNION ALL SELECT 'a', a.member_id, a.effective_from, a.aid_category, CAST(NULL AS integer)"
            f"  FROM {aid_t} a WHERE {where_a}"
            f" UNION ALL SELECT 'i', e.member_id, NULL, CASE WHEN e.insured THEN '1' ELSE '0' END, CAST(e.year AS integer)"
            f"  FROM {enrol_t} e WHERE {where_e}{year_sql}"
            f" UNION ALL SELECT 'x', x.member_id, x.left_on, x.reason, CAST(NULL AS integer) FROM {exit_t} x WHERE {where_x}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [*p_m, *p_a, *p_e, *p_year, *p_x])
            out.extend(cursor.fetchall())
    return out


def facts_on(
    member_ids: Iterable[int], dates: Iterable[datetime.date]
) -> dict[int, dict[datetime.date, Facts]]:
    """``{member_id: {date: Facts}}`` for every member and every date given (a bounded number
    of queries: see ``fact_book``)."""
    dates = sorted(set(dates))
    book = fact_book(member_ids, years={d.year for d in dates})
    return {m: {d: book.on(m, d) for d in dates} for m in book.members}


def member_status_on(member_ids: Iterable[int], day: datetime.date) -> dict[int, str]:
    """``{member_id: their household's poverty status on day}`` (one query:
    ``poverty_status_on``, one or two index look-ups per member)."""
    ids = sorted(set(member_ids))
    if not ids:
        return {}
    return dict(
        Member.objects.filter(pk__any_of=Ids(ids), pk__gte=ids[0], pk__lte=ids[-1])
        .order_by()
        .annotate(status_then=poverty_status_on("household", day))
        .values_list("pk", "status_then")
    )


# --- one year of a set of members (settlement's chunks) ------------------------------------------


class YearFacts:
    """The facts of a set of members through one year, for settling or simulating it.

    Almost every member's facts are the same all year: one query (``year_facts``) reads, per
    member, the poverty status and aid category in force on 1 January, the year's enrollment
    (else the ``insured`` flag) and whether anything may change during the year — a status or
    aid period starting after 1 January and by 31 December, or an exit (at any date). Only the
    members for whom something may change (``book``: few) have their dated facts loaded
    (``fact_book``); ``dated`` are those whose facts really change within the year or who left
    the record, so each of their encounters must carry its own day's facts."""

    __slots__ = ("year", "members", "book", "dated")

    def __init__(self, year: int, rows: dict, book: FactBook):
        self.year = year
        # {member_id: (poverty status on 1 Jan, aid category on 1 Jan, insured that year)}
        self.members = rows
        self.book = book
        first, last = datetime.date(year, 1, 1), datetime.date(year, 12, 31)
        self.dated = frozenset(
            m for m in book.members if book.exit_of(m) is not None or book.varies(m, first, last)
        )

    def __contains__(self, member_id) -> bool:
        return member_id in self.members

    def start(self, member_id: int) -> tuple[str, str]:
        """(poverty status, aid category) on 1 January."""
        poverty, aid, _ = self.members[member_id]
        return poverty, aid

    def insured(self, member_id: int) -> bool | None:
        return self.members[member_id][2]

    def poverty_status(self, member_id: int, day: datetime.date) -> str:
        if member_id in self.book:
            return self.book.poverty_status(member_id, day)
        return self.members[member_id][0]

    def aid_category(self, member_id: int, day: datetime.date) -> str:
        if member_id in self.book:
            return self.book.aid_category(member_id, day)
        return self.members[member_id][1]

    def exited_before(self, member_id: int, day: datetime.date) -> datetime.date | None:
        return self.book.exited_before(member_id, day) if member_id in self.book else None


def year_facts(member_ids: Iterable[int], year: int) -> YearFacts:
    """The facts of ``member_ids`` through ``year`` (see ``YearFacts``): one query for every
    member, two more (``fact_book``) for the few whose facts may change during the year."""
    first, last = datetime.date(year, 1, 1), datetime.date(year, 12, 31)
    members, moving = {}, []
    for pk, poverty, aid, insured, status_moves, aid_moves, leaves in _member_rows_on(
        sorted(set(member_ids)), first, last, year
    ):
        members[pk] = (poverty, aid, insured)
        if status_moves or aid_moves or leaves:
            moving.append(pk)
    return YearFacts(year, members, fact_book(moving, years=[year]))


def _member_rows_on(ids: list[int], first: datetime.date, last: datetime.date, year: int) -> list[tuple]:
    """Per member of ``ids`` (sorted): (id, household's poverty status on ``first``, aid
    category on ``first``, insured in ``year``, a status period starting in (``first``,
    ``last``], an aid period likewise, an exit at any date). One query: the rules of
    ``poverty_status_on``, ``aid_category_on`` and ``insured_in`` as correlated index look-ups
    (one per fact when the member has periods, as every migrated member has), built and
    compiled once per process (``bulk.fetch_rows_of``: the window reads one member per request)."""
    return bulk.fetch_rows_in(
        "registry.facts.member_rows", _member_rows_query, ids, first=first, last=last, year=year
    )


def _member_rows_query(
    *, ids: list[int], low: int, high: int, first: datetime.date, last: datetime.date, year: int
):
    in_year = {"effective_from__gt": first, "effective_from__lte": last}
    return (
        Member.objects.filter(pk__any_of=ids, pk__gte=low, pk__lte=high)
        .order_by()
        .annotate(
            status_then=poverty_status_on("household", first),
            aid_then=aid_category_on("pk", first),
            insured_then=insured_in(year),
            status_moves=Exists(
                HouseholdStatusPeriod.objects.filter(household_id=OuterRef("household_id"), **in_year)
            ),
            aid_moves=Exists(MemberAidPeriod.objects.filter(member_id=OuterRef("pk"), **in_year)),
            leaves=Exists(MemberExit.objects.filter(member_id=OuterRef("pk"))),
        )
        .values_list("pk", "status_then", "aid_then", "insured_then", "status_moves", "aid_moves", "leaves")
    )


# --- pages ---------------------------------------------------------------------------------------


def _with_corrections(periods, model):
    """Each period with ``corrections``: [(when, who, reason)] from its history (changes after
    it was recorded), oldest first. One query."""
    by_id = {p.pk: p for p in periods}
    for p in periods:
        p.corrections = []
    if by_id:
        for record in (
            model.history.filter(id__in=list(by_id), history_type="~")
            .select_related("history_user")
            .order_by("history_date", "history_id")
        ):
            by_id[record.id].corrections.append(
                (record.history_date, record.history_user, record.history_change_reason or "")
            )
    return periods


def status_periods_of(household) -> list:
    """The household's poverty-status periods, newest first, each with its corrections."""
    periods = list(household.status_periods.select_related("created_by").order_by("-effective_from", "-id"))
    return _with_corrections(periods, HouseholdStatusPeriod)


def aid_periods_of(member) -> list:
    periods = list(member.aid_periods.select_related("created_by").order_by("-effective_from", "-id"))
    return _with_corrections(periods, MemberAidPeriod)


def enrollments_of(member) -> list:
    return list(member.enrollments.select_related("updated_by").order_by("-year"))


def exit_of(member):
    return MemberExit.objects.filter(member=member).select_related("created_by").first()


def member_fact_context(member) -> dict:
    """What the member page shows of dated facts."""
    return {
        "aid_periods": aid_periods_of(member),
        "enrollments": enrollments_of(member),
        "member_exit": exit_of(member),
    }


# --- 应保尽保: enrollment figures of a year ------------------------------------------------------


@dataclass
class EnrollmentRow:
    township: str
    members: int = 0
    insured: int = 0
    not_insured: int = 0
    unrecorded: int = 0
    subsidised: int = 0
    subsidy: dict = None  # fund -> Decimal

    @property
    def rate(self):
        """参保率 in percent (insured by that year's record / registered members)."""
        return round(100 * self.insured / self.members, 2) if self.members else None

    @property
    def subsidy_total(self):
        return sum(self.subsidy.values(), Decimal("0.00"))


def enrollment_years() -> list[int]:
    years = set(Enrollment.objects.order_by().values_list("year", flat=True).distinct())
    years.add(timezone.localdate().year)
    return sorted(years, reverse=True)


def enrollment_figures(user, year: int) -> tuple[list[EnrollmentRow], EnrollmentRow, list[str]]:
    """应保尽保 of ``year`` per township the user may see: registered members (those who had
    not left the record before the year began), insured / not insured / not recorded by that
    year's enrollment, and the premium subsidy per paying fund. Three grouped queries, whatever
    the number of members. Returns (rows, total row, funds)."""
    from django.db.models import Count, Q, Sum

    from . import roles

    start = datetime.date(year, 1, 1)
    members = roles.scope(Member.objects.all(), user, "household__village__township_id").exclude(
        exit__left_on__lt=start
    )
    rows = {}
    for name, total, insured, not_insured in (
        members.order_by()
        .values_list("household__village__township__name")
        .annotate(
            n=Count("id", distinct=True),
            insured=Count("enrollments", filter=Q(enrollments__year=year, enrollments__insured=True)),
            not_insured=Count("enrollments", filter=Q(enrollments__year=year, enrollments__insured=False)),
        )
    ):
        rows[name] = EnrollmentRow(name, total, insured, not_insured, total - insured - not_insured, 0, {})
    funds = set()
    for name, fund, amount, people in (
        Enrollment.objects.filter(year=year, member__in=members, subsidy__gt=0)
        .order_by()
        .values_list("member__household__village__township__name", "subsidy_fund")
        .annotate(amount=Sum("subsidy"), people=Count("id"))
    ):
        row = rows[name]
        row.subsidy[fund] = amount
        row.subsidised += people
        funds.add(fund)
    ordered = [rows[name] for name in sorted(rows)]
    total = EnrollmentRow("合计", subsidy={})
    for row in ordered:
        for name in ("members", "insured", "not_insured", "unrecorded", "subsidised"):
            setattr(total, name, getattr(total, name) + getattr(row, name))
        for fund, amount in row.subsidy.items():
            total.subsidy[fund] = total.subsidy.get(fund, Decimal("0.00")) + amount
    return ordered, total, sorted(funds)


def _value_on(periods, name: str, day, column) -> Coalesce:
    """The value ``name`` of the period of ``periods`` in force on ``day``, else of the first
    period (a day before it), else ``column`` (no period)."""
    on_day = OuterRef(day) if isinstance(day, str) else Value(day)
    return Coalesce(
        Subquery(periods.filter(effective_from__lte=on_day).order_by("-effective_from").values(name)[:1]),
        Subquery(periods.order_by("effective_from").values(name)[:1]),
        column,
    )


def poverty_status_on(household: str, day) -> Coalesce:
    """An ORM expression: the poverty status of the household at lookup ``household`` (e.g.
    ``"member__household"``, ``"household"`` on members, or ``"pk"`` on households) on ``day``
    (a lookup such as ``"service_date"``, or a date): the period in force that day, else the
    first period (a day before it), else the current column (no period). Two correlated index
    look-ups per row at most, so aggregates stay one query."""
    outer_household = OuterRef(household if household == "pk" else f"{household}_id")
    column = F("poverty_status") if household == "pk" else F(f"{household}__poverty_status")
    periods = HouseholdStatusPeriod.objects.filter(household_id=outer_household)
    return _value_on(periods, "poverty_status", day, column)


def insured_in(year: int) -> Coalesce:
    """An ORM expression on members: insured in ``year`` by that year's enrollment, else the
    member's ``insured`` flag (True / False / None), as ``FactBook.insured``."""
    # (order_by(): one enrollment per member and year; the model's ordering would join the
    # member and household into every look-up.)
    enrollment = (
        Enrollment.objects.filter(member_id=OuterRef("pk"), year=year).order_by().values("insured")[:1]
    )
    return Coalesce(Subquery(enrollment), F("insured"))


def aid_category_on(member: str, day) -> Coalesce:
    """An ORM expression: the aid category of the member at lookup ``member`` (``"pk"`` on
    members, ``"member"`` elsewhere) on ``day``, by the same rules as ``poverty_status_on``."""
    outer_member = OuterRef(member if member == "pk" else f"{member}_id")
    column = F("aid_category") if member == "pk" else F(f"{member}__aid_category")
    periods = MemberAidPeriod.objects.filter(member_id=outer_member)
    return _value_on(periods, "aid_category", day, column)
