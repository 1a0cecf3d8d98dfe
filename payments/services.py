"""Operations of payments: funds and their income, bank accounts, payment batches.

A batch goes 起草 (draft) → 复核 (checked, by someone other than the drafter) → 审批
(approved, by someone other than the checker; over the fund's available balance only with a
reason, kept in the batch's history) → 导出 (the bank's file) → each line 已支付 with the
bank's reference, or 退票 (its source is free again for a later batch). County staff only;
every function validates, then saves in one transaction, and raises ``PaymentsError``."""

from __future__ import annotations

import datetime
import re
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.utils import timezone

from core import idempotency
from core.errors import DomainError
from registry import roles

from . import selectors, sources
from .models import (
    AccountKind,
    BankAccount,
    BankFileLayout,
    BatchStatus,
    Fund,
    FundIncome,
    IncomeKind,
    InstitutionAccount,
    LineKind,
    LineStatus,
    PaymentBatch,
    PaymentLine,
)

__all__ = [
    "PaymentsError",
    "fund_create",
    "fund_income_record",
    "funds_sync",
    "bank_account_save",
    "bank_account_close",
    "institution_account_save",
    "batch_draft",
    "batch_check",
    "batch_approve",
    "batch_export",
    "batch_cancel",
    "line_mark_paid",
    "line_return",
]

CENT = Decimal("0.01")
_ACCOUNT_NUMBER = re.compile(r"^[0-9]{8,32}$")


class PaymentsError(DomainError):
    """A refused payments operation (core.errors.DomainError). Code ``overdraft``: approving
    would overdraw the fund (resend with a reason to override)."""


def _save(obj, user, reason: str) -> None:
    obj._change_reason, obj._history_user = reason, user
    obj.save()


def _money(value, field: str, label: str) -> Decimal:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        amount = None
    if amount is None or not amount.is_finite() or amount <= 0 or amount != amount.quantize(CENT):
        raise PaymentsError(f"{label}须为大于0的金额（最多两位小数）。", field=field)
    return amount.quantize(CENT)


def _text(value, field: str, label: str, *, required=True, max_length=200) -> str:
    value = (value or "").strip()
    if required and not value:
        raise PaymentsError(f"{label}必填。", field=field)
    if len(value) > max_length:
        raise PaymentsError(f"{label}不能超过{max_length}个字符。", field=field)
    return value


def _once(*, user, scope: str, key: str, request: dict, work, model):
    return idempotency.service_once(
        user=user,
        scope=scope,
        key=key,
        request=request,
        work=work,
        replay=lambda pk: model.objects.get(pk=pk),
        error=PaymentsError,
        reused_message="这次提交的幂等键（Idempotency-Key / 表单令牌）已用于另一项内容不同的提交，未保存。",
    )


# --- funds ----------------------------------------------------------------------------------


def fund_create(*, user, code: str, name: str, note: str = "") -> Fund:
    """A fund account; ``name`` as the policies (tier ``fund``) or enrollments (资助资金) name it."""
    roles.require_county(user)
    code = _text(code, "code", "资金编码", max_length=32)
    name = _text(name, "name", "资金名称", max_length=100)
    if Fund.objects.filter(code=code).exists():
        raise PaymentsError(f"资金编码「{code}」已存在。", field="code")
    if Fund.objects.filter(name=name).exists():
        raise PaymentsError(f"资金「{name}」已存在。", field="name")
    with transaction.atomic():
        fund = Fund(code=code, name=name, note=(note or "").strip()[:200])
        _save(fund, user, "新建资金账户")
    return fund


def funds_sync(*, user, year: int) -> list[Fund]:
    """A fund account for every fund the policies of ``year`` and its enrollments' subsidies
    name that has none yet (codes ``F01``, ``F02``…, the next free ones). The new funds."""
    roles.require_county(user)
    created = []
    with transaction.atomic():
        known = set(Fund.objects.values_list("name", flat=True))
        codes = set(Fund.objects.values_list("code", flat=True))
        number = 1
        for name in selectors.named_funds(year):
            if name in known:
                continue
            while f"F{number:02d}" in codes:
                number += 1
            code = f"F{number:02d}"
            codes.add(code)
            fund = Fund(code=code, name=name, note=f"由{year}年度政策/参保资助自动建立")
            _save(fund, user, "按政策建立资金账户")
            created.append(fund)
    return created


