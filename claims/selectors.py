"""Reads of the claims app used by pages, the API, exports and other apps.

Every queryset of people's records passes through ``roles.scope`` here, so a township clinic
sees its own township only. Reference data (institutions, the disease catalogue, service
packages) is the same for everybody.
"""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.db.models import Count, Exists, Max, OuterRef, Q, Subquery
from django.utils import timezone

from registry import roles
from registry.models import HealthStatus, Household, Member
from registry.selectors import households_for, id_number_q, with_changes
from registry.selectors import members_for as registry_members

from . import access, codes, events, icd, ports
from .models import (
    CatalogueItem,
    Contract,
    Disease,
    Encounter,
    FollowUp,
    IllnessRecord,
    IllnessStatus,
    Institution,
    InstitutionToken,
    Screening,
    ServicePackage,
    Team,
    TeamMember,
)

MEMBER_TOWNSHIP = "member__household__village__township_id"
HOUSEHOLD_TOWNSHIP = "household__village__township_id"


def today() -> datetime.date:
    return timezone.localdate()


# --- reference data ---------------------------------------------------------------------------

# Reference data is the same for every role; ``user`` is accepted so that pages can treat
# every selector alike.


def institutions(user=None):
    return Institution.objects.select_related("township")


def own_clinic(user) -> Institution | None:
    """A township user's own clinic (乡镇卫生院 of the township); None for county-wide roles."""
    township_id = roles.township_id_of(user)
    if township_id is None:
        return None
    return Institution.objects.filter(township_id=township_id, level="township").order_by("id").first()


def diseases(user=None):
    return Disease.objects.all()


def catalogue_items(user=None):
    """The medical-insurance catalogue (医保目录): county-wide reference data, every role reads."""
    return CatalogueItem.objects.all()


def packages(user=None):
    return ServicePackage.objects.all()


def catalogue_index(*, active_only: bool = True) -> tuple[icd.PrefixIndex, dict[int, Disease]]:
    """The disease catalogue as a prefix index (keys: disease ids) and the diseases by id."""
    entries = {
        d.id: d for d in (Disease.objects.filter(active=True) if active_only else Disease.objects.all())
    }
    index = icd.PrefixIndex((d.id, icd.split_prefixes(d.prefixes, d.code)) for d in entries.values())
    return index, entries


def match_diseases(code: str) -> list[Disease]:
    """The active catalogue entries a diagnosis code matches, longest prefix first."""
    if not code:
        return []
    index, entries = catalogue_index()
    return [entries[pk] for pk in index.match(code)]


# --- people's records, scoped ------------------------------------------------------------------


def members_for(user):
    """The registry's members as the user may see them; a hospital user: the members with an
    encounter at its institution (its patients), nobody else."""
    if roles.is_hospital(user):
        treated = access.scope(Encounter.objects.all(), user, MEMBER_TOWNSHIP, "institution_id")
        return Member.objects.filter(pk__in=treated.values("member_id"))
    return registry_members(user)


def member_search(user, query: str, *, limit: int = 10):
    """Members matching a name, an ID number (prefix for county staff, the whole number for
    other roles: ``registry.selectors.id_number_q``) or a household number (prefix)."""
    query = (query or "").strip()
    if not query:
        return Member.objects.none()
    return (
        members_for(user)
        .filter(Q(name__contains=query) | id_number_q(user, query) | Q(household__number__startswith=query))
        .order_by("household__number", "id")[:limit]
    )


def household_search(user, query: str, *, limit: int = 10):
    """The user's households whose number, or a member's (e.g. the head's) name or ID number,
    matches ``query`` (prefixes; the name anywhere): for finding the household to sign."""
    query = (query or "").strip()
    if not query:
        return households_for(user).none()
    people = Member.objects.filter(Q(name__contains=query) | Q(id_number__startswith=query.upper()))
    return (
        households_for(user)
        .filter(Q(number__startswith=query) | Q(pk__in=people.values("household_id")))
        .order_by("number")[:limit]
    )


def illnesses_for(user):
    return roles.scope(
        IllnessRecord.objects.select_related(
            "member__household__village__township", "disease", "diagnosed_at"
        ),
        user,
        MEMBER_TOWNSHIP,
    )


