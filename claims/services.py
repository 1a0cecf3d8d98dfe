"""Operations that change the claims app: reference data, illness records, screening, family
doctors and encounters.

Views, the API, management commands and Celery tasks all call these functions. Each checks
the user's role and township, validates, then writes inside one transaction; a refusal is a
``ClaimsError`` (a Chinese message, the field it concerns, and a code: ``"invalid"``,
``"conflict"`` for a save over a newer version, ``"settled"`` for an edit of a settled
encounter). Warnings (an uninsured patient, a chronic-disease visit for a disease outside the
chronic list) do not stop a save: they are returned for the page to show.
"""

from __future__ import annotations

import datetime
import hashlib
import re
import secrets
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from core import bulk, idempotency
from core.errors import DomainError
from core.imports import ImportReport, import_job_confirm, import_job_create, import_job_run
from core.ratelimit import probe_blocked, probe_counted
from core.rows import RowError
from registry import roles
from registry.idnumber import normalize_id_number
from registry.models import Household, Member, MemberExit, Village

from . import access, codes, encounter_rows, events, icd, review_rules, selectors
from . import items as bill_items
from .models import (
    CatalogueItem,
    Contract,
    ContractStatus,
    Discharge,
    DischargeStatus,
    Disease,
    Encounter,
    EncounterImport,
    EncounterItem,
    EncounterKind,
    FollowUp,
    IllnessRecord,
    IllnessStatus,
    Institution,
    InstitutionLevel,
    InstitutionToken,
    InstitutionUser,
    ReviewFlag,
    ReviewRule,
    Screening,
    ServicePackage,
    Team,
    TeamMember,
)

ProgressCallback = Callable[[str, int, int], None]
_CHUNK = 2000  # keeps IN (…) lists under SQLite's variable limit


class ClaimsError(DomainError):
    """A refused claims operation (core.errors.DomainError: message, field, code)."""


def _chunks(items: Sequence, size: int = _CHUNK):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _check_version(obj, version: int | None, what: str) -> None:
    if version is not None and obj.version != version:
        raise ClaimsError(
            f"保存失败：该{what}在您打开后已被他人修改（您打开时为第{version}版，现在是第{obj.version}版）。"
            "请重新打开页面，核对最新内容后再修改。",
            code="conflict",
        )


def _check_township(user, township_id, what: str, field_name: str | None = None) -> None:
    own = roles.township_id_of(user)
    if own is not None and township_id != own:
        raise ClaimsError(f"只能处理本乡镇的{what}。", field_name)


def _member_township(member: Member) -> int:
    # From the member's household and village when the caller loaded them with it.
    if Member.household.is_cached(member) and Household.village.is_cached(member.household):
        return member.household.village.township_id
    return Member.objects.filter(pk=member.pk).values_list("household__village__township_id", flat=True).get()


def _not_future(value: datetime.date | None, field_name: str, label: str) -> None:
    if value is not None and value > selectors.today():
        raise ClaimsError(f"{label}不能晚于今天。", field_name)


def _apply(obj, changes: dict, allowed: Iterable[str], *, user, reason: str) -> bool:
    """Set the changed fields of ``changes`` on ``obj`` and save with history; False if nothing
    changed. Unknown fields are refused."""
    unknown = set(changes) - set(allowed)
    if unknown:
        raise ClaimsError(f"不能修改的字段：{', '.join(sorted(unknown))}")
    changed = [name for name, value in changes.items() if getattr(obj, name) != value]
    if not changed:
        return False
    for name in changed:
        setattr(obj, name, changes[name])
    if hasattr(obj, "version"):
        obj.version += 1
    obj._change_reason = reason
    obj._history_user = user
    obj.save()
    return True


# --- reference data (county staff) ----------------------------------------------------------------

INSTITUTION_FIELDS = ("name", "code", "level", "designated", "township")
DISEASE_FIELDS = ("code", "name", "group", "treatment_way", "lists", "prefixes", "active")
PACKAGE_FIELDS = ("name", "tier", "items", "price", "personal_share", "active")


def _check_institution(values: dict) -> None:
    level, township = values.get("level"), values.get("township")
    if level in (InstitutionLevel.VILLAGE, InstitutionLevel.TOWNSHIP) and township is None:
        raise ClaimsError("乡镇卫生院和村卫生室必须填写所在乡镇。", "township")
    if level not in (InstitutionLevel.VILLAGE, InstitutionLevel.TOWNSHIP) and township is not None:
        raise ClaimsError("县级及以上医疗机构不填所在乡镇。", "township")
    name = (values.get("name") or "").strip()
    if not name:
        raise ClaimsError("医疗机构名称必填。", "name")


def _check_disease(values: dict) -> None:
    code = icd.normalize_code(values.get("code"))
    if not code:
        raise ClaimsError("ICD-10编码必填。", "code")
    if not icd.split_prefixes(values.get("prefixes") or "", code):
        raise ClaimsError("至少需要一个匹配前缀。", "prefixes")


def _check_package(values: dict) -> None:
    price, share = values.get("price"), values.get("personal_share")
    if price is not None and price < 0:
        raise ClaimsError("年服务费不能为负数。", "price")
    if share is not None and share < 0:
        raise ClaimsError("个人支付不能为负数。", "personal_share")
    if price is not None and share is not None and share > price:
        raise ClaimsError("个人支付不能高于年服务费。", "personal_share")


_REFERENCE = {
    Institution: (INSTITUTION_FIELDS, _check_institution, "name", "医疗机构名称"),
    Disease: (DISEASE_FIELDS, _check_disease, "code", "ICD-10编码"),
    ServicePackage: (PACKAGE_FIELDS, _check_package, "name", "服务包名称"),
}


def reference_save(*, user, model, values: dict, instance=None):
    """Create (``instance=None``) or change an institution, a catalogue entry or a service
    package. County staff only."""
    roles.require_county(user)
    allowed, check, unique_field, unique_label = _REFERENCE[model]
    if model is Disease and "code" in values:
        values = {**values, "code": icd.normalize_code(values["code"])}
    merged = {name: getattr(instance, name) for name in allowed} if instance else {}
    merged.update(values)
    check(merged)
    with transaction.atomic():
        clash = model.objects.filter(**{unique_field: merged[unique_field]})
        if instance is not None:
            clash = clash.exclude(pk=instance.pk)
        if clash.exists():
            raise ClaimsError(f"{unique_label}「{merged[unique_field]}」已存在。", unique_field)
        if instance is None:
            instance = model(**{name: value for name, value in merged.items() if name in allowed})
            instance._change_reason = "新建"
            instance._history_user = user
            instance.save()
        else:
            _apply(instance, values, allowed, user=user, reason="修改")
    return instance


# --- illness records ----------------------------------------------------------------------------

ILLNESS_FIELDS = (
    "diagnosis_code",
    "diagnosis_name",
    "diagnosed_on",
    "diagnosed_at",
    "treatment_way",
    "treatment_plan",
    "status",
    "total_cost",
    "basic_insurance",
    "catastrophic_insurance",
    "civil_aid",
    "self_pay",
    "result",
)


def _illness_values(values: dict) -> dict:
    """Normalise the code, fill the catalogue entry, name and treatment way from it, check
    dates and figures."""
    values = dict(values)
    code = icd.normalize_code(values.get("diagnosis_code"))
    if not code:
        raise ClaimsError("诊断编码必填。", "diagnosis_code")
    values["diagnosis_code"] = code
    matches = selectors.match_diseases(code)
    disease = matches[0] if matches else None
    values["disease"] = disease
    if not (values.get("diagnosis_name") or "").strip():
        if disease is None:
            raise ClaimsError("诊断编码不在病种目录中，请填写诊断名称。", "diagnosis_name")
        values["diagnosis_name"] = disease.name
    if not values.get("treatment_way") and disease is not None:
        values["treatment_way"] = disease.treatment_way
    _not_future(values.get("diagnosed_on"), "diagnosed_on", "确诊日期")
    figures = {name: values.get(name) for name in selectors.FIGURE_FIELDS}
    for name, amount in figures.items():
        if amount is not None and amount < 0:
            raise ClaimsError("金额不能为负数。", name)
    paid = [figures[name] for name in ("basic_insurance", "catastrophic_insurance", "civil_aid", "self_pay")]
    if figures["total_cost"] is not None and sum(a for a in paid if a is not None) > figures["total_cost"]:
        raise ClaimsError("基本医保、大病保险、医疗救助与个人自付之和不能超过累计总费用。", "total_cost")
    return values


def illness_create(
    *,
    user,
    member: Member,
    diagnosis_code: str,
    diagnosed_on: datetime.date,
    diagnosis_name: str = "",
    diagnosed_at: Institution | None = None,
    treatment_way: str = "",
    treatment_plan: str = "",
    status: str = IllnessStatus.PENDING,
    total_cost: Decimal | None = None,
    basic_insurance: Decimal | None = None,
    catastrophic_insurance: Decimal | None = None,
    civil_aid: Decimal | None = None,
    self_pay: Decimal | None = None,
    result: str = "",
) -> IllnessRecord:
    roles.require_write(user)
    _check_township(user, _member_township(member), "人员", "member")
    values = _illness_values(
        dict(
            diagnosis_code=diagnosis_code,
            diagnosis_name=diagnosis_name,
            diagnosed_on=diagnosed_on,
            diagnosed_at=diagnosed_at,
            treatment_way=treatment_way,
            treatment_plan=treatment_plan,
            status=status,
            total_cost=total_cost,
            basic_insurance=basic_insurance,
            catastrophic_insurance=catastrophic_insurance,
            civil_aid=civil_aid,
            self_pay=self_pay,
            result=result,
        )
    )
    with transaction.atomic():
        if IllnessRecord.objects.filter(member=member, diagnosis_code=values["diagnosis_code"]).exists():
            raise ClaimsError(
                f"{member.name}已有诊断编码为{values['diagnosis_code']}的救治档案，请打开原档案修改。",
                "diagnosis_code",
            )
        record = IllnessRecord(member=member, created_by=user, **values)
        record._change_reason = "建档"
        record._history_user = user
        record.save()
    return record


