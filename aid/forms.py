"""The aid pages' forms: they only clean their fields; the services decide."""

import secrets

from django import forms

from registry.forms import BootstrapMixin

from . import selectors
from .models import AidKind, Applicant, DocumentKind


class ApplicationForm(BootstrapMixin, forms.Form):
    """受理: the applicant, the kind, the encounters it covers and who applied (本人/代办)."""

    kind = forms.ChoiceField(label="救助类型", choices=[("", "请选择")] + AidKind.choices)
    reason = forms.CharField(
        label="申请事由",
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="如：2025年3月在省人民医院住院，个人自付费用高，申请倾斜救助。",
    )
    encounters = forms.ModelMultipleChoiceField(
        label="涉及的就诊记录",
        queryset=None,
        required=False,
        widget=forms.CheckboxSelectMultiple(attrs={"class": "form-check-input"}),
        help_text="申请人本人在系统中的就诊（倾斜救助按其已结算的个人自付计算）。",
    )
    applicant = forms.ChoiceField(label="申请方式", choices=Applicant.choices, initial=Applicant.SELF)
    proxy_name = forms.CharField(label="代办村干部姓名", max_length=50, required=False)
    proxy_phone = forms.CharField(label="代办人联系电话", max_length=20, required=False)
    form_token = forms.CharField(required=False, max_length=200, widget=forms.HiddenInput)

    def __init__(self, *args, member, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["encounters"].queryset = selectors.member_encounters(member)
        self.fields["encounters"].label_from_instance = lambda e: (
            f"{e.ref} {e.institution.name} {e.get_kind_display()} {e.service_date:%Y-%m-%d} 总费用{e.total_cost}元"
        )
        if not self.is_bound:
            self.fields["form_token"].initial = secrets.token_hex(16)

    def renew_token(self) -> None:
        self.data = self.data.copy()
        self.data["form_token"] = secrets.token_hex(16)


class NoteForm(BootstrapMixin, forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput)
    note = forms.CharField(label="意见", max_length=500, required=False)


class ReasonForm(BootstrapMixin, forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput)
    reason = forms.CharField(label="原因", max_length=500)


class ApproveForm(NoteForm):
    amount = forms.DecimalField(
        label="审批金额（元）",
        max_digits=12,
        decimal_places=2,
        required=False,
        help_text="政策规定了计算规则的，按规则计算，不必填写。",
    )


class InvoiceForm(BootstrapMixin, forms.Form):
    hospital = forms.CharField(label="县外医疗机构", max_length=100)
    invoice_number = forms.CharField(label="发票号", max_length=50, required=False)
    admission_date = forms.DateField(label="入院日期", widget=forms.DateInput(attrs={"type": "date"}))
    discharge_date = forms.DateField(label="出院日期", widget=forms.DateInput(attrs={"type": "date"}))
    amount = forms.DecimalField(label="发票金额（元）", max_digits=12, decimal_places=2)


class DocumentForm(BootstrapMixin, forms.Form):
    kind = forms.ChoiceField(label="材料类型", choices=DocumentKind.choices)
    upload = forms.FileField(
        label="文件",
        help_text="发票、出院小结的照片或扫描件：JPEG、PNG 或 PDF。",
        widget=forms.ClearableFileInput(attrs={"accept": "image/jpeg,image/png,application/pdf"}),
    )
