"""Operations that change the registry.

Views, the API, management commands and Celery tasks all call these functions; each
validates, then writes inside one transaction, and raises ``RegistryError`` (one domain
error type, with a Chinese message and optionally the field it concerns).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone
from simple_history.utils import bulk_update_with_history

from core import bulk
from core.errors import DomainError
from core.imports import ImportReport, import_job_confirm, import_job_create, import_job_run
from core.ratelimit import probe_blocked, probe_counted

from . import codes, events, roles, roster
from .idnumber import IdNumberError, validate_id_number
from .models import Household, Member, RosterImport, Township, Village

ProgressCallback = Callable[[str, int, int], None]


class RegistryError(DomainError):
    """A refused registry operation (core.errors.DomainError: message, field, code —
    ``"conflict"`` for a version conflict)."""


# --- households and members edited by hand ------------------------------------------------

HOUSEHOLD_FIELDS = ("village", "phone", "attribute", "poverty_status", "main_cause", "annual_income")
MEMBER_FIELDS = (
    "name",
    "id_number",
    "relation",
    "ethnicity",
    "phone",
    "health_status",
    "insured",
    "aid_category",
)


def _check_village_in_scope(user, village: Village) -> None:
    township_id = roles.township_id_of(user)
    if township_id is not None and village.township_id != township_id:
        raise RegistryError("只能选择本乡镇的行政村。", field="village")


def _check_version(obj, version: int, what: str) -> None:
    if obj.version != version:
        raise RegistryError(
            f"保存失败：该{what}信息在您打开后已被他人修改（您打开时为第{version}版，现在是第{obj.version}版）。"
            "请重新打开页面，核对最新内容后再修改。",
            code="conflict",
        )


def household_create(
    *,
    user,
    number: str,
    village: Village,
    poverty_status: str,
    attribute: str = "general",
    phone: str = "",
    main_cause: str = "",
    annual_income: Decimal | None = None,
) -> Household:
    roles.require_write(user)
    _check_village_in_scope(user, village)
    number = (number or "").strip()
    if not number:
        raise RegistryError("户编号必填。", field="number")
    with transaction.atomic():
        if Household.objects.filter(number=number).exists():
            raise RegistryError(f"户编号「{number}」已存在。", field="number")
        household = Household(
            number=number,
            village=village,
            poverty_status=poverty_status,
            attribute=attribute,
            phone=phone,
            main_cause=main_cause,
            annual_income=annual_income,
        )
        household._change_reason = "新建"
        try:
            with transaction.atomic():
                household.save()
        except IntegrityError:  # the same number saved concurrently
            raise RegistryError(f"户编号「{number}」已存在。", field="number") from None
        from .fact_services import record_new_facts  # dated facts (docs/registry.md)

        record_new_facts(user=user, obj=household)
    return household


def household_update(
    *, user, household: Household, version: int, changes: dict, reason: str = ""
) -> Household:
    """Apply ``changes`` (a subset of HOUSEHOLD_FIELDS) if nobody saved since ``version``."""
    roles.require_write(user)
    unknown = set(changes) - set(HOUSEHOLD_FIELDS)
    if unknown:
        raise RegistryError(f"不能修改的字段：{', '.join(sorted(unknown))}")
    if "village" in changes:
        _check_village_in_scope(user, changes["village"])
    with transaction.atomic():
        current = Household.objects.select_for_update().get(pk=household.pk)
        _check_version(current, version, "户")
        changed = [name for name, value in changes.items() if getattr(current, name) != value]
        if not changed:
            return current
        for name in changed:
            setattr(current, name, changes[name])
        current.version += 1
        current._change_reason = reason or "修改户信息"
        current.save()
        from .fact_services import record_edited_facts  # a fact edited here is dated today

        record_edited_facts(user=user, obj=current, changed=changed, reason=current._change_reason)
        if events.SETTLEMENT_FACTS.intersection(changed):  # settlement re-settles the member-years
            events.record_member_facts_changed(household_id=current.pk)
    return current


def _identity(id_number: str):
    try:
        return validate_id_number(id_number)
    except IdNumberError as exc:
        raise RegistryError(f"证件号码{exc}", field="id_number") from exc


DUPLICATE_ID_COUNTY = "该证件号码已登记在其他成员名下（证件号码全县唯一）。"
# What a township clinic is told: the same whether the number is on record in its own township,
# in another one, or was just taken by a concurrent save; it does not say where.
DUPLICATE_ID_TOWNSHIP = "该证件号码无法在本乡镇登记，请核对号码，或联系县级工作人员。"
TOO_MANY_DUPLICATES = "证件号码登记被拒绝的次数过多，请稍后再试，或联系县级工作人员。"


def _check_probe_limit(user) -> None:
    if not roles.is_county(user) and probe_blocked(user, "id_number"):
        raise RegistryError(TOO_MANY_DUPLICATES, field="id_number", code="throttled")


def _duplicate_id(user) -> RegistryError:
    if roles.is_county(user):
        return RegistryError(DUPLICATE_ID_COUNTY, field="id_number")
    probe_counted(user, "id_number")
    return RegistryError(DUPLICATE_ID_TOWNSHIP, field="id_number")


def _save_member(user, member: Member) -> None:
    """Save, turning a unique key taken by a concurrent save into the domain error."""
    try:
        with transaction.atomic():
            member.save()
    except IntegrityError:
        if Member.objects.filter(id_number=member.id_number).exclude(pk=member.pk).exists():
            raise _duplicate_id(user) from None
        raise RegistryError(
            "保存失败：与他人同时保存的内容冲突（例如同一户同时登记了两位户主），请重新打开页面后再试。",
            code="conflict",
        ) from None


def _check_head(household: Household, relation: str, member_pk=None) -> None:
    if relation != "head":
        return
    other = household.members.filter(relation="head").exclude(pk=member_pk).first()
    if other:
        raise RegistryError(f"该户已有户主（{other.name}），一户只能有一个户主。", field="relation")


def member_create(
    *,
    user,
    household: Household,
    name: str,
    id_number: str,
    relation: str,
    ethnicity: str = "",
    phone: str = "",
    health_status: str = "healthy",
    insured: bool | None = None,
    aid_category: str | None = None,
) -> Member:
    roles.require_write(user)
    _check_probe_limit(user)
    info = _identity(id_number)
    if not (name or "").strip():
        raise RegistryError("姓名必填。", field="name")
    if aid_category is None:
        aid_category = codes.DEFAULT_AID_CATEGORY_BY_ATTRIBUTE[household.attribute]
    with transaction.atomic():
        if Member.objects.filter(id_number=info.number).exists():
            raise _duplicate_id(user)
        _check_head(household, relation)
        member = Member(
            household=household,
            name=name.strip(),
            id_number=info.number,
            sex=info.sex,
            birth_date=info.birth_date,
            relation=relation,
            ethnicity=ethnicity,
            phone=phone,
            health_status=health_status,
            insured=insured,
            aid_category=aid_category,
        )
        member._change_reason = "新增成员"
        _save_member(user, member)
        from .fact_services import record_new_facts  # dated facts (docs/registry.md)

        record_new_facts(user=user, obj=member)
    return member


def member_update(*, user, member: Member, version: int, changes: dict, reason: str = "") -> Member:
    roles.require_write(user)
    unknown = set(changes) - set(MEMBER_FIELDS)
    if unknown:
        raise RegistryError(f"不能修改的字段：{', '.join(sorted(unknown))}")
    with transaction.atomic():
        current = Member.objects.select_for_update().select_related("household").get(pk=member.pk)
        _check_version(current, version, "成员")
        if "id_number" in changes and changes["id_number"] != current.id_number:
            _check_probe_limit(user)
            info = _identity(changes["id_number"])
            changes = {**changes, "id_number": info.number}
            if Member.objects.filter(id_number=info.number).exclude(pk=current.pk).exists():
                raise _duplicate_id(user)
            current.sex, current.birth_date = info.sex, info.birth_date
        if "relation" in changes:
            _check_head(current.household, changes["relation"], member_pk=current.pk)
        changed = [name for name, value in changes.items() if getattr(current, name) != value]
        if not changed:
            return current
        for name in changed:
            setattr(current, name, changes[name])
        current.version += 1
        current._change_reason = reason or "修改成员信息"
        _save_member(user, current)
        from .fact_services import record_edited_facts  # a fact edited here is dated today

        record_edited_facts(user=user, obj=current, changed=changed, reason=current._change_reason)
        if events.SETTLEMENT_FACTS.intersection(changed):  # settlement re-settles the member-years
            events.record_member_facts_changed(member_ids=[current.pk])
    return current


# --- roster import --------------------------------------------------------------------------


@dataclass
class RosterReport(ImportReport):
    """What a roster import did (or, in a dry run, would do)."""

    households_created: int = 0
    households_updated: int = 0
    households_unchanged: int = 0
    members_created: int = 0
    members_updated: int = 0
    members_moved: int = 0
    members_unchanged: int = 0
    absent_members: list = field(default_factory=list)  # on record, missing from the roster
    areas_created: list = field(default_factory=list)


_HH_COMPARED = ("village_id", "phone", "attribute", "poverty_status", "main_cause", "annual_income")
_MEMBER_COMPARED = (
    "household_id",
    "name",
    "sex",
    "birth_date",
    "relation",
    "ethnicity",
    "phone",
    "health_status",
    "insured",
    "aid_category",
)
_CHUNK = 2000  # keeps IN (…) lists well under SQLite's variable limit


def _chunks(items: Sequence, size: int = _CHUNK):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _household_values(hh: roster.HouseholdRows, village_id: int) -> dict:
    return {
        "village_id": village_id,
        "phone": hh.phone or "",
        "attribute": hh.attribute,
        "poverty_status": hh.poverty_status,
        "main_cause": hh.main_cause or "",
        "annual_income": hh.annual_income,
    }


def _member_values(m: roster.MemberRow, household_id) -> dict:
    return {
        "household_id": household_id,
        "name": m.name,
        "sex": m.sex,
        "birth_date": m.birth_date,
        "relation": m.relation,
        "ethnicity": m.ethnicity or "",
        "phone": m.phone or "",
        "health_status": m.health_status,
        "insured": m.insured,
        "aid_category": m.aid_category,
    }


def roster_import(
    *,
    rows: Iterable[Sequence[object]],
    user,
    dry_run: bool = False,
    skip_invalid: bool = False,
    create_areas: bool = False,
    source_name: str = "",
    progress: ProgressCallback | None = None,
) -> RosterReport:
    """Import a roster (header row then one row per member).

    The unit is the household: it is written only if all its rows are valid. With errors
    and without ``skip_invalid`` the whole file is refused and nothing is written. Members on
    record but missing from the roster are reported, never deleted. Re-importing the same
    roster changes nothing.
    """
    roles.require_county(user)
    report_progress = progress or (lambda stage, done, total: None)
    report = RosterReport(dry_run=dry_run)

    report_progress("校验", 0, 1)
    parsed = roster.parse_roster(rows)
    report.rows = parsed.row_count
    errors = list(parsed.errors)
    rejected = set(parsed.rejected_rows)

    # Areas: unknown townships / villages are errors unless the caller asked to create them.
    townships = {t.name: t for t in Township.objects.all()}
    villages = {(v.township.name, v.name): v for v in Village.objects.select_related("township")}
    households = []
    new_areas = set()
    for hh in parsed.households:
        key = (hh.township, hh.village)
        if key not in villages:
            if not create_areas:
                if hh.township not in townships:
                    column, message = (
                        "乡镇",
                        f"未知的乡镇「{hh.township}」（如需新建，请勾选“自动创建未知的乡镇和村”）",
                    )
                else:
                    column, message = (
                        "行政村",
                        f"{hh.township}没有行政村「{hh.village}」（如需新建，请勾选“自动创建未知的乡镇和村”）",
                    )
                errors.append(roster.RowError(hh.head.row, column, message))
                rejected.update(m.row for m in hh.members)
                continue
            new_areas.add(key)
        households.append(hh)
    errors.sort(key=lambda e: e.row)  # stable: keeps the parser's column order within a row
    report.errors = errors
    report.rejected_rows = sorted(rejected)
    report.rows_skipped = len(rejected)
    report.header_row = parsed.header_row
    if errors and (not skip_invalid or parsed.has_file_error):
        # Refused: nothing is written. A header error refuses the file even with skip_invalid.
        report.refused = True
        report.households_created = report.members_created = 0
        return report

    # What is on record for these households and members.
    numbers = [hh.number for hh in households]
    id_numbers = [m.id_number for hh in households for m in hh.members]
    existing_hh = {}
    for chunk in _chunks(numbers):
        for values in Household.objects.filter(number__in=chunk).values(
            "id", "number", "version", "created_at", *_HH_COMPARED
        ):
            existing_hh[values["number"]] = values
    existing_members = {}
    for chunk in _chunks(id_numbers):
        for values in Member.objects.filter(id_number__in=chunk).values(
            "id", "id_number", "version", "created_at", *_MEMBER_COMPARED
        ):
            existing_members[values["id_number"]] = values
    file_ids = set(id_numbers)
    on_record_elsewhere = []  # members of these households that the roster no longer lists
    household_ids = [values["id"] for values in existing_hh.values()]
    for chunk in _chunks(household_ids):
        for values in Member.objects.filter(household_id__in=chunk).values(
            "id", "id_number", "name", "relation", "household__number", "version"
        ):
            if values["id_number"] not in file_ids:
                on_record_elsewhere.append(values)
    report.absent_members = [
        {"household": v["household__number"], "name": v["name"], "id_number": v["id_number"]}
        for v in sorted(on_record_elsewhere, key=lambda v: (v["household__number"], v["id"]))
    ]

    # The plan: which rows create, update or leave alone which records.
    area_ids = {key: village.id for key, village in villages.items()}
    hh_to_create, hh_to_update = [], []  # (HouseholdRows, values[, existing])
    status_changes = []  # households on record whose 脱贫状态 the roster changes
    for hh in households:
        village_id = area_ids.get((hh.township, hh.village))  # None: the village is created below
        values = _household_values(hh, village_id)
        current = existing_hh.get(hh.number)
        if current is None:
            hh_to_create.append((hh, values))
        else:
            # A village created by this import is new to every household on record.
            if village_id is None or any(current[name] != values[name] for name in _HH_COMPARED):
                hh_to_update.append((hh, values, current))
                if current["poverty_status"] != values["poverty_status"]:
                    # (household id, status before, status after, effective date)
                    status_changes.append(
                        (
                            current["id"],
                            current["poverty_status"],
                            values["poverty_status"],
                            hh.effective_date,
                        )
                    )
            else:
                report.households_unchanged += 1
    report.households_created = len(hh_to_create)
    report.households_updated = len(hh_to_update)

    member_plan = []  # (MemberRow, HouseholdRows, existing or None)
    for hh in households:
        current_hh = existing_hh.get(hh.number)
        for m in hh.members:
            current = existing_members.get(m.id_number)
            if current is None:
                report.members_created += 1
                member_plan.append((m, hh, None))
                continue
            same_household = current_hh is not None and current["household_id"] == current_hh["id"]
            wanted = _member_values(m, current["household_id"] if same_household else None)
            if same_household and all(current[name] == wanted[name] for name in _MEMBER_COMPARED):
                report.members_unchanged += 1
                continue
            report.members_updated += 1
            if not same_household:
                report.members_moved += 1
            member_plan.append((m, hh, current))
    # An old head missing from a roster that names a new head stops being the head.
    heads_in_file = {hh.number for hh in households}
    demoted = [
        v for v in on_record_elsewhere if v["relation"] == "head" and v["household__number"] in heads_in_file
    ]

    report.areas_created = [f"{t}{'' if v.startswith(t) else ' '}{v}" for t, v in sorted(new_areas)]
    if dry_run:
        return report

    report_progress("写入", 0, len(households))
    reason = f"名册导入{('：' + source_name) if source_name else ''}"
    now = timezone.now()
    with transaction.atomic():
        for township_name, village_name in sorted(new_areas):
            township = townships.get(township_name)
            if township is None:
                township = townships[township_name] = Township.objects.create(name=township_name)
            village = Village.objects.create(township=township, name=village_name)
            area_ids[(township_name, village_name)] = village.id

        created_ids = bulk.create_with_history(
            Household,
            [
                {
                    "number": hh.number,
                    "version": 1,
                    **values,
                    "village_id": area_ids[(hh.township, hh.village)],
                }
                for hh, values in hh_to_create
            ],
            user=user,
            reason=reason,
            when=now,
        )
        household_id = {hh.number: pk for (hh, _values), pk in zip(hh_to_create, created_ids)}
        report_progress("写入", len(created_ids), len(households))

        updated = []
        for hh, values, current in hh_to_update:
            values = {**values, "village_id": area_ids[(hh.township, hh.village)]}
            updated.append(
                Household(
                    id=current["id"],
                    number=hh.number,
                    version=current["version"] + 1,
                    created_at=current["created_at"],
                    updated_at=now,
                    **values,
                )
            )
        if updated:
            bulk_update_with_history(
                updated,
                Household,
                [*_HH_COMPARED, "version", "updated_at"],
                batch_size=500,
                default_user=user,
                default_change_reason=reason,
                default_date=now,
            )
        for hh in households:
            if hh.number not in household_id:
                household_id[hh.number] = existing_hh[hh.number]["id"]

        # Heads stepping down first, so the one-head-per-household index never sees two.
        stepping_down = [
            current["id"]
            for m, hh, current in member_plan
            if current is not None and current["relation"] == "head"
        ]
        if stepping_down:
            for chunk in _chunks(stepping_down):
                Member.objects.filter(id__in=chunk).update(relation="other")
        if demoted:
            demoted_objs = list(Member.objects.filter(id__in=[v["id"] for v in demoted]))
            for obj in demoted_objs:
                obj.relation = "other"
                obj.version += 1
                obj.updated_at = now
            bulk_update_with_history(
                demoted_objs,
                Member,
                ["relation", "version", "updated_at"],
                default_user=user,
                default_change_reason=f"{reason}（新名册另有户主）",
                default_date=now,
            )
        member_updates, member_creates = [], []
        for m, hh, current in member_plan:
            values = _member_values(m, household_id[hh.number])
            if current is None:
                member_creates.append({"id_number": m.id_number, "version": 1, **values})
            else:
                member_updates.append(
                    Member(
                        id=current["id"],
                        id_number=m.id_number,
                        version=current["version"] + 1,
                        created_at=current["created_at"],
                        updated_at=now,
                        **values,
                    )
                )
        if member_updates:
            bulk_update_with_history(
                member_updates,
                Member,
                [*_MEMBER_COMPARED, "version", "updated_at"],
                batch_size=500,
                default_user=user,
                default_change_reason=reason,
                default_date=now,
            )
        bulk.create_with_history(Member, member_creates, user=user, reason=reason, when=now)
        if status_changes:
            from .fact_services import record_imported_status_changes  # dated facts

            record_imported_status_changes(user=user, changes=status_changes, reason=reason)
        report_progress("写入", len(households), len(households))
    return report


# --- roster import jobs (the web flow: upload → preview → confirm) -----------------------------


def roster_job_create(*, user, uploaded_file, create_areas: bool, skip_invalid: bool) -> RosterImport:
    """Store an uploaded roster and start its preview (through the outbox: never lost)."""
    roles.require_county(user)
    return import_job_create(
        kind="roster",
        user=user,
        uploaded_file=uploaded_file,
        error=RegistryError,
        create_areas=create_areas,
        skip_invalid=skip_invalid,
    )


def roster_job_run(*, job_id: int, confirm: bool) -> RosterImport:
    """Preview (``confirm=False``) or import a job's file (``core.imports.import_job_run``)."""
    return import_job_run(kind="roster", job_id=job_id, confirm=confirm)