def illness_update(
    *, user, record: IllnessRecord, version: int, changes: dict, reason: str = ""
) -> IllnessRecord:
    roles.require_write(user)
    with transaction.atomic():
        current = IllnessRecord.objects.select_for_update().get(pk=record.pk)
        _check_township(user, _member_township(current.member), "人员")
        _check_version(current, version, "救治档案")
        status = changes.get("status", current.status)
        if status != current.status and status not in codes.ILLNESS_TRANSITIONS.get(current.status, ()):
            labels = dict(codes.ILLNESS_STATUSES)
            allowed = "、".join(labels[s] for s in codes.ILLNESS_TRANSITIONS.get(current.status, ()))
            raise ClaimsError(
                f"救治状态不能从“{labels[current.status]}”改为“{labels[status]}”（可改为：{allowed}）。",
                "status",
            )
        if selectors.settled_figures([current.member_id]).get(current.member_id):
            locked = [
                name
                for name in selectors.FIGURE_FIELDS
                if name in changes and changes[name] != getattr(current, name)
            ]
            if locked:
                raise ClaimsError("该患者已有结算数据，费用由结算结果自动汇总，不能手工修改。", locked[0])
        merged = {name: getattr(current, name) for name in ILLNESS_FIELDS}
        merged.update(changes)
        values = _illness_values(merged)
        if (
            values["diagnosis_code"] != current.diagnosis_code
            and IllnessRecord.objects.filter(
                member_id=current.member_id, diagnosis_code=values["diagnosis_code"]
            )
            .exclude(pk=current.pk)
            .exists()
        ):
            raise ClaimsError("该患者已有这个诊断编码的救治档案。", "diagnosis_code")
        _apply(
            current,
            {k: v for k, v in values.items() if k in (*ILLNESS_FIELDS, "disease")},
            (*ILLNESS_FIELDS, "disease"),
            user=user,
            reason=reason or "修改救治档案",
        )
    return current


# --- screening ------------------------------------------------------------------------------------


@dataclass
class ScreeningEntry:
    member_id: int
    checked: bool
    findings: str = ""


def screening_record_village(
    *,
    user,
    village: Village,
    year: int,
    round: str,
    checked_on: datetime.date,
    entries: Iterable[ScreeningEntry],
) -> dict:
    """Record a screening round for a village's members in one go: ticked members get a
    record (or their record is updated), unticked members with a record are marked not
    checked. Returns ``{"created": n, "updated": n, "unchanged": n}``."""
    roles.require_write(user)
    _check_township(user, village.township_id, "行政村")
    if round not in dict(codes.SCREENING_ROUNDS):
        raise ClaimsError("未知的筛查轮次。", "round")
    _not_future(checked_on, "checked_on", "筛查日期")
    entries = list(entries)
    village_members = set(Member.objects.filter(household__village=village).values_list("id", flat=True))
    strangers = [e.member_id for e in entries if e.member_id not in village_members]
    if strangers:
        raise ClaimsError("名单中有不属于该村的人员，请刷新页面后重试。")
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    reason = f"{year}年筛查登记"
    now = timezone.now()
    with transaction.atomic():
        existing = {
            s.member_id: s
            for s in Screening.objects.select_for_update().filter(
                member_id__in=[e.member_id for e in entries], year=year, round=round
            )
        }
        to_create, to_update = [], []
        for entry in entries:
            findings = (entry.findings or "").strip()[:200]
            record = existing.get(entry.member_id)
            if record is None:
                if entry.checked:
                    to_create.append(
                        Screening(
                            member_id=entry.member_id,
                            year=year,
                            round=round,
                            checked=True,
                            checked_on=checked_on,
                            findings=findings,
                            checked_by=user,
                        )
                    )
                continue
            if record.checked == entry.checked and record.findings == findings:
                counts["unchanged"] += 1
                continue
            record.checked, record.findings, record.checked_by = entry.checked, findings, user
            if entry.checked:
                record.checked_on = checked_on
            to_update.append(record)
        bulk_create_with_history(
            to_create, Screening, default_user=user, default_change_reason=reason, default_date=now
        )
        if to_update:
            bulk_update_with_history(
                to_update,
                Screening,
                ["checked", "findings", "checked_by", "checked_on"],
                default_user=user,
                default_change_reason=reason,
                default_date=now,
            )
    counts["created"], counts["updated"] = len(to_create), len(to_update)
    return counts


# --- family-doctor teams ------------------------------------------------------------------------

TEAM_FIELDS = ("name", "institution", "active")
TEAM_MEMBER_FIELDS = ("name", "role", "phone", "active")


def _check_clinic(user, institution: Institution) -> None:
    if institution.level != InstitutionLevel.TOWNSHIP or institution.township_id is None:
        raise ClaimsError("家庭医生团队应隶属于乡镇卫生院。", "institution")
    _check_township(user, institution.township_id, "卫生院", "institution")


def team_create(*, user, name: str, institution: Institution, active: bool = True) -> Team:
    roles.require_write(user)
    _check_clinic(user, institution)
    name = (name or "").strip()
    if not name:
        raise ClaimsError("团队名称必填。", "name")
    with transaction.atomic():
        if Team.objects.filter(institution=institution, name=name).exists():
            raise ClaimsError(f"{institution.name}已有名为「{name}」的团队。", "name")
        team = Team(name=name, institution=institution, township_id=institution.township_id, active=active)
        team._change_reason, team._history_user = "新建团队", user
        team.save()
    return team


def team_update(*, user, team: Team, changes: dict) -> Team:
    roles.require_write(user)
    _check_township(user, team.township_id, "团队")
    if "institution" in changes:
        _check_clinic(user, changes["institution"])
        changes = {**changes, "township": changes["institution"].township}
    with transaction.atomic():
        name = changes.get("name", team.name)
        institution = changes.get("institution", team.institution)
        if Team.objects.filter(institution=institution, name=name).exclude(pk=team.pk).exists():
            raise ClaimsError(f"{institution.name}已有名为「{name}」的团队。", "name")
        _apply(team, changes, (*TEAM_FIELDS, "township"), user=user, reason="修改团队")
    return team


def team_member_add(*, user, team: Team, name: str, role: str, phone: str = "") -> TeamMember:
    roles.require_write(user)
    _check_township(user, team.township_id, "团队")
    if not (name or "").strip():
        raise ClaimsError("姓名必填。", "name")
    if role not in dict(codes.TEAM_ROLES):
        raise ClaimsError("未知的团队角色。", "role")
    member = TeamMember(team=team, name=name.strip(), role=role, phone=phone)
    member._change_reason, member._history_user = "加入团队", user
    member.save()
    return member


def team_member_update(*, user, member: TeamMember, changes: dict) -> TeamMember:
    roles.require_write(user)
    _check_township(user, member.team.township_id, "团队")
    _apply(
        member,
        changes,
        TEAM_MEMBER_FIELDS,
        user=user,
        reason="离开团队" if changes.get("active") is False else "修改团队成员",
    )
    return member


# --- contracts ----------------------------------------------------------------------------------

CONTRACT_FIELDS = ("team", "package", "start_date", "end_date", "notes")


def default_end_date(start: datetime.date) -> datetime.date:
    """A contract runs one year: to the day before the same date next year."""
    try:
        same_day = start.replace(year=start.year + 1)
    except ValueError:  # 29 February
        same_day = start.replace(year=start.year + 1, day=28) + datetime.timedelta(days=1)
    return same_day - datetime.timedelta(days=1)


def _check_contract_terms(
    *,
    household_township: int,
    team: Team,
    package: ServicePackage,
    start_date: datetime.date,
    end_date: datetime.date,
) -> None:
    if team.township_id != household_township:
        raise ClaimsError("只能签约本乡镇卫生院的团队。", "team")
    if not team.active:
        raise ClaimsError("该团队已停用。", "team")
    if not package.active:
        raise ClaimsError("该服务包已停止签约。", "package")
    if end_date <= start_date:
        raise ClaimsError("签约结束日期应晚于开始日期。", "end_date")
    if start_date > selectors.today() + datetime.timedelta(days=366):
        raise ClaimsError("签约开始日期过远。", "start_date")


def contract_sign(
    *,
    user,
    household: Household,
    team: Team,
    package: ServicePackage,
    start_date: datetime.date,
    end_date: datetime.date | None = None,
    members: Iterable[Member] | None = None,
    notes: str = "",
) -> Contract:
    """Sign a household (all members, or the given ones) to a team and a package."""
    roles.require_write(user)
    township = Household.objects.filter(pk=household.pk).values_list("village__township_id", flat=True).get()
    _check_township(user, township, "户", "household")
    end_date = end_date or default_end_date(start_date)
    _check_contract_terms(
        household_township=township, team=team, package=package, start_date=start_date, end_date=end_date
    )
    household_members = {m.pk: m for m in household.members.all()}
    chosen = [m.pk for m in members] if members is not None else list(household_members)
    if not chosen:
        raise ClaimsError("至少选择一名签约成员。", "members")
    if any(pk not in household_members for pk in chosen):
        raise ClaimsError("签约成员必须是本户成员。", "members")
    try:
        with transaction.atomic():
            # A contract past its end date is over even if the daily task missed it.
            _expire(Contract.objects.lapsed(selectors.today()).filter(household=household))
            if Contract.objects.filter(household=household, status=ContractStatus.ACTIVE).exists():
                raise ClaimsError(
                    f"户 {household.number} 已有履约中的签约，请先解约或待其到期后再签。", "household"
                )
            contract = Contract(
                household=household,
                team=team,
                package=package,
                start_date=start_date,
                end_date=end_date,
                notes=notes,
                signed_by=user,
            )
            contract._change_reason, contract._history_user = "签约", user
            contract.save()
            contract.members.set(chosen)
    except IntegrityError as exc:
        raise ClaimsError(f"户 {household.number} 刚刚已被他人签约。", "household") from exc
    return contract


def contract_update(
    *, user, contract: Contract, version: int, changes: dict, members: Iterable[Member] | None = None
) -> Contract:
    roles.require_write(user)
    with transaction.atomic():
        current = (
            Contract.objects.select_for_update().select_related("household__village").get(pk=contract.pk)
        )
        township = current.household.village.township_id
        _check_township(user, township, "签约")
        _check_version(current, version, "签约")
        if not Contract.objects.in_force().filter(pk=current.pk).exists():
            raise ClaimsError("只有履约中的签约可以修改。")
        merged = {name: getattr(current, name) for name in CONTRACT_FIELDS}
        merged.update(changes)
        _check_contract_terms(
            household_township=township,
            team=merged["team"],
            package=merged["package"],
            start_date=merged["start_date"],
            end_date=merged["end_date"],
        )
        changed = _apply(current, changes, CONTRACT_FIELDS, user=user, reason="修改签约")
        if members is not None:
            chosen = {m.pk for m in members}
            if not chosen:
                raise ClaimsError("至少选择一名签约成员。", "members")
            if set(current.household.members.filter(pk__in=chosen).values_list("pk", flat=True)) != chosen:
                raise ClaimsError("签约成员必须是本户成员。", "members")
            if chosen != set(current.members.values_list("pk", flat=True)):
                if not changed:
                    current.version += 1
                    current._change_reason, current._history_user = "修改签约成员", user
                    current.save()
                current.members.set(chosen)
    return current


