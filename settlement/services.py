"""Operations of settlement: policies, settling member-years, batch runs, fund transfers.

Views, the API, management commands and Celery tasks all call these functions; each
validates, then writes inside one transaction, and raises ``SettlementError`` (one domain
error type: a Chinese message, and ``errors`` naming the bad fields as ``"path: message"``
when the input was a document).
"""

from __future__ import annotations

import copy
import datetime
import os
import socket
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from claims import services as claims_services
from claims.models import Discharge, Encounter, Institution
from core import idempotency
from core.errors import DomainError
from registry import facts, roles

from . import batch, engine, events, ports, selectors
from .batch import SettleResult
from .models import FundTransfer, Policy, PolicyStatus, Settlement, SettlementRun, SettlementRunChunk

__all__ = [
    "SettlementError",
    "SettleResult",
    "policy_import",
    "policy_activate",
    "policy_update_document",
    "policy_export",
    "settlement_preview",
    "settle_member_year",
    "settle_member_years",
    "window_discharge",
    "window_correct",
    "window_cancel",
    "settlement_run_start",
    "settlement_run_begin",
    "settlement_run_chunk",
    "settlement_run_fail",
    "settlement_run_recover",
    "settlement_run_execute",
    "fund_transfer_record",
    "fund_transfer_withdraw",
]


class SettlementError(DomainError):
    """A refused settlement operation (core.errors.DomainError: message, field, code —
    ``"conflict"`` for a state that forbids the change; ``errors``: ``"path: message"`` per bad
    field of a policy document or claims). ``source``: which input those paths are into
    (``"policy"`` or ``"claims"``)."""

    def __init__(
        self, message: str, field: str | None = None, code: str | None = None, *, errors=None, source=""
    ):
        super().__init__(message, field, code, errors=errors)
        self.source = source


def _save(obj, user, reason: str) -> None:
    obj._change_reason, obj._history_user = reason, user
    obj.save()


# --- policies -----------------------------------------------------------------------------------


def _validated(document) -> dict:
    errors = engine.validate_policy(document) + ports.section_errors(document)
    if errors:
        raise SettlementError(
            "政策文件不符合规范：" + "；".join(errors[:5]) + ("……" if len(errors) > 5 else ""),
            errors=errors,
            source="policy",
        )
    return copy.deepcopy(document)


def _start_resettle(user, policy: Policy) -> None:
    settlement_run_start(user=user, kind=SettlementRun.Kind.RESETTLE_YEAR, year=policy.year, policy=policy)


def policy_import(*, user, document: dict, status: str = "draft", replace: bool = False) -> Policy:
    """Store a policy document (validated first; nothing is stored when it is refused).

    A new code becomes a draft (or, with ``status="active"``, is activated at once). An
    existing draft with the same code gets the new document. An active or retired policy is
    not overwritten unless ``replace=True``; replacing an active policy's document re-settles
    its year. Importing a document identical to the stored one changes nothing."""
    roles.require_county(user)
    if status not in (PolicyStatus.DRAFT, PolicyStatus.ACTIVE):
        raise SettlementError("导入时状态只能是草稿或生效。", errors=["status: must be draft or active"])
    document = _validated(document)
    with transaction.atomic():
        policy = Policy.objects.select_for_update().filter(code=document["code"]).first()
        if policy is None:
            policy = Policy(
                code=document["code"],
                name=document["name"],
                year=document["year"],
                document=document,
                created_by=user,
            )
            _save(policy, user, "导入政策")
        elif policy.document != document:
            if policy.status != PolicyStatus.DRAFT and not replace:
                raise SettlementError(
                    f"政策「{policy.code}」已{policy.get_status_display()}，不能被覆盖；确需修改时请明确选择替换"
                    "（生效政策修改后将重新结算该年度）。",
                    errors=[f"code: policy {policy.code!r} is {policy.status}"],
                    source="policy",
                    code="conflict",
                )
            policy = policy_update_document(user=user, policy=policy, document=document, resettle=True)
        if status == PolicyStatus.ACTIVE and policy.status != PolicyStatus.ACTIVE:
            policy = policy_activate(user=user, policy=policy)
    return policy


