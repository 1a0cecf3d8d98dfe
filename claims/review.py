"""The claims review (审核): county medical-insurance staff decide on an encounter — approve,
deduct (违规扣款) or reject (拒付) — and the bill's ``deducted`` amounts follow the decision.

A decision states the whole outcome of the review of its encounter, not a change to the last
one: an approval clears every deduction, a deduction sets each line's deducted amount (lines
not named: 0), a rejection deducts every line in full. Under the settlement contract a deducted
amount is paid by neither the funds nor the patient: the institution bears it. A rejection
therefore leaves the patient paying nothing for the stay either (what the patient paid at the
window is refunded by the institution: the new statement shows it as 退还患者).

An encounter without an itemised bill gets one when a deduction or rejection needs it: two
lines that give the same totals under any catalogue (政策范围内费用 as class A, the rest as
class C), so the contract's item deduction applies to it as to any bill.

Everything is written in one transaction with the member-year recorded in the outbox
(``claims.events``): settlement re-settles the member's year and the ledger and statement
follow. The decision is one-time: a form token / Idempotency-Key makes a repeated submission a
replay, and the encounter's version makes a decision on a claim that changed meanwhile (or was
decided by someone else) a conflict.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal, InvalidOperation

from django.db import transaction
from django.utils import timezone

from core import bulk
from registry import roles

from . import events, review_rules
from . import items as bill_items
from .models import Encounter, EncounterItem, ReviewDecision, ReviewFlag, ReviewOutcome, ViolationReason
from .services import PEER_VALUES, ClaimsError, _once, _service_year, review_settings

_ZERO = Decimal("0.00")
_CENT = Decimal("0.01")
SUMMARY_CODES = bill_items.SUMMARY_CODES


def _amount(value, field: str, label: str) -> Decimal:
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ClaimsError(f"{label}应为金额（数字）。", field) from None
    if not number.is_finite() or number < 0:
        raise ClaimsError(f"{label}不能为负数。", field)
    if number != number.quantize(_CENT):
        raise ClaimsError(f"{label}最多两位小数。", field)
    return number.quantize(_CENT)


def _spread(amount: Decimal, items: list[EncounterItem]) -> dict[int, Decimal]:
    """A whole amount spread over the lines in proportion to their amounts, in cents (the
    cents left by rounding down go one by one to the largest remainders, then the earlier
    line), never above a line's amount."""
    billed = sum((i.amount for i in items), _ZERO)
    shares = {}
    remainders = []
    for item in items:
        exact = amount * item.amount / billed if billed else _ZERO
        share = exact.quantize(_CENT, ROUND_DOWN)
        shares[item.position] = share
        remainders.append((exact - share, item.position))
    left = int((amount - sum(shares.values(), _ZERO)) / _CENT)
    by_position = {i.position: i for i in items}
    for _, position in sorted(remainders, key=lambda r: (-r[0], r[1])):
        if left <= 0:
            break
        if shares[position] < by_position[position].amount:
            shares[position] += _CENT
            left -= 1
    return shares


def _summary_bill(encounter: Encounter) -> list[EncounterItem]:
    """Two lines from the totals: in-policy cost as class A, the rest as class C."""
    lines = [
        (SUMMARY_CODES[0], "政策范围内费用（按总额）", "A", encounter.in_policy_cost),
        (SUMMARY_CODES[1], "政策范围外费用（按总额）", "C", encounter.total_cost - encounter.in_policy_cost),
    ]
    return [
        EncounterItem(encounter=encounter, position=n, code=code, name=name, item_class=cls, amount=amount)
        for n, (code, name, cls, amount) in enumerate(lines, start=1)
        if amount > 0 or n == 1
    ]


def _new_deductions(
    outcome: str, items: list[EncounterItem], item_deductions: dict | None, amount
) -> dict[int, Decimal]:
    if outcome == ReviewOutcome.APPROVE:
        return {i.position: _ZERO for i in items}
    if outcome == ReviewOutcome.REJECT:
        return {i.position: i.amount for i in items}
    if (item_deductions is None) == (amount in (None, "")):
        raise ClaimsError("违规扣款请填写逐项扣除金额或扣除总额（二者选一）。", "amount")
    billed = sum((i.amount for i in items), _ZERO)
    if item_deductions is None:
        whole = _amount(amount, "amount", "扣除总额")
        if whole <= 0:
            raise ClaimsError("扣除总额必须大于0。", "amount")
        if whole > billed:
            raise ClaimsError(f"扣除总额不能大于明细金额合计（{whole} > {billed}）。", "amount")
        return _spread(whole, items)
    by_position = {i.position: i for i in items}
    out = dict.fromkeys(by_position, _ZERO)
    for key, value in item_deductions.items():
        try:
            position = int(key)
        except (TypeError, ValueError):
            position = None
        if position not in by_position:
            raise ClaimsError(f"费用明细没有第{key}项。", "items")
        field = f"items[{position}]"
        label = f"第{position}项（{by_position[position].code}）的扣除金额"
        value = _amount(value if value not in (None, "") else "0", field, label)
        if value > by_position[position].amount:
            raise ClaimsError(f"{label}不能大于项目金额（{value} > {by_position[position].amount}）。", field)
        out[position] = value
    if not any(out.values()):
        raise ClaimsError("违规扣款至少要扣除一项（金额大于0）；不扣款请选择“审核通过”。", "items")
    return out


