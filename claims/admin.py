"""系统管理 for the claims app: the automatic review rules (on/off, thresholds, catalogue), the
violation codes of the review (its decisions are made and read on the review pages)."""

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from .models import ReviewRule, ViolationReason


@admin.register(ReviewRule)
class ReviewRuleAdmin(SimpleHistoryAdmin):
    list_display = ("name", "code", "enabled", "threshold", "min_group")
    list_editable = ("enabled", "threshold")
    readonly_fields = ("code",)
    fields = ("code", "name", "explanation", "enabled", "threshold", "min_group", "catalogue_codes")

    def has_add_permission(self, request):
        return False  # every rule is seeded; the code list is the review module's

    def has_delete_permission(self, request, obj=None):
        return False  # switch a rule off instead


@admin.register(ViolationReason)
class ViolationReasonAdmin(SimpleHistoryAdmin):
    """违规类型: seeded with the usual codes; county staff add, rename, reorder or switch off."""

    list_display = ("name", "code", "active", "position")
    list_editable = ("active", "position")
    fields = ("code", "name", "description", "active", "position")

    def get_readonly_fields(self, request, obj=None):
        return ("code",) if obj else ()

    def has_delete_permission(self, request, obj=None):
        return False  # decisions name it: switch it off instead