def policy_activate(*, user, policy: Policy, resettle: bool = True) -> Policy:
    """Make ``policy`` its year's active policy; the one active before is retired. The year is
    then re-settled (a batch run) unless ``resettle=False`` (the caller settles itself)."""
    roles.require_county(user)
    with transaction.atomic():
        current = Policy.objects.select_for_update().get(pk=policy.pk)
        if current.status == PolicyStatus.ACTIVE:
            return current
        _validated(current.document)
        for other in Policy.objects.select_for_update().filter(year=current.year, status=PolicyStatus.ACTIVE):
            other.status = PolicyStatus.RETIRED
            _save(other, user, f"被「{current.code}」替代而停用")
        current.status = PolicyStatus.ACTIVE
        _save(current, user, "启用")
        if resettle:
            _start_resettle(user, current)
    return current


def policy_update_document(*, user, policy: Policy, document: dict, resettle: bool = False) -> Policy:
    """Replace a policy's document. A draft changes freely; an active policy only with
    ``resettle=True``, which queues the re-settlement of its year (the differences go to
    patients and funds); a retired policy never (import a new one)."""
    roles.require_county(user)
    document = _validated(document)
    if document["code"] != policy.code:
        raise SettlementError(
            "政策编码不能修改；不同编码请作为新政策导入。",
            errors=[f"code: must stay {policy.code!r}"],
            source="policy",
        )
    with transaction.atomic():
        current = Policy.objects.select_for_update().get(pk=policy.pk)
        if current.document == document:
            return current
        if current.status == PolicyStatus.RETIRED:
            raise SettlementError("已停用的政策不能修改；请以新编码导入。", code="conflict")
        if current.status == PolicyStatus.ACTIVE:
            if not resettle:
                raise SettlementError(
                    "修改生效政策将重新结算该年度全部就诊记录，请确认后再修改。", code="conflict"
                )
            if document["year"] != current.year:
                raise SettlementError(
                    "生效政策的年度不能修改。", errors=[f"year: must stay {current.year}"], source="policy"
                )
        current.document, current.name, current.year = document, document["name"], document["year"]
        _save(current, user, "修改政策文件")
        if current.status == PolicyStatus.ACTIVE:
            _start_resettle(user, current)
    return current


# The contract's field order, so an exported document reads like the contract (PostgreSQL's
# jsonb does not keep key order; the meaning never depended on it).
_DOCUMENT_ORDER = ("code", "name", "year", "tiers")
_TIER_ORDER = (
    "key",
    "kind",
    "name",
    "fund",
    "applies_to",
    "base",
    "deductible",
    "rate",
    "rate_bonus",
    "cap",
    "packages",
    "overrides",
    "self_pay_cap",
    "self_pay_ratio_cap",
    "self_pay_ratio_of",
)


def _ordered(obj: dict, order) -> dict:
    return {**{k: obj[k] for k in order if k in obj}, **{k: v for k, v in obj.items() if k not in order}}


def policy_export(*, code: str) -> dict:
    """The stored document of policy ``code``, unchanged in meaning (keys in contract order)."""
    policy = Policy.objects.filter(code=code).first()
    if policy is None:
        raise SettlementError(f"没有编码为「{code}」的政策。", errors=[f"code: unknown policy {code!r}"])
    document = _ordered(copy.deepcopy(policy.document), _DOCUMENT_ORDER)
    if isinstance(document.get("tiers"), list):
        document["tiers"] = [
            _ordered(t, _TIER_ORDER) if isinstance(t, dict) else t for t in document["tiers"]
        ]
    return document


# --- preview (writes nothing) -------------------------------------------------------------------