def review_decide(
    *,
    user,
    encounter: Encounter,
    version: int,
    outcome: str,
    reason: ViolationReason | None = None,
    note: str = "",
    item_deductions: dict | None = None,
    amount=None,
    key: str = "",
) -> ReviewDecision:
    """Record a review decision on ``encounter`` (county staff only) and apply it to the bill.

    ``item_deductions``: {position: amount} (a deduction per line; lines not named: 0) or
    ``amount``: a whole amount spread over the lines (``_spread``) — exactly one for a
    deduction. ``version`` is the encounter's version the reviewer saw (stale: ``conflict``);
    ``key`` a form token / Idempotency-Key (a repeat returns the first decision, with
    ``_replayed = True``)."""
    roles.require_county(user)
    if outcome not in ReviewOutcome.values:
        raise ClaimsError("审核结论必须是审核通过、违规扣款或拒付。", "outcome")
    note = (note or "").strip()
    if outcome != ReviewOutcome.APPROVE:
        if reason is None:
            raise ClaimsError("违规扣款和拒付必须选择违规类型。", "reason")
        if not reason.active:
            raise ClaimsError(f"违规类型「{reason.name}」已停用，请选择其他类型。", "reason")
        if reason.code == "other" and not note:
            raise ClaimsError("违规类型为“其他违规”时必须填写审核意见。", "note")
    if len(note) > 2000:
        raise ClaimsError("审核意见不能超过2000字。", "note")
    request = {
        "encounter": encounter.pk,
        "version": version,
        "outcome": outcome,
        "reason": reason,
        "note": note,
        "items": {str(k): str(v) for k, v in (item_deductions or {}).items()},
        "amount": str(amount) if amount not in (None, "") else "",
    }

    def work() -> ReviewDecision:
        return _decide(user, encounter.pk, version, outcome, reason, note, item_deductions, amount)

    if not (key or "").strip():
        with transaction.atomic():
            decision = work()
        decision._replayed = False
        return decision
    return _once(
        user=user,
        scope="review_decision",
        key=key,
        request=request,
        work=work,
        replay=lambda pk: ReviewDecision.objects.select_related("reason").get(pk=pk),
        reused="这次提交的幂等键（Idempotency-Key / 表单令牌）已用于另一个内容不同的审核结论，未保存。请重新打开审核页面。",
    )


def _decide(user, encounter_id, version, outcome, reason, note, item_deductions, amount) -> ReviewDecision:
    encounter = Encounter.objects.select_for_update().get(pk=encounter_id)
    if not encounter.is_current:
        raise ClaimsError("该就诊记录已被更正，请审核更正后的记录。", code="superseded")
    if encounter.version != version:
        raise ClaimsError(
            f"审核未保存：该就诊记录在您打开后已被修改或已由他人审核（您打开时为第{version}版，"
            f"现在是第{encounter.version}版）。请重新打开审核页面核对后再审核。",
            code="conflict",
        )
    items = list(encounter.items.order_by("position"))
    before = sum((i.deducted for i in items), _ZERO)
    made_bill = False
    if not items and outcome != ReviewOutcome.APPROVE:
        items, made_bill = _summary_bill(encounter), True
    deductions = _new_deductions(outcome, items, item_deductions, amount)
    for item in items:
        item.deducted = deductions[item.position]
    if made_bill:
        EncounterItem.objects.bulk_create(items)
    elif items:
        EncounterItem.objects.bulk_update(items, ["deducted"])
    billed = sum((i.amount for i in items), encounter.total_cost if not items else _ZERO)
    after = sum(deductions.values(), _ZERO)
    if items:
        encounter.in_policy_cost = sum(
            (i.amount - i.deducted for i in items if i.item_class in ("A", "B")), _ZERO
        )
    encounter.version += 1
    label = ReviewOutcome(outcome).label
    encounter._change_reason = f"审核：{label}" + (f"，扣除 {after} 元" if after else "")
    encounter._history_user = user
    encounter.save()
    for previous in ReviewDecision.objects.filter(encounter=encounter, is_current=True):
        previous.is_current = False
        previous._change_reason, previous._history_user = "被新的审核结论取代", user
        previous.save()
    decision = ReviewDecision(
        encounter=encounter,
        outcome=outcome,
        reason=reason if outcome != ReviewOutcome.APPROVE else None,
        note=note,
        billed=billed,
        deducted=after,
        change=after - before,
        items={str(p): str(d) for p, d in sorted(deductions.items()) if d},
        encounter_version=encounter.version,
        decided_by=user,
    )
    decision._change_reason, decision._history_user = label, user
    decision.save()
    if after != before:
        year = _service_year(
            {"discharge_date": encounter.discharge_date, "admission_date": encounter.admission_date}
        )
        events.record_member_years_changed(pairs=[(encounter.member_id, year)])
    return decision


