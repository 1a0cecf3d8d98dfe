"""Forms of the payments pages: input only, every rule is in ``services``."""

import datetime
import secrets

from django import forms
from django.utils import timezone

from registry.forms import BootstrapMixin

from .models import AccountKind, BankFileLayout, Fund, IncomeKind

DATE = forms.DateInput(attrs={"type": "date"})


class OnceForm(BootstrapMixin, forms.Form):
    """A create form with a one-time token: submitting it twice creates once."""

    form_token = forms.CharField(required=False, max_length=200, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.fields["form_token"].initial = secrets.token_hex(16)


class FundForm(BootstrapMixin, forms.Form):
    code = forms.CharField(label="资金编码", max_length=32)
    name = forms.CharField(
        label="资金名称", max_length=100, help_text="与结算政策中各层级的支付资金名称、参保资助资金名称一致。"
    )
    note = forms.CharField(label="说明", max_length=200, required=False)


class IncomeForm(OnceForm):
    kind = forms.ChoiceField(label="收入类型", choices=IncomeKind.choices)
    received_on = forms.DateField(label="到账日期", widget=DATE)
    amount = forms.DecimalField(label="金额（元）", max_digits=14, decimal_places=2, min_value=0)
    document_number = forms.CharField(label="文号/凭证号", max_length=100)
    note = forms.CharField(label="备注", max_length=200, required=False)


class BatchDraftForm(OnceForm):
    fund = forms.ModelChoiceField(label="资金", queryset=Fund.objects.all())
    year = forms.IntegerField(label="年度", min_value=2000, max_value=2100)
    month = forms.IntegerField(label="月份（含此前各月）", min_value=1, max_value=12)
    note = forms.CharField(label="备注", max_length=200, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        today = timezone.localdate()
        self.fields["year"].initial, self.fields["month"].initial = today.year, today.month


class ApproveForm(BootstrapMixin, forms.Form):
    override_reason = forms.CharField(
        label="超支审批理由",
        max_length=200,
        required=False,
        help_text="仅当审批后资金将超支时填写；将记入批次历史。",
    )


class ExportForm(BootstrapMixin, forms.Form):
    layout = forms.ModelChoiceField(label="银行代发版式", queryset=BankFileLayout.objects.all())


class CancelForm(BootstrapMixin, forms.Form):
    reason = forms.CharField(label="作废原因", max_length=200)


class PaidForm(BootstrapMixin, forms.Form):
    reference = forms.CharField(label="银行流水号", max_length=100)
    paid_on = forms.DateField(label="支付日期", widget=DATE, initial=datetime.date.today)


class ReturnForm(BootstrapMixin, forms.Form):
    reason = forms.CharField(label="退票原因", max_length=200)
    returned_on = forms.DateField(label="退票日期", widget=DATE, initial=datetime.date.today)


class BankAccountForm(OnceForm):
    household = forms.CharField(label="户编号", max_length=50)
    member_id_number = forms.CharField(
        label="持卡成员证件号码",
        max_length=18,
        required=False,
        help_text="留空：全户共用账户。须填写完整18位号码。",
    )
    kind = forms.ChoiceField(label="账户类型", choices=AccountKind.choices)
    bank_name = forms.CharField(label="开户银行", max_length=100)
    account_name = forms.CharField(label="户名", max_length=50)
    account_number = forms.CharField(label="账号", max_length=40)
