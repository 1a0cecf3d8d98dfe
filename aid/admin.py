"""Admin: the holiday calendar (edited by county staff; a change moves open deadlines) and a
read-only view of applications (they change only through the services, on the pages)."""

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from . import services
from .models import AidApplication, Holiday


@admin.register(Holiday)
class HolidayAdmin(SimpleHistoryAdmin):
    list_display = ("date", "kind", "name")
    list_filter = ("kind", "name")
    date_hierarchy = "date"
    search_fields = ("name",)

    def save_model(self, request, obj, form, change):
        services.holiday_save(user=request.user, holiday=obj)

    def delete_model(self, request, obj):
        services.holiday_save(user=request.user, holiday=obj, delete=True)

    def delete_queryset(self, request, queryset):
        for holiday in queryset:
            services.holiday_save(user=request.user, holiday=holiday, delete=True)


@admin.register(AidApplication)
class AidApplicationAdmin(SimpleHistoryAdmin):
    list_display = ("number", "member", "kind", "status", "received_on", "due_on", "amount")
    list_filter = ("status", "kind")
    search_fields = ("number", "member__name")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