def contract_terminate(*, user, contract: Contract, version: int, reason: str) -> Contract:
    roles.require_write(user)
    if not (reason or "").strip():
        raise ClaimsError("请填写解约原因。", "reason")
    with transaction.atomic():
        current = (
            Contract.objects.select_for_update().select_related("household__village").get(pk=contract.pk)
        )
        _check_township(user, current.household.village.township_id, "签约")
        _check_version(current, version, "签约")
        if not Contract.objects.in_force().filter(pk=current.pk).exists():
            raise ClaimsError("该签约已不在履约中。")
        _apply(
            current,
            {"status": "terminated", "notes": reason.strip()[:200]},
            ("status", "notes"),
            user=user,
            reason=f"解约：{reason.strip()}"[:100],
        )
    return current


@dataclass
class VillageSigning:
    """What signing a village did (or, in a preview, would do)."""

    dry_run: bool
    households: list = field(default_factory=list)  # [{"id", "number", "head", "members"}]
    contracts_created: int = 0
    members_signed: int = 0


def contract_sign_village(
    *,
    user,
    village: Village,
    team: Team,
    package: ServicePackage,
    start_date: datetime.date,
    end_date: datetime.date | None = None,
    dry_run: bool = False,
) -> VillageSigning:
    """Sign every household of ``village`` without a contract in force, all its members, to
    ``team`` and ``package``. A preview (``dry_run``) lists them; the confirmation computes the
    list again, so households signed meanwhile are left alone."""
    roles.require_write(user)
    _check_township(user, village.township_id, "行政村", "village")
    end_date = end_date or default_end_date(start_date)
    _check_contract_terms(
        household_township=village.township_id,
        team=team,
        package=package,
        start_date=start_date,
        end_date=end_date,
    )
    report = VillageSigning(dry_run=dry_run)
    households = list(selectors.unsigned_households(village))
    report.households = [
        {"id": h.pk, "number": h.number, "head": h.head_name or "", "members": h.member_count}
        for h in households
    ]
    report.members_signed = sum(h.member_count for h in households)
    if dry_run or not households:
        return report
    reason = f"整村签约：{village}"
    now = timezone.now()
    try:
        with transaction.atomic():
            _expire(
                Contract.objects.lapsed(selectors.today()).filter(household_id__in=[h.pk for h in households])
            )
            contracts = [
                Contract(
                    household_id=h.pk,
                    team=team,
                    package=package,
                    start_date=start_date,
                    end_date=end_date,
                    signed_by=user,
                    version=1,
                )
                for h in households
            ]
            bulk_create_with_history(
                contracts, Contract, default_user=user, default_change_reason=reason, default_date=now
            )
            by_household = {c.household_id: c.pk for c in contracts}
            through = Contract.members.through
            links = [
                through(contract_id=by_household[household_id], member_id=member_id)
                for member_id, household_id in Member.objects.filter(
                    household_id__in=list(by_household)
                ).values_list("id", "household_id")
            ]
            through.objects.bulk_create(links, batch_size=1000)
    except IntegrityError as exc:
        raise ClaimsError("签约时有户刚刚被他人签约，请重新预览后再确认。") from exc
    report.contracts_created = len(contracts)
    return report


def contracts_expire(*, on: datetime.date | None = None) -> int:
    """Mark contracts whose end date has passed as expired (a daily task, in
    ``CELERY_BEAT_SCHEDULE``; signing does it too for its household, so a missed run blocks
    nobody)."""
    return _expire(Contract.objects.lapsed(on or selectors.today()))


@transaction.atomic
def _expire(lapsed) -> int:
    expired = list(lapsed.select_for_update())
    for contract in expired:
        contract.status = ContractStatus.EXPIRED
        contract.version += 1
    if expired:
        bulk_update_with_history(
            expired,
            Contract,
            ["status", "version"],
            default_change_reason="到期",
            default_date=timezone.now(),
        )
    return len(expired)


# --- follow-ups ---------------------------------------------------------------------------------

FOLLOWUP_FIELDS = ("member", "date", "doctor", "kind", "systolic", "diastolic", "glucose", "notes")


def _check_followup(contract: Contract, values: dict) -> None:
    member, doctor = values.get("member"), values.get("doctor")
    if member is None or not contract.members.filter(pk=member.pk).exists():
        raise ClaimsError("随访对象必须是该签约的签约成员。", "member")
    if doctor is not None and doctor.team_id != contract.team_id:
        raise ClaimsError("随访医生必须是签约团队的成员。", "doctor")
    date = values.get("date")
    if date is None:
        raise ClaimsError("随访日期必填。", "date")
    _not_future(date, "date", "随访日期")
    if date < contract.start_date:
        raise ClaimsError("随访日期早于签约开始日期。", "date")
    if values.get("kind") not in dict(codes.FOLLOWUP_KINDS):
        raise ClaimsError("未知的随访方式。", "kind")
    systolic, diastolic = values.get("systolic"), values.get("diastolic")
    if (systolic is None) != (diastolic is None):
        raise ClaimsError("血压请同时填写收缩压和舒张压。", "diastolic" if diastolic is None else "systolic")
    if systolic is not None:
        if not 40 <= systolic <= 300:
            raise ClaimsError("收缩压应在40–300 mmHg之间。", "systolic")
        if not 20 <= diastolic <= 200:
            raise ClaimsError("舒张压应在20–200 mmHg之间。", "diastolic")
        if diastolic >= systolic:
            raise ClaimsError("舒张压应低于收缩压。", "diastolic")
    glucose = values.get("glucose")
    if glucose is not None and not (0 < glucose <= 50):
        raise ClaimsError("血糖应在0–50 mmol/L之间。", "glucose")


def followup_create(
    *,
    user,
    contract: Contract,
    member: Member,
    date: datetime.date,
    kind: str,
    doctor: TeamMember | None = None,
    systolic: int | None = None,
    diastolic: int | None = None,
    glucose: Decimal | None = None,
    notes: str = "",
) -> FollowUp:
    roles.require_write(user)
    _check_township(user, contract.household.village.township_id, "签约")
    values = dict(
        member=member,
        date=date,
        doctor=doctor,
        kind=kind,
        systolic=systolic,
        diastolic=diastolic,
        glucose=glucose,
        notes=notes,
    )
    _check_followup(contract, values)
    followup = FollowUp(contract=contract, created_by=user, **values)
    followup._change_reason, followup._history_user = "随访登记", user
    followup.save()
    return followup


def followup_update(*, user, followup: FollowUp, changes: dict) -> FollowUp:
    roles.require_write(user)
    contract = followup.contract
    _check_township(user, contract.household.village.township_id, "签约")
    merged = {name: getattr(followup, name) for name in FOLLOWUP_FIELDS}
    merged.update(changes)
    _check_followup(contract, merged)
    _apply(followup, changes, FOLLOWUP_FIELDS, user=user, reason="修改随访")
    return followup


# --- encounters ---------------------------------------------------------------------------------

ENCOUNTER_FIELDS = (
    "member",
    "institution",
    "kind",
    "admission_date",
    "discharge_date",
    "diagnosis_code",
    "diagnosis_name",
    "total_cost",
    "in_policy_cost",
    "package",
    "referred",
)
_FIELD_OF_COLUMN = {header: attr for attr, header, _, _ in encounter_rows._COLUMNS}


def _service_year(values) -> int:
    return (values["discharge_date"] or values["admission_date"]).year


def _enqueue(pairs: Iterable[tuple[int, int]]) -> None:
    """Record, in the caller's transaction, the member-years to settle (claims.events: the
    settlement app's outbox handler queues them after the commit, grouped by year)."""
    events.record_member_years_changed(pairs=pairs)


def encounter_warnings(*, member: Member, kind: str, diagnosis_code: str, chronic_index=None) -> list[str]:
    warnings = []
    if member.insured is not True:
        state = "未参加" if member.insured is False else "参保情况未知，可能未参加"
        warnings.append(f"{member.name}{state}城乡居民基本医疗保险，结算时基本医保不予报销，请核实参保情况。")
    if kind == EncounterKind.OUTPATIENT_CHRONIC:
        if chronic_index is None:
            matches = selectors.match_diseases(diagnosis_code)
            chronic = any(d.group == "chronic" for d in matches)
        else:
            chronic = bool(chronic_index.match(diagnosis_code)) if diagnosis_code else False
        if not chronic:
            shown = diagnosis_code or "（未填写）"
            warnings.append(
                f"门诊慢特病就诊的诊断编码{shown}不在本县门诊慢特病目录中，请核对诊断或就诊类型。"
            )
    return warnings


def _encounter_values(values: dict) -> dict:
    """Normalise and check an encounter's fields (the same rules as the Excel import)."""
    values = dict(values)
    values["diagnosis_code"] = icd.normalize_code(values.get("diagnosis_code"))
    values["package"] = icd.normalize_code(values.get("package"))
    values["diagnosis_name"] = (values.get("diagnosis_name") or "").strip()
    if values.get("referred") is None:
        values["referred"] = True
    if values.get("institution") is None:
        raise ClaimsError("请选择医疗机构。", "institution")
    faults = encounter_rows.encounter_faults(
        kind=values.get("kind"),
        admission_date=values.get("admission_date"),
        discharge_date=values.get("discharge_date"),
        total_cost=values.get("total_cost"),
        in_policy_cost=values.get("in_policy_cost"),
        today=selectors.today(),
    )
    if faults:
        column, message = faults[0]
        raise ClaimsError(f"{column}{message}", _FIELD_OF_COLUMN[column])
    if not values["diagnosis_name"] and values["diagnosis_code"]:
        matches = selectors.match_diseases(values["diagnosis_code"])
        if matches:
            values["diagnosis_name"] = matches[0].name
    return values


