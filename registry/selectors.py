"""Reads of the registry used by pages, the API, exports and other apps.

Everything a user can see passes through these functions, so township scoping is decided
in one place (``roles.scope``)."""

from django.db.models import Count, OuterRef, Q, Subquery

from . import roles
from .idnumber import normalize_id_number
from .models import Household, Member, Township, Village


def id_number_q(user, value: str, path: str = "id_number") -> Q:
    """The ID-number part of a free-text search. County staff (who see full numbers) may type
    the beginning of a number; every other role finds a person only by the whole number it
    typed (18 characters, exact), so masked numbers cannot be rebuilt digit by digit through
    prefix searches (docs/security.md)."""
    value = normalize_id_number(value or "")
    if roles.can_view_full_id(user):
        return Q(**{f"{path}__startswith": value})
    if len(value) == 18:
        return Q(**{path: value})
    return Q(pk__in=[])


def townships_for(user):
    return roles.scope(Township.objects.all(), user, "id")


def villages_for(user):
    return roles.scope(Village.objects.select_related("township"), user, "township_id")


def households_for(user):
    head = Member.objects.filter(household=OuterRef("pk"), relation="head")
    return (
        roles.scope(Household.objects.all(), user, "village__township_id")
        .select_related("village__township")
        .annotate(head_name=Subquery(head.values("name")[:1]), member_count=Count("members"))
        .order_by("number")
    )


def members_for(user):
    return roles.scope(
        Member.objects.select_related("household__village__township"), user, "household__village__township_id"
    )


def household_history(household):
    """The household's recorded versions, newest first, each with the fields that changed
    from the version before: ``[(record, [(label, old, new), …]), …]``."""
    records = list(household.history.select_related("history_user").order_by("-history_date", "-history_id"))
    return with_changes(records, Household)


def member_history(member):
    records = list(member.history.select_related("history_user").order_by("-history_date", "-history_id"))
    return with_changes(records, Member)


def with_changes(records, model):
    """Each record with its changes from the one before, in Chinese: field labels (many-to-many
    fields too), choice labels, 是/否, and the related records' names."""
    fields = {f.name: f for f in [*model._meta.fields, *model._meta.many_to_many]}
    out = []
    for newer, older in zip(records, records[1:] + [None]):
        changes = []
        if older is not None:
            delta = newer.diff_against(older, excluded_fields=["version", "updated_at"])
            for change in delta.changes:
                field = fields.get(change.field)
                label = field.verbose_name if field is not None else change.field
                if field is not None and field.many_to_many:
                    old, new = _names(field, change.old), _names(field, change.new)
                else:
                    old, new = _display(older, change.field), _display(newer, change.field)
                changes.append((label, old, new))
        out.append((newer, changes))
    return out


def _names(field, rows):
    """The related records of a many-to-many change (rows of the history's through table)."""
    key = field.m2m_reverse_field_name()
    ids = [row[key] for row in rows or []]
    names = dict(field.related_model._default_manager.filter(pk__in=ids).values_list("pk", "name"))
    return "、".join(str(names.get(pk, f"#{pk}")) for pk in ids)


def _display(record, field_name):
    getter = getattr(record, f"get_{field_name}_display", None)
    if getter:
        return getter()
    value = getattr(record, field_name)
    if isinstance(value, bool):
        return "是" if value else "否"
    if field_name == "village":
        return str(value) if value else ""
    return "" if value is None else value
