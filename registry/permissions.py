from rest_framework.permissions import SAFE_METHODS, BasePermission

from . import roles


class RolePermission(BasePermission):
    """API access by role: any role reads (within its scope), supervisors never write.
        Views may narrow writes to county staff with ``county_only_write = True``. A hospital user
    reaches only views with ``hospital_allowed = True`` (reads there; its one write, the
    discharge, has its own permission)."""

    message = "无权访问：请使用有相应角色的账号登录。"

    def has_permission(self, request, view):
        if not roles.can_read(request.user):
            return False
        if roles.hospital_refused(request.user, view):
            return False
        if request.method in SAFE_METHODS:
            return True
        if getattr(view, "county_only_write", False):
            return roles.is_county(request.user)
        return roles.can_write(request.user)