DUPLICATE_REF_TOWNSHIP = "该就诊流水号无法使用，请核对流水号（或留空自动生成），或联系县级工作人员。"
TOO_MANY_DUPLICATE_REFS = "就诊流水号被拒绝的次数过多，请稍后再试，或联系县级工作人员。"


def _duplicate_ref(user, ref: str) -> ClaimsError:
    """County staff are told the reference exists; a township clinic gets one message that does
    not say whether (or in which township) it exists, and its refusals are counted."""
    if roles.is_county(user):
        return ClaimsError(f"就诊流水号「{ref}」已存在。", "ref")
    probe_counted(user, "ref")
    return ClaimsError(DUPLICATE_REF_TOWNSHIP, "ref")


BIRTH_YEAR_PROBES = "该患者出生当年的就诊记录被拒绝的次数过多，请稍后再试，或联系县级工作人员。"


def _check_member_dates(user, values: dict) -> None:
    """An encounter cannot begin before the member was born, nor after the member left the
    record (``registry.MemberExit``: 死亡, 迁出, …; admitted on the day of the exit is
    possible). The message does not show the birth date: roles that see masked ID numbers see
    the birth year only, and their refusals are counted (core.ratelimit) so that trying
    admission dates one by one cannot find the birth date either. The exit date is shown
    only to a user whose scope holds the member (county staff, the member's township; the
    township check before this one already refuses any other clinic)."""
    member, admission = values.get("member"), values.get("admission_date")
    if member is None or admission is None:
        return
    masked = not roles.can_view_full_id(user)
    if masked and admission.year == member.birth_date.year and probe_blocked(user, "birth_date"):
        raise ClaimsError(BIRTH_YEAR_PROBES, "admission_date", code="throttled")
    if admission < member.birth_date:
        if masked:
            probe_counted(user, "birth_date")
        raise ClaimsError(
            f"{encounter_rows.COL_ADMISSION}早于该患者的出生日期，不可能有这次就诊，请核对{encounter_rows.COL_ADMISSION}。",
            "admission_date",
        )
    left_on = _left_on(member)
    if left_on is not None and admission > left_on:
        own = roles.township_id_of(user)
        shown = f"（{left_on:%Y-%m-%d}）" if own is None or own == _member_township(member) else ""
        raise ClaimsError(
            f"{encounter_rows.COL_ADMISSION}晚于该患者的减员日期{shown}，该患者已不在建档立卡名册中，"
            f"请核对{encounter_rows.COL_ADMISSION}或患者。",
            "admission_date",
        )


def _left_on(member: Member) -> datetime.date | None:
    """The member's exit date (None: still on the record), from the member's ``exit`` when
    the caller loaded it with the member (``select_related("exit")``)."""
    if Member.exit.is_cached(member):
        try:
            return member.exit.left_on
        except MemberExit.DoesNotExist:
            return None
    return MemberExit.objects.filter(member_id=member.pk).values_list("left_on", flat=True).first()


def _old_admission_warnings(admission: datetime.date | None) -> list[str]:
    days = settings.ENCOUNTER_OLD_ADMISSION_DAYS
    if admission is None or (selectors.today() - admission).days <= days:
        return []
    return [
        f"{encounter_rows.COL_ADMISSION}（{admission:%Y-%m-%d}）已超过{days}天，"
        "请核实日期无误并确认属于补录（不影响保存）。"
    ]


def new_ref(day: datetime.date) -> str:
    """A reference for an encounter entered on a page: HA + date + 8 random hex digits."""
    return f"HA{day:%Y%m%d}-{secrets.token_hex(4).upper()}"


def encounter_create(
    *,
    user,
    member: Member,
    institution: Institution,
    kind: str,
    admission_date: datetime.date,
    total_cost: Decimal | None = None,
    in_policy_cost: Decimal | None = None,
    discharge_date: datetime.date | None = None,
    diagnosis_code: str = "",
    diagnosis_name: str = "",
    package: str = "",
    referred: bool = True,
    ref: str = "",
    confirm_duplicate: bool = False,
    duplicate_reason: str = "",
    idempotency_key: str = "",
    items: list[dict] | None = None,
) -> tuple[Encounter, list[str]]:
    """Enter a visit or stay; returns it with the warnings to show. ``items`` (费用明细, the
    settlement contract's item dicts): the total is their sum and no in-policy cost is given.

    An encounter identical to a current one of the member (``_duplicate_reason``) is refused
    unless ``confirm_duplicate`` with a reason. With an ``idempotency_key`` a repeated request
    returns the first one's encounter (marked ``_replayed``) and creates nothing."""
    _require_entry(user, institution)
    _check_township(user, _member_township(member), "人员", "member")
    if (ref or "").strip() and not roles.is_county(user) and probe_blocked(user, "ref"):
        raise ClaimsError(TOO_MANY_DUPLICATE_REFS, "ref", code="throttled")
    raw = dict(
        member=member,
        institution=institution,
        kind=kind,
        admission_date=admission_date,
        discharge_date=discharge_date,
        diagnosis_code=diagnosis_code,
        diagnosis_name=diagnosis_name,
        total_cost=total_cost,
        in_policy_cost=in_policy_cost,
        package=package,
        referred=referred,
    )
    bill = _encounter_bill(raw, items)
    values = _encounter_values(raw)
    _check_member_dates(user, values)
    given_ref = (ref or "").strip()
    ref = given_ref or new_ref(admission_date)

    def insert() -> Encounter:
        try:
            with transaction.atomic():
                # A taken reference first: it is the more specific refusal.
                if Encounter.objects.filter(ref=ref).exists():
                    raise _duplicate_ref(user, ref)
                reason = _duplicate_reason(values, confirm=confirm_duplicate, reason=duplicate_reason)
                encounter = Encounter(ref=ref, created_by=user, duplicate_reason=reason, **values)
                encounter._change_reason, encounter._history_user = "录入", user
                encounter.save()
                _save_items(encounter, bill)
                encounter_review(encounter=encounter, bill=bill or (), new=True)
                _enqueue([(member.pk, _service_year(values))])
        except IntegrityError as exc:
            # The same reference saved by a concurrent request after our check above.
            if Encounter.objects.filter(ref=ref).exists():
                raise _duplicate_ref(user, ref) from exc
            raise
        return encounter

    if idempotency_key:
        encounter = _once(
            user=user,
            scope="claims.encounter_create",
            key=idempotency_key,
            request={
                **values,
                "ref": given_ref,
                "confirm": confirm_duplicate,
                "why": duplicate_reason,
                "items": items,
            },
            work=insert,
        )
    else:
        encounter = insert()
    return encounter, [
        *_old_admission_warnings(values["admission_date"]),
        *encounter_warnings(member=member, kind=kind, diagnosis_code=values["diagnosis_code"]),
    ]


def _once(
    *,
    user,
    scope: str,
    key: str,
    request: dict,
    work: Callable[[], Encounter],
    replay: Callable[[int], object] | None = None,
    reused: str = "",
):
    """``work()`` once per user and key (``core.idempotency``); a replay returns the first
    request's result (an encounter unless ``replay`` loads something else, by id) with
    ``_replayed = True``. ``reused``: the refusal of a key used for another request, when it
    is not an entry's."""
    return idempotency.service_once(
        user=user,
        scope=scope,
        key=key,
        request=request,
        work=work,
        replay=replay or (lambda pk: Encounter.objects.select_related("member").get(pk=pk)),
        error=ClaimsError,
        reused_message=reused
        or "这次提交的幂等键（Idempotency-Key / 表单令牌）已用于另一条内容不同的录入，未保存。"
        "如要录入新的记录，请重新打开录入页面（接口请使用新的幂等键）。",
    )


# The fields that make two encounters of one member "the same": entered twice by mistake.
DUPLICATE_FIELDS = ("institution", "kind", "admission_date", "discharge_date", "total_cost")


def duplicate_message(ref: str) -> str:
    return f"疑似重复录入：该患者已有一条相同的就诊记录（流水号 {ref}：同一医疗机构、就诊类型、日期和总费用）"


def _duplicate_reason(values: dict, *, confirm: bool, reason: str, exclude: Iterable[int] = ()) -> str:
    """Refuse an encounter identical (``DUPLICATE_FIELDS``) to a current one of its member,
    unless confirmed with a reason; returns the reason to keep (empty without a duplicate).
    Under the member's row lock, held to the end of the caller's transaction: two identical
    entries sent at once are checked one after the other, so the second sees the first."""
    member = values["member"]
    list(Member.objects.select_for_update().filter(pk=member.pk).values_list("pk", flat=True))
    same = (
        Encounter.objects.filter(member=member, is_current=True, **{f: values[f] for f in DUPLICATE_FIELDS})
        .exclude(pk__in=list(exclude))
        .order_by("id")
        .values_list("ref", flat=True)
        .first()
    )
    if same is None:
        return ""
    if not confirm:
        raise ClaimsError(
            f"{duplicate_message(same)}。如确为另一次就诊，请勾选“确认不是重复录入”并填写原因。",
            "confirm_duplicate",
            code="duplicate",
        )
    reason = (reason or "").strip()
    if not reason:
        raise ClaimsError("确认不是重复录入时，请填写原因（例如同日两次就诊）。", "duplicate_reason")
    return reason[: Encounter._meta.get_field("duplicate_reason").max_length]


def _lock_current(user, encounter: Encounter, version: int) -> Encounter:
    current = Encounter.objects.select_for_update().select_related("member").get(pk=encounter.pk)
    _check_township(user, _member_township(current.member), "人员")
    _check_version(current, version, "就诊记录")
    if not current.is_current:
        raise ClaimsError("这是已被更正的旧版本，不能再修改；请修改最新版本。", code="superseded")
    return current


def _check_new_member(user, changes: dict) -> None:
    if "member" in changes:
        _check_township(user, _member_township(changes["member"]), "人员", "member")


def _moved(values: dict, current: Encounter) -> bool:
    """Whether an edit changes what makes an encounter a duplicate of another."""
    return any(values[f] != getattr(current, f) for f in ("member", *DUPLICATE_FIELDS))


