"""Bank file layouts are configuration: county staff set them in the admin (系统管理 → 银行代发
文件版式), columns in order. Batches, lines and accounts change only through their pages and
services, so the admin shows them read-only (account numbers masked)."""

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from core.admin import ReadOnlyAdmin

from .masking import mask_account_number
from .models import BankAccount, BankFileColumn, BankFileLayout, PaymentBatch


class BankFileColumnInline(admin.TabularInline):
    model = BankFileColumn
    extra = 1
    ordering = ["position"]


@admin.register(BankFileLayout)
class BankFileLayoutAdmin(SimpleHistoryAdmin):
    list_display = ("name", "bank_name", "file_format", "encoding", "header_row")
    inlines = [BankFileColumnInline]


@admin.register(PaymentBatch)
class PaymentBatchAdmin(ReadOnlyAdmin):
    list_display = ("id", "fund", "year", "month", "status", "drafted_by", "checked_by", "approved_by")
    list_filter = ("status", "year", "fund")


@admin.register(BankAccount)
class BankAccountAdmin(ReadOnlyAdmin):
    list_display = ("household", "member", "kind", "bank_name", "account_name", "masked", "active")
    fields = ("household", "member", "kind", "bank_name", "account_name", "masked", "active")
    readonly_fields = fields

    @admin.display(description="账号")
    def masked(self, obj):
        return mask_account_number(obj.account_number)
