"""Every change of an aid application. Each service checks the user's role and township, the
application's status (an illegal transition is refused with a Chinese ``AidError``) and an
optional ``version`` (a stale page: ``code="conflict"``), then saves the change and its
``AidStep`` in one transaction.

受理 (``aid_application_submit``) → 乡镇审核 (``_township_review``) → 县级审批
(``_county_approve``, which fixes the amount) → 给付 (``_mark_paid``, called by the payments
app); 退回 (``_return``, back to the applicant, who may be received again with ``_resubmit``)
and 不予救助 (``_refuse``) end the way with a reason."""

from __future__ import annotations

import datetime
import secrets
from collections.abc import Callable, Iterable
from decimal import Decimal

from django.core.files.base import ContentFile
from django.db import transaction

from claims.models import Encounter
from core import idempotency
from core.actors import system_actor
from registry import roles
from registry.models import Member

from . import documents, rules, selectors
from .errors import AidError
from .models import (
    OPEN_STATUSES,
    AidApplication,
    AidDocument,
    AidInvoice,
    AidKind,
    AidStatus,
    AidStep,
    Applicant,
    Holiday,
    StepAction,
)

__all__ = ["AidError"]

_S = AidStatus


# --- checks -----------------------------------------------------------------------------------------


def _member_township(member: Member) -> int:
    return Member.objects.filter(pk=member.pk).values_list("household__village__township_id", flat=True).get()


def _check_scope(user, member: Member) -> None:
    own = roles.township_id_of(user)
    if own is not None and _member_township(member) != own:
        raise AidError("只能办理本乡镇人员的救助申请。", "member")


def _locked(application: AidApplication, version: int | None) -> AidApplication:
    """The application re-read under a row lock; a stale ``version`` is a conflict."""
    current = AidApplication.objects.select_for_update().select_related("member").get(pk=application.pk)
    if version is not None and version != current.version:
        raise AidError(
            "该申请已被他人办理或修改，请刷新页面后重试。",
            code="conflict",
        )
    return current


def _expect(application: AidApplication, allowed: Iterable[str], action: str) -> None:
    if application.status not in allowed:
        raise AidError(
            f"该申请当前状态为「{application.get_status_display()}」，不能{action}。",
            "status",
            code="conflict",
        )


def _reason(text: str, what: str) -> str:
    text = (text or "").strip()
    if not text:
        raise AidError(f"{what}必须填写原因。", "reason")
    if len(text) > 500:
        raise AidError("原因不能超过500个字。", "reason")
    return text


def _step(application, *, user, action: str, old: str, on: datetime.date, note: str = "") -> AidStep:
    """Save the application's new state (one version more, history by ``user``) and its step."""
    application.version += 1  # the row is locked (_locked)
    application._change_reason, application._history_user = StepAction(action).label, user
    application.save()
    return AidStep.objects.create(
        application=application,
        action=action,
        from_status=old,
        to_status=application.status,
        on=on,
        by=user,
        note=note,
    )


def _new_number(day: datetime.date) -> str:
    return f"JZ{day:%Y%m%d}-{secrets.token_hex(4).upper()}"


def _check_encounters(member: Member, encounters) -> list[Encounter]:
    chosen = list(encounters or [])
    for encounter in chosen:
        if encounter.member_id != member.pk:
            raise AidError(f"就诊记录 {encounter.ref} 不是申请人本人的，不能关联。", "encounters")
        if not encounter.is_current:
            raise AidError(f"就诊记录 {encounter.ref} 已被更正，请关联更正后的记录。", "encounters")
    return chosen


def _check_applicant(applicant: str, proxy_name: str, proxy_phone: str) -> tuple[str, str]:
    if applicant not in Applicant.values:
        raise AidError("申请方式只能是本人申请或村干部代办。", "applicant")
    proxy_name, proxy_phone = (proxy_name or "").strip(), (proxy_phone or "").strip()
    if applicant == Applicant.PROXY:
        if not proxy_name:
            raise AidError("代办申请须填写代办村干部的姓名。", "proxy_name")
        if not proxy_phone or not proxy_phone.replace("-", "").isdigit() or len(proxy_phone) < 7:
            raise AidError("代办申请须填写代办村干部的联系电话（数字）。", "proxy_phone")
        return proxy_name, proxy_phone
    return "", ""