def screenings_for(user):
    return roles.scope(
        Screening.objects.select_related("member__household__village__township", "checked_by"),
        user,
        MEMBER_TOWNSHIP,
    )


def teams_for(user):
    return roles.scope(
        Team.objects.select_related("institution", "township").annotate(
            member_count=Count("members", filter=Q(members__active=True), distinct=True)
        ),
        user,
        "township_id",
    )


def team_members_for(user):
    return roles.scope(TeamMember.objects.select_related("team"), user, "team__township_id")


def contracts_for(user):
    head = Member.objects.filter(household=OuterRef("household_id"), relation="head")
    return (
        roles.scope(Contract.objects.all(), user, HOUSEHOLD_TOWNSHIP)
        .select_related("household__village__township", "team", "package")
        .annotate(
            head_name=Subquery(head.values("name")[:1]),
            member_count=Count("members", distinct=True),
            followup_count=Count("followups", distinct=True),
            last_followup=Max("followups__date"),
        )
    )


def followups_for(user):
    return roles.scope(
        FollowUp.objects.select_related("member__household__village__township", "doctor", "contract__team"),
        user,
        "contract__" + HOUSEHOLD_TOWNSHIP,
    )


def encounters_for(user):
    """Encounters as the user may see them: a township's, or a hospital's own institution's."""
    return access.scope(
        Encounter.objects.select_related("member__household__village__township", "institution", "supersedes"),
        user,
        MEMBER_TOWNSHIP,
        "institution_id",
    )


def institution_tokens():
    """API tokens of 定点医疗机构 for county staff's page (live first, then revoked)."""
    return InstitutionToken.objects.select_related(
        "institution", "user", "created_by", "revoked_by"
    ).order_by("institution__name", "-created_at")


# --- family-doctor lists ------------------------------------------------------------------------


def contracts_without_followup(user, *, on: datetime.date | None = None):
    """签而不约: contracts in force whose first quarter has passed without any follow-up in it."""
    on = on or today()
    cutoff = on - datetime.timedelta(days=codes.FIRST_FOLLOWUP_DAYS)
    early = FollowUp.objects.filter(contract=OuterRef("pk"), date__lte=OuterRef("first_quarter_end"))
    from django.db.models import DateField, ExpressionWrapper, F

    return (
        contracts_for(user)
        .in_force(on)
        .filter(start_date__lte=cutoff)
        .annotate(
            first_quarter_end=ExpressionWrapper(
                F("start_date") + datetime.timedelta(days=codes.FIRST_FOLLOWUP_DAYS), output_field=DateField()
            )
        )
        .annotate(followed=Exists(early))
        .filter(followed=False)
        .order_by("start_date", "id")
    )


def members_due_followup(user, *, on: datetime.date | None = None):
    """Members with a chronic or serious illness, signed by a contract in force, whose last
    follow-up (or, with none, the contract's start) is a quarter old or older. Each row is
    the member annotated with ``contract_id``, ``contract_start``, ``team_name`` and
    ``last_followup``."""
    on = on or today()
    cutoff = on - datetime.timedelta(days=codes.FOLLOWUP_INTERVAL_DAYS)
    contract = Contract.objects.in_force(on).filter(members=OuterRef("pk")).order_by("-start_date")
    last = FollowUp.objects.filter(member=OuterRef("pk")).order_by("-date").values("date")[:1]
    managed = IllnessRecord.objects.filter(
        member=OuterRef("pk"),
        status__in=(IllnessStatus.MANAGED, IllnessStatus.TREATING, IllnessStatus.PENDING),
    )
    return (
        members_for(user)
        .annotate(
            contract_id=Subquery(contract.values("id")[:1]),
            contract_start=Subquery(contract.values("start_date")[:1]),
            team_name=Subquery(contract.values("team__name")[:1]),
            last_followup=Subquery(last),
            ill=Exists(managed),
        )
        .filter(contract_id__isnull=False)
        .filter(Q(health_status__in=(HealthStatus.CHRONIC, HealthStatus.SERIOUS)) | Q(ill=True))
        .filter(Q(last_followup__lte=cutoff) | Q(last_followup__isnull=True, contract_start__lte=cutoff))
        .order_by("last_followup", "contract_start", "id")
    )