def fund_income_record(
    *,
    user,
    fund: Fund,
    kind: str,
    received_on: datetime.date,
    amount,
    document_number: str,
    note: str = "",
    idempotency_key: str = "",
) -> FundIncome:
    roles.require_county(user)
    if kind not in IncomeKind.values:
        raise PaymentsError("收入类型无效。", field="kind")
    if not isinstance(received_on, datetime.date):
        raise PaymentsError("到账日期必填。", field="received_on")
    amount = _money(amount, "amount", "金额")
    document_number = _text(document_number, "document_number", "文号/凭证号", max_length=100)
    note = _text(note, "note", "备注", required=False)

    def work():
        income = FundIncome(
            fund=fund,
            kind=kind,
            received_on=received_on,
            amount=amount,
            document_number=document_number,
            note=note,
            created_by=user,
        )
        _save(income, user, "登记资金收入")
        return income

    request = {
        "fund": fund,
        "kind": kind,
        "received_on": received_on,
        "amount": amount,
        "doc": document_number,
    }
    with transaction.atomic():
        return _once(
            user=user,
            scope="payments.income",
            key=idempotency_key,
            request=request,
            work=work,
            model=FundIncome,
        )


# --- bank accounts --------------------------------------------------------------------------


def _account_number(value) -> str:
    number = re.sub(r"\s+", "", value or "")
    if not _ACCOUNT_NUMBER.match(number):
        raise PaymentsError("账号须为8–32位数字（空格会被去掉）。", field="account_number")
    return number


def bank_account_save(
    *,
    user,
    household,
    member=None,
    kind: str,
    bank_name: str,
    account_name: str,
    account_number: str,
    account: BankAccount | None = None,
    idempotency_key: str = "",
) -> BankAccount:
    """Register a household's or member's account, or change ``account``; the one active
    account of the same holder is closed (kept in history). County staff and the household's
    township clinic."""
    roles.require_write(user)
    township = roles.township_id_of(user)
    if township is not None and household.village.township_id != township:
        raise PaymentsError("只能登记本乡镇贫困户的账户。", field="household")
    if member is not None and member.household_id != household.pk:
        raise PaymentsError("持卡成员不属于该户。", field="member")
    if kind not in AccountKind.values:
        raise PaymentsError("账户类型无效。", field="kind")
    bank_name = _text(bank_name, "bank_name", "开户银行", max_length=100)
    account_name = _text(account_name, "account_name", "户名", max_length=50)
    number = _account_number(account_number)

    def work():
        return _account_write(user, household, member, kind, bank_name, account_name, number, account)

    request = {"household": household, "member": member, "kind": kind, "number": number, "account": account}
    with transaction.atomic():
        return _once(
            user=user,
            scope="payments.account",
            key=idempotency_key,
            request=request,
            work=work,
            model=BankAccount,
        )


def _account_write(user, household, member, kind, bank_name, account_name, number, account):
    with transaction.atomic():
        if account is None:
            holder = (
                BankAccount.objects.select_for_update(of=("self",))
                .filter(household=household, member=member, active=True)
                .order_by()
            )
            for old in holder:
                old.active = False
                _save(old, user, "换卡：原账户停用")
            account = BankAccount(household=household, member=member)
            reason = "登记银行账户"
        else:
            if account.household_id != household.pk:
                raise PaymentsError("账户不属于该户。", field="household")
            reason = "修改银行账户"
        account.kind, account.bank_name, account.account_name = kind, bank_name, account_name
        account.account_number, account.updated_by = number, user
        _save(account, user, reason)
    return account


def bank_account_close(*, user, account: BankAccount) -> BankAccount:
    roles.require_write(user)
    township = roles.township_id_of(user)
    if township is not None and account.household.village.township_id != township:
        raise PaymentsError("只能停用本乡镇贫困户的账户。")
    with transaction.atomic():
        account.active, account.updated_by = False, user
        _save(account, user, "停用银行账户")
    return account


