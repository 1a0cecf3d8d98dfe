"""State changes of dated registry facts (动态管理): poverty status periods, aid-category periods,
members leaving, yearly enrollment and premium subsidy (参保 / 参保资助).

Each service is keyword-only, validates, then writes in one transaction and raises
``RegistryError``. Each keeps the current columns (``Household.poverty_status``,
``Member.aid_category``, ``Member.insured``) in step as "the fact as of today", and records
``registry.events.record_member_facts_changed(..., effective_from=…)`` in its transaction so
that settlement re-settles the member-years the change touches (and only from that day on).
Rules: docs/registry.md, "Dated facts".
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.utils import timezone

from core.imports import ImportReport
from core.rows import RowError

from . import enrollment_list, events, roles
from .facts import FACTS_START
from .models import (
    AidCategory,
    AidEvent,
    Enrollment,
    ExitReason,
    Household,
    HouseholdStatusPeriod,
    Member,
    MemberAidPeriod,
    MemberExit,
    PovertyStatus,
    StatusEvent,
)
from .services import RegistryError

_EARLIEST = datetime.date(2000, 1, 1)


def _today() -> datetime.date:
    return timezone.localdate()


def _check_scope(user, township_id: int) -> None:
    """A township clinic changes only its own township's people (pages and the API already
    show them nothing else; this guards direct callers)."""
    own = roles.township_id_of(user)
    if own is not None and own != township_id:
        raise RegistryError("只能修改本乡镇的人员信息。")


def _check_date(value, field: str, what: str) -> datetime.date:
    if isinstance(value, datetime.datetime) or not isinstance(value, datetime.date):
        raise RegistryError(f"{what}必须是日期（YYYY-MM-DD）。", field=field)
    if value < _EARLIEST:
        raise RegistryError(f"{what}不能早于{_EARLIEST:%Y年%m月%d日}。", field=field)
    if value > _today():
        raise RegistryError(
            f"{what}不能晚于今天：变动生效后再登记（文件已下发但尚未生效的，请在生效日登记）。", field=field
        )
    return value


def _check_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise RegistryError("请填写变动原因。", field="reason")
    if len(reason) > 200:
        raise RegistryError("变动原因最多200字。", field="reason")
    return reason


def _check_document_number(document_number: str) -> str:
    document_number = (document_number or "").strip()
    if len(document_number) > 100:
        raise RegistryError("文号最多100字。", field="document_number")
    return document_number


def _save(obj, user, reason: str) -> None:
    obj._change_reason, obj._history_user = reason[:100], user
    obj.save()


def _value_before(periods, day, fallback):
    """The value of a list of periods ``[(effective_from, value)]`` (ascending) just before
    ``day``: the last period starting before it, else the first one, else ``fallback``."""
    before = [value for start, value in periods if start < day]
    if before:
        return before[-1]
    return periods[0][1] if periods else fallback


def _value_on(periods, day, fallback):
    on = [value for start, value in periods if start <= day]
    if on:
        return on[-1]
    return periods[0][1] if periods else fallback


# --- dated facts of a row: a household's poverty status, a member's aid category ---------------


@dataclass(frozen=True)
class _DatedFact:
    """One kind of dated fact kept on an owner row (its column holds today's value) and in a
    period table (its history). The services below are written once for both kinds."""

    field: str  # the owner's column and the period's value field
    name: str  # 脱贫状态 / 救助类别
    choices: type  # PovertyStatus / AidCategory
    who: str  # 该户 / 该成员: "该户在…前已是…"
    what: str  # 状态 / 类别: "…，状态没有变化"
    periods: str  # the owner's related name of its periods
    period_model: type
    owner_field: str  # the period's foreign key to the owner
    initial_event: str
    initial_reason: str
    change_prefix: str  # before the event's name in the owner's history reason
    event_of: Callable[[str, str], str]  # (value before, value after) → the period's event
    lock: Callable[[Any, int], Any]  # (user, owner pk) → the owner row, locked, scope checked
    record: Callable[[Any, datetime.date], None]  # the outbox event for (owner, from)

    def history(self, owner) -> list[tuple[datetime.date, str]]:
        periods = getattr(owner, self.periods).order_by("effective_from")
        return list(periods.values_list("effective_from", self.field))

    def period(self, owner_id: int, value: str, *, event: str, effective_from, reason: str, user, **extra):
        return self.period_model(
            **{f"{self.owner_field}_id": owner_id, self.field: value},
            event=event,
            effective_from=effective_from,
            reason=reason,
            created_by=user,
            **extra,
        )

    def initial(self, owner_id: int, value: str, user):
        """The first period of an owner written without history: ``value`` from
        ``FACTS_START`` (unsaved)."""
        return self.period(
            owner_id,
            value,
            event=self.initial_event,
            effective_from=FACTS_START,
            reason=self.initial_reason,
            user=user,
        )

    def check_value(self, value: str) -> None:
        if value not in self.choices.values:
            raise RegistryError(
                f"未知的{self.name}「{value}」（可选：{'、'.join(self.choices.labels)}）。", field=self.field
            )


def _status_event(before: str, after: str) -> str:
    if after == "monitored":
        return StatusEvent.MONITOR
    if after == "lifted":
        return StatusEvent.UNMONITOR if before == "monitored" else StatusEvent.LIFT
    return StatusEvent.RELAPSE if before in ("lifted", "monitored") else StatusEvent.ENROLL


def _aid_event(before: str, after: str) -> str:
    if after == "none":
        return AidEvent.WITHDRAW
    return AidEvent.GRANT if before == "none" else AidEvent.CHANGE


def _locked_household(user, household_id: int) -> Household:
    current = Household.objects.select_for_update().select_related("village").get(pk=household_id)
    _check_scope(user, current.village.township_id)
    return current


def _locked_member(member: Member, user) -> Member:
    current = Member.objects.select_for_update().select_related("household__village").get(pk=member.pk)
    _check_scope(user, current.household.village.township_id)
    return current


STATUS = _DatedFact(
    field="poverty_status",
    name="脱贫状态",
    choices=PovertyStatus,
    who="该户",
    what="状态",
    periods="status_periods",
    period_model=HouseholdStatusPeriod,
    owner_field="household",
    initial_event=StatusEvent.INITIAL,
    initial_reason="首次登记变动前的状态",
    change_prefix="",
    event_of=_status_event,
    lock=_locked_household,
    record=lambda household, day: events.record_member_facts_changed(
        household_id=household.pk, effective_from=day
    ),
)
AID = _DatedFact(
    field="aid_category",
    name="救助类别",
    choices=AidCategory,
    who="该成员",
    what="类别",
    periods="aid_periods",
    period_model=MemberAidPeriod,
    owner_field="member",
    initial_event=AidEvent.INITIAL,
    initial_reason="首次登记变动前的类别",
    change_prefix="救助类别",
    event_of=_aid_event,
    lock=lambda user, member_id: _locked_member(Member(pk=member_id), user),
    record=lambda member, day: events.record_member_facts_changed(member_ids=[member.pk], effective_from=day),
)


def _initial_period(household_id: int, poverty_status: str, user) -> HouseholdStatusPeriod:
    return STATUS.initial(household_id, poverty_status, user)


def _ensure_initial(fact: _DatedFact, owner, user) -> None:
    """An owner written without history (a bulk import) gets its first period from today's
    column, so that a later change has a "before"."""
    if not getattr(owner, fact.periods).exists():
        _save(fact.initial(owner.pk, getattr(owner, fact.field), user), user, "初始登记")


def _sync(fact: _DatedFact, owner, user, reason: str) -> None:
    """Make the owner's column the value as of today (locked row)."""
    today_value = _value_on(fact.history(owner), _today(), getattr(owner, fact.field))
    if today_value != getattr(owner, fact.field):
        setattr(owner, fact.field, today_value)
        owner.version += 1
        _save(owner, user, reason)


def _value_before_new_period(fact: _DatedFact, periods, effective_from, value, current):
    """The value in force just before a new period of ``value`` from ``effective_from``;
    refuses a second period on one day and a "change" to the value already in force."""
    if any(start == effective_from for start, _ in periods):
        raise RegistryError(
            f"{effective_from:%Y-%m-%d}已有一条{fact.name}记录；同一天只能有一条，如有错误请更正该记录。",
            field="effective_from",
        )
    before = _value_before(periods, effective_from, current)
    if before == value:
        label = fact.choices(value).label
        raise RegistryError(
            f"{fact.who}在{effective_from:%Y-%m-%d}前已是「{label}」，{fact.what}没有变化。", field=fact.field
        )
    return before


def _period_add(
    fact: _DatedFact, *, user, owner_id: int, value: str, effective_from, reason, document_number
):
    roles.require_write(user)
    fact.check_value(value)
    effective_from = _check_date(effective_from, "effective_from", "生效日期")
    reason = _check_reason(reason)
    document_number = _check_document_number(document_number)
    with transaction.atomic():
        owner = fact.lock(user, owner_id)
        _ensure_initial(fact, owner, user)
        current = getattr(owner, fact.field)
        before = _value_before_new_period(fact, fact.history(owner), effective_from, value, current)
        period = fact.period(
            owner.pk,
            value,
            event=fact.event_of(before, value),
            effective_from=effective_from,
            reason=reason,
            user=user,
            document_number=document_number,
        )
        _save(period, user, reason)
        _sync(fact, owner, user, f"{fact.change_prefix}{period.get_event_display()}：{reason}")
        fact.record(owner, effective_from)
    return period


def _period_correct(fact: _DatedFact, *, user, period, reason, value, effective_from, document_number):
    roles.require_write(user)
    reason = _check_reason(reason)
    if value is not None:
        fact.check_value(value)
    if effective_from is not None:
        effective_from = _check_date(effective_from, "effective_from", "生效日期")
    with transaction.atomic():
        owner = fact.lock(user, getattr(period, f"{fact.owner_field}_id"))
        current = fact.period_model.objects.select_for_update().get(pk=period.pk)
        old_day = current.effective_from
        if effective_from is not None and effective_from != old_day:
            if getattr(owner, fact.periods).filter(effective_from=effective_from).exists():
                raise RegistryError(
                    f"{effective_from:%Y-%m-%d}已有一条{fact.name}记录。", field="effective_from"
                )
            current.effective_from = effective_from
        if value is not None:
            setattr(current, fact.field, value)
        if document_number is not None:
            current.document_number = _check_document_number(document_number)
        _save(current, user, f"更正：{reason}")
        _sync(fact, owner, user, f"更正{fact.name}记录：{reason}")
        fact.record(owner, min(old_day, current.effective_from))
    return current


def household_status_change(
    *,
    user,
    household: Household,
    poverty_status: str,
    effective_from: datetime.date,
    reason: str,
    document_number: str = "",
) -> HouseholdStatusPeriod:
    """Record that ``household``'s poverty status is ``poverty_status`` from ``effective_from``
    on (纳入 / 脱贫 / 返贫 / 监测纳入 / 解除监测, derived from the status before). Stays before
    that day keep the status they were settled with (脱贫不脱政策)."""
    return _period_add(
        STATUS,
        user=user,
        owner_id=household.pk,
        value=poverty_status,
        effective_from=effective_from,
        reason=reason,
        document_number=document_number,
    )


def household_status_period_correct(
    *,
    user,
    period: HouseholdStatusPeriod,
    reason: str,
    poverty_status: str | None = None,
    effective_from: datetime.date | None = None,
    document_number: str | None = None,
) -> HouseholdStatusPeriod:
    """Correct a recorded period (a wrong date, status or 文号). The old values stay in the
    period's history with who corrected it, when and why."""
    return _period_correct(
        STATUS,
        user=user,
        period=period,
        reason=reason,
        value=poverty_status,
        effective_from=effective_from,
        document_number=document_number,
    )


def member_aid_category_change(
    *,
    user,
    member: Member,
    aid_category: str,
    effective_from: datetime.date,
    reason: str,
    document_number: str = "",
) -> MemberAidPeriod:
    """Record that ``member``'s aid category (救助类别, granted and withdrawn by civil affairs)
    is ``aid_category`` from ``effective_from`` on."""
    return _period_add(
        AID,
        user=user,
        owner_id=member.pk,
        value=aid_category,
        effective_from=effective_from,
        reason=reason,
        document_number=document_number,
    )


def member_aid_period_correct(
    *,
    user,
    period: MemberAidPeriod,
    reason: str,
    aid_category: str | None = None,
    effective_from: datetime.date | None = None,
    document_number: str | None = None,
) -> MemberAidPeriod:
    """Correct a recorded aid-category period; the old values stay in its history."""
    return _period_correct(
        AID,
        user=user,
        period=period,
        reason=reason,
        value=aid_category,
        effective_from=effective_from,
        document_number=document_number,
    )


# --- members leaving ----------------------------------------------------------------------------


def member_exit(
    *, user, member: Member, left_on: datetime.date, reason: str, note: str = "", document_number: str = ""
) -> MemberExit:
    """Record that ``member`` left the record on ``left_on`` (死亡, 迁出, 其他). The member stays
    (settlements and history point to it); care after that day is not settled (needs
    attention), care up to it is untouched."""
    roles.require_write(user)
    if reason not in ExitReason.values:
        raise RegistryError(
            f"未知的减员原因「{reason}」（可选：{'、'.join(ExitReason.labels)}）。", field="reason"
        )
    left_on = _check_date(left_on, "left_on", "减员日期")
    note = (note or "").strip()[:200]
    with transaction.atomic():
        current = _locked_member(member, user)
        if MemberExit.objects.filter(member=current).exists():
            raise RegistryError("该成员已登记减员。", field="left_on")
        gone = MemberExit(
            member=current,
            left_on=left_on,
            reason=reason,
            note=note,
            document_number=_check_document_number(document_number),
            created_by=user,
        )
        _save(gone, user, f"减员：{ExitReason(reason).label}")
        events.record_member_facts_changed(member_ids=[current.pk], effective_from=left_on)
    return gone


# --- enrollment and premium subsidy (参保 / 参保资助) -------------------------------------------

_AMOUNTS = ("premium", "personal_share", "subsidy")
_CENT = Decimal("0.01")


def _amount(value, field: str, label: str) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, float):
        value = str(value)
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise RegistryError(f"{label}必须是金额。", field=field) from None
    if not amount.is_finite() or amount < 0 or amount != amount.quantize(_CENT) or amount >= Decimal("1e8"):
        raise RegistryError(f"{label}须为不小于0、最多两位小数的金额。", field=field)
    return amount.quantize(_CENT)


