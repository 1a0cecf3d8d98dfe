"""What claims asks of the app that settles its encounters, without importing it.

Claims has rules that depend on settlement's results: a settled encounter is corrected, not
edited; an illness record's cost figures come from its member's settlements once there are
any. Claims is below settlement (settlement imports claims, never the reverse), so settlement
answers these questions by calling ``provide_settlement_facts`` from its ``AppConfig.ready``.
Until it does (settlement not installed), nothing is settled and there are no figures."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class SettlementFacts:
    # ids among the given encounter ids that have a current settlement
    settled_encounter_ids: Callable[[list[int]], set[int]]
    # {member_id: {total_cost, basic_insurance, catastrophic_insurance, civil_aid, self_pay}}
    member_cost_totals: Callable[[list[int]], dict[int, dict[str, Decimal]]]


_facts = SettlementFacts(settled_encounter_ids=lambda ids: set(), member_cost_totals=lambda ids: {})


def provide_settlement_facts(
    *,
    settled_encounter_ids: Callable[[list[int]], set[int]],
    member_cost_totals: Callable[[list[int]], dict[int, dict[str, Decimal]]],
) -> None:
    global _facts
    _facts = SettlementFacts(settled_encounter_ids, member_cost_totals)


def settled_encounter_ids(encounter_ids) -> set[int]:
    ids = [pk for pk in encounter_ids if pk is not None]
    return set(_facts.settled_encounter_ids(ids)) if ids else set()


def member_cost_totals(member_ids) -> dict[int, dict[str, Decimal]]:
    ids = list(member_ids)
    return dict(_facts.member_cost_totals(ids)) if ids else {}