def settlement_preview(*, claims: dict, document: dict | None = None, code: str | None = None) -> list[dict]:
    """The contract's output array for ``claims`` (``{"members", "encounters"}``) under a
    policy document or a stored policy's code. Reads at most the policy; writes nothing."""
    if (document is None) == (code is None):
        raise SettlementError(
            "请提供政策文件或政策编码（二选一）。",
            errors=["policy：请提供政策文件（policy）或政策编码（policy_code），二选一"],
            source="policy",
        )
    if code is not None:
        policy = Policy.objects.filter(code=code).first()
        if policy is None:
            raise SettlementError(
                f"没有编码为「{code}」的政策。", errors=[f"policy_code：没有编码为「{code}」的政策"]
            )
        compiled = batch.compiled_policy(policy)
    else:
        try:
            compiled = engine.compile_policy(document)
        except engine.PolicyError as exc:
            raise SettlementError("政策文件不符合规范。", errors=exc.errors, source="policy") from exc
    try:
        return engine.settle_claims(compiled, claims)
    except engine.ClaimsError as exc:
        raise SettlementError("就诊数据不符合规范。", errors=exc.errors, source="claims") from exc


# --- settling -----------------------------------------------------------------------------------


def settle_member_year(
    *, member_id: int, year: int, task_id: str = "", run: SettlementRun | None = None
) -> SettleResult:
    """Settle one member's current encounters of ``year`` from zero and store what changed
    (see ``batch.settle_members``). Idempotent, and safe to run concurrently: the
    (member, year) advisory lock serialises runs, and the second finds nothing to change."""
    return settle_member_years(member_ids=[member_id], year=year, task_id=task_id, run=run)


def settle_member_years(
    *, member_ids, year: int, task_id: str = "", run: SettlementRun | None = None
) -> SettleResult:
    """``settle_member_year`` for several members at once: one transaction, one engine call."""
    with transaction.atomic():
        batch.lock_member_years(member_ids, year)
        return batch.settle_members(member_ids, year, run_id=run.pk if run else None, task_id=task_id)


# --- the hospital's window (出院一站式结算) --------------------------------------------------------


def _settled_now(encounter: Encounter) -> Settlement:
    """Settle the encounter's member-year now, in the caller's transaction, and return the
    encounter's current settlement; a stay that cannot be settled (no active policy for the
    year, the patient not insured, …) is refused with the reason, and the caller's
    transaction — the discharge with it — rolls back: the window then charges in full."""
    year = encounter.service_date.year
    settle_member_years(member_ids=[encounter.member_id], year=year)
    settlement = (
        Settlement.objects.select_related("policy", "encounter")
        .prefetch_related("lines")
        .filter(encounter=encounter, is_current=True)
        .first()
    )
    if settlement is None:
        problem = selectors.problem_of(encounter)
        why = f"{problem.get_reason_display()}：{problem.detail}" if problem else "原因不明"
        raise SettlementError(f"该次住院不能在窗口一站式结算（{why}）。", code="not_settleable")
    return settlement


def window_figures(settlement: Settlement) -> dict:
    """A settlement's figures as the window answers them: the contract's output (``payouts``
    per tier in policy order, ``self_pay`` and its two parts, ``deducted`` when itemised) plus
    each payer's name, kind and fund, the payers' total, the self-pay difference against the
    settlement it replaced, and the path of its printable statement (stable: a settlement is
    never rewritten, a later one supersedes it)."""
    from django.urls import reverse

    figures = selectors.settlement_as_dict(settlement)
    tiers = {t.key: t for t in batch.compiled_policy(settlement.policy).tiers}
    payers = []
    for key, amount in figures["payouts"].items():
        tier = tiers.get(key)
        line = next((line for line in settlement.lines.all() if line.tier_key == key), None)
        payers.append(
            {
                "key": key,
                "name": line.tier_name if line else tier.name,
                "kind": line.tier_kind if line else tier.kind,
                "fund": line.fund if line else tier.fund,
                "amount": amount,
            }
        )
    return {
        **figures,
        "settlement": settlement.pk,
        "payers": payers,
        "payouts_total": f"{settlement.payouts_total:.2f}",
        "self_pay_difference": f"{settlement.self_pay_difference:.2f}",
        "statement_url": reverse("settlement:statement", args=[settlement.pk]),
    }


def _window_answer(discharge: Discharge, encounter: Encounter, settlement: Settlement, warnings) -> dict:
    return {
        "visit_number": discharge.visit_number,
        "status": discharge.status,
        "encounter": encounter.pk,
        **window_figures(settlement),
        "warnings": list(warnings),
    }