def enrollment_values(
    *,
    year: int,
    insured: bool,
    premium=None,
    personal_share=None,
    subsidy=None,
    subsidy_category: str = "",
    subsidy_fund: str = "",
    source: str = "",
) -> dict:
    """The checked values of an enrollment (no database access): raises ``RegistryError``
    naming the field. Shared by :func:`enrollment_record` and the enrollment-list import."""
    if isinstance(year, bool) or not isinstance(year, int) or not 2000 <= year <= _today().year + 1:
        raise RegistryError(f"参保年度须在2000年到{_today().year + 1}年之间。", field="year")
    if not isinstance(insured, bool):
        raise RegistryError("请填写是否参保。", field="insured")
    amounts = {
        "premium": _amount(premium, "premium", "个人缴费标准"),
        "personal_share": _amount(personal_share, "personal_share", "个人实缴"),
        "subsidy": _amount(subsidy, "subsidy", "资助金额"),
    }
    given = [name for name in _AMOUNTS if amounts[name] is not None]
    if given and len(given) != 3:
        if (
            amounts["premium"] is not None
            and amounts["subsidy"] is None
            and amounts["personal_share"] is not None
        ):
            amounts["subsidy"] = amounts["premium"] - amounts["personal_share"]
        elif (
            amounts["premium"] is not None
            and amounts["personal_share"] is None
            and amounts["subsidy"] is not None
        ):
            amounts["personal_share"] = amounts["premium"] - amounts["subsidy"]
        else:
            raise RegistryError(
                "缴费标准、个人实缴、资助金额须同时填写（或填写其中两项，系统算出第三项）。", field="premium"
            )
        for name in ("subsidy", "personal_share"):
            if amounts[name] < 0:
                raise RegistryError("个人实缴与资助金额之和须等于缴费标准，且都不小于0。", field=name)
    if given and amounts["premium"] != amounts["personal_share"] + amounts["subsidy"]:
        raise RegistryError(
            f"缴费标准{amounts['premium']}元须等于个人实缴{amounts['personal_share']}元加资助金额"
            f"{amounts['subsidy']}元。",
            field="premium",
        )
    subsidy_category = (subsidy_category or "").strip()[:50]
    subsidy_fund = (subsidy_fund or "").strip()[:50]
    if amounts["subsidy"] and not subsidy_fund:
        raise RegistryError("有资助金额时须填写资助资金（如医疗救助资金、衔接资金）。", field="subsidy_fund")
    if not insured and amounts["subsidy"]:
        raise RegistryError("未参保的人员不能登记参保资助金额。", field="subsidy")
    return {
        "insured": insured,
        **amounts,
        "subsidy_category": subsidy_category,
        "subsidy_fund": subsidy_fund,
        "source": (source or "").strip()[:100],
    }