def encounter_update(
    *,
    user,
    encounter: Encounter,
    version: int,
    changes: dict,
    reason: str = "",
    confirm_duplicate: bool = False,
    duplicate_reason: str = "",
) -> tuple[Encounter, list[str]]:
    """Change an encounter that is not settled yet (a settled one is corrected instead)."""
    roles.require_write(user)
    _check_new_member(user, changes)
    with transaction.atomic():
        current = _lock_current(user, encounter, version)
        if selectors.is_settled(current):
            raise ClaimsError("该就诊记录已结算，不能直接修改，请使用“更正”。", code="settled")
        before = (
            current.member_id,
            _service_year(
                {"discharge_date": current.discharge_date, "admission_date": current.admission_date}
            ),
        )
        merged = {name: getattr(current, name) for name in ENCOUNTER_FIELDS}
        merged.update(changes)
        bill, new_bill = _changed_bill(current, changes, merged)
        values = _encounter_values(merged)
        _check_member_dates(user, values)
        if _moved(values, current):
            values["duplicate_reason"] = _duplicate_reason(
                values, confirm=confirm_duplicate, reason=duplicate_reason, exclude=[current.pk]
            )
        changed = _apply(
            current,
            values,
            (*ENCOUNTER_FIELDS, "duplicate_reason"),
            user=user,
            reason=reason or "修改就诊记录",
        )
        if new_bill:
            changed = _replace_items(current, bill, changed, user=user, reason=reason or "修改费用明细")
        if changed:
            encounter_review(encounter=current)
            _enqueue([before, (current.member_id, _service_year(values))])
    return current, [
        *_old_admission_warnings(current.admission_date),
        *encounter_warnings(member=current.member, kind=current.kind, diagnosis_code=current.diagnosis_code),
    ]


def correction_ref(ref: str) -> str:
    """``ZY001`` → ``ZY001-R1``; ``ZY001-R1`` → ``ZY001-R2``."""
    found = re.fullmatch(r"(.*)-R(\d+)", ref)
    if found:
        return f"{found.group(1)}-R{int(found.group(2)) + 1}"
    return f"{ref}-R1"


def encounter_correct(
    *,
    user,
    encounter: Encounter,
    version: int,
    changes: dict,
    reason: str,
    confirm_duplicate: bool = False,
    duplicate_reason: str = "",
) -> tuple[Encounter, list[str]]:
    """Correct a (settled) encounter: a new row with the corrected values supersedes it; the
    old row stays, marked not current, and both member-years are settled again."""
    _require_entry(user, encounter.institution, changes.get("institution", encounter.institution))
    if not (reason or "").strip():
        raise ClaimsError("请填写更正原因。", "reason")
    _check_new_member(user, changes)
    with transaction.atomic():
        current = _lock_current(user, encounter, version)
        merged = {name: getattr(current, name) for name in ENCOUNTER_FIELDS}
        merged.update(changes)
        bill, new_bill = _changed_bill(current, changes, merged)
        values = _encounter_values(merged)
        _check_member_dates(user, values)
        if not new_bill and all(values[name] == getattr(current, name) for name in ENCOUNTER_FIELDS):
            raise ClaimsError("更正内容与原记录相同。")
        values["duplicate_reason"] = (
            _duplicate_reason(
                values, confirm=confirm_duplicate, reason=duplicate_reason, exclude=[current.pk]
            )
            if _moved(values, current)
            else current.duplicate_reason
        )
        ref = correction_ref(current.ref)
        if (
            len(ref) > Encounter._meta.get_field("ref").max_length
            or Encounter.objects.filter(ref=ref).exists()
        ):
            raise ClaimsError(f"无法生成更正记录的流水号「{ref}」。")
        _apply(current, {"is_current": False}, ("is_current",), user=user, reason=f"被更正为 {ref}")
        corrected = Encounter(ref=ref, supersedes=current, created_by=user, **values)
        corrected._change_reason, corrected._history_user = (
            f"更正 {current.ref}：{reason.strip()}"[:100],
            user,
        )
        corrected.save()
        _save_items(corrected, bill)
        encounter_review(encounter=corrected)
        _enqueue(
            [
                (
                    current.member_id,
                    _service_year(
                        {"discharge_date": current.discharge_date, "admission_date": current.admission_date}
                    ),
                ),
                (corrected.member_id, _service_year(values)),
            ]
        )
    return corrected, [
        *_old_admission_warnings(corrected.admission_date),
        *encounter_warnings(
            member=corrected.member, kind=corrected.kind, diagnosis_code=corrected.diagnosis_code
        ),
    ]


# --- the hospital's window (定点医疗机构: accounts, tokens, discharges) ---------------------------


def _require_entry(user, *institutions: Institution) -> None:
    """Who may enter or correct an encounter: county staff and township clinics
    (``roles.require_write``), and a 定点医疗机构 user for its own institution only (its one
    write: the discharge at its window, ``settlement.services.window_discharge``)."""
    if roles.is_hospital(user):
        own = access.institution_id_of(user)
        if own is None or any(getattr(i, "pk", i) != own for i in institutions):
            raise ClaimsError("只能处理本医疗机构的就诊记录。", "institution")
        return
    roles.require_write(user)


def _linked_institution(account) -> int | None:
    if not roles.is_hospital(account):
        return None
    return InstitutionUser.objects.filter(user_id=account.pk).values_list("institution_id", flat=True).first()


def institution_account_link(*, user, account, institution: Institution) -> InstitutionUser:
    """Bind a 定点医疗机构 user (``Profile.role == "hospital"``) to its institution (county staff)."""
    roles.require_county(user)
    if not roles.is_hospital(account):
        raise ClaimsError("只有角色为“定点医疗机构”的账号才能绑定医疗机构。", "account")
    with transaction.atomic():
        link, _ = InstitutionUser.objects.select_for_update().get_or_create(
            user=account, defaults={"institution": institution}
        )
        if link.institution_id != institution.pk:
            link.institution = institution
            link._change_reason, link._history_user = "改绑医疗机构", user
            link.save()
    return link


TOKEN_PREFIX = "hw_"


def institution_token_create(
    *, user, institution: Institution, account, note: str = ""
) -> tuple[InstitutionToken, str]:
    """A new API token for ``institution``, held by ``account`` (one of its hospital users):
    returns the token and its key, shown once (only the key's digest is kept). One live token
    per institution: revoke the old one first."""
    roles.require_county(user)
    if _linked_institution(account) != institution.pk:
        raise ClaimsError("令牌只能发给该医疗机构的“定点医疗机构”账号（请先在账号上绑定该机构）。", "account")
    if not account.is_active:
        raise ClaimsError("该账号已停用。", "account")
    key = TOKEN_PREFIX + secrets.token_urlsafe(32)
    taken = ClaimsError(
        f"{institution.name}已有一个有效令牌，请先吊销旧令牌。", "institution", code="conflict"
    )
    try:
        with transaction.atomic():
            if InstitutionToken.objects.filter(institution=institution, revoked_at__isnull=True).exists():
                raise taken
            token = InstitutionToken.objects.create(
                institution=institution,
                user=account,
                digest=hashlib.sha256(key.encode()).hexdigest(),
                prefix=key[:10],
                note=(note or "").strip()[:100],
                created_by=user,
            )
    except IntegrityError:  # a concurrent creation for the same institution
        raise taken from None
    return token, key


def institution_token_revoke(*, user, token: InstitutionToken) -> InstitutionToken:
    """Revoke a token (county staff): refused from the next request on (401). Revoking a
    revoked token changes nothing."""
    roles.require_county(user)
    with transaction.atomic():
        token = InstitutionToken.objects.select_for_update().get(pk=token.pk)
        if token.revoked_at is None:
            token.revoked_at, token.revoked_by = timezone.now(), user
            token.save(update_fields=["revoked_at", "revoked_by"])
    return token


VISIT_NUMBER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,29}")


def _visit_number(value: str) -> str:
    value = (value or "").strip()
    if not VISIT_NUMBER.fullmatch(value):
        raise ClaimsError(
            "医院就诊号（visit_number）必填，1–30位字母、数字或 _ . -，以字母或数字开头。", "visit_number"
        )
    return value


def discharge_ref(institution_id: int, visit_number: str) -> str:
    """The encounter reference of a window discharge: unique because the visit number is
    unique in its institution (``W<institution id>-<visit number>``)."""
    return f"W{institution_id}-{visit_number}"


def discharge_open(*, user, visit_number: str, digest: str) -> tuple[Discharge, bool]:
    """The row of a discharge at ``user``'s window, inside the caller's transaction: (new row,
    False), or (the existing row, locked, True). Two requests for one visit number at once:
    the unique index makes the second wait for the first's commit, then it finds the row (or,
    the first rolled back, inserts it itself) — duplicates are serialised by the database."""
    institution = access.institution_of(user)
    if institution is None:
        raise ClaimsError("只有绑定了医疗机构的“定点医疗机构”账号才能办理出院结算。")
    visit_number = _visit_number(visit_number)
    try:
        with transaction.atomic():
            return (
                Discharge.objects.create(
                    institution=institution, visit_number=visit_number, digest=digest, created_by=user
                ),
                False,
            )
    except IntegrityError:
        pass
    return (
        Discharge.objects.select_for_update().get(institution_id=institution.pk, visit_number=visit_number),
        True,
    )


def discharge_of(*, user, visit_number: str) -> Discharge:
    """The discharge of ``user``'s institution with this visit number, locked (for a
    correction or cancellation); another institution's visit is "not found"."""
    institution_id = access.institution_id_of(user)
    found = (
        Discharge.objects.select_for_update(of=("self",))
        .select_related("encounter__institution")
        .filter(institution_id=institution_id, visit_number=(visit_number or "").strip())
        .first()
        if institution_id is not None
        else None
    )
    if found is None or found.encounter is None:
        raise ClaimsError(
            f"本机构没有就诊号为「{visit_number}」的出院结算。", "visit_number", code="not_found"
        )
    return found


PATIENT_PROBES = "按证件号码查找患者失败的次数过多，请稍后再试，或联系县级医保部门。"


def discharge_patient(*, user, id_number: str) -> Member:
    """The patient of a discharge, found by the ID number on the patient's card. A number not
    in the register is refused without telling more (a hospital does not browse the
    register), and such refusals are counted (``core.ratelimit``) so the window cannot be
    used to test numbers one by one."""
    if probe_blocked(user, "patient"):
        raise ClaimsError(PATIENT_PROBES, "id_number", code="throttled")
    number = normalize_id_number(id_number or "")
    member = (
        Member.objects.select_related("household__village", "exit").filter(id_number=number).first()
        if number
        else None
    )
    if member is None:
        probe_counted(user, "patient")
        raise ClaimsError("没有找到该证件号码的参保患者，不能在窗口一站式结算。", "id_number")
    return member