# --- 受理 ------------------------------------------------------------------------------------------


def aid_application_submit(
    *,
    user,
    member: Member,
    kind: str,
    reason: str,
    encounters: Iterable[Encounter] = (),
    applicant: str = Applicant.SELF,
    proxy_name: str = "",
    proxy_phone: str = "",
    received_on: datetime.date | None = None,
    idempotency_key: str = "",
) -> AidApplication:
    """受理: record a new application (status 已受理), its deadline counted from today (or
    ``received_on``, not in the future). With an ``idempotency_key`` a repeated request
    returns the first one's application (``_replayed``) and records nothing."""
    roles.require_write(user)
    _check_scope(user, member)
    if kind not in AidKind.values:
        raise AidError("请选择救助类型。", "kind")
    reason = (reason or "").strip()
    if not reason:
        raise AidError("请填写申请事由。", "reason")
    if len(reason) > 500:
        raise AidError("申请事由不能超过500个字。", "reason")
    chosen = _check_encounters(member, encounters)
    if kind == AidKind.TILTED and not chosen:
        raise AidError("倾斜救助须关联申请人已结算的就诊记录（按个人自付计算）。", "encounters")
    proxy_name, proxy_phone = _check_applicant(applicant, proxy_name, proxy_phone)
    today = selectors.today()
    received_on = received_on or today
    if received_on > today:
        raise AidError("受理日期不能晚于今天。", "received_on")

    def work() -> AidApplication:
        application = AidApplication(
            number=_new_number(received_on),
            member=member,
            kind=kind,
            reason=reason,
            applicant=applicant,
            proxy_name=proxy_name,
            proxy_phone=proxy_phone,
            received_on=received_on,
            due_on=selectors.due_date(received_on),
            created_by=user,
        )
        application._change_reason, application._history_user = "受理", user
        application.save()
        application.encounters.set(chosen)
        note = f"村干部代办：{proxy_name}（{proxy_phone}）" if applicant == Applicant.PROXY else "本人申请"
        AidStep.objects.create(
            application=application,
            action=StepAction.SUBMIT,
            to_status=_S.RECEIVED,
            on=received_on,
            by=user,
            note=note,
        )
        return application

    if not idempotency_key:
        with transaction.atomic():
            return work()
    request = dict(
        member=member.pk,
        kind=kind,
        reason=reason,
        encounters=sorted(e.pk for e in chosen),
        applicant=applicant,
        proxy_name=proxy_name,
        proxy_phone=proxy_phone,
        received_on=received_on,
    )
    return _once(user=user, key=idempotency_key, request=request, work=work)


def _once(*, user, key: str, request: dict, work: Callable[[], AidApplication]) -> AidApplication:
    return idempotency.service_once(
        user=user,
        scope="aid.application_submit",
        key=key,
        request=request,
        work=work,
        replay=lambda pk: AidApplication.objects.select_related("member").get(pk=pk),
        error=AidError,
        reused_message="这次提交的幂等键（Idempotency-Key / 表单令牌）已用于另一份内容不同的申请，未保存。"
        "如要受理新的申请，请重新打开受理页面（接口请使用新的幂等键）。",
    )


def aid_application_resubmit(
    *, user, application: AidApplication, note: str = "", version: int | None = None
) -> AidApplication:
    """重新受理 a returned application (its materials completed): the deadline starts again."""
    roles.require_write(user)
    _check_scope(user, application.member)
    with transaction.atomic():
        application = _locked(application, version)
        _expect(application, [_S.RETURNED], "重新受理（只有已退回的申请可以重新受理）")
        today = selectors.today()
        old, application.status = application.status, _S.RECEIVED
        application.received_on, application.due_on = today, selectors.due_date(today)
        _step(
            application, user=user, action=StepAction.RESUBMIT, old=old, on=today, note=(note or "").strip()
        )
    return application


# --- 审核、审批 -------------------------------------------------------------------------------------


