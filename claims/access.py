"""Scoping of a 定点医疗机构 (hospital) user: its institution is a claims record
(``InstitutionUser``), so the registry's ``roles.scope`` gives a hospital nothing and the
records a hospital may see — its institution's encounters, their settlements and statements,
the members it treated — are scoped here. Every other role is scoped by ``roles.scope``."""

from __future__ import annotations

from registry import roles

from .models import Institution, InstitutionUser


def institution_id_of(user) -> int | None:
    """The institution a hospital user is bound to (None for every other role, and for a
    hospital user not bound yet: that user sees nothing)."""
    if not roles.is_hospital(user):
        return None
    cached = getattr(user, "_institution_id", False)
    if cached is False:
        cached = (
            InstitutionUser.objects.filter(user_id=user.pk).values_list("institution_id", flat=True).first()
        )
        user._institution_id = cached
    return cached


def institution_of(user) -> Institution | None:
    pk = institution_id_of(user)
    if pk is None:
        return None
    cached = getattr(user, "_institution", None)  # set by the token authentication
    return cached if cached is not None and cached.pk == pk else Institution.objects.get(pk=pk)


def scope(queryset, user, township_path: str, institution_path: str):
    """``roles.scope`` for records that belong to an institution as well as a township: a
    hospital user sees those of its institution (``institution_path`` from the model to the
    institution id), everybody else as ``roles.scope`` says."""
    if roles.is_hospital(user):
        pk = institution_id_of(user)
        return queryset.none() if pk is None else queryset.filter(**{institution_path: pk})
    return roles.scope(queryset, user, township_path)
