"""Itemised encounters (费用明细): the pure item rules, the claims service, the API and the
database's own constraints."""

import datetime
from decimal import Decimal as D

import pytest
from django.db import IntegrityError, transaction

from claims import items as bill_items
from claims import services
from claims.models import Encounter, EncounterItem

BILL = [
    {"code": "A1", "class": "A", "category": "western_drug", "amount": "6000.00", "name": "头孢"},
    {"code": "B1", "class": "B", "category": "exam", "amount": "3000.00", "deducted": "500.00"},
    {"code": "C1", "class": "C", "amount": "1000.00", "quantity": "2", "unit_price": "500"},
]


# --- the pure rules ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mutate, path, message",
    [
        (lambda b: b[2].__setitem__("class", "D"), "items[2].class", "A（甲类）、B（乙类）或 C（丙类）"),
        (lambda b: b[1].__setitem__("category", "food"), "items[1].category", "不认识的费用类别"),
        (lambda b: b[0].__setitem__("amount", "-1.00"), "items[0].amount", "不能为负数"),
        (lambda b: b[0].__setitem__("amount", "1.005"), "items[0].amount", "最多2位小数"),
        (lambda b: b[0].pop("amount"), "items[0].amount", "必填"),
        (lambda b: b[1].__setitem__("deducted", "3000.01"), "items[1].deducted", "不能大于项目金额"),
        (lambda b: b[1].__setitem__("deducted", "-1"), "items[1].deducted", "不能为负数"),
        (lambda b: b[0].__setitem__("code", " "), "items[0].code", "必填"),
        (lambda b: b[0].__setitem__("colour", "red"), "items[0].colour", "不认识的字段"),
        (lambda b: b.__setitem__(1, "B1"), "items[1]", "应是一个对象"),
    ],
)
def test_a_bad_item_is_refused_naming_its_path(mutate, path, message):
    bill = [dict(item) for item in BILL]
    mutate(bill)
    with pytest.raises(bill_items.ItemsError) as caught:
        bill_items.parse_items(bill)
    assert caught.value.path == path and message in caught.value.message
    assert str(caught.value).startswith(f"{path}：")


def test_the_bill_as_a_whole():
    items, total = bill_items.parse_items(BILL, total_cost=D("10000.00"))
    assert total == D("10000.00") and [i.item_class for i in items] == ["A", "B", "C"]
    assert bill_items.catalogue_cost(items) == D("8500.00")  # A + (B − deducted); C is out of the list
    with pytest.raises(bill_items.ItemsError, match="total_cost：医疗总费用 9999.99 与明细金额合计 10000.00"):
        bill_items.parse_items(BILL, total_cost=D("9999.99"))
    with pytest.raises(bill_items.ItemsError) as caught:
        bill_items.parse_items(BILL, in_policy_cost=D("1"))
    assert caught.value.path == "in_policy_cost"
    for empty in ([], None, "x"):
        with pytest.raises(bill_items.ItemsError) as caught:
            bill_items.parse_items(empty)
        assert caught.value.path == "items"


# --- the service --------------------------------------------------------------------------------


def _create(user, world, **kw):
    values = dict(
        user=user,
        member=world.east_head,
        institution=world.county_hospital,
        kind="inpatient",
        admission_date=datetime.date(2025, 3, 1),
        discharge_date=datetime.date(2025, 3, 8),
        diagnosis_code="C16.9",
    )
    values.update(kw)
    return services.encounter_create(**values)


def test_an_itemised_encounter_is_stored_with_its_items(world, township_user, settlement_spy):
    encounter, _ = _create(township_user, world, items=BILL)
    assert encounter.total_cost == D("10000.00") and encounter.in_policy_cost == D("8500.00")
    stored = list(encounter.items.order_by("position"))
    assert [(i.position, i.code, i.item_class, i.category) for i in stored] == [
        (1, "A1", "A", "western_drug"),
        (2, "B1", "B", "exam"),
        (3, "C1", "C", ""),
    ]
    assert stored[1].deducted == D("500.00") and stored[2].quantity == D("2") and stored[0].name == "头孢"
    assert settlement_spy.queued == [(world.east_head.pk, 2025)]


def test_bad_items_save_nothing(world, township_user, settlement_spy):
    bill = [dict(item) for item in BILL]
    bill[2]["class"] = "X"
    with pytest.raises(services.ClaimsError) as caught:
        _create(township_user, world, items=bill)
    assert caught.value.field == "items[2].class" and "items[2].class：" in caught.value.message
    assert not Encounter.objects.filter(diagnosis_code="C16.9").exists()
    assert not EncounterItem.objects.exists() and settlement_spy.queued == []
    with pytest.raises(services.ClaimsError) as caught:
        _create(township_user, world)  # neither items nor amounts
    assert caught.value.field == "total_cost"


