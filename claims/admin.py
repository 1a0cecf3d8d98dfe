"""系统管理 for the claims app: the automatic review rules (on/off, thresholds, catalogue)."""

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from .models import ReviewRule


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
