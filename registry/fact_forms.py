"""Forms of the dated-fact pages (脱贫状态变动, 救助类别变动, 年度参保, 减员). They only collect
input; the rules are in ``fact_services``."""

from django import forms
from django.utils import timezone

from .models import AidCategory, ExitReason, PovertyStatus

_DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class _Dated(forms.Form):
    effective_from = forms.DateField(
        label="生效日期", widget=_DATE, help_text="文件规定的生效日期（不晚于今天）"
    )
    reason = forms.CharField(label="变动原因", max_length=200)
    document_number = forms.CharField(label="文号", max_length=100, required=False)


class StatusChangeForm(_Dated):
    poverty_status = forms.ChoiceField(label="变动后的脱贫状态", choices=PovertyStatus.choices)
    field_order = ["poverty_status", "effective_from", "reason", "document_number"]


class AidChangeForm(_Dated):
    aid_category = forms.ChoiceField(label="变动后的救助类别", choices=AidCategory.choices)
    field_order = ["aid_category", "effective_from", "reason", "document_number"]


class EnrollmentForm(forms.Form):
    year = forms.IntegerField(label="参保年度", min_value=2000, max_value=2100)
    insured = forms.TypedChoiceField(
        label="是否参保", choices=[("1", "已参保"), ("0", "未参保")], coerce=lambda v: v == "1"
    )
    premium = forms.DecimalField(label="个人缴费标准(元)", max_digits=10, decimal_places=2, required=False)
    personal_share = forms.DecimalField(label="个人实缴(元)", max_digits=10, decimal_places=2, required=False)
    subsidy = forms.DecimalField(label="资助金额(元)", max_digits=10, decimal_places=2, required=False)
    subsidy_category = forms.CharField(label="资助类别", max_length=50, required=False)
    subsidy_fund = forms.CharField(
        label="资助资金", max_length=50, required=False, help_text="如：医疗救助资金"
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["year"].initial = timezone.localdate().year


class ExitForm(forms.Form):
    reason = forms.ChoiceField(label="减员原因", choices=ExitReason.choices)
    left_on = forms.DateField(label="减员日期", widget=_DATE)
    note = forms.CharField(label="说明", max_length=200, required=False)
    document_number = forms.CharField(label="文号", max_length=100, required=False)
