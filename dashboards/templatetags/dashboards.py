"""Formatting of dashboard cells: numbers with thousands separators, percentages, dates."""

import datetime
from decimal import Decimal

from django import template

register = template.Library()


@register.filter
def cell(value, kind="text"):
    """``value`` shown as a ``kind`` (int, money, pct, date, text) cell; "—" for no value (None),
    nothing for an empty text."""
    if value is None:
        return "—"
    if value == "":
        return ""
    if kind == "int":
        return f"{int(value):,}"
    if kind == "money":
        return f"{Decimal(value):,.2f}"
    if kind == "pct":
        return f"{Decimal(value):.1f}%"
    if kind == "date" and isinstance(value, datetime.date):
        return value.strftime("%Y-%m-%d")
    return value
