"""Page forms of the claims app. They only shape input; the rules live in services.py."""

import secrets

from django import forms
from django.contrib.auth import get_user_model

from registry import roles
from registry.forms import BootstrapMixin, RosterUploadForm, VersionedForm
from registry.idnumber import mask_id_number
from registry.models import Member, Village

from . import codes, selectors
from .models import (
    Contract,
    Disease,
    Encounter,
    FollowUp,
    IllnessRecord,
    Institution,
    ScreeningRound,
    ServicePackage,
    Team,
    TeamMember,
)

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def _dates(form_class):
    """Date fields as <input type="date"> (a plain text box on browsers without one:
    YYYY-MM-DD is accepted either way)."""
    for _name, field in form_class.base_fields.items():
        if isinstance(field, forms.DateField):
            field.widget = forms.DateInput(
                attrs={"type": "date", "placeholder": "YYYY-MM-DD"}, format="%Y-%m-%d"
            )
    return form_class


class ServiceModelForm:
    """A model form that only checks and cleans its fields: it neither changes its instance
    nor checks uniqueness and the model's constraints. The service does that, on the current
    record, with clear Chinese messages."""

    def _post_clean(self):
        pass


# --- reference data -------------------------------------------------------------------------------


class InstitutionForm(ServiceModelForm, BootstrapMixin, forms.ModelForm):
    class Meta:
        model = Institution
        fields = ["name", "code", "level", "designated", "township"]


class DiseaseForm(ServiceModelForm, BootstrapMixin, forms.ModelForm):
    class Meta:
        model = Disease
        fields = ["code", "name", "group", "treatment_way", "lists", "prefixes", "active"]


class PackageForm(ServiceModelForm, BootstrapMixin, forms.ModelForm):
    class Meta:
        model = ServicePackage
        fields = ["name", "tier", "items", "price", "personal_share", "active"]
        widgets = {"items": forms.Textarea(attrs={"rows": 6})}


# --- people ---------------------------------------------------------------------------------------


class MemberLookupMixin(forms.Form):
    """Finds the patient from what the clinic types: a full ID number, or a name / household
    number that matches exactly one person of the user's township. The page's script fills
    the hidden ``member`` field (the patient's id) from a search list; the visible box is only
    for searching, so its text (e.g. the chosen suggestion's label) is ignored once an id is
    carried. Without script the text alone works."""

    member = forms.ModelChoiceField(queryset=Member.objects.none(), required=False, widget=forms.HiddenInput)
    # No max_length: the box holds a suggestion's label (longer than any search) once picked.
    member_query = forms.CharField(
        label="患者",
        required=False,
        help_text="输入姓名、证件号码或户编号查找本乡镇在册人员。",
        widget=forms.TextInput(attrs={"autocomplete": "off", "data-member-search": "1"}),
    )

    def setup_member(self, user):
        self.user = user
        self.fields["member"].queryset = selectors.members_for(user)
        instance = getattr(self, "instance", None)
        if instance is not None and instance.pk and not self.is_bound:
            member = instance.member
            self.initial.setdefault("member", member.pk)
            self.initial.setdefault("member_query", f"{member.name} {mask_id_number(member.id_number)}")

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("member") is not None:
            return cleaned
        # An id outside the user's township (or stale) is not an error of its own: the
        # typed text is resolved instead, and a failure shows under the visible box.
        self.errors.pop("member", None)
        query = (cleaned.get("member_query") or "").strip()
        if not query:
            self.add_error("member_query", "请输入患者的姓名、证件号码或户编号。")
            return cleaned
        found = list(selectors.member_search(self.user, query, limit=6))
        exact = [m for m in found if m.id_number == query.upper()]
        if exact:
            found = exact
        if not found:
            self.add_error("member_query", f"本乡镇在册人员中找不到「{query}」。")
        elif len(found) > 1:
            names = "；".join(
                f"{m.name}（户{m.household.number}，{mask_id_number(m.id_number)}）" for m in found[:5]
            )
            self.add_error("member_query", f"找到多人：{names}。请输入完整的证件号码。")
        else:
            cleaned["member"] = found[0]
        return cleaned


def _default_to_own_clinic(form, name, user):
    """A new record's institution field starts at a township user's own clinic."""
    clinic = selectors.own_clinic(user)
    if clinic is not None:
        form.initial.setdefault(name, clinic.pk)