# --- the automatic review of a whole year (智能审核，批量) ------------------------------------------


@dataclass
class ReviewYearResult:
    year: int
    encounters: int = 0
    flagged: int = 0  # encounters with at least one flag after the run
    flags: int = 0
    changed: int = 0  # encounters whose flags were rewritten
    by_rule: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "year": self.year,
            "encounters": self.encounters,
            "flagged": self.flagged,
            "flags": self.flags,
            "changed": self.changed,
            "by_rule": dict(sorted(self.by_rule.items())),
        }


_YEAR_COLUMNS = ("id", *PEER_VALUES)  # the columns the window's review reads of its peers


def review_year(*, year: int) -> ReviewYearResult:
    """Run the enabled review rules over every current encounter of ``year`` at once (each
    compared with the whole year: the member's stays, the county's same kind, diagnosis and
    level) and store the flags, writing only the encounters whose flags changed (run twice, the
    second run writes nothing). One transaction; three reads (encounters, items, flags) and a
    bulk delete + COPY for the changes. What ``manage.py review_year`` runs."""
    with review_rules.gc_paused():
        return _review_year(year)


def _review_year(year: int) -> ReviewYearResult:
    settings = review_settings()
    bounds = (datetime.date(year, 1, 1), datetime.date(year, 12, 31))
    current = Encounter.objects.filter(is_current=True, service_date__range=bounds)
    items = defaultdict(list)
    for encounter_id, code, item_class, amount, category, deducted in bulk.fetch_rows(
        EncounterItem.objects.filter(encounter__is_current=True, encounter__service_date__range=bounds)
        .order_by("encounter_id", "position")
        .values_list("encounter_id", "code", "item_class", "amount", "category", "deducted")
    ):
        items[encounter_id].append(
            review_rules.ReviewItem(
                code=code, item_class=item_class, amount=amount, category=category, deducted=deducted
            )
        )
    ids, reviewed = {}, []
    for (
        pk,
        ref,
        member,
        institution,
        kind,
        level,
        admitted,
        discharged,
        total,
        code,
        sex,
        birth,
    ) in bulk.fetch_rows(current.order_by("service_date", "id").values_list(*_YEAR_COLUMNS)):
        ids[ref] = pk
        reviewed.append(
            review_rules.ReviewEncounter(
                ref=ref,
                member=member,
                institution=institution,
                kind=kind,
                level=level,
                admission_date=admitted,
                discharge_date=discharged,
                total_cost=total,
                diagnosis_code=code,
                sex=sex,
                birth_date=birth,
                items=tuple(items.get(pk, ())),
            )
        )
    found = review_rules.review(reviewed, settings) if settings.enabled else {ref: [] for ref in ids}
    result = ReviewYearResult(year=year, encounters=len(reviewed))
    wanted = {}
    for ref, flags in found.items():
        if flags:
            wanted[ids[ref]] = [(f["code"], f["message"]) for f in flags]
            result.flagged += 1
            result.flags += len(flags)
            for f in flags:
                result.by_rule[f["code"]] = result.by_rule.get(f["code"], 0) + 1
    with transaction.atomic():
        stored = defaultdict(list)
        for encounter_id, code, message in bulk.fetch_rows(
            ReviewFlag.objects.filter(encounter__in=current)
            .order_by("encounter_id", "id")
            .values_list("encounter_id", "code", "message")
        ):
            stored[encounter_id].append((code, message))
        changed = sorted(pk for pk in set(stored) | set(wanted) if stored.get(pk, []) != wanted.get(pk, []))
        result.changed = len(changed)
        for start in range(0, len(changed), 10_000):
            ReviewFlag.objects.filter(encounter_id__in=changed[start : start + 10_000]).delete()
        now = timezone.now()
        bulk.insert(
            ReviewFlag,
            ["encounter_id", "code", "message", "created_at"],
            [(pk, code, message, now) for pk in changed for code, message in wanted.get(pk, [])],
            return_ids=False,
        )
    return result