def enrollment_write(*, user, member: Member, year: int, values: dict, existing=None) -> tuple:
    """Write checked ``values`` (:func:`enrollment_values`) as ``member``'s enrollment for
    ``year``, inside the caller's transaction, the member row locked by the caller, and the
    year's existing record (locked) or None. Keeps ``Member.insured`` in step for the current
    year. Returns ``(enrollment, created, changed, insured_changed)``; records no event (the
    caller does, once per batch)."""
    created = existing is None
    if created:
        enrollment = Enrollment(member=member, year=year, updated_by=user, **values)
        _save(enrollment, user, f"登记{year}年度参保")
        insured_changed = True
    else:
        enrollment = existing
        # Where the record came from is not a change by itself: the same list re-sent under
        # another file name writes nothing.
        changed = [name for name, value in values.items() if getattr(enrollment, name) != value]
        if not [name for name in changed if name != "source"]:
            return enrollment, False, False, False
        insured_changed = "insured" in changed
        for name in changed:
            setattr(enrollment, name, values[name])
        enrollment.updated_by = user
        _save(enrollment, user, f"修改{year}年度参保")
    if year == _today().year and member.insured is not values["insured"]:
        member.insured = values["insured"]
        member.version += 1
        _save(member, user, f"{year}年度参保登记")
    return enrollment, created, True, insured_changed