def _check_complete(application: AidApplication) -> None:
    if application.kind == AidKind.SCATTERED and not application.invoices.exists():
        raise AidError("零星报销须先录入县外就医发票。", "invoices")


def aid_application_township_review(
    *, user, application: AidApplication, note: str = "", version: int | None = None
) -> AidApplication:
    """乡镇审核: the township clinic (or county staff) checked the materials."""
    roles.require_write(user)
    _check_scope(user, application.member)
    with transaction.atomic():
        application = _locked(application, version)
        _expect(application, [_S.RECEIVED], "进行乡镇审核（须为已受理的申请）")
        _check_complete(application)
        old, application.status = application.status, _S.TOWNSHIP_REVIEWED
        _step(
            application,
            user=user,
            action=StepAction.TOWNSHIP_REVIEW,
            old=old,
            on=selectors.today(),
            note=(note or "").strip(),
        )
    return application


def policy_year(application: AidApplication) -> int:
    """The year whose policy gives the amount: of the latest covered stay or invoice."""
    days = [e.service_date for e in application.encounters.all()]
    days += [i.discharge_date for i in application.invoices.all()]
    return max(days).year if days else application.received_on.year


def calculate(application: AidApplication) -> rules.Calculation | None:
    """The amount the active policy's aid rule gives the application (the policy of the year of
    its latest stay or invoice), with its arithmetic; None when there is no rule for its kind
    (the county enters the amount) — except 倾斜救助, which is computed by rule only. Refuses
    (AidError) an application the rule cannot be applied to yet."""
    year = policy_year(application)
    policy = selectors.active_policy(year)
    section = policy.document.get("aid") if policy is not None else None
    errors = rules.validate_aid_section(section)
    if errors:
        raise AidError("政策文件的救助规则有误：" + "；".join(errors[:3]), "amount", errors=errors)
    rule = rules.rule_for(section, application.kind)
    if rule is None:
        if application.kind == AidKind.TILTED:
            raise AidError(
                f"{year}年度的生效政策没有规定倾斜救助的计算规则（政策文件的 aid.tilted），不能审批。",
                "amount",
            )
        return None
    if application.kind == AidKind.SCATTERED:
        base = sum((i.amount for i in application.invoices.all()), Decimal("0.00"))
        label = "县外就医发票金额合计"
    else:
        encounters = list(application.encounters.all())
        if not encounters:
            raise AidError("按政策计算救助金额须关联已结算的就诊记录。", "encounters")
        self_pay = selectors.settled_self_pay([e.pk for e in encounters])
        unsettled = [e.ref for e in encounters if e.pk not in self_pay]
        if unsettled:
            raise AidError(f"就诊记录 {'、'.join(unsettled)} 尚未结算，不能计算救助金额。", "encounters")
        base = sum(self_pay.values(), Decimal("0.00"))
        label = f"已结算个人自付合计（{len(encounters)}次就诊）"
    try:
        result = rules.compute(
            rule, base=base, base_label=label, income=application.member.household.annual_income
        )
    except ValueError as exc:
        raise AidError(str(exc), "amount") from None
    return rules.Calculation(
        rule_name=f"{policy.name} · {result.rule_name}",
        rule_kind=result.rule_kind,
        amount=result.amount,
        steps=result.steps,
    )