def discharge_encounter(
    *, user, discharge: Discharge, values: dict, items: list
) -> tuple[Encounter, list[str]]:
    """The new visit's encounter (``encounter_create`` with the visit's reference and the
    institution of the window), set on the discharge (saved with its answer,
    ``discharge_answered``)."""
    encounter, warnings = encounter_create(
        user=user,
        institution=discharge.institution,
        ref=discharge_ref(discharge.institution_id, discharge.visit_number),
        items=items,
        **values,
    )
    discharge.encounter = encounter
    return encounter, warnings


def discharge_correct(
    *, user, discharge: Discharge, values: dict, items: list, reason: str
) -> tuple[Encounter, list[str]]:
    """A correction at the window (退费重结): the visit's encounter corrected
    (``encounter_correct``: a new row supersedes it; its settlement is superseded when the
    member-year is settled again)."""
    if discharge.status == DischargeStatus.CANCELLED:
        raise ClaimsError("该就诊号已退费作废，不能再更正。", "visit_number", code="conflict")
    current = discharge.encounter
    confirm = {name: values.pop(name) for name in ("confirm_duplicate", "duplicate_reason") if name in values}
    changes = {name: value for name, value in values.items() if name != "member"}
    if values.get("member") is not None and values["member"].pk != current.member_id:
        raise ClaimsError("更正不能更换患者；如结算错了人，请退费作废后重新结算。", "id_number")
    corrected, warnings = encounter_correct(
        user=user,
        encounter=current,
        version=current.version,
        changes={**changes, "items": items},
        reason=reason,
        **confirm,
    )
    discharge.encounter, discharge.status = corrected, DischargeStatus.CORRECTED
    discharge._change_reason, discharge._history_user = f"更正：{reason}"[:100], user
    return corrected, warnings


def encounter_cancel(*, user, encounter: Encounter, version: int, reason: str) -> Encounter:
    """Withdraw an encounter (退费作废: the stay is refunded and not claimed): it stops being
    current without a successor, and its member-year is settled again — the settlement of it
    stops being current (``batch.settle_members``), its payouts leave the ledger."""
    _require_entry(user, encounter.institution)
    reason = (reason or "").strip()
    if not reason:
        raise ClaimsError("请填写作废原因。", "reason")
    with transaction.atomic():
        current = _lock_current(user, encounter, version)
        _apply(current, {"is_current": False}, ("is_current",), user=user, reason=f"退费作废：{reason}"[:100])
        _enqueue([(current.member_id, current.service_date.year)])
    return current


def discharge_cancel(*, user, discharge: Discharge, reason: str) -> Encounter:
    """A cancellation at the window: the visit's encounter withdrawn (``encounter_cancel``)."""
    if discharge.status == DischargeStatus.CANCELLED:
        raise ClaimsError("该就诊号已退费作废。", "visit_number", code="conflict")
    encounter = encounter_cancel(
        user=user, encounter=discharge.encounter, version=discharge.encounter.version, reason=reason
    )
    discharge.status = DischargeStatus.CANCELLED
    discharge._change_reason, discharge._history_user = f"退费作废：{reason}"[:100], user
    return encounter


def discharge_answered(*, discharge: Discharge, digest: str, answer: dict, first: bool) -> Discharge:
    """Save the discharge as the request left it (its encounter, its status) with the answer
    given (``first``: the original request; else the latest correction or cancellation), for
    a repeat of the same request: one save, one history row."""
    if first:
        discharge.digest, discharge.answer = digest, answer
    discharge.last_digest, discharge.last_answer = digest, answer
    discharge.save()
    return discharge


# --- itemised bills (费用明细) ---------------------------------------------------------------------

_ITEM_COLUMNS = ("code", "name", "category", "item_class", "quantity", "unit_price", "amount", "deducted")


def _encounter_bill(values: dict, items) -> list[bill_items.BillItem] | None:
    """Check an encounter's items (None: not itemised) and, for an itemised one, set
    ``values``' total (Σ amount) and in-policy cost (目录内费用: Σ net of A and B items; the
    settlement derives the real one under the year's catalogue). Refusals name the item's path
    (``items[2].class``). Without items both amounts are required."""
    if items is None:
        for name, label in (("total_cost", "医疗总费用"), ("in_policy_cost", "政策范围内费用")):
            if values.get(name) is None:
                raise ClaimsError(f"请填写{label}（或填写费用明细 items）。", name)
        return None
    try:
        bill, total = bill_items.parse_items(
            items, total_cost=values.get("total_cost"), in_policy_cost=values.get("in_policy_cost")
        )
    except bill_items.ItemsError as exc:
        raise ClaimsError(str(exc), exc.path) from None
    values["total_cost"] = total
    values["in_policy_cost"] = bill_items.catalogue_cost(bill)
    return bill


def item_dicts(encounter: Encounter) -> list[dict]:
    """An encounter's stored items in the contract's shape (empty list: not itemised)."""
    return [_item_dict(item) for item in encounter.items.all()]


def _item_dict(item: EncounterItem) -> dict:
    row = {"code": item.code, "class": item.item_class, "amount": item.amount, "deducted": item.deducted}
    for name in ("name", "category", "quantity", "unit_price"):
        if getattr(item, name) not in (None, ""):
            row[name] = getattr(item, name)
    return row


def _changed_bill(current: Encounter, changes: dict, merged: dict) -> tuple[list | None, bool]:
    """For an update or correction: (the bill the encounter will have, whether it is new).
    ``items`` in ``changes`` replaces the bill (None removes it); otherwise an itemised
    encounter keeps its items, amounts sent unchanged are ignored and a changed total must
    still equal their sum. Takes
    ``items`` out of ``changes`` and ``merged`` and sets ``merged``' amounts."""
    keeps_bill = "items" not in changes and _has_items(current)
    for name in ("total_cost", "in_policy_cost"):  # amounts of an itemised one follow its items
        # (a page's form sends the stored amounts back unchanged: not a change)
        sent = name in changes and not (keeps_bill and changes[name] == getattr(current, name))
        if not sent and (keeps_bill or "items" in changes):
            merged[name] = None
    merged.pop("items", None)
    if "items" in changes:
        raw = changes.pop("items")
        if raw is None:
            return _encounter_bill(merged, None), _has_items(current)
        bill = _encounter_bill(merged, raw)
        return bill, bill != _stored_bill(current)
    if _has_items(current):
        return _encounter_bill(merged, item_dicts(current)), False
    return _encounter_bill(merged, None), False


def _has_items(encounter: Encounter) -> bool:
    if not hasattr(encounter, "_has_items"):
        encounter._has_items = encounter.items.exists()
    return encounter._has_items


def _stored_bill(encounter: Encounter) -> list | None:
    if not _has_items(encounter):
        return None
    return bill_items.parse_items(item_dicts(encounter))[0]


def _bill_rows(encounter_id: int, bill) -> Iterable[tuple]:
    """An encounter's bill as ``EncounterItem`` rows for ``bulk.insert`` (``_ITEM_FIELDS``)."""
    for position, item in enumerate(bill, start=1):
        yield (encounter_id, position, *(getattr(item, column) for column in _ITEM_COLUMNS))


_ITEM_FIELDS = ["encounter_id", "position", *_ITEM_COLUMNS]


def _save_items(encounter: Encounter, bill) -> None:
    if bill:
        # One COPY (bulk.insert), no model instances: a window discharge's 50 lines cost
        # Django's bulk_create more time than the database's insert.
        bulk.insert(EncounterItem, _ITEM_FIELDS, list(_bill_rows(encounter.pk, bill)), return_ids=False)
    encounter._has_items = bool(bill)


def _replace_items(encounter: Encounter, bill, changed: bool, *, user, reason: str) -> bool:
    """An unsettled encounter's bill replaced; the encounter gets a new version (and a history
    row) even when its own fields stayed the same."""
    encounter.items.all().delete()
    _save_items(encounter, bill)
    if not changed:
        encounter.version += 1
        encounter._change_reason, encounter._history_user = reason, user
        encounter.save()
    return True


# --- automatic review (智能审核) ----------------------------------------------------------------

# ReviewRule.threshold → the ReviewSettings field it sets (and how to read it).
_THRESHOLDS = {
    "readmission": ("readmission_days", int),
    "los_outlier": ("los_outlier_z", Decimal),
    "cost_outlier": ("cost_outlier_z", Decimal),
    "drug_share": ("drug_share", Decimal),
    "class_c_share": ("class_c_share", Decimal),
    "sex_age": ("adult_age", int),
}


def review_settings(*, item_codes: Iterable[str] | None = None) -> review_rules.ReviewSettings:
    """The county's review settings from ``ReviewRule`` (a rule without a row keeps its default
    and runs) and the medical-insurance catalogue (``CatalogueItem``).

    ``not_in_catalogue`` checks codes against: the active catalogue codes when the catalogue
    has an active item, together with any codes typed in the rule's ``catalogue_codes`` (local
    additions); the typed codes alone when the catalogue is empty; nothing (rule off) when both
    are empty. ``item_codes``: the codes of the one encounter about to be reviewed — then only
    those catalogue codes are read (one small query, whatever the catalogue's size); None (the
    year's bulk review): the whole active catalogue, once per call."""
    values, disabled, min_group = {}, set(), None
    for rule in ReviewRule.objects.all():
        if not rule.enabled:
            disabled.add(rule.code)
        if rule.code in _THRESHOLDS and rule.threshold is not None:
            name, kind = _THRESHOLDS[rule.code]
            values[name] = kind(rule.threshold)
        if rule.code in ("los_outlier", "cost_outlier") and rule.min_group and rule.enabled:
            min_group = max(min_group or 0, rule.min_group)
        if rule.code == "not_in_catalogue" and rule.catalogue_codes.strip():
            values["catalogue_codes"] = frozenset(
                re.split(r"[\s,，、;；]+", rule.catalogue_codes.strip())
            ) - {""}
    if min_group is not None:
        values["outlier_min_group"] = min_group
    if "not_in_catalogue" not in disabled:
        listed = _catalogue_codes(item_codes)
        if listed:
            values["catalogue_codes"] = values.get("catalogue_codes", frozenset()) | listed
    return review_rules.ReviewSettings(
        enabled=frozenset(code for code in review_rules.RULES if code not in disabled), **values
    )


