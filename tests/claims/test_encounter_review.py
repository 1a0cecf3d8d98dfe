"""The automatic review run by the claims service on every new, changed or corrected encounter:
rule settings in the database (seeded), stored flags, the API's ``review_flags``."""

import datetime
from decimal import Decimal as D

from claims import services
from claims.models import ReviewFlag, ReviewRule
from claims.review_rules import RULES


def _stay(user, world, *, member=None, admitted=datetime.date(2025, 3, 1), days=7, **kw):
    values = dict(
        user=user,
        member=member or world.east_head,
        institution=world.county_hospital,
        kind="inpatient",
        admission_date=admitted,
        discharge_date=admitted + datetime.timedelta(days=days),
        diagnosis_code="K35.8",
        total_cost=D("5000.00"),
        in_policy_cost=D("4500.00"),
    )
    values.update(kw)
    return services.encounter_create(**values)[0]


def codes(encounter):
    return list(encounter.review_flags.values_list("code", flat=True))


def test_every_rule_is_seeded_on_with_its_default(db):
    rules = {r.code: r for r in ReviewRule.objects.all()}
    assert set(rules) == set(RULES) and all(r.enabled for r in rules.values())
    assert rules["readmission"].threshold == 15 and rules["drug_share"].threshold == D("0.40")
    assert rules["los_outlier"].min_group == 5 and rules["not_in_catalogue"].catalogue_codes == ""
    assert all(r.explanation for r in rules.values())


def test_a_new_encounter_is_reviewed_and_its_flags_stored(world, township_user, settlement_spy):
    first = _stay(township_user, world)
    assert codes(first) == []
    # The same stay entered twice (confirmed past the entry guard: the review still flags it).
    again = _stay(township_user, world, confirm_duplicate=True, duplicate_reason="确属两次入院（审核测试）")
    assert codes(again) == ["duplicate", "overlap"]
    assert first.ref in again.review_flags.get(code="duplicate").message
    later = _stay(township_user, world, admitted=datetime.date(2025, 3, 20))
    assert codes(later) == ["readmission"]
    man = _stay(township_user, world, member=world.east_son, diagnosis_code="N40")
    assert codes(man) == []  # 王小明 is a man
    prostate_for_her = _stay(
        township_user,
        world,
        admitted=datetime.date(2025, 6, 1),
        diagnosis_code="N40",
        diagnosis_name="前列腺增生",
    )
    assert codes(prostate_for_her) == ["sex_age"]  # 王秀英 is registered as a woman


def test_settings_come_from_the_database(world, township_user, settlement_spy):
    _stay(township_user, world)
    ReviewRule.objects.filter(code="duplicate").update(enabled=False)
    ReviewRule.objects.filter(code="overlap").update(enabled=False)
    assert (
        codes(
            _stay(township_user, world, confirm_duplicate=True, duplicate_reason="确属两次入院（审核测试）")
        )
        == []
    )
    late = _stay(township_user, world, admitted=datetime.date(2025, 3, 25))  # 17 days after
    assert codes(late) == []
    ReviewRule.objects.filter(code="readmission").update(threshold=20)
    services.encounter_update(
        user=township_user, encounter=late, version=1, changes={"diagnosis_name": "阑尾炎"}
    )
    assert codes(late) == ["readmission"]  # an update reviews again, with the new threshold


def test_itemised_shares_and_the_catalogue(world, township_user, settlement_spy):
    ReviewRule.objects.filter(code="not_in_catalogue").update(catalogue_codes="A1, B1\nS1")
    encounter = _stay(
        township_user,
        world,
        total_cost=None,
        in_policy_cost=None,
        items=[
            {"code": "A1", "class": "A", "category": "western_drug", "amount": "4500.00"},
            {"code": "Z9", "class": "C", "category": "material", "amount": "1500.00"},
            {"code": "S1", "class": "A", "category": "surgery", "amount": "4000.00"},
        ],
    )
    assert codes(encounter) == ["drug_share", "class_c_share", "not_in_catalogue"]
    assert "Z9" in encounter.review_flags.get(code="not_in_catalogue").message


def test_a_correction_is_reviewed_and_the_api_returns_the_flags(
    as_user, world, township_user, settlement_spy
):
    old = _stay(township_user, world)
    settlement_spy.settled.add(old.pk)
    corrected, _ = services.encounter_correct(
        user=township_user, encounter=old, version=1, changes={"diagnosis_code": "O80.0"}, reason="诊断"
    )
    assert codes(corrected) == []  # a woman's delivery; the old version is no longer current
    ReviewFlag.objects.all().delete()
    c = as_user(township_user)
    body = {
        "member": world.east_son.pk,
        "institution": world.county_hospital.pk,
        "kind": "inpatient",
        "admission_date": "2025-04-01",
        "discharge_date": "2025-04-05",
        "diagnosis_code": "O80.0",
        "total_cost": "3000.00",
        "in_policy_cost": "3000.00",
    }
    response = c.post("/api/v1/claims/encounters/", body, content_type="application/json")
    assert response.status_code == 201, response.content
    flags = response.json()["review_flags"]
    assert [f["code"] for f in flags] == ["sex_age"] and "男性" in flags[0]["message"]
    listed = {e["ref"]: e for e in c.get("/api/v1/claims/encounters/").json()["results"]}
    assert listed[response.json()["ref"]]["review_flags"] == flags


def test_the_encounter_page_shows_items_and_flags(as_user, world, township_user, settlement_spy):
    from django.urls import reverse

    _stay(township_user, world)
    again = _stay(
        township_user,
        world,
        total_cost=None,
        in_policy_cost=None,
        items=[{"code": "Z1", "class": "B", "category": "exam", "amount": "5000.00", "deducted": "100.00"}],
        confirm_duplicate=True,
        duplicate_reason="确属两次入院（审核测试）",
    )
    html = as_user(township_user).get(reverse("claims:encounter_detail", args=[again.pk])).content.decode()
    assert 'data-section="review-flags"' in html and "疑似重复录入" in html
    assert 'data-section="items"' in html and "Z1" in html and "乙类" in html and "检查" in html
    assert "100.00" in html
    plain = as_user(township_user).get(reverse("claims:encounter_detail", args=[world.east_encounter.pk]))
    assert 'data-section="items"' not in plain.content.decode()