def _window_digest(values: dict, items) -> str:
    return idempotency.fingerprint({**values, "items": items})


def window_discharge(
    *, user, visit_number: str, id_number: str, values: dict, items: list
) -> tuple[dict, bool]:
    """One stay at the hospital's window (出院结算): its encounter and items entered for the
    user's institution and settled at once, in one transaction. Returns (the answer, created).

    Idempotent on (institution, ``visit_number``): the same request again returns the first
    answer and creates nothing (``created`` False); the same visit number with another
    content is refused (409) — a changed bill is a correction (``window_correct``)."""
    digest = _window_digest({**values, "id_number": id_number, "visit_number": visit_number}, items)
    with transaction.atomic():
        discharge, exists = claims_services.discharge_open(
            user=user, visit_number=visit_number, digest=digest
        )
        if exists:
            if discharge.digest == digest and discharge.answer is not None:
                return discharge.answer, False
            raise SettlementError(
                f"就诊号「{discharge.visit_number}」已办理出院结算，内容与这次提交不同；"
                "如需更正，请提交更正（correction）或退费作废（cancel）。",
                "visit_number",
                code="conflict",
            )
        member = claims_services.discharge_patient(user=user, id_number=id_number)
        encounter, warnings = claims_services.discharge_encounter(
            user=user, discharge=discharge, values={**values, "member": member}, items=items
        )
        answer = _window_answer(discharge, encounter, _settled_now(encounter), warnings)
        claims_services.discharge_answered(discharge=discharge, digest=digest, answer=answer, first=True)
    return answer, True


def window_correct(*, user, visit_number: str, values: dict, items: list, reason: str) -> tuple[dict, bool]:
    """A correction at the window (退费重结): the visit's encounter corrected and settled again
    at once; the new settlement supersedes the old one (its ``self_pay_difference``: negative
    is the refund to the patient). The same correction sent again answers the same."""
    digest = _window_digest({**values, "visit_number": visit_number, "reason": reason}, items)
    with transaction.atomic():
        discharge = claims_services.discharge_of(user=user, visit_number=visit_number)
        if discharge.last_digest == digest and discharge.last_answer is not None:
            return discharge.last_answer, False
        encounter, warnings = claims_services.discharge_correct(
            user=user, discharge=discharge, values=values, items=items, reason=reason
        )
        answer = _window_answer(discharge, encounter, _settled_now(encounter), warnings)
        claims_services.discharge_answered(discharge=discharge, digest=digest, answer=answer, first=False)
    return answer, True


def window_cancel(*, user, visit_number: str, reason: str) -> tuple[dict, bool]:
    """A cancellation at the window (退费作废): the visit's encounter withdrawn and its
    member-year settled again at once, so its settlement stops being current (the funds
    recover its payouts, the patient is refunded the self-pay). Sent again: the same answer."""
    digest = idempotency.fingerprint({"cancel": visit_number, "reason": reason})
    with transaction.atomic():
        discharge = claims_services.discharge_of(user=user, visit_number=visit_number)
        if discharge.last_digest == digest and discharge.last_answer is not None:
            return discharge.last_answer, False
        settled = Settlement.objects.filter(encounter=discharge.encounter, is_current=True).first()
        encounter = claims_services.discharge_cancel(user=user, discharge=discharge, reason=reason)
        settle_member_years(member_ids=[encounter.member_id], year=encounter.service_date.year)
        answer = {
            "visit_number": discharge.visit_number,
            "status": discharge.status,
            "encounter": encounter.pk,
            "cancelled_settlement": settled.pk if settled else None,
            "refund_to_patient": f"{settled.self_pay if settled else Decimal(0):.2f}",
            "recovered_from_funds": f"{settled.payouts_total if settled else Decimal(0):.2f}",
        }
        claims_services.discharge_answered(discharge=discharge, digest=digest, answer=answer, first=False)
    return answer, True


# --- batch runs ---------------------------------------------------------------------------------


