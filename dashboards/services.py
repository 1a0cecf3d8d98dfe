"""Operations that change dashboard data: rebuilding the aggregates, targets, public notices
and their objections.

Each validates, writes inside one transaction and raises ``DashboardError`` (one domain error
type, Chinese message, optionally the form field it concerns).
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import BooleanField, Case, Count, F, Q, Sum, When
from django.db.models.functions import ExtractMonth
from django.utils import timezone

from claims.codes import FIRST_FOLLOWUP_DAYS, IN_COUNTY_LEVELS
from claims.models import Encounter, IllnessRecord
from core.errors import DomainError
from registry import facts, roles
from registry.models import Household, Member, PovertyStatus, Village
from settlement.models import Settlement, SettlementLine

from . import definitions, selectors
from .models import (
    ContractCell,
    EncounterCell,
    IllnessCell,
    MemberYearCell,
    Notice,
    NoticeEntry,
    NoticeObjection,
    PayoutCell,
    RefreshRun,
    RegistryCell,
    RiskCell,
    SettlementCell,
    Target,
    YearStamp,
)

ProgressCallback = Callable[[str, int, int], None]


class DashboardError(DomainError):
    """A refused dashboard operation (core.errors.DomainError: message, field, code)."""


# --- aggregates --------------------------------------------------------------------------------


@dataclass
class RefreshResult:
    years: list[int]
    cells: int
    seconds: float


def default_years(today: datetime.date) -> list[int]:
    """What the schedule refreshes: this year, and last year, which still changes in its
    first months (late discharges, re-settlements after a policy correction)."""
    return [today.year - 1, today.year]


# Any fixed number: it names the lock that keeps two refreshes from interleaving.
_ADVISORY_LOCK = 58_402_117


def _lock_refresh() -> None:
    # SQLite already serialises writers; PostgreSQL needs an explicit lock, or a beat run and a
    # button run would delete and insert the same cells at once.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_ADVISORY_LOCK])


def _replace(model, scope: Q, rows: Iterable[dict]) -> int:
    """Delete ``model``'s cells in ``scope`` and insert ``rows`` in their place."""
    model.objects.filter(scope).delete()
    objs = [model(**row) for row in rows]
    model.objects.bulk_create(objs, batch_size=2000)
    return len(objs)


def _in_villages(village_ids, path: str) -> Q:
    return Q(**{f"{path}__in": village_ids}) if village_ids is not None else Q()


def _year_bounds(year: int, field: str) -> Q:
    return Q(**{f"{field}__gte": datetime.date(year, 1, 1), f"{field}__lt": datetime.date(year + 1, 1, 1)})


_MEMBER_VILLAGE = "member__household__village_id"


def _refresh_registry(year: int, village_ids, today) -> int:
    """The register at the year's end (31 December, or today for the current year): each
    household's poverty status on that day, and the members who had not left the record before
    the year began, insured by the year's enrollment (else the roster's flag)."""
    end = min(datetime.date(year, 12, 31), today)
    households = (
        Household.objects.filter(_in_villages(village_ids, "village_id"))
        .alias(status_then=facts.poverty_status_on("pk", end))
        .values("village_id")
        .annotate(
            households=Count("id"),
            households_poor=Count("id", filter=Q(status_then=PovertyStatus.POOR)),
            households_lifted=Count("id", filter=Q(status_then=PovertyStatus.LIFTED)),
            households_monitored=Count("id", filter=Q(status_then=PovertyStatus.MONITORED)),
        )
        .order_by()
    )
    members = (
        Member.objects.filter(_in_villages(village_ids, "household__village_id"))
        .exclude(exit__left_on__lt=datetime.date(year, 1, 1))
        .alias(insured_then=facts.insured_in(year))
        .values(village_id=F("household__village_id"))
        .annotate(
            members=Count("id"),
            members_insured=Count("id", filter=Q(insured_then=True)),
            members_uninsured=Count("id", filter=Q(insured_then=False)),
            members_insured_unknown=Count("id", filter=Q(insured_then__isnull=True)),
        )
        .order_by()
    )
    cells: dict[int, dict] = {}
    for row in list(households) + list(members):
        cells.setdefault(row["village_id"], {"year": year}).update(row)
    return _replace(RegistryCell, Q(year=year) & _in_villages(village_ids, "village_id"), cells.values())


