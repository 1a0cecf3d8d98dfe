"""Forms of the dashboard pages (validation of input only; rules live in services)."""

from __future__ import annotations

import datetime

from django import forms
from django.utils import timezone

from registry import roles
from registry.models import Village

from . import definitions
from .definitions import Period

MONTHS = [(month, f"{month}月") for month in range(1, 13)]
QUARTERS = [(quarter, f"第{quarter}季度") for quarter in range(1, 5)]


def _years():
    this_year = timezone.localdate().year
    return [(year, f"{year}年") for year in range(this_year, this_year - 10, -1)]


class PeriodForm(forms.Form):
    """The period selector: a year (default: this year), a quarter or a month."""

    period = forms.ChoiceField(label="统计周期", choices=definitions.PERIOD_KINDS, required=False)
    year = forms.TypedChoiceField(label="年度", coerce=int, choices=_years, required=False)
    quarter = forms.TypedChoiceField(label="季度", coerce=int, choices=QUARTERS, required=False)
    month = forms.TypedChoiceField(label="月份", coerce=int, choices=MONTHS, required=False)

    def period_or_default(self) -> Period:
        today = timezone.localdate()
        if not self.is_valid():
            return definitions.default_period(today)
        data = self.cleaned_data
        kind = data.get("period") or "year"
        year = data.get("year") or today.year
        number = {
            "year": 0,
            "quarter": data.get("quarter") or (today.month - 1) // 3 + 1,
            "month": data.get("month") or today.month,
        }[kind]
        return Period(kind, year, number)


class YearForm(forms.Form):
    year = forms.TypedChoiceField(label="年度", coerce=int, choices=_years, required=False)

    def year_or_default(self, default=None) -> int:
        """The chosen year; else ``default()`` (e.g. the latest year with data); else this year."""
        if self.is_valid() and self.cleaned_data.get("year"):
            return self.cleaned_data["year"]
        return default() if default is not None else timezone.localdate().year


class TargetsForm(forms.Form):
    """One field per target (definitions.TARGETS)."""

    def __init__(self, *args, values: dict, **kwargs):
        super().__init__(*args, **kwargs)
        for spec in definitions.TARGETS:
            self.fields[spec.key] = forms.DecimalField(
                label=f"{spec.label}（{'不低于' if spec.at_least else '不高于'}，%）",
                min_value=0,
                max_value=100,
                decimal_places=1,
                max_digits=4,
                initial=values[spec.key],
                widget=forms.NumberInput(attrs={"class": "form-control", "step": "0.1"}),
            )


class RefreshForm(forms.Form):
    year = forms.TypedChoiceField(label="年度", coerce=int, choices=_years, required=False)


class NoticePickForm(forms.Form):
    """Which village's notice of which month to open."""

    village = forms.ModelChoiceField(
        label="行政村", queryset=Village.objects.none(), widget=forms.Select(attrs={"class": "form-select"})
    )
    year = forms.TypedChoiceField(
        label="年度", coerce=int, choices=_years, widget=forms.Select(attrs={"class": "form-select"})
    )
    month = forms.TypedChoiceField(
        label="月份", coerce=int, choices=MONTHS, widget=forms.Select(attrs={"class": "form-select"})
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["village"].queryset = roles.scope(
            Village.objects.select_related("township"), user, "township_id"
        ).order_by("township__name", "name")
        last_month = timezone.localdate().replace(day=1) - datetime.timedelta(days=1)
        self.fields["year"].initial = last_month.year
        self.fields["month"].initial = last_month.month


class NoticePublishForm(forms.Form):
    published_on = forms.DateField(
        label="公示日期",
        widget=forms.DateInput(format="%Y-%m-%d", attrs={"type": "date", "class": "form-control"}),
    )
    objection_days = forms.IntegerField(
        label="公示期(天)",
        min_value=1,
        max_value=60,
        initial=definitions.NOTICE_OBJECTION_DAYS,
        widget=forms.NumberInput(attrs={"class": "form-control"}),
    )
    contact = forms.CharField(
        label="异议受理电话",
        max_length=60,
        required=False,
        widget=forms.TextInput(attrs={"class": "form-control"}),
    )


class ObjectionForm(forms.Form):
    entry = forms.TypedChoiceField(
        label="针对的条目",
        coerce=int,
        required=False,
        empty_value=None,
        widget=forms.Select(attrs={"class": "form-select"}),
    )
    raised_by = forms.CharField(
        label="反映人", max_length=50, widget=forms.TextInput(attrs={"class": "form-control"})
    )
    contact = forms.CharField(
        label="联系方式",
        max_length=60,
        required=False,
        widget=forms.TextInput(attrs={"class": "form-control"}),
    )
    received_on = forms.DateField(
        label="受理日期",
        widget=forms.DateInput(format="%Y-%m-%d", attrs={"type": "date", "class": "form-control"}),
    )
    content = forms.CharField(
        label="异议内容", widget=forms.Textarea(attrs={"rows": 3, "class": "form-control"})
    )

    def __init__(self, *args, entries=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["entry"].choices = [("", "整份公示")] + [
            (row.entry_id, f"{row.position}. {row.masked_name} {row.institution}") for row in entries
        ]


class ResolveForm(forms.Form):
    resolution = forms.CharField(
        label="处理结果", widget=forms.Textarea(attrs={"rows": 2, "class": "form-control"})
    )