def institution_account_save(
    *, user, institution, bank_name: str, account_name: str, account_number: str
) -> InstitutionAccount:
    roles.require_county(user)
    bank_name = _text(bank_name, "bank_name", "开户银行", max_length=100)
    account_name = _text(account_name, "account_name", "户名", max_length=100)
    number = _account_number(account_number)
    with transaction.atomic():
        account = InstitutionAccount.objects.filter(institution=institution).first() or InstitutionAccount(
            institution=institution
        )
        account.bank_name, account.account_name, account.account_number = bank_name, account_name, number
        _save(account, user, "登记医疗机构收款账户")
    return account


# --- batches --------------------------------------------------------------------------------


def _payee_account(payable: sources.Payable) -> dict:
    """The account a payable is paid into, as written on the line (a snapshot)."""
    if payable.member_id is not None:
        account = selectors.account_of_member(payable.member_id)
        if account is None:
            return {}
        return {
            "account": account,
            "bank_name": account.bank_name,
            "account_name": account.account_name,
            "account_number": account.account_number,
        }
    if payable.institution_id is not None:
        account = InstitutionAccount.objects.filter(institution_id=payable.institution_id).first()
        if account is None:
            return {}
        return {
            "bank_name": account.bank_name,
            "account_name": account.account_name,
            "account_number": account.account_number,
        }
    return {}


def batch_draft(
    *, user, fund: Fund, year: int, month: int, note: str = "", idempotency_key: str = ""
) -> PaymentBatch:
    """Draft ``fund``'s batch for ``month`` of ``year``: every registered source's payables up
    to that month that no live line holds. Refused when nothing is owed. Two drafts racing for
    the same source: the second is refused by the database (``payment_line_source_once``)."""
    roles.require_county(user)
    if not isinstance(year, int) or not 2000 <= year <= 2100:
        raise PaymentsError("年度无效。", field="year")
    if not isinstance(month, int) or not 1 <= month <= 12:
        raise PaymentsError("月份须为1–12。", field="month")
    note = _text(note, "note", "备注", required=False)

    def work():
        batch = PaymentBatch(fund=fund, year=year, month=month, note=note, drafted_by=user)
        _save(batch, user, "起草拨付批次")
        lines = []
        for source in sources.registered():
            for payable in source.collect(fund=fund, year=year, month=month):
                lines.append(payable)
        if not lines:
            raise PaymentsError(f"{fund.name}截至{year}年{month}月没有待拨付的款项。", field="month")
        townships = selectors.member_townships([p.member_id for p in lines if p.member_id])
        for position, payable in enumerate(lines, start=1):
            _add_line(_line_of(batch, position, payable, townships), user)
        return batch

    request = {"fund": fund, "year": year, "month": month}
    try:
        with transaction.atomic():
            return _once(
                user=user,
                scope="payments.batch",
                key=idempotency_key,
                request=request,
                work=work,
                model=PaymentBatch,
            )
    except IntegrityError as exc:
        if "payment_line_source_once" in str(exc) or "UNIQUE" in str(exc).upper():
            raise PaymentsError(
                "有款项已被另一个拨付批次占用（同时起草？），请刷新后重新起草。", code="conflict"
            ) from None
        raise


def _line_of(batch: PaymentBatch, position: int, payable: sources.Payable, townships: dict) -> PaymentLine:
    return PaymentLine(
        batch=batch,
        position=position,
        kind=payable.kind,
        source_key=payable.source_key,
        source_seq=payable.source_seq,
        institution_id=payable.institution_id,
        member_id=payable.member_id,
        township_id=townships.get(payable.member_id),
        period_year=payable.period_year,
        period_month=payable.period_month,
        payee_name=payable.payee_name,
        amount=payable.amount,
        purpose=payable.purpose,
        **_payee_account(payable),
    )


def _add_line(line: PaymentLine, user) -> None:
    """Save a new line; a source already held by a live line is refused (the service's own
    check, before the database's unique index would)."""
    if (
        sources.live_lines()
        .filter(source_key=line.source_key, source_seq=line.source_seq)
        .exclude(batch=line.batch)
        .exists()
    ):
        raise PaymentsError(f"款项「{line.source_key}」已在另一个拨付批次中，不能重复拨付。", code="conflict")
    with transaction.atomic():
        _save(line, user, "起草拨付明细")