def _refresh_encounters(year: int, village_ids, today) -> int:
    in_county = Case(
        When(institution__level__in=IN_COUNTY_LEVELS, then=True), default=False, output_field=BooleanField()
    )
    rows = (
        Encounter.objects.filter(
            _year_bounds(year, "service_date"), _in_villages(village_ids, _MEMBER_VILLAGE), is_current=True
        )
        .annotate(cell_month=ExtractMonth("service_date"), cell_in_county=in_county)
        .values("kind", village_id=F(_MEMBER_VILLAGE), month=F("cell_month"), in_county=F("cell_in_county"))
        .annotate(encounters=Count("id"), total_cost=Sum("total_cost"), in_policy_cost=Sum("in_policy_cost"))
        .order_by()
    )
    return _replace(
        EncounterCell,
        Q(year=year) & _in_villages(village_ids, "village_id"),
        ({**row, "year": year} for row in rows),
    )


def _current_settlements(year: int, village_ids, prefix: str = ""):
    return Q(**{f"{prefix}is_current": True, f"{prefix}year": year}) & _in_villages(
        village_ids, prefix + _MEMBER_VILLAGE
    )


def _refresh_settlements(year: int, village_ids, today) -> int:
    rows = (
        Settlement.objects.filter(_current_settlements(year, village_ids))
        .annotate(cell_month=ExtractMonth("service_date"))
        .values(
            village_id=F(_MEMBER_VILLAGE),
            month=F("cell_month"),
            kind=F("encounter__kind"),
            # The status on the day of care (dated facts), not today's: a stay of a household
            # lifted later counts among the poor households' stays.
            poverty_status=facts.poverty_status_on("member__household", "service_date"),
        )
        .annotate(
            settlements=Count("id"),
            total_cost=Sum("total_cost"),
            payouts_total=Sum("payouts_total"),
            self_pay=Sum("self_pay"),
            in_policy_self_pay=Sum("in_policy_self_pay"),
        )
        .order_by()
    )
    return _replace(
        SettlementCell,
        Q(year=year) & _in_villages(village_ids, "village_id"),
        ({**row, "year": year} for row in rows),
    )


def _refresh_payouts(year: int, village_ids, today) -> int:
    rows = (
        SettlementLine.objects.filter(_current_settlements(year, village_ids, "settlement__"))
        .annotate(cell_month=ExtractMonth("settlement__service_date"))
        .values(
            "tier_key",
            "tier_kind",
            "tier_name",
            "fund",
            village_id=F("settlement__" + _MEMBER_VILLAGE),
            month=F("cell_month"),
        )
        .annotate(lines=Count("id"), amount=Sum("amount"))
        .order_by()
    )
    return _replace(
        PayoutCell,
        Q(year=year) & _in_villages(village_ids, "village_id"),
        ({**row, "year": year} for row in rows),
    )


def _refresh_illnesses(year: int, village_ids, today) -> int:
    rows = (
        IllnessRecord.objects.filter(
            _year_bounds(year, "diagnosed_on"), _in_villages(village_ids, _MEMBER_VILLAGE)
        )
        .annotate(cell_month=ExtractMonth("diagnosed_on"))
        .values("status", village_id=F(_MEMBER_VILLAGE), month=F("cell_month"))
        .annotate(records=Count("id"))
        .order_by()
    )
    return _replace(
        IllnessCell,
        Q(year=year) & _in_villages(village_ids, "village_id"),
        ({**row, "year": year} for row in rows),
    )