def unsigned_households(village):
    """Registered households of ``village`` without a contract in force (every household on
    the register is a 建档立卡 poor household; 已脱贫 ones keep their policies)."""
    active = Contract.objects.in_force().filter(household=OuterRef("pk"))
    head = Member.objects.filter(household=OuterRef("pk"), relation="head")
    return (
        Household.objects.filter(village=village)
        .annotate(
            signed=Exists(active), head_name=Subquery(head.values("name")[:1]), member_count=Count("members")
        )
        .filter(signed=False)
        .order_by("number")
    )


# --- illness figures ---------------------------------------------------------------------------

FIGURE_FIELDS = ("total_cost", "basic_insurance", "catastrophic_insurance", "civil_aid", "self_pay")


def settled_figures(member_ids) -> dict[int, dict[str, Decimal]]:
    """The 因病致贫 survey figures of members from their settlements: ``{member_id: {field:
    amount}}`` (answered by the settlement app, see ports.py); a member listed here has
    figures that are no longer entered by hand."""
    return ports.member_cost_totals(member_ids)


def illness_figures(record: IllnessRecord) -> tuple[dict[str, Decimal | None], bool]:
    """(figures, from_settlements) for one illness record."""
    settled = settled_figures([record.member_id]).get(record.member_id)
    if settled:
        return {name: settled.get(name) for name in FIGURE_FIELDS}, True
    return {name: getattr(record, name) for name in FIGURE_FIELDS}, False


# --- encounters ---------------------------------------------------------------------------------


def settled_ids(encounter_ids) -> set:
    return ports.settled_encounter_ids(encounter_ids)


class SettlementState:
    """Where an encounter stands with settlement, as the API reports it (``settlement_state``)."""

    SUPERSEDED = "已被更正"
    SETTLED = "已结算"
    QUEUED = "结算排队中"  # recorded for settlement, not yet handed to a worker (e.g. broker down)
    PENDING = "待结算"  # handed to settlement, not settled (yet, or with a problem to fix)

    # How the pages colour each state (Bootstrap badge classes).
    BADGES = {
        SUPERSEDED: "text-bg-secondary",
        SETTLED: "text-bg-success",
        QUEUED: "text-bg-warning",
        PENDING: "text-bg-light",
    }


def settlement_states(encounters) -> dict[int, str]:
    """``{encounter id: SettlementState}`` for a page of encounters (two queries)."""
    encounters = [e for e in encounters if e.pk is not None]
    settled = settled_ids([e.pk for e in encounters])
    queued = events.pending_member_years({(e.member_id, e.service_date.year) for e in encounters})
    states = {}
    for e in encounters:
        if not e.is_current:
            states[e.pk] = SettlementState.SUPERSEDED
        elif e.pk in settled:
            states[e.pk] = SettlementState.SETTLED
        elif (e.member_id, e.service_date.year) in queued:
            states[e.pk] = SettlementState.QUEUED
        else:
            states[e.pk] = SettlementState.PENDING
    return states


def mark_settled(encounters) -> set:
    """Set ``.settled`` on each encounter (one query for all); returns the settled ids."""
    settled = settled_ids([e.pk for e in encounters])
    for encounter in encounters:
        encounter.settled = encounter.pk in settled
    return settled


def is_settled(encounter: Encounter) -> bool:
    return encounter.pk in settled_ids([encounter.pk])


def encounter_versions(encounter: Encounter) -> list[Encounter]:
    """Every version of an encounter, the first entered first: follows ``supersedes`` back
    and ``superseded_by`` forward."""
    chain = [encounter]
    current = encounter
    while current.supersedes_id:
        current = Encounter.objects.select_related("institution").get(pk=current.supersedes_id)
        chain.insert(0, current)
    current = encounter
    while True:
        newer = Encounter.objects.select_related("institution").filter(supersedes=current).first()
        if newer is None:
            break
        chain.append(newer)
        current = newer
    return chain


def record_history(obj):
    """An object's recorded versions, newest first, with the fields that changed:
    ``[(record, [(label, old, new), …]), …]`` (as the registry pages show them)."""
    records = list(obj.history.select_related("history_user").order_by("-history_date", "-history_id"))
    return with_changes(records, type(obj))
