"""The policy page shows bands as the patient meets them (on the cost counted from zero, the
deductible included), and the web import refuses in the engine's Chinese with the field path."""

import html
from decimal import Decimal

import pytest
from django.urls import reverse

from settlement.models import Policy
from settlement.templatetags.settlement_tags import effective_bands, rate_text

BANDS = [[1000, 0.2], [None, 0.5]]


@pytest.mark.parametrize(
    "measure, deductible, expected",
    [
        # "0–1,000元部分 20%" above a 300 deductible is 300–1,300 counted from zero
        ("above_deductible", 300, [(300, 1300, 0.2), (1300, None, 0.5)]),
        # counted from zero already: 0–1,000 becomes 300–1,000
        ("cumulative", 300, [(300, 1000, 0.2), (1000, None, 0.5)]),
        # a band wholly below the deductible is dropped (upper ≤ d), as the engine drops it
        ("cumulative", 1000, [(1000, None, 0.5)]),
        ("cumulative", 1200, [(1200, None, 0.5)]),
        ("above_deductible", 0, [(0, 1000, 0.2), (1000, None, 0.5)]),
    ],
)
def test_effective_bands(measure, deductible, expected):
    got = effective_bands(BANDS, measure, deductible)
    assert [(lo, hi, r) for lo, hi, r in got] == [
        (Decimal(lo), None if hi is None else Decimal(hi), r) for lo, hi, r in expected
    ]


def test_rate_text_shows_the_ranges_and_the_original():
    above = rate_text({"bands": BANDS}, deductible={"amount": 300})
    assert "0–300元为起付线，不报销；300–1,300元部分 20%；1,300元以上部分 50%" in above
    assert "政策文件原文：起付线以上0–1,000元部分 20%" in above
    cumulative = rate_text({"bands": BANDS, "measure": "cumulative"}, deductible={"amount": 300})
    assert "300–1,000元部分 20%；1,000元以上部分 50%" in cumulative
    bracket = rate_text({"bands": BANDS, "mode": "bracket"}, deductible={"amount": 300})
    assert "费用300–1,300元：起付线以上全部按 20%" in bracket


def test_rate_text_one_group_per_deductible_the_patient_can_meet():
    text = rate_text({"bands": BANDS}, deductible={"by_level": {"county": 500}, "repeat_factor": 0.5})
    assert "〔县级 起付线500元〕0–500元为起付线，不报销；500–1,500元部分 20%" in text
    assert "〔县级年内第二次及以后 起付线250元〕0–250元为起付线，不报销；250–1,250元部分 20%" in text
    assert "〔其他级别 起付线0元〕0–1,000元部分 20%" in text
    assert text.count("〔") == 3  # a zero deductible halved is still zero: no fourth group


def test_policy_page_shows_effective_bands(client, county_user, document):
    from settlement import services

    services.policy_import(user=county_user, document=document)
    policy = Policy.objects.get(code=document["code"])
    client.force_login(county_user)
    page = client.get(reverse("settlement:policy_detail", args=[policy.pk])).content.decode()
    # catastrophic: yearly deductible 15,000, bands 0–50,000 / 50,000–100,000 above it
    assert "15,000–65,000元部分 60%；65,000–115,000元部分 70%；115,000元以上部分 80%" in page
    # the poor's override lowers the deductible to 7,500: the bands move with it
    assert "7,500–57,500元部分 60%" in page


@pytest.mark.parametrize(
    "mutate, message",
    [
        (
            lambda d: d["tiers"][0]["applies_to"].update(kinds="inpatient"),
            'tiers[0].applies_to.kinds：应是一个列表 […]：只有一个值也要写成 ["inpatient"]',
        ),
        (
            lambda d: d["tiers"].insert(0, d["tiers"].pop(3)),
            "tiers[0].kind：兜底项目必须排在其他报销项目之后（其后还有 tiers[1]、tiers[2]、tiers[3]）",
        ),
        (
            lambda d: d["tiers"][1]["rate"]["bands"].__setitem__(1, [40000, 0.7]),
            "tiers[1].rate.bands[1]：分段上限必须递增",
        ),
    ],
)
def test_web_import_refuses_in_chinese_with_the_path(client, county_user, document, mutate, message):
    import json

    mutate(document)
    client.force_login(county_user)
    response = client.post(
        reverse("settlement:policy_import"), {"text": json.dumps(document, ensure_ascii=False)}
    )
    assert response.status_code == 200
    assert message in html.unescape(response.content.decode())
    assert not Policy.objects.exists()


def test_policy_page_shows_the_catalogue(client, county_user):
    import json as json_

    from settlement import services
    from tests.settlement_world import ROOT

    document = json_.loads((ROOT / "fixtures" / "policies" / "demo-county-2025-items.json").read_text())
    policy = services.policy_import(user=county_user, document=document)
    client.force_login(county_user)
    page = client.get(reverse("settlement:policy_detail", args=[policy.pk])).content.decode()
    assert "乙类项目先行自付 10%；其中卫生材料 30%" in page
