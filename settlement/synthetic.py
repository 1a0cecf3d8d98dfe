"""A synthetic county year stored in the database, for benchmarks and worker tests.

``store_county_year`` takes the claims-JSON shape of ``benchmarks/bench_engine.generate_county_year``
(members keyed by a string, encounters with level/designated instead of an institution) and
writes townships, villages, one household per member, members, institutions and encounters
with COPY (``core.bulk``), so 100,000 encounters load in seconds. It returns the members
as the registry will present them to the engine (a ``none`` poverty status becomes
``lifted``: the registry has only 建档立卡 households), so a pure-engine run over the same
input can be compared with what the database path stores.
"""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from claims.models import Encounter, Institution
from core import bulk
from registry.idnumber import make_id_number
from registry.models import Household, Member, Township, Village

_STAY_DAYS = 5


@transaction.atomic
def store_county_year(
    members_raw: dict, encounters_raw: list, *, user=None, townships: int = 10
) -> tuple[dict, dict]:
    """Store the county; returns ``(members as the engine sees them, {member key: member id})``."""
    now = timezone.now()
    reason = "合成数据"
    write = lambda model, rows: bulk.create_with_history(model, rows, user=user, reason=reason, when=now)  # noqa: E731
    township_ids = write(Township, [{"name": f"合成{i + 1}乡"} for i in range(townships)])
    village_ids = write(
        Village, [{"township_id": t, "name": f"合成{i + 1}村"} for i, t in enumerate(township_ids)]
    )
    keys = list(members_raw)
    engine_members = {
        key: {**raw, "poverty_status": "lifted" if raw["poverty_status"] == "none" else raw["poverty_status"]}
        for key, raw in members_raw.items()
    }
    household_ids = write(
        Household,
        [
            {
                "number": f"S{i:09d}",
                "village_id": village_ids[i % townships],
                "attribute": "general",
                "poverty_status": engine_members[key]["poverty_status"],
                "main_cause": "illness",
                "phone": "",
                "annual_income": None,
                "version": 1,
            }
            for i, key in enumerate(keys)
        ],
    )
    members = []
    for i, (key, household_id) in enumerate(zip(keys, household_ids)):
        birth = datetime.date(1940, 1, 1) + datetime.timedelta(days=i // 1000)
        seq = i % 1000
        members.append(
            {
                "household_id": household_id,
                "name": f"合成{key}",
                "id_number": make_id_number("640221", birth, seq),
                "sex": "M" if seq % 2 else "F",
                "birth_date": birth,
                "relation": "head",
                "ethnicity": "",
                "phone": "",
                "health_status": "healthy",
                "insured": True,
                "aid_category": engine_members[key]["aid_category"],
                "version": 1,
            }
        )
    member_ids = dict(zip(keys, write(Member, members)))
    combos = sorted({(e["level"], e.get("designated", True)) for e in encounters_raw})
    institution_ids = dict(
        zip(
            combos,
            write(
                Institution,
                [
                    {
                        "name": f"合成{level}{'定点' if designated else '非定点'}机构",
                        "code": "",
                        "level": level,
                        "designated": designated,
                        "township_id": None,
                    }
                    for level, designated in combos
                ],
            ),
        )
    )
    encounters = []
    for e in encounters_raw:
        date = datetime.date.fromisoformat(e["date"])
        stay = e["kind"] == "inpatient"
        total = Decimal(str(e["total_cost"]))
        encounters.append(
            {
                "ref": e["ref"],
                "member_id": member_ids[e["member"]],
                "institution_id": institution_ids[(e["level"], e.get("designated", True))],
                "kind": e["kind"],
                "admission_date": date - datetime.timedelta(days=_STAY_DAYS) if stay else date,
                "discharge_date": date if stay else None,
                "diagnosis_code": e.get("disease_code") or "",
                "diagnosis_name": "",
                "total_cost": total,
                "in_policy_cost": Decimal(str(e.get("in_policy_cost", total))),
                "package": e.get("package") or "",
                "referred": e.get("referred", True),
                "supersedes_id": None,
                "is_current": True,
                "created_by_id": None,
                "version": 1,
            }
        )
    for start in range(0, len(encounters), 20000):
        write(Encounter, encounters[start : start + 20000])
    return engine_members, member_ids