def test_items_of_an_unsettled_encounter_are_replaced_or_kept(world, township_user, settlement_spy):
    encounter, _ = _create(township_user, world, items=BILL)
    # A change of other fields keeps the items; a total beside them must still be their sum.
    with pytest.raises(services.ClaimsError) as caught:
        services.encounter_update(
            user=township_user, encounter=encounter, version=1, changes={"total_cost": D("1.00")}
        )
    assert caught.value.field == "total_cost"
    updated, _ = services.encounter_update(  # as the page's form sends it: stored amounts back
        user=township_user,
        encounter=encounter,
        version=1,
        changes={"diagnosis_name": "胃恶性肿瘤", "total_cost": D("10000.00"), "in_policy_cost": D("8500.00")},
    )
    assert updated.version == 2 and updated.items.count() == 3 and updated.total_cost == D("10000.00")
    # New items replace the bill and the amounts, and the encounter gets a new version.
    updated, _ = services.encounter_update(
        user=township_user,
        encounter=updated,
        version=2,
        changes={"items": [{"code": "S1", "class": "A", "amount": "800.00"}]},
    )
    assert updated.version == 3 and [i.code for i in updated.items.all()] == ["S1"]
    assert updated.total_cost == updated.in_policy_cost == D("800.00")
    # Removing the bill needs the amounts.
    with pytest.raises(services.ClaimsError):
        services.encounter_update(user=township_user, encounter=updated, version=3, changes={"items": None})
    updated, _ = services.encounter_update(
        user=township_user,
        encounter=updated,
        version=3,
        changes={"items": None, "total_cost": D("90.00"), "in_policy_cost": D("80.00")},
    )
    assert not updated.items.exists() and updated.total_cost == D("90.00")


def test_a_correction_copies_or_replaces_the_items(world, township_user, settlement_spy):
    encounter, _ = _create(township_user, world, items=BILL)
    settlement_spy.settled.add(encounter.pk)
    corrected, _ = services.encounter_correct(
        user=township_user,
        encounter=encounter,
        version=1,
        changes={"items": [*BILL[:2], {**BILL[2], "class": "B"}]},
        reason="丙类错录",
    )
    assert corrected.ref.endswith("-R1") and corrected.in_policy_cost == D("9500.00")
    assert [i.item_class for i in corrected.items.all()] == ["A", "B", "B"]
    assert [i.item_class for i in encounter.items.all()] == ["A", "B", "C"]  # the old one keeps its bill
    settlement_spy.settled.add(corrected.pk)
    again, _ = services.encounter_correct(
        user=township_user,
        encounter=corrected,
        version=1,
        changes={"diagnosis_code": "C16.0"},
        reason="诊断",
    )
    assert again.items.count() == 3 and again.total_cost == D("10000.00")


def test_the_database_refuses_bad_items(world):
    encounter = world.east_encounter
    good = dict(encounter=encounter, position=1, code="X", item_class="A", amount=D("10.00"))
    for bad in (
        {"amount": D("-1.00")},
        {"deducted": D("10.01")},
        {"deducted": D("-0.01")},
        {"item_class": "D"},
        {"category": "food"},
    ):
        with pytest.raises(IntegrityError), transaction.atomic():
            EncounterItem.objects.create(**{**good, **bad})
    EncounterItem.objects.create(**good)


# --- the API ------------------------------------------------------------------------------------

URL = "/api/v1/claims/encounters/"


def test_api_takes_and_returns_nested_items(as_user, world, township_user, settlement_spy):
    c = as_user(township_user)
    body = {
        "member": world.east_head.pk,
        "institution": world.county_hospital.pk,
        "kind": "inpatient",
        "admission_date": "2025-03-01",
        "discharge_date": "2025-03-08",
        "items": BILL,
    }
    response = c.post(URL, body, content_type="application/json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["total_cost"] == "10000.00" and data["in_policy_cost"] == "8500.00"
    assert data["items"][1] == {
        "code": "B1",
        "name": "",
        "category": "exam",
        "class": "B",
        "quantity": None,
        "unit_price": None,
        "amount": "3000.00",
        "deducted": "500.00",
    }
    assert data["items"][2]["quantity"] == "2" and data["items"][2]["unit_price"] == "500"
    listed = {e["ref"]: e for e in c.get(URL).json()["results"]}
    assert [i["code"] for i in listed[data["ref"]]["items"]] == ["A1", "B1", "C1"]
    assert listed["E-ENC-1"]["items"] == []

    bad = [dict(item) for item in BILL]
    bad[2]["class"] = "丙"
    response = c.post(URL, {**body, "items": bad}, content_type="application/json")
    assert response.status_code == 400
    assert "items[2].class" in response.json()
    response = c.post(URL, {**body, "items": BILL, "in_policy_cost": "1.00"}, content_type="application/json")
    assert response.status_code == 400 and "in_policy_cost" in response.json()
    assert Encounter.objects.filter(member=world.east_head).count() == 2  # the fixture's and the first
