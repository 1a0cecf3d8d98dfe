"""Claims' own outbox work: the automatic review of the years an import wrote, after the import
committed (``events.REVIEW_YEAR_REQUESTED``). It runs in the outbox's dispatch task, on a worker
(or in the request with eager Celery), and is idempotent: ``review_year`` writes only the flags
that changed."""

from __future__ import annotations

from core.outbox import register_handler

from . import events
from .review import review_year


def review_years_requested(entries) -> None:
    for year in sorted({entry.payload["year"] for entry in entries}):
        review_year(year=year)


def register() -> None:
    register_handler(events.REVIEW_YEAR_REQUESTED, review_years_requested, batch_size=50)