def aid_application_county_approve(
    *,
    user,
    application: AidApplication,
    amount: Decimal | None = None,
    note: str = "",
    version: int | None = None,
) -> AidApplication:
    """县级审批: county staff approve the amount. Where the policy has a rule for the kind the
    amount is the rule's (an entered amount must equal it); otherwise it must be entered."""
    roles.require_county(user)
    with transaction.atomic():
        application = _locked(application, version)
        _expect(application, [_S.TOWNSHIP_REVIEWED], "县级审批（须先经乡镇审核）")
        _check_complete(application)
        calculation = calculate(application)
        if calculation is not None:
            if amount is not None and Decimal(amount) != calculation.amount:
                raise AidError(
                    f"按政策「{calculation.rule_name}」计算的救助金额为 {calculation.amount} 元，"
                    "审批金额须与之一致。",
                    "amount",
                )
            if calculation.amount == 0:
                raise AidError(
                    f"按政策「{calculation.rule_name}」计算的救助金额为 0.00 元（未超过起付标准），"
                    "不能批准；请作出不予救助决定并说明原因。",
                    "amount",
                )
            amount = calculation.amount
            application.calculation = calculation.as_dict()
        else:
            if amount is None:
                raise AidError("政策未规定该类救助的计算规则，请填写审批金额。", "amount")
            amount = Decimal(amount)
            if amount < 0 or amount != amount.quantize(rules.CENT):
                raise AidError("审批金额应为不小于0的金额，最多两位小数。", "amount")
            application.calculation = {
                "rule_name": "县级审批金额（政策未规定计算规则）",
                "rule_kind": "manual",
                "amount": str(amount),
                "steps": [["审批金额", f"{amount} 元"]],
            }
        old, application.status, application.amount = application.status, _S.APPROVED, amount
        _step(
            application,
            user=user,
            action=StepAction.COUNTY_APPROVE,
            old=old,
            on=selectors.today(),
            note=(note or "").strip(),
        )
    return application


# --- 退回、不予救助 ----------------------------------------------------------------------------------


def aid_application_return(
    *, user, application: AidApplication, reason: str, version: int | None = None
) -> AidApplication:
    """退回: back to the applicant with a reason (materials missing…). A township clinic
    returns what it received; county staff also what the township reviewed."""
    roles.require_write(user)
    _check_scope(user, application.member)
    reason = _reason(reason, "退回")
    with transaction.atomic():
        application = _locked(application, version)
        allowed = [_S.RECEIVED, _S.TOWNSHIP_REVIEWED] if roles.is_county(user) else [_S.RECEIVED]
        _expect(application, allowed, "退回")
        old, application.status = application.status, _S.RETURNED
        _step(application, user=user, action=StepAction.RETURN, old=old, on=selectors.today(), note=reason)
    return application


def aid_application_refuse(
    *, user, application: AidApplication, reason: str, version: int | None = None
) -> AidApplication:
    """不予救助: county staff refuse an application not yet approved, with a reason."""
    roles.require_county(user)
    reason = _reason(reason, "不予救助")
    with transaction.atomic():
        application = _locked(application, version)
        _expect(application, [_S.RECEIVED, _S.TOWNSHIP_REVIEWED], "作出不予救助决定")
        old, application.status = application.status, _S.REFUSED
        _step(application, user=user, action=StepAction.REFUSE, old=old, on=selectors.today(), note=reason)
    return application


# --- 给付 ------------------------------------------------------------------------------------------


def aid_application_mark_paid(
    *, application_id: int, paid_on: datetime.date, reference: str, user=None
) -> AidApplication:
    """给付: the approved amount was paid on ``paid_on`` (the bank's ``reference``). Called by
    the payments app when the payment line is paid (``user``: who marked it; the system
    actor when None). Marking an application already paid with the same reference again
    changes nothing (a repeated bank file); with another reference it is refused."""
    user = user or system_actor()
    roles.require_county(user)
    reference = (reference or "").strip()
    if not reference:
        raise AidError("请填写给付凭证号（银行流水号）。", "reference")
    if len(reference) > 100:
        raise AidError("给付凭证号不能超过100个字符。", "reference")
    with transaction.atomic():
        application = AidApplication.objects.select_for_update().filter(pk=application_id).first()
        if application is None:
            raise AidError(f"没有编号为 {application_id} 的救助申请。", "application_id")
        if application.status == _S.PAID and application.payment_reference == reference:
            return application
        _expect(application, [_S.APPROVED], "给付（须为县级已审批的申请）")
        if paid_on < application.received_on:
            raise AidError("给付日期不能早于受理日期。", "paid_on")
        old = application.status
        application.status, application.paid_on, application.payment_reference = _S.PAID, paid_on, reference
        _step(application, user=user, action=StepAction.PAY, old=old, on=paid_on, note=f"凭证号 {reference}")
    return application


