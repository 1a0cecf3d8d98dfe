"""Forms and list filters of the settlement pages. They read and check input only; every
rule lives in ``services`` (policy validation, transfers, runs)."""

import datetime
import json

import django_filters
from django import forms
from django.db.models import Q

from claims.models import Institution
from registry.filtersets import township_choices, village_choices
from registry.forms import BootstrapMixin

from .filtersets import SettlementFilterSet
from .models import Policy, PolicyStatus, SettlementRun

MAX_POLICY_BYTES = 512 * 1024


class SettlementPageFilterSet(SettlementFilterSet):
    """The API's filters plus the page's: township, village and a member search."""

    q = django_filters.CharFilter(label="患者", method="search", help_text="姓名、证件号码或户编号")
    township = django_filters.ModelChoiceFilter(
        label="乡镇", field_name="member__household__village__township", queryset=township_choices
    )
    village = django_filters.ModelChoiceFilter(
        label="行政村", field_name="member__household__village", queryset=village_choices
    )
    institution = django_filters.ModelChoiceFilter(
        label="医疗机构", queryset=Institution.objects.order_by("name")
    )
    current = django_filters.BooleanFilter(label="只看当前有效", field_name="is_current")

    class Meta(SettlementFilterSet.Meta):
        fields = ["year", "q", "township", "village", "institution", "current", "ref", "member"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.filters.pop("policy", None)
        self.form.fields["member"].widget = forms.HiddenInput()
        self.form.fields["current"].widget.choices = [
            ("unknown", "全部"),
            ("true", "是"),
            ("false", "否（已被重新结算）"),
        ]

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(member__name__contains=value)
            | Q(member__id_number__startswith=value.upper())
            | Q(member__household__number__startswith=value)
        )


class PolicyFilterSet(django_filters.FilterSet):
    year = django_filters.NumberFilter(label="年度")
    status = django_filters.ChoiceFilter(label="状态", choices=PolicyStatus.choices)
    code = django_filters.CharFilter(label="政策编码", lookup_expr="icontains")

    class Meta:
        model = Policy
        fields = ["year", "status", "code"]


def parse_document(text: str):
    """JSON text → a document, or a ``ValidationError`` naming the line and column."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise forms.ValidationError(f"JSON格式错误：第{exc.lineno}行第{exc.colno}列附近（{exc.msg}）。")
    if not isinstance(document, dict):
        raise forms.ValidationError("政策文件应是一个JSON对象（以 { 开头）。")
    return document


class PolicyImportForm(BootstrapMixin, forms.Form):
    file = forms.FileField(label="上传政策文件（.json）", required=False)
    text = forms.CharField(
        label="或直接粘贴政策文件内容",
        required=False,
        widget=forms.Textarea(
            attrs={"rows": 14, "class": "form-control font-monospace", "spellcheck": "false"}
        ),
    )
    activate = forms.BooleanField(
        label="导入后立即启用（同年度原生效政策将停用，并重新结算该年度）", required=False
    )
    replace = forms.BooleanField(
        label="同编码政策已生效或停用时，仍用本文件替换（生效政策替换后将重新结算该年度）", required=False
    )

    def clean(self):
        data = super().clean()
        upload, text = data.get("file"), (data.get("text") or "").strip()
        if upload and text:
            raise forms.ValidationError("请上传文件或粘贴内容，二选一。")
        if upload:
            if upload.size > MAX_POLICY_BYTES:
                raise forms.ValidationError("文件过大（政策文件一般不超过几十KB），请检查是否选错了文件。")
            try:
                text = upload.read().decode("utf-8-sig")
            except UnicodeDecodeError:
                raise forms.ValidationError("文件不是UTF-8编码的文本，请上传 .json 政策文件。")
        if not text:
            raise forms.ValidationError("请上传政策文件，或把文件内容粘贴到文本框中。")
        data["document"] = parse_document(text)
        return data


class PolicyDocumentForm(BootstrapMixin, forms.Form):
    text = forms.CharField(
        label="政策文件（JSON）",
        widget=forms.Textarea(
            attrs={
                "rows": 30,
                "class": "form-control font-monospace",
                "spellcheck": "false",
                "id": "policy-json",
            }
        ),
    )
    resettle = forms.BooleanField(
        label="该政策正在生效：保存后重新结算本年度全部就诊记录（差额补付或退还）", required=False
    )

    def __init__(self, *args, active=False, **kwargs):
        super().__init__(*args, **kwargs)
        if not active:
            del self.fields["resettle"]

    def clean_text(self):
        return parse_document(self.cleaned_data["text"])


class RunStartForm(BootstrapMixin, forms.Form):
    kind = forms.ChoiceField(
        label="操作",
        choices=[
            (SettlementRun.Kind.SETTLE_YEAR, "结算全年"),
            (SettlementRun.Kind.RESETTLE_YEAR, "全年重新结算"),
        ],
    )
    year = forms.IntegerField(label="年度", min_value=2000, max_value=2100)


class SimulationForm(BootstrapMixin, forms.Form):
    policy = forms.ModelChoiceField(label="草稿政策", queryset=Policy.objects.none(), empty_label="请选择")
    year = forms.IntegerField(label="用哪一年的就诊记录模拟", min_value=2000, max_value=2100)

    def __init__(self, *args, policies=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["policy"].queryset = policies if policies is not None else Policy.objects.none()


class LedgerFilterForm(BootstrapMixin, forms.Form):
    year = forms.IntegerField(label="年度", min_value=2000, max_value=2100)
    period = forms.ChoiceField(
        label="汇总周期", choices=[("month", "按月"), ("quarter", "按季度")], required=False
    )
    fund = forms.ChoiceField(label="支付资金", required=False)
    institution = forms.ModelChoiceField(
        label="医疗机构", queryset=Institution.objects.order_by("name"), required=False, empty_label="全部"
    )

    def __init__(self, *args, funds=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["fund"].choices = [("", "全部")] + [(f, f) for f in funds]


class TransferForm(BootstrapMixin, forms.Form):
    fund = forms.ChoiceField(label="支付资金")
    institution = forms.ModelChoiceField(label="医疗机构", queryset=Institution.objects.order_by("name"))
    year = forms.IntegerField(label="拨付所属年度", min_value=2000, max_value=2100)
    month = forms.TypedChoiceField(
        label="拨付所属月份", coerce=int, choices=[(m, f"{m}月") for m in range(1, 13)]
    )
    amount = forms.DecimalField(label="拨付金额（元）", max_digits=14, decimal_places=2, min_value=0.01)
    paid_on = forms.DateField(
        label="拨付日期", initial=datetime.date.today, widget=forms.DateInput(attrs={"type": "date"})
    )
    reference = forms.CharField(label="凭证号", max_length=100)
    note = forms.CharField(label="备注", max_length=200, required=False)

    def __init__(self, *args, funds=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["fund"].choices = [("", "请选择")] + [(f, f) for f in funds]