class EncounterItemForm(BootstrapMixin, forms.Form):
    """One line of the entry page's 费用明细. Only the shapes are checked here; the service
    checks the lines as the contract does (``claims.items``), as for the API."""

    code = forms.CharField(
        label="项目编码",
        max_length=50,
        required=False,
        widget=forms.TextInput(attrs={"list": "item-catalogue", "autocomplete": "off", "data-item-code": ""}),
    )
    name = forms.CharField(label="项目名称", max_length=100, required=False)
    category = forms.ChoiceField(
        label="费用类别", choices=[("", "—"), *codes.ITEM_CATEGORIES], required=False
    )
    item_class = forms.ChoiceField(label="目录类别", choices=[("", "—"), *codes.ITEM_CLASSES], required=False)
    quantity = forms.DecimalField(label="数量", required=False, min_value=0, decimal_places=3, max_digits=12)
    unit_price = forms.DecimalField(
        label="单价", required=False, min_value=0, decimal_places=4, max_digits=12
    )
    amount = forms.DecimalField(label="金额", required=False, min_value=0, decimal_places=2, max_digits=12)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        row = (self.prefix or "").rpartition("-")[2]
        number = int(row) + 1 if row.isdigit() else ""
        for field in self.fields.values():  # the table's cells have no <label>
            field.widget.attrs["aria-label"] = f"费用明细第{number}行{field.label}"

    def item(self) -> dict | None:
        """The line in the contract's shape (None: a blank line)."""
        data = self.cleaned_data
        if not any(data.get(name) not in (None, "") for name in self.fields):
            return None
        item = {"code": data.get("code") or "", "class": data.get("item_class") or None}
        for name in ("name", "category", "quantity", "unit_price", "amount"):
            if data.get(name) not in (None, ""):
                item[name] = data[name]
        return item


EncounterItemFormSet = forms.formset_factory(EncounterItemForm, extra=8, max_num=200, absolute_max=200)