def enrollment_record(
    *,
    user,
    member: Member,
    year: int,
    insured: bool,
    premium=None,
    personal_share=None,
    subsidy=None,
    subsidy_category: str = "",
    subsidy_fund: str = "",
    source: str = "",
) -> tuple[Enrollment, bool]:
    """Record ``member``'s enrollment for ``year`` (one per member-year: a second call for the
    same year updates it). Amounts are all given or all left out (only "insured or not"
    known); premium = personal share + subsidy; a subsidy names its fund. Returns
    ``(enrollment, created)``. The current year's record keeps ``Member.insured`` in step."""
    roles.require_write(user)
    values = enrollment_values(
        year=year,
        insured=insured,
        premium=premium,
        personal_share=personal_share,
        subsidy=subsidy,
        subsidy_category=subsidy_category,
        subsidy_fund=subsidy_fund,
        source=source,
    )
    with transaction.atomic():
        current = _locked_member(member, user)
        existing = Enrollment.objects.select_for_update().filter(member=current, year=year).first()
        enrollment, created, changed, _ = enrollment_write(
            user=user, member=current, year=year, values=values, existing=existing
        )
        if changed:
            events.record_member_facts_changed(
                member_ids=[current.pk], effective_from=datetime.date(year, 1, 1)
            )
    return enrollment, created


