"""What the registry tells the apps above it, through the outbox (core/outbox.py).

The registry never imports claims or settlement; when a fact that benefits depend on changes
(poverty status, aid category, enrolment, a member's exit) it records an event in the same
transaction, and settlement's handler re-settles the member-years the change touches."""

from __future__ import annotations

import datetime

from core.outbox import outbox_record

# Fields of the registry a settlement depends on: the engine's member facts and enrolment.
# A change of any other field (a phone number, an address) records nothing.
SETTLEMENT_FACTS = frozenset({"poverty_status", "aid_category", "insured"})

# Payload: {"member_ids": [int] | None, "household_id": int | None, "effective_from": "YYYY-MM-DD" | None}
# effective_from None means "all of the member's encounters" (a correction of a fact that
# has no date); otherwise only encounters on or after it can change.
MEMBER_FACTS_CHANGED = "registry.member_facts_changed"


def record_member_facts_changed(
    *,
    member_ids: list[int] | None = None,
    household_id: int | None = None,
    effective_from: datetime.date | None = None,
) -> None:
    """Record, inside the caller's transaction, that facts of these members (or of every
    member of a household) changed from ``effective_from`` on."""
    if member_ids is None and household_id is None:
        raise ValueError("member_ids or household_id is required")
    ids = sorted(set(member_ids)) if member_ids is not None else None
    start = effective_from.isoformat() if effective_from else None
    who = f"h{household_id}" if ids is None else "m" + ",".join(map(str, ids))
    outbox_record(
        topic=MEMBER_FACTS_CHANGED,
        key=f"{who}@{start or '*'}"[:200],
        payload={"member_ids": ids, "household_id": household_id, "effective_from": start},
    )