class EncounterForm(MemberLookupMixin, ServiceModelForm, VersionedForm):
    class Meta:
        model = Encounter
        fields = [
            "institution",
            "kind",
            "admission_date",
            "discharge_date",
            "diagnosis_code",
            "diagnosis_name",
            "total_cost",
            "in_policy_cost",
            "package",
            "referred",
        ]
        widgets = {
            "diagnosis_code": forms.TextInput(attrs={"list": "disease-catalogue", "autocomplete": "off"})
        }
        help_texts = {
            "diagnosis_code": "可输入编码或病名查找病种目录；诊断名称留空时按目录自动填写。",
            "referred": "县外（市级、省级、省外）就医时是否按规定办理了转诊手续。",
        }

    field_order = ["member_query", "member"]

    # Shown by the page only after the service found a suspected duplicate (疑似重复录入).
    confirm_duplicate = forms.BooleanField(
        label="确认不是重复录入",
        required=False,
        help_text="该患者已有一条医疗机构、类型、日期和总费用都相同的记录。确属另一次就诊时勾选，并填写原因。",
    )
    duplicate_reason = forms.CharField(label="原因", max_length=200, required=False)
    # A one-time token (new entries only): submitting the same form twice saves it once.
    form_token = forms.CharField(required=False, max_length=200, widget=forms.HiddenInput)

    def __init__(self, *args, user=None, correcting=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.setup_member(user)
        self.fields["institution"].queryset = selectors.institutions().order_by("level", "name")
        self.fields["referred"].initial = True
        self.bill = None
        if not (self.instance and self.instance.pk):
            self.fields.pop("version")
            _default_to_own_clinic(self, "institution", user)
            self.fields["form_token"].initial = secrets.token_hex(16)
            # 费用明细 (new entries): with lines, the totals come from them (the service).
            # A post without the rows (an older page, a script) has no items.
            sent = self.is_bound and "items-TOTAL_FORMS" in self.data
            self.bill = EncounterItemFormSet(self.data if sent else None, prefix="items")
            for name in ("total_cost", "in_policy_cost"):
                self.fields[name].required = False
            self.fields["total_cost"].help_text = "填写了费用明细时可不填（按明细金额合计）。"
            self.fields["in_policy_cost"].help_text = "填写了费用明细时不填（结算时按明细的目录类别算出）。"
        else:
            self.fields.pop("form_token")
        confirming = self.is_bound and (
            self.data.get("confirm_duplicate") in ("on", "true", "True", "1")
            or bool((self.data.get("duplicate_reason") or "").strip())
        )
        if not confirming:
            # Hidden until needed: a clerk sees the tick box once the page says 疑似重复录入.
            self.fields["confirm_duplicate"].widget = forms.HiddenInput()
            self.fields["duplicate_reason"].widget = forms.HiddenInput()
        if correcting:
            self.fields["reason"] = forms.CharField(
                label="更正原因", max_length=80, widget=forms.TextInput(attrs={"class": "form-control"})
            )

    def is_valid(self):
        valid = super().is_valid()
        return (self.bill is None or not self.bill.is_bound or self.bill.is_valid()) and valid

    def items(self) -> list[dict] | None:
        """The 费用明细 lines entered, in the contract's shape (None: none entered)."""
        if self.bill is None or not self.bill.is_bound:
            return None
        lines = [line for line in (f.item() for f in self.bill.forms) if line is not None]
        return lines or None

    def show_item_error(self, exc) -> bool:
        """A service refusal naming a line (``items[2].class``): on the row the clerk typed it
        (the n-th non-blank line). Returns whether it was placed."""
        path = exc.field or ""
        if self.bill is None or not path.startswith("items["):
            return False
        index = int(path[6 : path.index("]")])
        if not self.bill.is_bound:
            return False
        filled = [f for f in self.bill.forms if f.item() is not None]
        field = {"class": "item_class"}.get(path.rpartition(".")[2], path.rpartition(".")[2])
        if index >= len(filled):
            return False
        row = filled[index]
        message = exc.message.partition("：")[2] or exc.message
        row.add_error(field if field in row.fields else None, message)
        label = row.fields[field].label if field in row.fields else ""
        exc.message = f"费用明细第{index + 1}行{label}：{message}"  # what the page shows above the form
        return True

    def changes(self):
        data = {name: self.cleaned_data[name] for name in self.Meta.fields}
        data["member"] = self.cleaned_data["member"]
        return data

    def duplicate_args(self) -> dict:
        return {
            "confirm_duplicate": self.cleaned_data.get("confirm_duplicate") or False,
            "duplicate_reason": self.cleaned_data.get("duplicate_reason") or "",
        }

    def show_duplicate_fields(self) -> None:
        """After a 疑似重复录入 refusal: show the tick box and the reason."""
        self.fields["confirm_duplicate"].widget = forms.CheckboxInput(attrs={"class": "form-check-input"})
        self.fields["duplicate_reason"].widget = forms.TextInput(
            attrs={"class": "form-control", "placeholder": "例如：同日上午、下午两次门诊"}
        )

    def renew_token(self) -> None:
        self.data = self.data.copy()
        self.data["form_token"] = secrets.token_hex(16)


_dates(EncounterForm)


class IllnessForm(MemberLookupMixin, ServiceModelForm, VersionedForm):
    class Meta:
        model = IllnessRecord
        fields = [
            "diagnosis_code",
            "diagnosis_name",
            "diagnosed_on",
            "diagnosed_at",
            "treatment_way",
            "treatment_plan",
            "status",
            "total_cost",
            "basic_insurance",
            "catastrophic_insurance",
            "civil_aid",
            "self_pay",
            "result",
        ]
        widgets = {
            "diagnosis_code": forms.TextInput(attrs={"list": "disease-catalogue", "autocomplete": "off"}),
            "treatment_plan": forms.Textarea(attrs={"rows": 3}),
        }
        help_texts = {
            "diagnosis_name": "留空时按病种目录自动填写。",
            "treatment_way": "留空时按病种目录自动填写。",
        }

    field_order = ["member_query", "member"]

    def __init__(self, *args, user=None, figures_locked=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["diagnosed_at"].queryset = selectors.institutions().order_by("level", "name")
        self.fields["diagnosis_name"].required = False
        if self.instance and self.instance.pk:
            # The patient of a record does not change; open a new record instead.
            self.fields.pop("member")
            self.fields.pop("member_query")
        else:
            self.setup_member(user)
            self.fields.pop("version")
            _default_to_own_clinic(self, "diagnosed_at", user)
        if figures_locked:
            for name in selectors.FIGURE_FIELDS:
                self.fields.pop(name)

    def clean(self):
        if "member_query" in self.fields:
            return super().clean()
        return forms.ModelForm.clean(self)

    def changes(self):
        return {name: self.cleaned_data[name] for name in self.Meta.fields if name in self.cleaned_data}


_dates(IllnessForm)


class ScreeningVillageForm(BootstrapMixin, forms.Form):
    village = forms.ModelChoiceField(label="行政村", queryset=Village.objects.none())
    year = forms.IntegerField(label="年度", min_value=2015, max_value=2100)
    round = forms.ChoiceField(label="筛查轮次", choices=ScreeningRound.choices)
    checked_on = forms.DateField(label="筛查日期", widget=DATE)

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["village"].queryset = roles.scope(
            Village.objects.select_related("township"), user, "township_id"
        )


# --- family doctors -------------------------------------------------------------------------------


class TeamForm(ServiceModelForm, BootstrapMixin, forms.ModelForm):
    class Meta:
        model = Team
        fields = ["name", "institution", "active"]

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["institution"].queryset = roles.scope(
            Institution.objects.filter(level="township"), user, "township_id"
        )


class TeamMemberForm(ServiceModelForm, BootstrapMixin, forms.ModelForm):
    class Meta:
        model = TeamMember
        fields = ["name", "role", "phone"]


class ContractForm(ServiceModelForm, VersionedForm):
    members = forms.ModelMultipleChoiceField(
        label="签约成员",
        queryset=Member.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="默认全家签约；只签部分成员时取消勾选其他人。",
    )

    class Meta:
        model = Contract
        fields = ["team", "package", "start_date", "end_date", "notes"]

    def __init__(self, *args, user=None, household=None, **kwargs):
        super().__init__(*args, **kwargs)
        household = household or self.instance.household
        self.fields["members"].queryset = household.members.order_by("id")
        self.fields["members"].widget.attrs = {}
        self.fields["team"].queryset = selectors.teams_for(user).filter(
            active=True, township_id=household.village.township_id
        )
        self.fields["package"].queryset = ServicePackage.objects.filter(active=True)
        self.fields["end_date"].required = False
        self.fields["end_date"].help_text = "留空为签约开始起一年。"
        if self.instance.pk:
            self.initial.setdefault("members", list(self.instance.members.values_list("pk", flat=True)))
        else:
            self.fields.pop("version")
            self.initial.setdefault("members", list(household.members.values_list("pk", flat=True)))
            teams = list(self.fields["team"].queryset[:2])
            if len(teams) == 1:  # the only choice is preselected
                self.initial.setdefault("team", teams[0].pk)

    def changes(self):
        return {name: self.cleaned_data[name] for name in self.Meta.fields}


_dates(ContractForm)


class ContractTerminateForm(BootstrapMixin, forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput)
    reason = forms.CharField(label="解约原因", max_length=100)


class SignVillageForm(BootstrapMixin, forms.Form):
    village = forms.ModelChoiceField(label="行政村", queryset=Village.objects.none())
    team = forms.ModelChoiceField(label="签约团队", queryset=Team.objects.none())
    package = forms.ModelChoiceField(label="服务包", queryset=ServicePackage.objects.filter(active=True))
    start_date = forms.DateField(label="签约开始日期", widget=DATE)
    end_date = forms.DateField(label="签约结束日期", required=False, widget=DATE, help_text="留空为一年。")

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["village"].queryset = roles.scope(
            Village.objects.select_related("township"), user, "township_id"
        )
        self.fields["team"].queryset = selectors.teams_for(user).filter(active=True)
        self.fields["package"].queryset = ServicePackage.objects.filter(active=True)


class FollowUpForm(ServiceModelForm, BootstrapMixin, forms.ModelForm):
    class Meta:
        model = FollowUp
        fields = ["member", "date", "doctor", "kind", "systolic", "diastolic", "glucose", "notes"]
        widgets = {"notes": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, contract=None, **kwargs):
        super().__init__(*args, **kwargs)
        contract = contract or self.instance.contract
        self.fields["member"].queryset = contract.members.order_by("id")
        self.fields["doctor"].queryset = contract.team.members.filter(active=True)

    def changes(self):
        return {name: self.cleaned_data[name] for name in self.Meta.fields}


_dates(FollowUpForm)


class EncounterUploadForm(RosterUploadForm):
    """The roster upload form's file check, for a discharge list."""

    file = forms.FileField(label="就诊清单（.xlsx）", help_text="医院出院结算清单，一行一次就诊或住院。")
    create_areas = None
    skip_invalid = forms.BooleanField(
        label="跳过有错误的行，导入其余各行",
        required=False,
        help_text="不勾选时，只要有一处错误，整个文件都不导入。",
    )


class CatalogueUploadForm(RosterUploadForm):
    """The roster upload form's file check, for a catalogue file (imported whole or not at all)."""

    file = forms.FileField(label="医保目录文件（.xlsx）", help_text="一行一个项目；项目编码不能重复。")
    create_areas = None
    skip_invalid = None


class InstitutionTokenForm(BootstrapMixin, forms.Form):
    """A new API token of a 定点医疗机构 (county staff): the institution, the hospital account
    that holds it, a note."""

    institution = forms.ModelChoiceField(label="医疗机构", queryset=Institution.objects.order_by("name"))
    account = forms.ModelChoiceField(
        label="定点医疗机构账号",
        queryset=get_user_model().objects.filter(institution_link__isnull=False).order_by("username"),
        help_text="角色为“定点医疗机构”、已在系统管理中绑定该机构的账号。",
    )
    note = forms.CharField(label="备注", max_length=100, required=False)


# --- the claims review (审核) ---------------------------------------------------------------------


class ReviewDecisionForm(BootstrapMixin, forms.Form):
    """A reviewer's decision on one claim (``claims.review.review_decide``): the outcome, the
    violation code and note, and for a deduction either a deduction per bill line
    (``item_<position>``, prefilled with the current ones) or a whole amount."""

    version = forms.IntegerField(widget=forms.HiddenInput)
    form_token = forms.CharField(required=False, max_length=200, widget=forms.HiddenInput)
    outcome = forms.ChoiceField(
        label="审核结论",
        choices=[("approve", "审核通过"), ("deduct", "违规扣款"), ("reject", "拒付（整单不予支付）")],
        widget=forms.RadioSelect,
        initial="approve",
    )
    reason = forms.ModelChoiceField(label="违规类型", queryset=None, required=False, empty_label="（请选择）")
    note = forms.CharField(
        label="审核意见", required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )
    amount = forms.DecimalField(
        label="按总额扣除（元）",
        required=False,
        min_value=0,
        decimal_places=2,
        max_digits=12,
        help_text="不逐项扣除时填写：按各项金额比例分摊到明细。",
    )

    def __init__(self, *args, encounter, items, **kwargs):
        from .review_selectors import reasons

        super().__init__(*args, **kwargs)
        self.fields["reason"].queryset = reasons()
        self.fields["version"].initial = encounter.version
        self.fields["form_token"].initial = secrets.token_hex(16)
        self.items = items
        for item in items:
            self.fields[f"item_{item.position}"] = forms.DecimalField(
                label=f"第{item.position}项扣除",
                required=False,
                min_value=0,
                decimal_places=2,
                max_digits=12,
                initial=item.deducted or None,
                widget=forms.NumberInput(attrs={"class": "form-control form-control-sm", "step": "0.01"}),
            )
        self.fields["outcome"].widget.attrs.pop("class", None)

    def item_rows(self):
        return [(item, self[f"item_{item.position}"]) for item in self.items]

    def decision_args(self) -> dict:
        data = self.cleaned_data
        args = {
            "version": data["version"],
            "outcome": data["outcome"],
            "reason": data["reason"],
            "note": data["note"],
            "key": data.get("form_token") or "",
        }
        if data["outcome"] == "deduct":
            if data.get("amount") is not None:
                args["amount"] = data["amount"]
            else:
                args["item_deductions"] = {
                    item.position: data[f"item_{item.position}"]
                    for item in self.items
                    if data.get(f"item_{item.position}") is not None
                }
        return args

    def renew_token(self) -> None:
        self.data = self.data.copy()
        self.data["form_token"] = secrets.token_hex(16)


class ReviewReportForm(BootstrapMixin, forms.Form):
    year = forms.IntegerField(label="年度", min_value=2000, max_value=2100)
    month = forms.TypedChoiceField(
        label="月份",
        coerce=int,
        required=False,
        empty_value=None,
        choices=[("", "全年")] + [(m, f"{m}月") for m in range(1, 13)],
    )
    institution = forms.ModelChoiceField(
        label="医疗机构", queryset=Institution.objects.order_by("name"), required=False, empty_label="全部"
    )