# --- hooks for the general edit services --------------------------------------------------------


def _previous_value(obj, field: str):
    """``field`` as it was before the save that just happened (from the history record before
    the newest one), or None when there is none."""
    records = list(obj.history.order_by("-history_date", "-history_id").values_list(field, flat=True)[:2])
    return records[1] if len(records) == 2 else None


def _record_edited_fact(fact: _DatedFact, *, user, owner, reason: str, today: datetime.date) -> None:
    value = getattr(owner, fact.field)
    periods = fact.history(owner)
    if not periods:
        # Written without dated history (a bulk import): the value it had until today
        # becomes its first period, so the edit changes nothing before today.
        before = _previous_value(owner, fact.field)
        if before is not None and before != value:
            periods = [(FACTS_START, before)]
            _save(fact.initial(owner.pk, before, user), user, "初始登记")
    if periods and _value_on(periods, today, None) != value:
        before = _value_before(periods, today, value)
        fact.period_model.objects.filter(**{fact.owner_field: owner}, effective_from=today).delete()
        period = fact.period(
            owner.pk,
            value,
            event=fact.event_of(before, value),
            effective_from=today,
            reason=reason,
            user=user,
        )
        _save(period, user, reason)


def record_edited_facts(*, user, obj, changed, reason: str) -> None:
    """Called by ``household_update`` / ``member_update`` / ``member_create`` inside their
    transaction, after saving: a fact edited on the general form (脱贫状态, 救助类别, 是否参保)
    is recorded as a dated fact effective today (the form has no date; staff who know the
    date use the change pages), so the history and the current column agree. The caller
    records the outbox event (it knows everything it changed)."""
    today = _today()
    reason = reason or "修改信息"
    if isinstance(obj, Household) and "poverty_status" in changed:
        _record_edited_fact(STATUS, user=user, owner=obj, reason=reason, today=today)
    if isinstance(obj, Member):
        if "aid_category" in changed:
            _record_edited_fact(AID, user=user, owner=obj, reason=reason, today=today)
        if "insured" in changed and obj.insured is not None:
            enrollment = Enrollment.objects.filter(member=obj, year=today.year).first()
            if enrollment is None:
                _save(
                    Enrollment(
                        member=obj, year=today.year, insured=obj.insured, updated_by=user, source=reason[:100]
                    ),
                    user,
                    reason,
                )
            elif enrollment.insured != obj.insured:
                enrollment.insured = obj.insured
                if not obj.insured:
                    enrollment.premium = enrollment.personal_share = enrollment.subsidy = None
                enrollment.updated_by = user
                _save(enrollment, user, reason)


