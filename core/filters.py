"""Query-parameter filters shared by every app's ``filtersets.py`` (docs/security.md, attack 6).

A year outside ``settings.YEAR_MIN``–``YEAR_MAX`` or an id beyond a database integer is a form
error (pages show the list unfiltered with the error; the API answers 400), never a 500 from
``date(99999, …)`` or an integer the database cannot hold."""

import django_filters
from django import forms
from django.conf import settings

MAX_ID = 2**63 - 1  # PostgreSQL bigint, SQLite INTEGER


class YearFilter(django_filters.NumberFilter):
    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", settings.YEAR_MIN)
        kwargs.setdefault("max_value", settings.YEAR_MAX)
        super().__init__(*args, **kwargs)


class IdFilter(django_filters.NumberFilter):
    """A record id typed as a number (``?member=12``)."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)
