"""The admin is for county staff (is_staff) only: users and roles, areas, and corrections."""

from django import forms
from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from .models import Household, Member, Profile, RosterImport, Township, Village


@admin.register(Township)
class TownshipAdmin(SimpleHistoryAdmin):
    list_display = ["name", "code"]
    search_fields = ["name"]


@admin.register(Village)
class VillageAdmin(SimpleHistoryAdmin):
    list_display = ["name", "township"]
    list_filter = ["township"]
    search_fields = ["name"]


class MemberInline(admin.TabularInline):
    model = Member
    extra = 0
    fields = ["name", "id_number", "relation", "health_status", "insured", "aid_category"]
    show_change_link = True


@admin.register(Household)
class HouseholdAdmin(SimpleHistoryAdmin):
    list_display = ["number", "village", "attribute", "poverty_status", "main_cause"]
    list_filter = ["village__township", "poverty_status", "attribute"]
    search_fields = ["number", "members__name"]
    list_select_related = ["village__township"]
    inlines = [MemberInline]


@admin.register(Member)
class MemberAdmin(SimpleHistoryAdmin):
    list_display = ["name", "household", "relation", "sex", "birth_date", "insured", "aid_category"]
    list_filter = ["aid_category", "insured", "health_status"]
    search_fields = ["name", "id_number", "household__number"]
    list_select_related = ["household"]
    raw_id_fields = ["household"]


class ProfileForm(forms.ModelForm):
    class Meta:
        model = Profile
        fields = "__all__"
        labels = {"user": "用户"}  # the field has no verbose_name (no migration for a label)


@admin.register(Profile)
class ProfileAdmin(SimpleHistoryAdmin):
    form = ProfileForm
    list_display = ["account", "role", "township"]
    list_filter = ["role", "township"]

    @admin.display(description="用户", ordering="user__username")
    def account(self, profile):
        return profile.user


@admin.register(RosterImport)
class RosterImportAdmin(admin.ModelAdmin):
    list_display = ["original_name", "uploaded_by", "created_at", "status"]
    readonly_fields = ["preview", "result"]
