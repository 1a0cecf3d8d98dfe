"""Page forms. They only shape input; the rules live in services.py."""

from django import forms

from . import roles
from .idnumber import mask_id_number
from .models import Household, Member, Village


class BootstrapMixin:
    """Bootstrap classes on every widget, so templates can render fields plainly."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            widget = field.widget
            if isinstance(widget, forms.CheckboxInput):
                widget.attrs.setdefault("class", "form-check-input")
            elif isinstance(widget, (forms.Select, forms.NullBooleanSelect)):
                widget.attrs.setdefault("class", "form-select")
            else:
                widget.attrs.setdefault("class", "form-control")


class VersionedForm(BootstrapMixin, forms.ModelForm):
    """Carries the record's version so services can refuse a save over a newer change."""

    version = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance and self.instance.pk and not self.is_bound:
            self.initial["version"] = self.instance.version

    def changes(self):
        return {name: self.cleaned_data[name] for name in self.Meta.fields}


class HouseholdForm(VersionedForm):
    class Meta:
        model = Household
        fields = ["village", "phone", "attribute", "poverty_status", "main_cause", "annual_income"]

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["village"].queryset = roles.scope(
            Village.objects.select_related("township"), user, "township_id"
        )


class MemberForm(VersionedForm):
    class Meta:
        model = Member
        fields = [
            "name",
            "id_number",
            "relation",
            "ethnicity",
            "phone",
            "health_status",
            "insured",
            "aid_category",
        ]
        widgets = {"insured": forms.NullBooleanSelect}

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        # A role that does not see full ID numbers does not get one in the form either: the
        # field starts empty and an empty field keeps the number on record.
        self.masked = not roles.can_view_full_id(user)
        if self.masked:
            field = self.fields["id_number"]
            field.required = False
            field.help_text = (
                f"当前号码 {mask_id_number(self.instance.id_number)}（不显示完整号码）。"
                "需要更正时输入完整的新号码，留空则不修改。"
            )
            self.initial["id_number"] = ""

    def clean_id_number(self):
        value = self.cleaned_data.get("id_number") or ""
        if self.masked and not value.strip():
            return self.instance.id_number
        return value

    def validate_unique(self):
        # Uniqueness is the service's job: its message does not tell a township clinic that
        # the number is registered in another township (docs/security.md).
        pass


class MemberCreateForm(BootstrapMixin, forms.ModelForm):
    class Meta:
        model = Member
        fields = [
            "name",
            "id_number",
            "relation",
            "ethnicity",
            "phone",
            "health_status",
            "insured",
            "aid_category",
        ]
        widgets = {"insured": forms.NullBooleanSelect}

    def validate_unique(self):
        # Uniqueness is the service's job (with a clearer message).
        pass


class RosterUploadForm(BootstrapMixin, forms.Form):
    file = forms.FileField(
        label="名册文件（.xlsx）", help_text="全国扶贫开发信息系统导出的花名册，一行一人。"
    )
    create_areas = forms.BooleanField(label="自动创建未知的乡镇和村", required=False)
    skip_invalid = forms.BooleanField(
        label="跳过有错误的户，导入其余各户",
        required=False,
        help_text="不勾选时，只要有一处错误，整个文件都不导入。",
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if not upload.name.lower().endswith((".xlsx", ".xlsm")):
            raise forms.ValidationError("请上传 .xlsx 格式的Excel文件（旧版 .xls 请先另存为 .xlsx）。")
        return upload


class EnrollmentUploadForm(BootstrapMixin, forms.Form):
    file = forms.FileField(
        label="参保名单文件（.xlsx）", help_text="医保部门提供的参保名单，一行一人一年度。"
    )
    skip_invalid = forms.BooleanField(
        label="跳过有错误的行，导入其余各行",
        required=False,
        help_text="不勾选时，只要有一处错误，整个文件都不导入。",
    )

    clean_file = RosterUploadForm.clean_file
