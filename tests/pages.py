"""Helpers for page tests: follow the links a user would click."""

import html
import re

from tests.sheets import workbook


def export_link(page: str) -> str:
    """The href of the 导出Excel button of a rendered list page."""
    match = re.search(r'<a href="([^"]*)"[^>]*>\s*<i[^>]*></i>\s*导出Excel', page)
    assert match, "no 导出Excel link on the page"
    return html.unescape(match.group(1))


def export_rows(client, url: str, params: dict) -> list[tuple]:
    """Opens the list filtered by ``params``, clicks 导出Excel and returns the sheet's data rows."""
    page = client.get(url, params).content.decode()
    response = client.get(url + export_link(page))
    # Row 1 is the title (list name, filters applied), row 2 the header (core.export).
    rows = list(workbook(response).active.iter_rows(values_only=True))
    return rows[2:]