def roster_job_confirm(*, user, job: RosterImport) -> RosterImport:
    roles.require_county(user)
    return import_job_confirm(job=job, error=RegistryError)


def _choices(table) -> tuple[str, ...]:
    return tuple(label for _, label, _ in table)


def roster_template_workbook() -> bytes:
    """A blank roster for staff who type one by hand: the canonical headers, one example
    row, the ID-number column as text, a dropdown on every coded column, and a sheet
    explaining each column."""
    from core.export import TemplateColumn, template_workbook

    from . import codes

    columns = [
        TemplateColumn("乡镇", "乡（镇）名称，须与系统中的乡镇一致", "城关镇", True),
        TemplateColumn("行政村", "行政村（社区）名称", "东关村", True),
        TemplateColumn(
            "户编号",
            "全国扶贫开发信息系统的户编号；同户各成员填写相同的户编号",
            "6402210010001",
            True,
            text=True,
        ),
        TemplateColumn("姓名", "成员姓名", "张三", True),
        TemplateColumn(
            "证件号码",
            "18位公民身份号码（本列为文本格式，请勿改为数字，否则末尾几位会丢失）",
            "640221196003150013",
            True,
            text=True,
        ),
        TemplateColumn("与户主关系", "每户有且只有一个“户主”", "户主", True, _choices(codes.RELATIONS)),
        TemplateColumn("性别", "可不填：按证件号码判断", "男", choices=_choices(codes.SEXES)),
        TemplateColumn("民族", "", "汉族"),
        TemplateColumn(
            "出生日期",
            "可不填：按证件号码判断；填写时须与证件号码一致，格式 YYYY-MM-DD",
            "1960-03-15",
            text=True,
        ),
        TemplateColumn("联系电话", "户主行的电话作为本户电话", "13800000000", text=True),
        TemplateColumn(
            "贫困户属性",
            "以户主行为准；不填为一般贫困户",
            "一般贫困户",
            choices=_choices(codes.HOUSEHOLD_ATTRIBUTES),
        ),
        TemplateColumn("脱贫状态", "以户主行为准", "未脱贫", True, _choices(codes.POVERTY_STATUSES)),
        TemplateColumn("主要致贫原因", "以户主行为准", "因病", choices=_choices(codes.MAIN_CAUSES)),
        TemplateColumn("健康状况", "不填为健康", "长期慢性病", choices=_choices(codes.HEALTH_STATUSES)),
        TemplateColumn("是否参加城乡居民基本医疗保险", "是/否", "是", choices=("是", "否")),
        TemplateColumn("救助类别", "不填时按贫困户属性确定", "无", choices=_choices(codes.AID_CATEGORIES)),
        TemplateColumn("家庭年收入", "单位：元，以户主行为准", 12000),
        TemplateColumn(
            "生效日期",
            "可不填：脱贫状态与系统中不同时，变动自该日起生效（不填为导入当天）；以户主行为准，格式 YYYY-MM-DD",
            "",
            text=True,
        ),
    ]
    assert [c.header for c in columns] == list(roster.CANONICAL_HEADERS)
    return template_workbook(title="花名册", columns=columns)
