"""Who may see and change what.

Four roles (domain.md): county staff see and change everything; a township clinic sees and
changes only its own township's people; a supervisor reads everything and changes nothing; a
定点医疗机构 (hospital) reaches only the pages and API routes that say so
(``hospital_allowed``) and sees there only its institution's encounters, settlements and
statements (the scoping by institution is claims', ``claims.access``: the institution is a
claims record). The registry's own records are out of a hospital's scope entirely.
A superuser counts as county staff; a user with no role sees nothing.
Every queryset a page, API route or export shows goes through ``scope()``, so a township
user asking for another township's record gets a 404, never a hint that it exists.
"""

from django.core.exceptions import PermissionDenied

from .idnumber import mask_birth_date, mask_id_number
from .models import Role


def role_of(user):
    if not user or not user.is_authenticated:
        return None
    if user.is_superuser:
        return Role.COUNTY
    profile = getattr(user, "profile", None)
    return profile.role if profile else None


def township_id_of(user):
    """The township a township user is bound to; None for county-wide roles."""
    if role_of(user) == Role.TOWNSHIP:
        return user.profile.township_id
    return None


def is_hospital(user):
    return role_of(user) == Role.HOSPITAL


def hospital_refused(user, view) -> bool:
    """A hospital user on a page or API route that does not declare ``hospital_allowed``:
    every page is closed to hospitals unless it opens itself (default deny)."""
    return is_hospital(user) and not getattr(view, "hospital_allowed", False)


def can_read(user):
    return role_of(user) is not None


def can_write(user):
    return role_of(user) in (Role.COUNTY, Role.TOWNSHIP)


def is_county(user):
    return role_of(user) == Role.COUNTY


def can_view_full_id(user):
    """Only county staff see full ID numbers, and only on a single person's record (page, edit
    form, API record). Township clinics and supervisors see the masked number and the birth
    year everywhere; a clinic may still find a person by typing the full number (search).
    Lists and exports are masked for everybody (docs/security.md)."""
    return role_of(user) == Role.COUNTY


def shown_id_number(user, number: str) -> str:
    """The ID number as ``user`` may see it on a single person's record."""
    return number if can_view_full_id(user) else mask_id_number(number)


def shown_birth_date(user, birth):
    """The birth date as ``user`` may see it beside ``shown_id_number``: the date itself for
    roles that see the full number, else the year only (``1975年``)."""
    return birth if can_view_full_id(user) else mask_birth_date(birth)


def scope(queryset, user, township_path):
    """Limit ``queryset`` to what ``user`` may see; ``township_path`` is the lookup from the
    model to its township id (e.g. ``"village__township_id"``)."""
    role = role_of(user)
    if role is None or role == Role.HOSPITAL:
        # A hospital's scope is its institution (claims.access.scope); the registry alone
        # gives it nothing.
        return queryset.none()
    if role == Role.TOWNSHIP:
        return queryset.filter(**{township_path: user.profile.township_id})
    return queryset


def require_write(user):
    if not can_write(user):
        raise PermissionDenied("当前账号为只读角色，不能修改数据。")


def require_county(user):
    if not is_county(user):
        raise PermissionDenied("此功能仅限县级工作人员使用。")