def line_add(*, user, batch: PaymentBatch, payable: sources.Payable) -> PaymentLine:
    """Add one payable to a draft batch (used by tests and sources that add by hand)."""
    roles.require_county(user)
    if batch.status != BatchStatus.DRAFT:
        raise PaymentsError("只有起草中的批次可以增加明细。", code="conflict")
    with transaction.atomic():
        position = (batch.lines.order_by("-position").values_list("position", flat=True).first() or 0) + 1
        line = _line_of(batch, position, payable, selectors.member_townships([payable.member_id]))
        _add_line(line, user)
    return line


def _locked(batch: PaymentBatch) -> PaymentBatch:
    return PaymentBatch.objects.select_for_update(of=("self",)).select_related("fund").get(pk=batch.pk)


def _expect(batch: PaymentBatch, *statuses) -> None:
    if batch.status not in statuses:
        wanted = "、".join(BatchStatus(s).label for s in statuses)
        raise PaymentsError(
            f"批次当前状态为「{batch.get_status_display()}」，此操作要求「{wanted}」。", code="conflict"
        )


def batch_check(*, user, batch: PaymentBatch) -> PaymentBatch:
    """复核: by someone other than the drafter; every line needs a payee account."""
    roles.require_county(user)
    with transaction.atomic():
        batch = _locked(batch)
        _expect(batch, BatchStatus.DRAFT)
        if batch.drafted_by_id == user.pk:
            raise PaymentsError("复核人不能是起草人。", field="checked_by", code="conflict")
        missing = list(batch.lines.filter(account_number="").values_list("position", "payee_name")[:5])
        if missing:
            named = "、".join(f"第{p}行（{n}）" for p, n in missing)
            raise PaymentsError(
                f"以下明细没有收款账户，请先登记账户或作废本批次重新起草：{named}。", field="lines"
            )
        batch.status, batch.checked_by, batch.checked_at = BatchStatus.CHECKED, user, timezone.now()
        _save(batch, user, "复核拨付批次")
    return batch


def batch_approve(*, user, batch: PaymentBatch, override_reason: str = "") -> PaymentBatch:
    """审批: by someone other than the checker. A batch over the fund's available balance
    (``selectors.approval_check``) is refused unless ``override_reason`` is given; the
    shortfall and the reason are kept on the batch and in its history."""
    roles.require_county(user)
    override_reason = _text(override_reason, "override_reason", "超支审批理由", required=False)
    with transaction.atomic():
        batch = _locked(batch)
        _expect(batch, BatchStatus.CHECKED)
        if batch.checked_by_id == user.pk:
            raise PaymentsError("审批人不能是复核人。", field="approved_by", code="conflict")
        # Approvals of one fund one at a time: each sees the others' committed lines.
        list(Fund.objects.select_for_update().filter(pk=batch.fund_id).values_list("pk", flat=True))
        check = selectors.approval_check(batch)
        reason = "审批拨付批次"
        if check["shortfall"] > 0:
            if not override_reason:
                raise PaymentsError(
                    f"审批后{batch.fund.name}将超支{check['shortfall']:,.2f}元（可用余额{check['available']:,.2f}元，"
                    f"本批次{check['total']:,.2f}元）。如确需超支拨付，请填写超支审批理由。",
                    field="override_reason",
                    code="overdraft",
                )
            batch.overdraft, batch.override_reason = check["shortfall"], override_reason
            reason = f"超支审批（超支{check['shortfall']:,.2f}元）：{override_reason}"
        batch.status, batch.approved_by, batch.approved_at = BatchStatus.APPROVED, user, timezone.now()
        _save(batch, user, reason)
    return batch