def settlement_run_start(
    *, user, kind: str, year: int, policy: Policy | None = None, enqueue: bool = True
) -> SettlementRun:
    """Queue a batch run over ``year``: settle or re-settle it with its active policy, or
    simulate ``policy`` (typically a draft) against what is stored. The run is executed by
    Celery after the transaction commits (recorded in the outbox: ``handlers.run_started``); with ``enqueue=False`` the
    caller executes it (``settlement_run_execute``)."""
    roles.require_county(user)
    if kind not in SettlementRun.Kind.values:
        raise SettlementError(f"未知的任务类型：{kind}", errors=[f"kind: unknown value {kind!r}"])
    if not isinstance(year, int) or not 2000 <= year <= 2100:
        raise SettlementError("年度无效。", errors=["year: must be a year between 2000 and 2100"])
    if kind == SettlementRun.Kind.SIMULATE:
        if policy is None:
            raise SettlementError("政策模拟需要选择一个政策（通常是草稿）。", errors=["policy: required"])
    else:
        policy = batch.active_policy(year)
        if policy is None:
            raise SettlementError(
                f"{year}年度没有生效的结算政策，请先导入并启用。", errors=["year: no active policy"]
            )
    run = SettlementRun.objects.create(kind=kind, year=year, policy=policy, started_by=user)
    if enqueue:
        events.record_run_started(run_id=run.pk)
    return run


def _run_members(run: SettlementRun) -> list[int]:
    return selectors.member_ids_to_settle(run.year, stored_too=run.kind != SettlementRun.Kind.SIMULATE)


def _simulation_threshold(run: SettlementRun) -> tuple[int | None, Policy | None]:
    """(the self-pay limit a simulation counts poor patients above, in cents; the year's active
    policy it compares with): the simulated policy's backstop cap, else the active one's."""
    threshold = batch.backstop_threshold(run.policy.document)
    active = batch.active_policy(run.year)
    if threshold is None and active is not None:
        threshold = batch.backstop_threshold(active.document)
    return threshold, active


def _chunk_size(run: SettlementRun) -> int:
    if run.kind == SettlementRun.Kind.SIMULATE:
        return settings.SETTLEMENT_SIMULATE_CHUNK_MEMBERS
    return settings.SETTLEMENT_CHUNK_MEMBERS