def _catalogue_codes(item_codes: Iterable[str] | None) -> frozenset[str]:
    """The active catalogue codes (all, or those among ``item_codes`` plus one more when the
    catalogue has any: so an encounter whose codes are all unknown still sees a non-empty
    catalogue). One query; none for an encounter without items."""
    active = CatalogueItem.objects.filter(active=True)
    if item_codes is not None:
        wanted = sorted(set(item_codes))
        if not wanted:
            return frozenset()
        active = active.filter(Q(code__in=wanted) | Q(pk__in=active.order_by("pk").values("pk")[:1]))
    codes = frozenset(active.values_list("code", flat=True))
    return codes | frozenset(bill_items.SUMMARY_CODES) if codes else codes


def _review_input(encounter: Encounter, items=()) -> review_rules.ReviewEncounter:
    member = encounter.member
    return review_rules.ReviewEncounter(
        ref=encounter.ref,
        member=encounter.member_id,
        institution=encounter.institution_id,
        kind=encounter.kind,
        level=encounter.institution.level,
        admission_date=encounter.admission_date,
        discharge_date=encounter.discharge_date,
        total_cost=encounter.total_cost,
        diagnosis_code=encounter.diagnosis_code,
        sex=member.sex,
        birth_date=member.birth_date,
        items=tuple(items),
    )


# What the review reads of the other encounters it compares with (``_peer``; the year's bulk
# review too, ``claims.review``): plain values, no model instances.
PEER_VALUES = (
    "ref",
    "member_id",
    "institution_id",
    "kind",
    "institution__level",
    "admission_date",
    "discharge_date",
    "total_cost",
    "diagnosis_code",
    "member__sex",
    "member__birth_date",
)


def _peer(row: tuple) -> review_rules.ReviewEncounter:
    ref, member, institution, kind, level, admission, discharge, total, diagnosis, sex, birth = row
    return review_rules.ReviewEncounter(
        ref=ref,
        member=member,
        institution=institution,
        kind=kind,
        level=level,
        admission_date=admission,
        discharge_date=discharge,
        total_cost=total,
        diagnosis_code=diagnosis,
        sex=sex,
        birth_date=birth,
    )


def encounter_review(*, encounter: Encounter, bill=None, new: bool = False) -> list[dict]:
    """Run the enabled review rules on ``encounter`` (compared with the member's current
    encounters of its year, and for the outliers with the year's current encounters of the same
    kind, diagnosis category and institution level) and store what they find as its
    ``ReviewFlag`` rows, replacing earlier ones. Returns ``[{"code", "message"}, …]``.

    ``bill``: the items just saved with it (not read back); ``new``: it was just created (no
    earlier flags to replace). One query for the others: the member's (index on member and
    date) or, for the outliers, those of the same kind and diagnosis category (index on kind,
    diagnosis code and date) at an institution of the same level."""
    bill = list(encounter.items.all()) if bill is None else bill
    settings = review_settings(item_codes=[i.code for i in bill])
    flags = []
    if settings.enabled:
        year = _service_year(
            {"discharge_date": encounter.discharge_date, "admission_date": encounter.admission_date}
        )
        peers = Encounter.objects.filter(
            is_current=True, service_date__range=(datetime.date(year, 1, 1), datetime.date(year, 12, 31))
        ).exclude(pk=encounter.pk)
        wanted = peers.filter(member_id=encounter.member_id)
        category = (encounter.diagnosis_code or "").replace(".", "")[:3]
        if category and ({"los_outlier", "cost_outlier"} & settings.enabled):
            wanted = wanted | peers.filter(
                kind=encounter.kind,
                # The level by a sub-select, not a join: both sides of the OR stay on the
                # encounter's own indexed columns.
                institution_id__in=Institution.objects.filter(level=encounter.institution.level).values("pk"),
                diagnosis_code__startswith=category,
            )
        others = [_peer(row) for row in wanted.order_by("service_date", "id").values_list(*PEER_VALUES)]
        items = [
            review_rules.ReviewItem(
                code=i.code,
                item_class=i.item_class,
                amount=i.amount,
                category=i.category,
                deducted=i.deducted,
            )
            for i in bill
        ]
        found = review_rules.review([*others, _review_input(encounter, items)], settings)
        flags = found[encounter.ref]
    if not new:
        ReviewFlag.objects.filter(encounter=encounter).delete()
    ReviewFlag.objects.bulk_create(ReviewFlag(encounter=encounter, **flag) for flag in flags)
    return flags


# --- encounter import ---------------------------------------------------------------------------


