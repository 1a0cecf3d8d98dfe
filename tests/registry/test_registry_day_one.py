"""Flows a new county or clinic user hits on day one in the registry pages."""

from django.urls import reverse

from tests.factories import HouseholdFactory, MemberFactory, VillageFactory
from tests.pages import export_rows


def test_filtered_household_export_holds_exactly_the_filtered_rows(client, county_user, areas):
    """Regression: with a filter the link read ``?township=3&export=xlsx?township=3``."""
    second_village = VillageFactory(township=areas["east"], name="城关镇二村")
    for n, village in enumerate([areas["east_village"]] * 2 + [second_village] + [areas["west_village"]] * 3):
        household = HouseholdFactory(village=village, number=f"H{n:03d}")
        MemberFactory(household=household, relation="head")
    client.force_login(county_user)
    url = reverse("registry:household_list")
    numbers = lambda rows: sorted(cell for row in rows for cell in row if str(cell).startswith("H0"))  # noqa: E731
    assert numbers(export_rows(client, url, {"township": areas["east"].pk})) == ["H000", "H001", "H002"]
    assert numbers(export_rows(client, url, {"village": second_village.pk})) == ["H002"]
    assert numbers(export_rows(client, url, {"township": areas["west"].pk, "q": "H004"})) == ["H004"]
    assert len(export_rows(client, url, {})) == 6


def test_a_file_that_is_not_excel_is_refused_in_chinese_only():
    """Regression: "Cannot detect file format" leaked into the message."""
    import io
    import re

    import pytest

    from core.reader import SpreadsheetRefused, read_rows

    for content in (b"name,id\n\xe7\x8e\x8b,1\n", b"%PDF-1.4 not a workbook"):
        with pytest.raises(SpreadsheetRefused) as caught:
            read_rows(io.BytesIO(content))
        message = str(caught.value)
        assert "无法读取该文件" in message
        assert not re.search(r"[A-Za-z]{3,}", re.sub(r"\.?xlsx?|Excel|WPS", "", message)), message


def test_lists_scroll_sideways_with_the_first_column_fixed(client, county_user, areas):
    """Lists are wrapped for horizontal scrolling; static/css/tables.css (linked from every
    page) keeps cells from wrapping and the first column sticky."""
    import re

    from django.contrib.staticfiles import finders

    HouseholdFactory(village=areas["east_village"], number="H900")
    client.force_login(county_user)
    for name in (
        "registry:household_list",
        "registry:member_list",
        "claims:illness_list",
        "claims:team_list",
    ):
        page = client.get(reverse(name)).content.decode()
        assert re.search(r'<div class="table-responsive">\s*<table', page), name
        assert "css/tables.css" in page
    css = open(finders.find("css/tables.css"), encoding="utf-8").read()
    assert "position: sticky" in css and "white-space: nowrap" in css
