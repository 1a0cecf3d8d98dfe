"""系统管理 for the claims app: the automatic review rules (on/off, thresholds, catalogue), the
定点医疗机构 accounts and their API tokens, the window's discharges (read only), the violation
codes of the review (its decisions are made and read on the review pages)."""

from django import forms
from django.contrib import admin
from django.template.response import TemplateResponse
from simple_history.admin import SimpleHistoryAdmin

from .models import Discharge, InstitutionToken, InstitutionUser, ReviewRule, ViolationReason


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


@admin.register(InstitutionUser)
class InstitutionUserAdmin(SimpleHistoryAdmin):
    """定点医疗机构 accounts: the user (role “定点医疗机构” in 用户角色) and its institution."""

    list_display = ("user", "institution")
    list_select_related = ("user", "institution")
    raw_id_fields = ("user",)

    def save_model(self, request, obj, form, change):
        from . import services

        link = services.institution_account_link(
            user=request.user, account=obj.user, institution=obj.institution
        )
        obj.pk = link.pk


class InstitutionTokenAddForm(forms.ModelForm):
    class Meta:
        model = InstitutionToken
        fields = ("institution", "user", "note")


@admin.register(InstitutionToken)
class InstitutionTokenAdmin(admin.ModelAdmin):
    """API tokens: created through the service (the key is shown once, on the answer to the
    add form — never stored, never put in a message cookie); revoked with the action."""

    list_display = ("institution", "prefix", "user", "created_at", "last_used_at", "revoked_at")
    list_filter = ("institution",)
    actions = ["revoke"]
    add_form = InstitutionTokenAddForm

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = self.add_form
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return (
            "institution",
            "user",
            "prefix",
            "note",
            "created_by",
            "created_at",
            "last_used_at",
            "revoked_at",
            "revoked_by",
        )

    def get_fields(self, request, obj=None):
        return ("institution", "user", "note") if obj is None else self.get_readonly_fields(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: the record of who held a token stays

    def save_model(self, request, obj, form, change):
        from . import services

        if change:
            return
        token, key = services.institution_token_create(
            user=request.user, institution=obj.institution, account=obj.user, note=obj.note
        )
        obj.pk, obj._key = token.pk, key

    def response_add(self, request, obj, post_url_continue=None):
        return TemplateResponse(
            request,
            "claims/token_created_admin.html",
            {**self.admin_site.each_context(request), "token": obj, "key": obj._key, "opts": self.opts},
        )

    @admin.action(description="吊销所选令牌")
    def revoke(self, request, queryset):
        from . import services

        for token in queryset:
            services.institution_token_revoke(user=request.user, token=token)
        self.message_user(request, f"已吊销 {queryset.count()} 个令牌。")


@admin.register(Discharge)
class DischargeAdmin(SimpleHistoryAdmin):
    list_display = ("institution", "visit_number", "status", "encounter", "created_at")
    list_filter = ("status", "institution")
    search_fields = ("visit_number",)
    readonly_fields = [f.name for f in Discharge._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


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
