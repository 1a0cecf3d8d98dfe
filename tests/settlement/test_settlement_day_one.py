"""Right after saving a visit: the encounter page follows its settlement, and a statement that
paid nothing says why (reasons checked against the demo policy, written out by hand)."""

import pytest
from django.urls import reverse

from settlement.explain import zero_payout_reasons
from settlement.models import Settlement
from tests.settlement_world import POLICY_FILE, load, settle_all

pytestmark = pytest.mark.django_db


def test_encounter_page_polls_until_settled_then_links_the_statement(
    client, golden_world, policies, township_user, other_township_user
):
    encounter = golden_world.encounters["A-2"]
    status_url = reverse("settlement:encounter_status", args=[encounter.pk])
    client.force_login(township_user)
    page = client.get(reverse("claims:encounter_detail", args=[encounter.pk])).content.decode()
    assert "结算中" in page and f'data-status-url="{status_url}"' in page
    assert client.get(status_url).json() == {"state": "pending", "label": "结算中"}

    settle_all(golden_world)
    assert client.get(status_url).json()["state"] == "settled"
    page = client.get(reverse("claims:encounter_detail", args=[encounter.pk])).content.decode()
    settlement = Settlement.objects.get(encounter=encounter, is_current=True)
    assert reverse("settlement:statement", args=[settlement.pk]) in page
    assert "data-status-url" not in page

    # Scoped like the page: another township's encounter answers like a missing one.
    client.force_login(other_township_user)
    assert client.get(status_url).status_code == 404
    assert client.get(reverse("settlement:encounter_status", args=[10**9])).status_code == 404


def test_statement_that_paid_nothing_says_why(client, golden_world, policies, county_user):
    settle_all(golden_world)
    client.force_login(county_user)

    def page(ref):
        settlement = Settlement.objects.get(encounter__ref=ref, is_current=True)
        return client.get(reverse("settlement:statement", args=[settlement.pk])).content.decode()

    # B-2: an ordinary outpatient visit (普通门诊); every tier covers stays and chronic visits only.
    html = page("B-2")
    assert "本次各项报销均为 0.00 元" in html
    assert html.count("只适用于住院、门诊慢特病，本次为普通门诊") == 4
    # D-1: a monitored member's chronic visit of 260.00 at the township clinic, the year's first.
    html = page("D-1")
    assert "城乡居民基本医疗保险：本年度累计费用未达到起付线（300.00元）" in html
    assert "政府兜底保障：只适用于建档立卡未脱贫人员" in html
    # Something was paid: no explanation.
    assert "本次各项报销均为" not in page("A-2")


DOCUMENT = load(POLICY_FILE)
FACTS = {
    "kind": "inpatient",
    "level": "county",
    "designated": True,
    "referred": True,
    "poverty_status": "none",
    "aid_category": "none",
    "disease_code": "",
    "package": "",
    "total_cost": "400.00",
    "in_policy_cost": "400.00",
}


@pytest.mark.parametrize(
    "changes,tier,reason",
    [
        ({}, 0, "未达到起付线（500.00元），本次可报销费用400.00元"),
        ({"in_policy_cost": "0.00"}, 0, "没有政策范围内费用"),
        ({"level": "village"}, 0, "在村卫生室就医不在本项报销范围内"),
        ({"kind": "outpatient"}, 0, "只适用于住院、门诊慢特病，本次为普通门诊"),
        ({}, 1, "本年度累计费用未达到起付线（15,000.00元）"),
        ({}, 3, "只适用于建档立卡未脱贫人员"),
        ({"poverty_status": "poor"}, 3, "个人自付未超过兜底线，无需兜底"),
        # The poor's override lowers the county deductible to 250.
        (
            {"poverty_status": "poor", "total_cost": "240.00", "in_policy_cost": "240.00"},
            0,
            "未达到起付线（250.00元），本次可报销费用240.00元",
        ),
    ],
)
def test_zero_payout_reason_per_tier(changes, tier, reason):
    assert zero_payout_reasons(DOCUMENT, {**FACTS, **changes})[tier] == (
        DOCUMENT["tiers"][tier]["name"],
        reason,
    )