def _refresh_contracts(year: int, village_ids, today) -> int:
    cells: dict[tuple[int, int], dict] = {}
    village_path = "household__village_id"
    for month in range(1, 13):
        day = definitions.measuring_day(year, month, today)
        if day is None:
            break
        signed = (
            selectors.signing_contracts()
            .filter(_in_villages(village_ids, village_path), start_date__lte=day, end_date__gte=day)
            .values(village_id=F(village_path))
            .annotate(households_signed=Count("household_id", distinct=True))
            .order_by()
        )
        for row in signed:
            cells.setdefault((row["village_id"], month), {}).update(row)
    cutoff = today - datetime.timedelta(days=FIRST_FOLLOWUP_DAYS)
    started = (
        selectors.contracts_with_first_quarter()
        .filter(_year_bounds(year, "start_date"), _in_villages(village_ids, village_path))
        .annotate(cell_month=ExtractMonth("start_date"))
        .values(village_id=F(village_path), month=F("cell_month"))
        .annotate(
            contracts_started=Count("id"),
            contracts_due=Count("id", filter=Q(start_date__lte=cutoff)),
            contracts_without_followup=Count("id", filter=Q(start_date__lte=cutoff, followed=False)),
        )
        .order_by()
    )
    for row in started:
        cells.setdefault((row["village_id"], row["month"]), {}).update(row)
    rows = (
        {**values, "village_id": village_id, "month": month, "year": year}
        for (village_id, month), values in cells.items()
    )
    return _replace(ContractCell, Q(year=year) & _in_villages(village_ids, "village_id"), rows)


def _refresh_member_years(year: int, village_ids, today) -> int:
    rows = (
        Settlement.objects.filter(_current_settlements(year, village_ids))
        .values("member_id", village_id=F(_MEMBER_VILLAGE))
        .annotate(settlements=Count("id"), total_cost=Sum("total_cost"), self_pay=Sum("self_pay"))
        .order_by()
    )
    # A member whose household moved keeps one row per year: the scope covers both villages.
    scope = Q(year=year)
    if village_ids is not None:
        scope &= Q(village_id__in=village_ids) | Q(**{f"{_MEMBER_VILLAGE}__in": village_ids})
    written = _replace(MemberYearCell, scope, ({**row, "year": year} for row in rows))

    income = F("member__household__annual_income")
    risk = (
        MemberYearCell.objects.filter(Q(year=year) & _in_villages(village_ids, "village_id"))
        .values("village_id")
        .annotate(
            members_at_risk=Count("id", filter=Q(self_pay__gt=income * definitions.RISK_INCOME_SHARE)),
            members_without_income=Count(
                "id", filter=Q(member__household__annual_income__isnull=True, self_pay__gt=0)
            ),
        )
        .order_by()
    )
    return written + _replace(
        RiskCell,
        Q(year=year) & _in_villages(village_ids, "village_id"),
        ({**row, "year": year} for row in risk),
    )


_YEAR_STEPS = (
    ("建档立卡", _refresh_registry),
    ("就诊", _refresh_encounters),
    ("结算", _refresh_settlements),
    ("各层级支付", _refresh_payouts),
    ("疾病救治", _refresh_illnesses),
    ("家庭医生签约", _refresh_contracts),
    ("个人自付与返贫风险", _refresh_member_years),
)


def aggregates_refresh(
    *,
    year: int | None = None,
    villages: Iterable | None = None,
    years: Iterable[int] | None = None,
    progress: ProgressCallback | None = None,
    run: RefreshRun | None = None,
    today: datetime.date | None = None,
) -> RefreshResult:
    """Rebuild the dashboard cells of ``year`` (or of ``years``; default: ``default_years``),
    the register's included, for ``villages`` (ids or Village objects; default all), in one
    transaction: pages read either the old cells or the new ones, never a mix."""
    started = time.perf_counter()
    today = today or timezone.localdate()
    if years is None:
        years = [year] if year is not None else default_years(today)
    years = sorted(set(years))
    village_ids = None
    if villages is not None:
        village_ids = sorted({getattr(v, "pk", v) for v in villages})
    total = len(years) * len(_YEAR_STEPS)
    done = 0

    def step(label: str) -> None:
        if progress:
            progress(label, done, total)

    cells = 0
    with transaction.atomic():
        _lock_refresh()
        for each_year in years:
            for label, refresh in _YEAR_STEPS:
                step(f"{each_year}年{label}")
                cells += refresh(each_year, village_ids, today)
                done += 1
        if village_ids is None:
            now = timezone.now()
            for each_year in years:
                YearStamp.objects.update_or_create(year=each_year, defaults={"refreshed_at": now, "run": run})
    step("完成")
    return RefreshResult(years=years, cells=cells, seconds=time.perf_counter() - started)