@dataclass
class EncounterReport(ImportReport):
    """What an encounter import did (or, in a dry run, would do)."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    warnings: list = field(default_factory=list)  # RowError (not blocking)
    member_years: int = 0


_COMPARED = (
    "member_id",
    "institution_id",
    "kind",
    "admission_date",
    "discharge_date",
    "diagnosis_code",
    "diagnosis_name",
    "total_cost",
    "in_policy_cost",
    "package",
    "referred",
)
_MAX_WARNINGS = 1000  # a report lists at most this many warnings (their count is exact)


def _row_values(row: encounter_rows.EncounterRow, member_id: int, institution_id: int) -> dict:
    return {
        "member_id": member_id,
        "institution_id": institution_id,
        "kind": row.kind,
        "admission_date": row.admission_date,
        "discharge_date": row.discharge_date,
        "diagnosis_code": row.diagnosis_code,
        "diagnosis_name": row.diagnosis_name,
        "total_cost": row.total_cost,
        "in_policy_cost": row.in_policy_cost,
        "package": row.package,
        "referred": row.referred,
    }


def _import_duplicates(to_create: list) -> dict[int, str]:
    """Rows of an import identical (``DUPLICATE_FIELDS``) to a current encounter of their member
    or to an earlier row of the file: {row number: the reference it repeats}. Such a row is
    rejected; a real second visit of the same day and amount is entered on its page, where
    staff confirm it with a reason."""

    def key(member_id, values):
        return (member_id, *(values[f] for f in ("institution_id", *DUPLICATE_FIELDS[1:])))

    seen = {}
    member_ids = sorted({values["member_id"] for _, values in to_create})
    for chunk in _chunks(member_ids):
        for found in Encounter.objects.filter(member_id__in=chunk, is_current=True).values(
            "ref", "member_id", "institution_id", *DUPLICATE_FIELDS[1:]
        ):
            seen.setdefault(key(found["member_id"], found), found["ref"])
    duplicates = {}
    for row, values in to_create:
        same = seen.setdefault(key(values["member_id"], values), row.ref)
        if same != row.ref:
            duplicates[row.row] = same
    return duplicates


def encounter_import(
    *,
    rows: Iterable[Sequence[object]],
    user,
    dry_run: bool = False,
    skip_invalid: bool = False,
    source_name: str = "",
    progress: ProgressCallback | None = None,
    today: datetime.date | None = None,
    extra_sheet: tuple[str, list] | None = None,
) -> EncounterReport:
    """Import a discharge list (header row, then one row per visit or stay).

    With errors and without ``skip_invalid`` the whole file is refused and nothing is written.
    Rows are keyed by the hospital's 住院号/流水号: a row already imported is left alone when it
    is unchanged and updated when it changed and is not settled yet; re-importing the same file
    changes nothing. County staff only: the lists span townships.

    ``extra_sheet``: (name, rows) of the workbook's 费用明细 sheet, one line per bill item keyed
    by the 住院号/流水号 (``encounter_rows.parse_item_rows``). An encounter with lines gets
    them as its itemised bill (医疗总费用 = Σ 金额, 政策范围内费用 left blank). A fault on that
    sheet refuses the whole file, whatever ``skip_invalid`` says (all or nothing: a bill is
    not half imported). What was written is reviewed: the years the import touched are
    recorded in the outbox and the review rules go over them once it commits
    (``claims.handlers`` → ``claims.review.review_year``)."""
    roles.require_county(user)
    report_progress = progress or (lambda stage, done, total: None)
    report = EncounterReport(dry_run=dry_run)
    report_progress("校验", 0, 1)
    items = encounter_rows.parse_item_rows(extra_sheet[1], sheet=extra_sheet[0]) if extra_sheet else None
    parsed = encounter_rows.parse_encounters(
        rows, today=today or selectors.today(), itemised=frozenset(items.by_ref) if items else frozenset()
    )
    report.rows, report.header_row = parsed.row_count, parsed.header_row
    errors, rejected = list(parsed.errors), set(parsed.rejected_rows)
    valid = parsed.rows
    bills, item_errors = _import_bills(valid, items, errors, rejected)

    # Everything the rows refer to, in a few queries.
    members = {}
    id_numbers = list({r.id_number for r in valid})
    for chunk in _chunks(id_numbers):
        for values in Member.objects.filter(id_number__in=chunk).values(
            "id", "id_number", "name", "insured", "birth_date"
        ):
            members[values["id_number"]] = values
    exits = {}  # county staff only here: the exit date may be shown
    member_ids = [values["id"] for values in members.values()]
    for chunk in _chunks(member_ids):
        exits.update(MemberExit.objects.filter(member_id__in=chunk).values_list("member_id", "left_on"))
    institutions = {name: pk for pk, name in Institution.objects.values_list("id", "name")}
    existing = {}
    refs = [r.ref for r in valid]
    for chunk in _chunks(refs):
        for values in Encounter.objects.filter(ref__in=chunk).values(
            "id", "ref", "version", "is_current", "created_at", "created_by_id", *_COMPARED
        ):
            existing[values["ref"]] = values
    settled = selectors.settled_ids([values["id"] for values in existing.values()])
    stored_bills = _stored_bills([values["id"] for ref, values in existing.items() if ref in bills])
    chronic_index, _ = selectors.catalogue_index()
    chronic_ids = set(Disease.objects.filter(group="chronic", active=True).values_list("id", flat=True))

    to_create, to_update = [], []
    warnings = []
    report_progress("核对", 0, len(valid))
    for row in valid:
        faults = []
        member = members.get(row.id_number)
        if member is None:
            faults.append((encounter_rows.COL_ID, "该证件号码不在建档立卡名册中"))
        elif row.name and row.name != member["name"]:
            faults.append((encounter_rows.COL_NAME, f"与名册登记的姓名「{member['name']}」不符"))
        if member is not None and row.admission_date < member["birth_date"]:
            faults.append((encounter_rows.COL_ADMISSION, "早于该患者的出生日期，不可能有这次就诊"))
        left_on = exits.get(member["id"]) if member is not None else None
        if left_on is not None and row.admission_date > left_on:
            faults.append(
                (
                    encounter_rows.COL_ADMISSION,
                    f"晚于该患者的减员日期（{left_on:%Y-%m-%d}），该患者已不在名册中",
                )
            )
        institution_id = institutions.get(row.institution)
        if institution_id is None:
            faults.append(
                (
                    encounter_rows.COL_INSTITUTION,
                    f"未知的医疗机构「{row.institution}」（请先在医疗机构目录中添加，名称须完全一致）",
                )
            )
        current = existing.get(row.ref)
        if not faults and current is not None:
            if current["member_id"] != member["id"] or current["institution_id"] != institution_id:
                faults.append((encounter_rows.COL_REF, "该流水号已用于其他患者或其他医疗机构的就诊记录"))
        if faults:
            errors.extend(RowError(row.row, column, message) for column, message in faults)
            rejected.add(row.row)
            continue
        values = _row_values(row, member["id"], institution_id)
        if current is not None:
            if all(current[name] == values[name] for name in _COMPARED) and (
                row.ref not in bills or bills[row.ref] == stored_bills.get(current["id"])
            ):  # a stored bill is compared without the review's deductions (not the hospital's)
                report.unchanged += 1
                continue
            if current["id"] in settled or not current["is_current"]:
                errors.append(
                    RowError(
                        row.row,
                        encounter_rows.COL_REF,
                        "该记录已结算或已更正，导入不能修改；请在就诊记录页面使用“更正”",
                    )
                )
                rejected.add(row.row)
                continue
            to_update.append((row, values, current))
        else:
            to_create.append((row, values))
        if member["insured"] is not True:
            warnings.append(
                RowError(row.row, encounter_rows.COL_ID, f"{member['name']}未登记参加基本医疗保险")
            )
        if row.kind == EncounterKind.OUTPATIENT_CHRONIC and not (
            row.diagnosis_code and chronic_ids.intersection(chronic_index.match(row.diagnosis_code))
        ):
            warnings.append(
                RowError(
                    row.row,
                    encounter_rows.COL_DIAG_CODE,
                    f"门诊慢特病的诊断编码「{row.diagnosis_code}」不在门诊慢特病目录中",
                )
            )
    duplicates = _import_duplicates(to_create)
    if duplicates:
        to_create = [(row, values) for row, values in to_create if row.row not in duplicates]
        for number, ref in duplicates.items():
            errors.append(RowError(number, encounter_rows.COL_REF, duplicate_message(ref)))
            rejected.add(number)
        warnings = [w for w in warnings if w.row not in duplicates]
    errors.sort(key=encounter_rows.error_order)
    report.errors = errors
    report.warnings = warnings[:_MAX_WARNINGS]
    report.rejected_rows = sorted(rejected)
    report.rows_skipped = len(rejected)
    if errors and (not skip_invalid or parsed.has_file_error or item_errors):
        report.refused = True
        return report
    report.created, report.updated = len(to_create), len(to_update)
    pairs = {(values["member_id"], _service_year(values)) for _, values in to_create}
    pairs.update((values["member_id"], _service_year(values)) for _, values, _ in to_update)
    pairs.update((current["member_id"], _service_year(current)) for _, _, current in to_update)
    report.member_years = len(pairs)
    if dry_run:
        return report

    reason = f"就诊导入{('：' + source_name) if source_name else ''}"[:100]
    now = timezone.now()
    total = len(to_create) + len(to_update)
    report_progress("写入", 0, total)
    with transaction.atomic():
        created = [{"ref": row.ref, "created_by_id": user.pk, **values} for row, values in to_create]
        new_ids = []
        for start in range(0, len(created), 10000):
            new_ids += bulk.create_with_history(
                Encounter, created[start : start + 10000], user=user, reason=reason, when=now
            )
            report_progress("写入", min(start + 10000, len(created)), total)
        if to_update:
            updated = []
            for row, values, current in to_update:
                obj = Encounter(
                    id=current["id"],
                    ref=row.ref,
                    version=current["version"] + 1,
                    is_current=True,
                    created_at=current["created_at"],
                    created_by_id=current["created_by_id"],
                    updated_at=now,
                    **values,
                )
                obj.service_date = values["discharge_date"] or values["admission_date"]
                updated.append(obj)
            bulk_update_with_history(
                updated,
                Encounter,
                [*ENCOUNTER_FIELDS, "version", "updated_at"],
                batch_size=500,
                default_user=user,
                default_change_reason=reason,
                default_date=now,
            )
        if bills:
            billed = {row.ref: pk for (row, _), pk in zip(to_create, new_ids) if row.ref in bills}
            billed.update((row.ref, current["id"]) for row, _, current in to_update if row.ref in bills)
            _write_bills(billed, bills)
        _enqueue(pairs)
        if created or to_update:
            # Reviewed after the import commits (claims.handlers), not inside it.
            events.record_review_years(years={year for _, year in pairs})
    report_progress("写入", total, total)
    return report


def _import_bills(valid, items, errors: list, rejected: set) -> tuple[dict, bool]:
    """The bills of the import's items sheet: {ref: [BillItem]} for the valid rows that have
    lines (their total and in-policy amounts set from the bill), and whether the items sheet
    had a fault (which refuses the whole file). Faults go into ``errors`` (and the row into
    ``rejected``): the items sheet's own, a line whose ref is not a valid row of the first
    sheet, a 医疗总费用 that differs from Σ 金额."""
    if items is None:
        return {}, False
    errors.extend(items.errors)
    rows = {row.ref: row for row in valid}
    for ref, lines in items.by_ref.items():
        if ref not in rows:
            errors.extend(
                RowError(
                    number,
                    encounter_rows.COL_REF,
                    "就诊清单（第一个工作表）中没有这个住院号/流水号的有效行",
                    items.sheet,
                )
                for number, _ in lines
            )
    item_errors = bool(errors) and any(e.sheet for e in errors)
    bills = {}
    for ref, lines in items.by_ref.items():
        row = rows.get(ref)
        if row is None:
            continue
        try:
            bill, total = bill_items.parse_items([raw for _, raw in lines], total_cost=row.total_cost)
        except bill_items.ItemsError as exc:
            errors.append(RowError(row.row, encounter_rows.COL_TOTAL, exc.message))
            rejected.add(row.row)
            continue
        row.total_cost, row.in_policy_cost = total, bill_items.catalogue_cost(bill)
        bills[ref] = bill
    valid[:] = [row for row in valid if row.row not in rejected]
    return bills, item_errors


_NO_DEDUCTION = Decimal("0.00")


def _stored_bills(encounter_ids) -> dict[int, list]:
    """{encounter id: [BillItem]} of the stored bills of these encounters (one query a chunk),
    without the review's deductions: what the hospital billed, to compare with a new import."""
    out = {}
    for chunk in _chunks(list(encounter_ids)):
        lines = defaultdict(list)
        for item in EncounterItem.objects.filter(encounter_id__in=chunk).order_by("encounter_id", "position"):
            lines[item.encounter_id].append(_item_dict(item))
        out.update(
            (pk, [replace(item, deducted=_NO_DEDUCTION) for item in bill_items.parse_items(rows)[0]])
            for pk, rows in lines.items()
        )
    return out


def _write_bills(billed: dict[str, int], bills: dict[str, list]) -> None:
    """Replace the items of the encounters ``billed`` ({ref: id}) with ``bills``' lines."""
    ids = list(billed.values())
    for chunk in _chunks(ids):
        EncounterItem.objects.filter(encounter_id__in=chunk).delete()
    bulk.insert(
        EncounterItem,
        _ITEM_FIELDS,
        (row for ref in billed for row in _bill_rows(billed[ref], bills[ref])),
        return_ids=False,
        count=sum(len(bills[ref]) for ref in billed),
    )


# --- encounter import jobs (the web flow: upload → preview → confirm) -------------------------


def encounter_job_create(*, user, uploaded_file, skip_invalid: bool) -> EncounterImport:
    """Store an uploaded discharge list and start its preview (through the outbox)."""
    roles.require_county(user)
    return import_job_create(
        kind="encounters",
        user=user,
        uploaded_file=uploaded_file,
        error=ClaimsError,
        skip_invalid=skip_invalid,
    )


def encounter_job_run(*, job_id: int, confirm: bool) -> EncounterImport:
    return import_job_run(kind="encounters", job_id=job_id, confirm=confirm)


def encounter_job_confirm(*, user, job: EncounterImport) -> EncounterImport:
    roles.require_county(user)
    return import_job_confirm(job=job, error=ClaimsError)


def encounter_template_workbook() -> bytes:
    """A blank discharge list: the canonical headers, one example row, text columns for the
    numbers Excel would mangle, dropdowns for 就诊类型 and 是否按规定转诊, and a sheet of notes."""
    from core.export import TemplateColumn, template_workbook

    kinds = tuple(label for _, label in codes.ENCOUNTER_KINDS)
    columns = [
        TemplateColumn(
            "住院号/流水号", "医院的住院号或门诊流水号，同一文件中不能重复", "ZY2025000123", True, text=True
        ),
        TemplateColumn("姓名", "患者姓名（按证件号码匹配，姓名仅供核对）", "张三"),
        TemplateColumn(
            "证件号码", "18位公民身份号码（本列为文本格式）", "640221196003150013", True, text=True
        ),
        TemplateColumn("医疗机构", "须与系统中的医疗机构名称一致", "县人民医院", True),
        TemplateColumn("就诊类型", "从下拉列表选择", "住院", True, kinds),
        TemplateColumn("入院日期", "门诊填就诊日期，格式 YYYY-MM-DD", "2025-03-01", True, text=True),
        TemplateColumn("出院日期", "住院必填，格式 YYYY-MM-DD", "2025-03-10", text=True),
        TemplateColumn("诊断编码", "ICD-10 编码", "I10.x00", text=True),
        TemplateColumn("诊断名称", "", "高血压"),
        TemplateColumn("医疗总费用", "单位：元，最多两位小数", 12000.5, True),
        TemplateColumn("政策范围内费用", "单位：元，不能大于医疗总费用", 10000, True),
        TemplateColumn("单病种编码", "按单病种定额结算时填写", "", text=True),
        TemplateColumn("是否按规定转诊", "不填视为“是”", "是", choices=("是", "否")),
    ]
    assert [c.header for c in columns] == list(encounter_rows.CANONICAL_HEADERS)
    return template_workbook(title="就诊清单", columns=columns)