def batch_export(*, user, batch: PaymentBatch, layout: BankFileLayout) -> tuple[bytes, str]:
    """The bank's payment file of an approved (or already exported) batch in ``layout``:
    (content, file name). The lines still to pay, account numbers in full."""
    from . import bankfile

    roles.require_county(user)
    with transaction.atomic():
        batch = _locked(batch)
        _expect(batch, BatchStatus.APPROVED, BatchStatus.EXPORTED)
        if not layout.columns.exists():
            raise PaymentsError(f"代发版式「{layout}」没有设置列。", field="layout")
        content, filename = bankfile.render(batch, layout)
        batch.status, batch.layout = BatchStatus.EXPORTED, layout
        batch.exported_by, batch.exported_at = user, timezone.now()
        _save(batch, user, f"导出代发文件（{layout}）")
    return content, filename


def batch_cancel(*, user, batch: PaymentBatch, reason: str) -> PaymentBatch:
    """作废 a batch not yet exported: its lines are removed (history keeps them), their
    sources are free for another batch."""
    roles.require_county(user)
    reason = _text(reason, "reason", "作废原因")
    with transaction.atomic():
        batch = _locked(batch)
        _expect(batch, BatchStatus.DRAFT, BatchStatus.CHECKED, BatchStatus.APPROVED)
        for line in batch.lines.all():
            line._change_reason, line._history_user = f"批次作废：{reason}", user
            line.delete()
        batch.status, batch.cancel_reason = BatchStatus.CANCELLED, reason
        _save(batch, user, f"作废：{reason}")
    return batch


def _close_if_done(batch: PaymentBatch, user) -> None:
    if batch.status != BatchStatus.CLOSED and not batch.lines.filter(status=LineStatus.PENDING).exists():
        batch.status = BatchStatus.CLOSED
        _save(batch, user, "全部明细已支付或退票")


def _locked_line(line: PaymentLine) -> PaymentLine:
    return (
        PaymentLine.objects.select_for_update(of=("self",))
        .select_related("batch__fund", "institution")
        .get(pk=line.pk)
    )


def line_mark_paid(*, user, line: PaymentLine, reference: str, paid_on: datetime.date) -> PaymentLine:
    """The bank paid the line (its reference); the source's ``paid`` hook runs in the same
    transaction (a transfer on the institution's ledger cell; the aid case marked paid)."""
    roles.require_county(user)
    reference = _text(reference, "reference", "银行流水号", max_length=100)
    if not isinstance(paid_on, datetime.date):
        raise PaymentsError("支付日期必填。", field="paid_on")
    with transaction.atomic():
        batch = _locked(line.batch)
        line = _locked_line(line)
        _expect(batch, BatchStatus.EXPORTED)
        if line.status != LineStatus.PENDING:
            raise PaymentsError(
                f"第{line.position}行状态为「{line.get_status_display()}」，不能再登记支付。", code="conflict"
            )
        line.status, line.bank_reference, line.paid_on = LineStatus.PAID, reference, paid_on
        hook = sources.source_of(line.kind)
        if hook and hook.paid:
            hook.paid(line=line, user=user)
        _save(line, user, f"已支付（{reference}）")
        _close_if_done(batch, user)
    return line


def line_return(*, user, line: PaymentLine, reason: str, returned_on: datetime.date) -> PaymentLine:
    """退票: a line the bank did not pay (or paid and took back). The line stays in its batch
    as returned; its source is owed again and goes into a later batch."""
    roles.require_county(user)
    reason = _text(reason, "reason", "退票原因")
    if not isinstance(returned_on, datetime.date):
        raise PaymentsError("退票日期必填。", field="returned_on")
    with transaction.atomic():
        batch = _locked(line.batch)
        line = _locked_line(line)
        if batch.status not in (BatchStatus.EXPORTED, BatchStatus.CLOSED):
            raise PaymentsError("只有已导出的批次可以登记退票。", code="conflict")
        if line.status == LineStatus.RETURNED:
            raise PaymentsError(f"第{line.position}行已登记退票。", code="conflict")
        if line.status == LineStatus.PAID:
            hook = sources.source_of(line.kind)
            if hook and hook.returned:
                hook.returned(line=line, user=user)
        line.status, line.returned_on, line.return_reason = LineStatus.RETURNED, returned_on, reason
        _save(line, user, f"退票：{reason}")
        _close_if_done(batch, user)
    return line


KINDS_TO_PEOPLE = (LineKind.REFUND, LineKind.AID)