# --- refresh runs (the 立即刷新 button and the schedule) ---------------------------------------


def _progress_key(run_id: int) -> str:
    return f"dashboards:refresh:{run_id}"


def refresh_request(*, user, year: int | None = None) -> RefreshRun:
    """County staff ask for a refresh now; the caller queues ``tasks.run_refresh``."""
    roles.require_county(user)
    today = timezone.localdate()
    if year is not None and not (2000 <= year <= today.year + 1):
        raise DashboardError("年度不正确。", field="year")
    years = [year] if year is not None else default_years(today)
    return RefreshRun.objects.create(years=years, requested_by=user)


def refresh_run_execute(*, run_id: int | None = None) -> RefreshRun:
    """Run a requested refresh, or (no ``run_id``: the beat schedule) a new one of the
    default years. A run already finished is left alone, so a redelivered task is harmless."""
    if run_id is None:
        run = RefreshRun.objects.create(years=default_years(timezone.localdate()))
    else:
        run = RefreshRun.objects.get(pk=run_id)
        if run.status in (RefreshRun.Status.DONE, RefreshRun.Status.FAILED):
            return run
    RefreshRun.objects.filter(pk=run.pk).update(status=RefreshRun.Status.RUNNING, started_at=timezone.now())
    key = _progress_key(run.pk)

    def progress(stage: str, done: int, total: int) -> None:
        cache.set(key, (stage, int(100 * done / total) if total else 0), 3600)

    try:
        cells = aggregates_refresh(years=run.years, progress=progress, run=run).cells
    except Exception as exc:
        RefreshRun.objects.filter(pk=run.pk).update(
            status=RefreshRun.Status.FAILED, error=str(exc)[:2000], finished_at=timezone.now()
        )
        raise
    RefreshRun.objects.filter(pk=run.pk).update(
        status=RefreshRun.Status.DONE, cells=cells, finished_at=timezone.now()
    )
    run.refresh_from_db()
    return run


def refresh_progress(*, run: RefreshRun) -> tuple[str, int]:
    return cache.get(_progress_key(run.pk)) or (run.get_status_display(), 0)


# --- targets ----------------------------------------------------------------------------------


def targets_update(*, user, values: dict[str, Decimal]) -> list[Target]:
    roles.require_county(user)
    unknown = set(values) - set(definitions.TARGETS_BY_KEY)
    if unknown:
        raise DashboardError(f"未知的指标：{', '.join(sorted(unknown))}")
    saved = []
    with transaction.atomic():
        for key, value in values.items():
            if value is None or not (Decimal(0) <= value <= Decimal(100)):
                raise DashboardError("目标值应在 0 到 100 之间。", field=key)
            target, _ = Target.objects.update_or_create(
                key=key,
                defaults={"value": value, "label": definitions.TARGETS_BY_KEY[key].label, "updated_by": user},
            )
            saved.append(target)
    return saved


# --- public notices ---------------------------------------------------------------------------


def notice_publish(
    *,
    user,
    village: Village,
    year: int,
    month: int,
    published_on: datetime.date | None = None,
    objection_days: int = definitions.NOTICE_OBJECTION_DAYS,
    contact: str = "",
) -> Notice:
    """Publish a village's notice of a month that is over: its reimbursed patients are copied
    into the notice as they stand."""
    roles.require_county(user)
    today = timezone.localdate()
    published_on = published_on or today
    if not 1 <= month <= 12:
        raise DashboardError("月份不正确。", field="month")
    if definitions.month_end(year, month) >= published_on:
        raise DashboardError("只能公示已经结束的月份。", field="month")
    if objection_days < 1:
        raise DashboardError("公示期至少 1 天。", field="objection_days")
    rows = selectors.notice_preview(village=village, year=year, month=month)
    if not rows:
        raise DashboardError(f"{village}{year}年{month}月没有报销记录，无需公示。")
    with transaction.atomic():
        if Notice.objects.select_for_update().filter(village=village, year=year, month=month).exists():
            raise DashboardError("该村该月的公示已经发布。", code="conflict")
        notice = Notice.objects.create(
            village=village,
            year=year,
            month=month,
            published_on=published_on,
            objection_days=objection_days,
            contact=contact.strip(),
            published_by=user,
            funds=selectors.fund_columns(rows),
        )
        NoticeEntry.objects.bulk_create(
            [
                NoticeEntry(
                    notice=notice,
                    position=position,
                    settlement_id=row.settlement_id,
                    masked_name=row.masked_name,
                    institution=row.institution,
                    kind=row.kind,
                    admission_date=row.admission_date,
                    discharge_date=row.discharge_date,
                    total_cost=row.total_cost,
                    payouts={fund: str(amount) for fund, amount in row.payouts.items()},
                    payouts_total=row.payouts_total,
                    self_pay=row.self_pay,
                )
                for position, row in enumerate(rows, start=1)
            ]
        )
    return notice


