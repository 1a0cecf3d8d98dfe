"""参保资助 beside the fund ledger: the premium subsidy per paying fund for the year, reconciled
to the cent with Σ ``Enrollment.subsidy``, on the page and in the Excel export."""

import re
from decimal import Decimal

from django.urls import reverse

from registry import fact_services
from registry.models import Enrollment
from tests.factories import HouseholdFactory, MemberFactory
from tests.sheets import workbook


def _enrol(user, member, year, subsidy, fund, premium="380.00"):
    fact_services.enrollment_record(
        user=user,
        member=member,
        year=year,
        insured=True,
        premium=premium,
        subsidy=subsidy,
        subsidy_fund=fund,
        subsidy_category="资助" if fund else "",
    )


def test_ledger_shows_the_premium_subsidy_by_fund(client, areas, county_user, supervisor):
    people = [
        MemberFactory(household=HouseholdFactory(village=areas["east_village" if i % 2 else "west_village"]))
        for i in range(5)
    ]
    _enrol(county_user, people[0], 2025, "380.00", "医疗救助资金")
    _enrol(county_user, people[1], 2025, "190.33", "医疗救助资金")
    _enrol(county_user, people[2], 2025, "200.01", "衔接资金")
    _enrol(county_user, people[3], 2025, "0.00", "")  # paid in full: no subsidy
    _enrol(county_user, people[4], 2024, "380.00", "衔接资金")  # another year
    fact_services.enrollment_record(user=county_user, member=people[4], year=2025, insured=False)

    client.force_login(supervisor)
    page = client.get(reverse("settlement:ledger"), {"year": 2025})
    subsidy = page.context["ledger"]["subsidy"]

    # Golden numbers (by hand): 380.00 + 190.33 = 570.33 (2 people); 200.01 (1 person).
    assert subsidy["rows"] == [
        {"fund": "医疗救助资金", "people": 2, "amount": Decimal("570.33")},
        {"fund": "衔接资金", "people": 1, "amount": Decimal("200.01")},
    ]
    stored = sum((e.subsidy or 0 for e in Enrollment.objects.filter(year=2025)), Decimal("0.00"))
    assert subsidy["total"] == stored == Decimal("770.34")
    html = page.content.decode()
    assert re.search(r'data-total="subsidy">([^<]*)<', html).group(1) == "770.34"
    assert "参保资助" in html and "570.33" in html

    # The filters of the ledger (fund, institution) do not narrow the year's subsidy.
    filtered = client.get(reverse("settlement:ledger"), {"year": 2025, "period": "quarter"})
    assert filtered.context["ledger"]["subsidy"]["total"] == stored

    sheet = workbook(client.get(reverse("settlement:ledger"), {"year": 2025, "export": "xlsx"})).active
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    header = values[1]
    subsidy_rows = {row[0]: row[header.index("已拨付")] for row in values if row[2] == "2025年度参保资助"}
    assert subsidy_rows == {"医疗救助资金": 570.33, "衔接资金": 200.01, "参保资助合计": 770.34}

    empty = client.get(reverse("settlement:ledger"), {"year": 2023})
    assert empty.context["ledger"]["subsidy"] == {"rows": [], "people": 0, "total": Decimal("0.00")}
    assert "该年度没有登记参保资助" in empty.content.decode()
