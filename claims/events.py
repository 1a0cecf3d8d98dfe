"""What claims tells the apps above it, through the outbox (core/outbox.py).

An encounter entered, corrected or imported changes what its member is owed for that year:
claims records the member-year in the same transaction, and settlement's handler settles it.
Claims never imports settlement."""

from __future__ import annotations

from collections.abc import Iterable

from core.outbox import outbox_record_many, pending

# Key "member_id:year"; payload {"member_id": int, "year": int}.
MEMBER_YEAR_CHANGED = "claims.member_year_changed"


def record_member_years_changed(*, pairs: Iterable[tuple[int, int]]) -> None:
    """Record, inside the caller's transaction, member-years whose encounters changed."""
    outbox_record_many(
        topic=MEMBER_YEAR_CHANGED,
        entries=[(_key(m, y), {"member_id": m, "year": y}) for m, y in sorted(set(pairs))],
    )


def _key(member_id: int, year: int) -> str:
    return f"{member_id}:{year}"


def pending_member_years(pairs: Iterable[tuple[int, int]]) -> set[tuple[int, int]]:
    """Which of these member-years are recorded and not yet handed to settlement (a broker
    outage keeps them here until the sweep or ``settle_pending``)."""
    wanted = {_key(m, y): (m, y) for m, y in pairs}
    if not wanted:
        return set()
    keys = pending(MEMBER_YEAR_CHANGED).filter(key__in=list(wanted)).values_list("key", flat=True)
    return {wanted[key] for key in keys}


# Key "<year>"; payload {"year": int}. The automatic review of a year an import wrote: done after
# the import commits (claims.handlers), so a large file is not held up by it.
REVIEW_YEAR_REQUESTED = "claims.review_year_requested"


def record_review_years(*, years: Iterable[int]) -> None:
    """Record, inside the caller's transaction, years whose encounters the review rules should
    go over again (one pending entry per year)."""
    outbox_record_many(
        topic=REVIEW_YEAR_REQUESTED, entries=[(str(y), {"year": y}) for y in sorted(set(years))]
    )