def notice_close(*, user, notice: Notice) -> Notice:
    """End a notice once its objection period is over and every objection has an answer (the
    counties promise one to every complaint)."""
    roles.require_county(user)
    with transaction.atomic():
        current = Notice.objects.select_for_update().get(pk=notice.pk)
        if current.status == Notice.Status.CLOSED:
            raise DashboardError("该公示已经结束。")
        if timezone.localdate() <= current.objection_deadline:
            raise DashboardError(f"公示期到 {current.objection_deadline:%Y-%m-%d} 才结束。")
        if current.objections.filter(resolved_at__isnull=True).exists():
            raise DashboardError("还有未答复的异议，请先答复。")
        current.status = Notice.Status.CLOSED
        current.closed_by = user
        current.closed_at = timezone.now()
        current.save(update_fields=["status", "closed_by", "closed_at"])
    return current


def _check_notice_scope(user, notice: Notice) -> None:
    township_id = roles.township_id_of(user)
    if township_id is not None and notice.village.township_id != township_id:
        raise DashboardError("只能登记本乡镇的公示异议。")


def objection_record(
    *,
    user,
    notice: Notice,
    raised_by: str,
    content: str,
    received_on: datetime.date,
    contact: str = "",
    entry: NoticeEntry | None = None,
) -> NoticeObjection:
    """Record an objection received during the notice's objection period (county staff, or
    the clinic of the notice's township)."""
    roles.require_write(user)
    _check_notice_scope(user, notice)
    if notice.status != Notice.Status.PUBLISHED:
        raise DashboardError("该公示已经结束，不能再登记异议。")
    if not (raised_by or "").strip():
        raise DashboardError("请填写反映人。", field="raised_by")
    if not (content or "").strip():
        raise DashboardError("请填写异议内容。", field="content")
    if not notice.published_on <= received_on <= notice.objection_deadline:
        raise DashboardError(
            f"受理日期应在公示期内（{notice.published_on:%Y-%m-%d} 至 "
            f"{notice.objection_deadline:%Y-%m-%d}）。",
            field="received_on",
        )
    if received_on > timezone.localdate():
        raise DashboardError("受理日期不能晚于今天。", field="received_on")
    if entry is not None and entry.notice_id != notice.pk:
        raise DashboardError("所选条目不属于该公示。", field="entry")
    return NoticeObjection.objects.create(
        notice=notice,
        entry=entry,
        raised_by=raised_by.strip(),
        contact=contact.strip(),
        content=content.strip(),
        received_on=received_on,
        recorded_by=user,
    )


def objection_resolve(*, user, objection: NoticeObjection, resolution: str) -> NoticeObjection:
    roles.require_county(user)
    if not (resolution or "").strip():
        raise DashboardError("请填写处理结果。", field="resolution")
    with transaction.atomic():
        current = NoticeObjection.objects.select_for_update().get(pk=objection.pk)
        if current.resolved_at is not None:
            raise DashboardError("该异议已经答复。", code="conflict")
        current.resolution = resolution.strip()
        current.resolved_by = user
        current.resolved_at = timezone.now()
        current.save(update_fields=["resolution", "resolved_by", "resolved_at"])
    return current