def aid_application_payment_returned(*, application_id: int, reason: str, user=None) -> AidApplication:
    """退票: the bank returned the payment of a paid application (closed account, wrong
    name…). It is approved and awaiting payment again (its deadline runs again: the money has
    not arrived); the payments app calls this when it reopens the line."""
    user = user or system_actor()
    roles.require_county(user)
    reason = _reason(reason, "退票")
    with transaction.atomic():
        application = AidApplication.objects.select_for_update().filter(pk=application_id).first()
        if application is None:
            raise AidError(f"没有编号为 {application_id} 的救助申请。", "application_id")
        _expect(application, [_S.PAID], "登记退票（须为已给付的申请）")
        old = application.status
        note = f"{reason}（原凭证号 {application.payment_reference}）"
        application.status, application.paid_on, application.payment_reference = _S.APPROVED, None, ""
        _step(
            application,
            user=user,
            action=StepAction.PAYMENT_RETURNED,
            old=old,
            on=selectors.today(),
            note=note,
        )
    return application


# --- 发票、材料 -------------------------------------------------------------------------------------

_EDITABLE = (_S.RECEIVED, _S.RETURNED)


def aid_invoice_add(
    *,
    user,
    application: AidApplication,
    hospital: str,
    admission_date: datetime.date,
    discharge_date: datetime.date,
    amount: Decimal,
    invoice_number: str = "",
) -> AidInvoice:
    """A 零星报销 invoice of a stay outside the county (while received or returned)."""
    roles.require_write(user)
    _check_scope(user, application.member)
    if application.kind != AidKind.SCATTERED:
        raise AidError("只有零星报销申请需要录入县外就医发票。", "hospital")
    hospital = (hospital or "").strip()
    if not hospital:
        raise AidError("请填写县外医疗机构名称。", "hospital")
    if discharge_date < admission_date:
        raise AidError("出院日期不能早于入院日期。", "discharge_date")
    if discharge_date > selectors.today():
        raise AidError("出院日期不能晚于今天。", "discharge_date")
    amount = Decimal(amount)
    if amount <= 0 or amount != amount.quantize(rules.CENT):
        raise AidError("发票金额应大于0，最多两位小数。", "amount")
    with transaction.atomic():
        application = _locked(application, None)
        _expect(application, _EDITABLE, "录入发票")
        return AidInvoice.objects.create(
            application=application,
            hospital=hospital,
            invoice_number=(invoice_number or "").strip(),
            admission_date=admission_date,
            discharge_date=discharge_date,
            amount=amount,
        )


def aid_document_add(*, user, application: AidApplication, kind: str, upload) -> AidDocument:
    """A scan or photo of an invoice, discharge summary or other material (type checked by
    content, size limited), stored under a random name."""
    roles.require_write(user)
    _check_scope(user, application.member)
    content_type, extension = documents.check_upload(upload)
    original = (getattr(upload, "name", "") or "")[:200]
    with transaction.atomic():
        application = _locked(application, None)
        _expect(application, [*OPEN_STATUSES, _S.RETURNED], "上传材料")
        document = AidDocument(
            application=application,
            kind=kind,
            content_type=content_type,
            size=upload.size,
            original_name=original,
            uploaded_by=user,
        )
        document.file.save(f"{secrets.token_urlsafe(24)}{extension}", ContentFile(upload.read()), save=False)
        document.save()
    return document


# --- 节假日 ----------------------------------------------------------------------------------------


def aid_due_dates_refresh() -> int:
    """After the calendar changed (a holiday added or corrected): recompute the deadline of
    every open or returned application; returns how many changed."""
    changed = 0
    with transaction.atomic():
        for application in AidApplication.objects.select_for_update().filter(
            status__in=[*OPEN_STATUSES, _S.RETURNED]
        ):
            due = selectors.due_date(application.received_on)
            if due != application.due_on:
                AidApplication.objects.filter(pk=application.pk).update(due_on=due)
                changed += 1
    return changed


def holiday_save(*, user, holiday: Holiday, delete: bool = False) -> Holiday:
    """Save (or ``delete``) a holiday or adjusted working day — the admin's form — and move
    the open deadlines."""
    roles.require_county(user)
    with transaction.atomic():
        holiday._history_user = user
        holiday.delete() if delete else holiday.save()
        aid_due_dates_refresh()
    return holiday
