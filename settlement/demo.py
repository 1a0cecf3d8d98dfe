"""The demo county's settlement (``make run``): the demo policy, active, and every demo
encounter settled. Called by ``load_demo`` (``SettlementConfig.demo_load``) after the claims demo:
``load_demo_settlement(user=county_user)``. Safe to run again: a stored policy is left alone
and settling again writes nothing.

The demo policy (fixtures/policies/demo-county-2025.json) is for 2025. Demo encounters of
another year would have no policy — a real county writes one per year — so for each such year
a copy is stored and activated: the code gets that year instead of its own
(``demo-county-2026``), and so do the document's ``year`` and name. The rates are the 2025
ones; that is the demo's simplification, not a rule.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

from django.db import transaction

from claims.models import Encounter

from . import batch, services
from .models import Policy, SettlementRun

DEMO_POLICY = Path(__file__).resolve().parent.parent / "fixtures" / "policies" / "demo-county-2025.json"


def policy_for_year(document: dict, year: int) -> dict:
    """A copy of ``document`` for another year: code and name carry that year."""
    doc = copy.deepcopy(document)
    doc["code"] = f"{re.sub(r'-?' + str(document['year']) + r'$', '', document['code'])}-{year}"
    doc["name"] = document["name"].replace(str(document["year"]), str(year))
    doc["year"] = year
    return doc


@transaction.atomic
def load_demo_settlement(*, user) -> dict:
    """Import and activate the demo policy (and its copies for other encounter years), then
    settle every demo encounter in this process. Returns ``{year: run result}``."""
    document = json.loads(DEMO_POLICY.read_text(encoding="utf-8"))
    years = {d.year for d in Encounter.objects.filter(is_current=True).dates("service_date", "year")}
    results = {}
    for year in sorted(years | {document["year"]}):
        doc = document if year == document["year"] else policy_for_year(document, year)
        policy = Policy.objects.filter(code=doc["code"]).first() or services.policy_import(
            user=user, document=doc
        )
        if batch.active_policy(year) is None:
            services.policy_activate(user=user, policy=policy, resettle=False)
        run = services.settlement_run_start(
            user=user, kind=SettlementRun.Kind.SETTLE_YEAR, year=year, enqueue=False
        )
        results[year] = services.settlement_run_execute(run_id=run.pk).result
    return results