def _equal_slices(ids: list, most: int, processes: int) -> list[list]:
    """``ids`` cut into consecutive slices of at most ``most`` items, as equal as can be and as
    many as a multiple of ``processes``: the worker's processes then take the same number of
    slices of the same size and finish together (13 chunks on 2 processes left one process
    idle for the last one)."""
    if not ids:
        return []
    count = -(-len(ids) // max(most, 1))
    processes = max(processes, 1)
    count = min(-(-count // processes) * processes, len(ids))
    size, extra = divmod(len(ids), count)
    slices, start = [], 0
    for i in range(count):
        end = start + size + (1 if i < extra else 0)
        slices.append(ids[start:end])
        start = end
    return slices


def settlement_run_begin(*, run_id: int) -> list[int]:
    """Split a queued run into chunks of members (once), and return the indexes of the chunks
    still to do. Safe to repeat: a redelivered start task re-queues only unfinished chunks."""
    with transaction.atomic():
        run = SettlementRun.objects.select_for_update().get(pk=run_id)
        if run.status == SettlementRun.Status.QUEUED:
            member_ids = _run_members(run)
            # (A simulation's chunk sums the stored side of its range of members too:
            # ``_stored_range``.)
            slices = _equal_slices(member_ids, _chunk_size(run), settings.SETTLEMENT_WORKER_PROCESSES)
            # Leased from now: a chunk that no task takes up in time (its message was lost with a
            # killed worker) is queued again by the sweeper (settlement_run_recover).
            leased_until = timezone.now() + _lease()
            SettlementRunChunk.objects.bulk_create(
                SettlementRunChunk(run=run, index=i, member_ids=ids, leased_until=leased_until)
                for i, ids in enumerate(slices)
            )
            run.total, run.done, run.status = len(member_ids), 0, SettlementRun.Status.RUNNING
            run.save(update_fields=["total", "done", "status"])
            if not member_ids:
                _finish(run)
        if run.status != SettlementRun.Status.RUNNING:
            return []
        return list(run.chunks.filter(done=False).order_by("index").values_list("index", flat=True))


def _lease() -> datetime.timedelta:
    return datetime.timedelta(seconds=settings.SETTLEMENT_CHUNK_LEASE_SECONDS)


def _chunk_claim(run_id: int, index: int, task_id: str) -> bool:
    """Take the lease of a chunk not done that no transaction holds (committed at once, so the
    sweeper sees it): who and until when. False when the chunk is done or another task is
    working on it (its row is locked)."""
    with transaction.atomic():
        chunk = (
            # OF self: the model's ordering joins the run, whose row other chunks lock briefly.
            SettlementRunChunk.objects.select_for_update(of=("self",), skip_locked=True)
            .filter(run_id=run_id, index=index, done=False)
            .first()
        )
        if chunk is None:
            return False
        chunk.leased_until = timezone.now() + _lease()
        chunk.lease_owner = f"{socket.gethostname()}:{os.getpid()}:{task_id}"[:200]
        chunk.attempts += 1
        chunk.save(update_fields=["leased_until", "lease_owner", "attempts"])
    return True


def settlement_run_chunk(*, run_id: int, index: int, task_id: str = "") -> bool:
    """Do one chunk of a run: settle (or simulate) its members, record the partial result and
    the progress in the same transaction. Returns False when there was nothing to do (the
    chunk was done already — a redelivered, duplicated or re-queued task — another task is
    working on it, or the run failed).

    The chunk's row stays locked by the working transaction to its end: that lock is the proof
    that a live worker holds the chunk (a killed worker's session ends and releases it); the
    lease taken just before covers the moments without it."""
    if not _chunk_claim(run_id, index, task_id):
        return False
    with transaction.atomic():
        # A duplicate of this task does not wait for the lock: it leaves the chunk to its holder,
        # which either commits it done or rolls back (then its retry or the sweeper queues it).
        chunk = (
            SettlementRunChunk.objects.select_for_update(of=("self",), skip_locked=True)
            .select_related("run__policy")
            .filter(run_id=run_id, index=index)
            .first()
        )
        if chunk is None:
            return False
        run = chunk.run
        if chunk.done or run.status != SettlementRun.Status.RUNNING:
            return False
        if run.kind == SettlementRun.Kind.SIMULATE:
            partial = _simulate_chunk(run, chunk)
        else:
            batch.lock_member_years(chunk.member_ids, run.year)
            partial = batch.settle_members(
                chunk.member_ids, run.year, run_id=run.pk, task_id=task_id
            ).to_json()
        chunk.done, chunk.result, chunk.task_id, chunk.finished_at = True, partial, task_id, timezone.now()
        chunk.leased_until = None
        chunk.save(update_fields=["done", "result", "task_id", "finished_at", "leased_until"])
        # Last: the run row lock is held only from here to the commit. Every chunk takes it
        # before committing, so once this one holds it, each other chunk has either committed
        # (and reads as done below: a new statement sees it) or will take the lock after this
        # commit and see this one done. So exactly one chunk — the last — writes the result.
        SettlementRun.objects.filter(pk=run.pk).update(done=F("done") + len(chunk.member_ids))
        if not run.chunks.filter(done=False).exclude(pk=chunk.pk).exists():
            run.refresh_from_db(fields=["done", "total", "status"])
            _finish(run)
    return True


def _stored_range(run: SettlementRun, chunk: SettlementRunChunk) -> tuple[int | None, int | None] | None:
    """The member ids [low, high) whose stored settlements a simulation's ``chunk`` sums: from
    its first member (the first chunk: from the lowest id) to the next chunk's first (the last
    chunk: to the highest), so that the chunks together cover every member with a current
    settlement in the year — a patient of the year or not (an encounter moved to another year
    leaves its settlement current until the member is settled again). None for a run begun
    with an empty chunk 0 (before 2026-12), which sums the whole year itself."""
    firsts = dict(
        run.chunks.filter(index__in=[0, chunk.index + 1]).order_by().values_list("index", "member_ids__0")
    )
    if firsts.get(0) is None:
        return None
    low = chunk.member_ids[0] if chunk.index > 0 else None
    return low, firsts.get(chunk.index + 1)


def _simulate_chunk(run: SettlementRun, chunk: SettlementRunChunk) -> dict:
    """A simulation's chunk: what the draft pays its members (``batch.simulate_members``) and
    what is stored for its range of members (``selectors.year_outcome``), the year's facts of
    the members read once for both. A run begun with an empty chunk 0 (``_stored_range``):
    that chunk sums the whole stored side, the others none."""
    threshold, _ = _simulation_threshold(run)
    if not chunk.member_ids:
        return {"stored": selectors.year_outcome(run.year, threshold=threshold).to_json()}
    book = facts.year_facts(chunk.member_ids, run.year)
    compiled = batch.compiled_policy(run.policy)
    partial = {
        "policy": batch.simulate_members(chunk.member_ids, run.year, compiled, threshold, book=book).to_json()
    }
    members = _stored_range(run, chunk)
    if members is not None:
        partial["stored"] = selectors.year_outcome(
            run.year, threshold=threshold, members=members, known=book
        ).to_json()
    return partial


def _finish(run: SettlementRun) -> None:
    partials = [p for p in run.chunks.values_list("result", flat=True) if p is not None]
    if run.kind == SettlementRun.Kind.SIMULATE:
        draft, stored = batch.Outcome(), None
        threshold, active = _simulation_threshold(run)
        for partial in partials:
            if "stored" in partial:
                stored = (stored or batch.Outcome()).add(batch.Outcome.from_json(partial["stored"]))
            if "stored" not in partial or "policy" in partial:
                draft.add(batch.Outcome.from_json(partial.get("policy", partial)))  # (older runs: bare)
        if stored is None:  # a year without encounters: no chunks
            stored = selectors.year_outcome(run.year, threshold=threshold)
        draft_s, stored_s = draft.summary(), stored.summary()
        money = engine.format_cents
        funds = sorted(set(draft.funds) | set(stored.funds))
        result = {
            "kind": run.kind,
            "year": run.year,
            "policy": run.policy.code,
            "compared_with": active.code if active else None,
            "threshold": money(threshold) if threshold is not None else None,
            "policy_outcome": draft_s,
            "stored_outcome": stored_s,
            "change": {
                "payouts": money(draft.payouts - stored.payouts),
                "funds": {f: money(draft.funds.get(f, 0) - stored.funds.get(f, 0)) for f in funds},
                "helped": draft.helped - stored.helped,
                "poor_self_pay": money(draft.poor_self_pay - stored.poor_self_pay),
                "poor_over_threshold": draft.poor_over_threshold - stored.poor_over_threshold,
            },
        }
    else:
        total = SettleResult()
        for partial in partials:
            total.add(SettleResult.from_json(partial))
        result = {
            "kind": run.kind,
            "year": run.year,
            "policy": run.policy.code if run.policy else None,
            **total.summary(),
        }
    run.result, run.status, run.finished_at = result, SettlementRun.Status.DONE, timezone.now()
    run.save(update_fields=["result", "status", "finished_at"])


def settlement_run_fail(*, run_id: int, error: str) -> None:
    """Mark a run failed (a chunk raised an error that retrying cannot fix)."""
    SettlementRun.objects.filter(
        pk=run_id, status__in=[SettlementRun.Status.QUEUED, SettlementRun.Status.RUNNING]
    ).update(status=SettlementRun.Status.FAILED, error=error[:2000], finished_at=timezone.now())


def settlement_run_recover(
    *, now: datetime.datetime | None = None
) -> tuple[list[int], list[tuple[int, int]]]:
    """What a killed worker left stalled, leased again for the caller to queue: (runs still
    queued whose start was lost, [(run, chunk index)] of running runs). A chunk is stalled when
    it is not done, its lease ran out and no transaction holds its row (a live worker's does,
    to the end of the chunk: see ``settlement_run_chunk``). Re-queuing a chunk that is in fact
    still waiting in the broker's queue only duplicates its message: the second delivery finds
    it done and does nothing. Called by beat every ``SETTLEMENT_SWEEP_SECONDS`` and by
    ``manage.py recover_runs``."""
    now = now or timezone.now()
    until = now + _lease()
    expired = Q(leased_until__isnull=True) | Q(leased_until__lt=now)
    with transaction.atomic():
        runs = list(
            SettlementRun.objects.select_for_update(skip_locked=True)
            .filter(expired, status=SettlementRun.Status.QUEUED, created_at__lt=now - _lease())
            .order_by("id")
        )
        SettlementRun.objects.filter(pk__in=[run.pk for run in runs]).update(leased_until=until)
        chunks = list(
            SettlementRunChunk.objects.select_for_update(of=("self",), skip_locked=True)
            .filter(expired, done=False, run__status=SettlementRun.Status.RUNNING)
            .order_by("run_id", "index")
        )
        for chunk in chunks:
            chunk.leased_until, chunk.lease_owner, chunk.requeued = until, "", chunk.requeued + 1
        SettlementRunChunk.objects.bulk_update(chunks, ["leased_until", "lease_owner", "requeued"])
    return [run.pk for run in runs], [(chunk.run_id, chunk.index) for chunk in chunks]


def settlement_run_execute(*, run_id: int) -> SettlementRun:
    """Run a whole batch in this process (the demo loader, ``settle_year --inline``): the
    same chunks as the Celery path, one after the other."""
    for index in settlement_run_begin(run_id=run_id):
        settlement_run_chunk(run_id=run_id, index=index, task_id="inline")
    return SettlementRun.objects.get(pk=run_id)


# --- fund transfers -----------------------------------------------------------------------------


def fund_transfer_record(
    *,
    user,
    fund: str,
    institution: Institution,
    year: int,
    month: int,
    amount,
    paid_on: datetime.date,
    reference: str,
    note: str = "",
) -> FundTransfer:
    """Record money a fund paid an institution for a month (定期拨付); the ledger subtracts it
    from what the fund owes. The fund must be one named by a policy of that year."""
    roles.require_county(user)
    fund = (fund or "").strip()
    reference = (reference or "").strip()
    errors = []
    try:
        amount = Decimal(str(amount))
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite() or amount <= 0 or amount != amount.quantize(Decimal("0.01")):
        errors.append("amount: 拨付金额须为大于0的金额（最多两位小数）")
    if not isinstance(month, int) or not 1 <= month <= 12:
        errors.append("month: 月份须为1–12")
    if not isinstance(year, int) or not 2000 <= year <= 2100:
        errors.append("year: 年度无效")
    if not reference:
        errors.append("reference: 凭证号必填")
    known = {
        tier.get("fund")
        for document in Policy.objects.filter(year=year).values_list("document", flat=True)
        for tier in (document.get("tiers") or [])
        if isinstance(tier, dict)
    }
    if not fund:
        errors.append("fund: 支付资金必填")
    elif fund not in known:
        errors.append(f"fund: {year}年度政策中没有名为「{fund}」的资金")
    if errors:
        raise SettlementError(
            "拨付登记有误：" + "；".join(e.split(": ", 1)[1] for e in errors), errors=errors
        )
    with transaction.atomic():
        transfer = FundTransfer(
            fund=fund,
            institution=institution,
            year=year,
            month=month,
            amount=amount.quantize(Decimal("0.01")),
            paid_on=paid_on,
            reference=reference,
            note=note,
            created_by=user,
        )
        _save(transfer, user, "登记拨付")
    return transfer


def fund_transfer_withdraw(*, user, transfer: FundTransfer, reason: str) -> None:
    """Take back a recorded transfer (the bank returned the payment: 退票); the ledger owes the
    amount again. The record's history keeps it, with ``reason``."""
    roles.require_county(user)
    reason = (reason or "").strip()
    if not reason:
        raise SettlementError("撤销拨付须填写原因。", field="reason")
    with transaction.atomic():
        transfer._change_reason, transfer._history_user = f"撤销拨付：{reason}", user
        transfer.delete()