def record_new_facts(*, user, obj) -> None:
    """Called by ``household_create`` / ``member_create`` inside their transaction: the first
    period (from ``FACTS_START``) and, for a member whose enrollment is known, this year's
    enrollment."""
    if isinstance(obj, Household):
        _ensure_initial(STATUS, obj, user)
        return
    _ensure_initial(AID, obj, user)
    if obj.insured is not None:
        _save(
            Enrollment(
                member=obj, year=_today().year, insured=obj.insured, updated_by=user, source="新增成员"
            ),
            user,
            "新增成员",
        )


# --- the bureau's enrollment list (参保名单导入) ----------------------------------------------------

# RegistryError.field of enrollment_values -> the list's column.
_ENROLLMENT_COLUMN = {
    "year": "年度",
    "insured": "是否参保",
    "premium": "缴费标准",
    "personal_share": "个人缴费",
    "subsidy": "资助金额",
    "subsidy_fund": "资助资金",
}


@dataclass
class EnrollmentListReport(ImportReport):
    """What an enrollment-list import did (or, in a dry run, would do)."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    insured_changed: int = 0


def enrollment_list_import(
    *,
    rows,
    user,
    dry_run: bool = False,
    skip_invalid: bool = False,
    source_name: str = "",
    progress=None,
) -> EnrollmentListReport:
    """Import the bureau's enrollment list: one ``Enrollment`` per member-year (an existing one
    is updated, an identical one left alone), by :func:`enrollment_values`' rules. The member
    is found by ID number (an unknown one is a row error). All or nothing unless
    ``skip_invalid``. One ``member_facts_changed`` event per year, effective 1 January, for
    the members whose insured status that year changed, in the same transaction."""
    roles.require_county(user)
    report_progress = progress or (lambda stage, done, total: None)
    report = EnrollmentListReport(dry_run=dry_run)
    report_progress("校验", 0, 1)
    parsed = enrollment_list.parse_enrollment_list(rows)
    report.rows, report.header_row = parsed.total, parsed.header_row
    errors = list(parsed.errors)
    members = {}
    ids = sorted({row.id_number for row in parsed.rows})
    for start in range(0, len(ids), 2000):
        for member in Member.objects.filter(id_number__in=ids[start : start + 2000]).only(
            "id", "id_number", "name"
        ):
            members[member.id_number] = member
    source = f"参保名单导入：{source_name}"[:100] if source_name else "参保名单导入"
    todo = []  # (row, member_id, values)
    for row in parsed.rows:
        member = members.get(row.id_number)
        if member is None:
            errors.append(
                RowError(row.row, "证件号码", "系统中没有该证件号码的人员（请先通过名册导入或新增成员）")
            )
            continue
        if row.name and row.name != member.name:
            errors.append(RowError(row.row, "姓名", f"与系统登记的姓名“{member.name}”不一致"))
            continue
        try:
            values = enrollment_values(
                year=row.year,
                insured=row.insured,
                premium=row.premium,
                personal_share=row.personal_share,
                subsidy=row.subsidy,
                subsidy_category=row.subsidy_category,
                subsidy_fund=row.subsidy_fund,
                source=source,
            )
        except RegistryError as exc:
            errors.append(RowError(row.row, _ENROLLMENT_COLUMN.get(exc.field, ""), exc.message))
            continue
        todo.append((row, member.pk, values))
    errors.sort(key=lambda e: e.row)
    report.errors = errors
    report.rejected_rows = sorted({e.row for e in errors if e.row > parsed.header_row})
    report.rows_skipped = len(report.rejected_rows)
    if errors and (not skip_invalid or parsed.refused_file):
        report.refused = True
        return report

    with transaction.atomic():
        member_ids = sorted({member_id for _, member_id, _ in todo})
        locked, existing = {}, {}
        for start in range(0, len(member_ids), 2000):
            chunk = member_ids[start : start + 2000]
            for member in Member.objects.select_for_update().filter(pk__in=chunk):
                locked[member.pk] = member
            for enrollment in Enrollment.objects.select_for_update().filter(member_id__in=chunk):
                existing[(enrollment.member_id, enrollment.year)] = enrollment
        changed_by_year: dict[int, set[int]] = {}
        for done, (row, member_id, values) in enumerate(todo):
            if done % 500 == 0:
                report_progress("写入", done, len(todo))
            before = existing.get((member_id, row.year))
            if dry_run:
                changed = before is None or any(
                    getattr(before, k) != v for k, v in values.items() if k != "source"
                )
                created, insured_changed = (
                    before is None,
                    before is None or before.insured != values["insured"],
                )
            else:
                _, created, changed, insured_changed = enrollment_write(
                    user=user, member=locked[member_id], year=row.year, values=values, existing=before
                )
            if not changed:
                report.unchanged += 1
                continue
            if created:
                report.created += 1
            else:
                report.updated += 1
            if insured_changed:
                report.insured_changed += 1
                changed_by_year.setdefault(row.year, set()).add(member_id)
        if not dry_run:
            for year, changed_ids in sorted(changed_by_year.items()):
                events.record_member_facts_changed(
                    member_ids=sorted(changed_ids), effective_from=datetime.date(year, 1, 1)
                )
        report_progress("写入", len(todo), len(todo))
    return report


def enrollment_job_create(*, user, uploaded_file, skip_invalid: bool = False):
    """Store an uploaded enrollment list and start its preview (through the outbox)."""
    from core.imports import import_job_create

    roles.require_county(user)
    return import_job_create(
        kind="enrollments",
        user=user,
        uploaded_file=uploaded_file,
        error=RegistryError,
        skip_invalid=skip_invalid,
    )


def enrollment_job_confirm(*, user, job):
    from core.imports import import_job_confirm

    roles.require_county(user)
    return import_job_confirm(job=job, error=RegistryError)


def enrollment_template_workbook() -> bytes:
    """A blank enrollment list: the headers, one example row, the ID-number column as text,
    a dropdown on 是否参保, and a sheet explaining each column."""
    from core.export import TemplateColumn, template_workbook

    columns = [
        TemplateColumn(
            "证件号码",
            "18位公民身份号码（本列为文本格式，请勿改为数字，否则末尾几位会丢失）；须为系统中已有的人员",
            "640221196003150013",
            True,
            text=True,
        ),
        TemplateColumn("姓名", "可不填；填写时须与系统登记的姓名一致", "张三"),
        TemplateColumn("年度", "参保年度，四位年份", str(_today().year), True, text=True),
        TemplateColumn("是否参保", "是/否", "是", True, ("是", "否")),
        TemplateColumn("缴费标准", "单位：元；缴费标准=个人缴费+资助金额，三项填两项即可", "380.00"),
        TemplateColumn("个人缴费", "单位：元，个人实际缴纳的部分", "0.00"),
        TemplateColumn("资助金额", "单位：元，政府资助（代缴）的部分；未参保的人员不填", "380.00"),
        TemplateColumn("资助类别", "如：低保对象全额资助", "特困人员全额资助"),
        TemplateColumn("资助资金", "有资助金额时必填，如：医疗救助资金、衔接资金", "医疗救助资金"),
    ]
    assert [c.header for c in columns] == list(enrollment_list.CANONICAL_HEADERS)
    return template_workbook(title="参保名单", columns=columns)


# --- status changes brought by a roster import ----------------------------------------------------


def record_imported_status_changes(*, user, changes, reason: str) -> None:
    """The roster import changed the 脱贫状态 of households on record: ``changes`` is
    ``[(household id, status before, status after, effective date or None)]`` (None: today).
    Inside the import's transaction, set-based (a few queries whatever the number): a first
    period (the status before, from ``FACTS_START``) for households without one, a dated
    period for each change (a period already on that day is overwritten: the roster is the
    later word), and one ``member_facts_changed`` event per effective date naming the
    households' members. The import has written today's column already."""
    from simple_history.utils import bulk_create_with_history, bulk_update_with_history

    today = _today()
    ids = [household_id for household_id, *_ in changes]
    periods: dict[int, list] = {}
    for start in range(0, len(ids), 2000):
        for period in HouseholdStatusPeriod.objects.filter(
            household_id__in=ids[start : start + 2000]
        ).order_by("effective_from"):
            periods.setdefault(period.household_id, []).append(period)
    initial, new, overwritten = [], [], []
    by_date: dict[datetime.date, list[int]] = {}
    for household_id, before, after, effective in changes:
        effective = effective or today
        existing = periods.get(household_id, [])
        if not existing:
            initial.append(_initial_period(household_id, before, user))
            existing = [initial[-1]]
        history = [(p.effective_from, p.poverty_status) for p in existing]
        prior = _value_before(history, effective, before)
        same_day = next((p for p in existing if p.effective_from == effective and p.pk), None)
        if same_day is not None:
            same_day.poverty_status, same_day.event = after, _status_event(prior, after)
            same_day.reason = reason[:200]
            overwritten.append(same_day)
        else:
            new.append(
                HouseholdStatusPeriod(
                    household_id=household_id,
                    poverty_status=after,
                    event=_status_event(prior, after),
                    effective_from=effective,
                    reason=reason[:200],
                    created_by=user,
                )
            )
        by_date.setdefault(effective, []).append(household_id)
    history_reason = reason[:100]
    if initial:
        bulk_create_with_history(
            initial,
            HouseholdStatusPeriod,
            batch_size=500,
            default_user=user,
            default_change_reason="初始登记",
        )
    if new:
        bulk_create_with_history(
            new,
            HouseholdStatusPeriod,
            batch_size=500,
            default_user=user,
            default_change_reason=history_reason,
        )
    if overwritten:
        bulk_update_with_history(
            overwritten,
            HouseholdStatusPeriod,
            ["poverty_status", "event", "reason"],
            batch_size=500,
            default_user=user,
            default_change_reason=history_reason,
        )
    for effective, household_ids in sorted(by_date.items()):
        member_ids = []
        for start in range(0, len(household_ids), 2000):
            member_ids += Member.objects.filter(
                household_id__in=household_ids[start : start + 2000]
            ).values_list("id", flat=True)
        if member_ids:
            events.record_member_facts_changed(member_ids=member_ids, effective_from=effective)
