"""Read-only admin views: targets, notices and objections change through their pages (and
services); refresh runs are a log."""

from django.contrib import admin

from core.admin import ReadOnlyAdmin

from .models import Notice, NoticeObjection, RefreshRun, Target


@admin.register(Target)
class TargetAdmin(ReadOnlyAdmin):
    list_display = ("label", "key", "value", "updated_by", "updated_at")


@admin.register(RefreshRun)
class RefreshRunAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "years", "status", "requested_by", "finished_at", "cells")


@admin.register(Notice)
class NoticeAdmin(ReadOnlyAdmin):
    list_display = ("village", "year", "month", "status", "published_on", "objection_days")
    list_filter = ("status", "year")


@admin.register(NoticeObjection)
class NoticeObjectionAdmin(ReadOnlyAdmin):
    list_display = ("notice", "raised_by", "received_on", "resolved_at")
