"""The hospital's window: ``POST /api/v1/claims/discharges/`` (and its correction and
cancellation) with a 定点医疗机构's token — figures equal to the golden items cases, one
encounter and one settlement per visit number however often it is sent, field paths on bad
bills, revoked tokens refused."""

import datetime
import json
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.db import connection
from rest_framework.test import APIClient

from claims.models import Discharge, Encounter, EncounterItem
from settlement.models import Settlement
from tests.factories import (
    HouseholdFactory,
    InstitutionFactory,
    MemberFactory,
    hospital_token,
    make_hospital_user,
)
from tests.settlement_world import REGISTRY_STATUS, ROOT

URL = "/api/v1/claims/discharges/"
POLICY = ROOT / "fixtures" / "policies" / "demo-county-2025-items.json"
CLAIMS = ROOT / "fixtures" / "settlement" / "demo-county-2025-items.claims.json"
EXPECTED = ROOT / "fixtures" / "settlement" / "demo-county-2025-items.expected.json"
FIGURES = ("total_cost", "payouts", "self_pay", "in_policy_self_pay", "out_of_policy_self_pay", "deducted")


def load(path):
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture
def items_policy(county_user):
    from settlement import services

    policy = services.policy_import(user=county_user, document=load(POLICY))
    return services.policy_activate(user=county_user, policy=policy, resettle=False)


def api(key=None):
    client = APIClient()
    if key:
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture
def window(county_user, areas, items_policy):
    """Two county hospitals, each with its hospital user and token, and one patient."""
    county = InstitutionFactory(name="县人民医院", level="county")
    other = InstitutionFactory(name="县中医院", level="county")
    cashier = make_hospital_user("cashier", county)
    rival = make_hospital_user("rival", other)
    _, key = hospital_token(county_user, cashier)
    _, other_key = hospital_token(county_user, rival)
    household = HouseholdFactory(village=areas["east_village"], poverty_status="poor")
    patient = MemberFactory(household=household, aid_category="dibao")
    return type(
        "Window",
        (),
        dict(
            institution=county,
            other=other,
            cashier=cashier,
            rival=rival,
            key=key,
            other_key=other_key,
            patient=patient,
        ),
    )


def stay(patient, visit="ZY0001", **extra):
    body = {
        "visit_number": visit,
        "id_number": patient.id_number,
        "admission_date": "2025-03-01",
        "discharge_date": "2025-03-08",
        "diagnosis_code": "K35.8",
        "items": [
            {"code": "A1", "class": "A", "category": "surgery", "amount": "6000.00"},
            {"code": "B1", "class": "B", "category": "exam", "amount": "3000.00"},
            {"code": "C1", "class": "C", "amount": "1000.00"},
        ],
    }
    body.update(extra)
    return body


# --- the golden items cases through the window -----------------------------------------------------


def test_items_golden_cases_through_the_window(county_user, areas, items_policy):
    """Every itemised encounter of the golden case posted at the window of an institution of
    its level, in the file's (date) order: each answer carries the expected figures."""
    claims, expected = load(CLAIMS), {case["ref"]: case for case in load(EXPECTED)}
    patients = {}
    for key, raw in claims["members"].items():
        household = HouseholdFactory(
            village=areas["east_village"],
            number=f"W{key}",
            poverty_status=REGISTRY_STATUS.get(raw["poverty_status"], raw["poverty_status"]),
        )
        patients[key] = MemberFactory(household=household, aid_category=raw["aid_category"])
    keys = {}
    posted = 0
    for raw in claims["encounters"]:
        if "items" not in raw:
            continue  # the window takes itemised bills only (I-7 has none and comes last)
        level = raw["level"]
        if level not in keys:
            institution = InstitutionFactory(name=f"{level}级窗口医院", level=level)
            keys[level] = hospital_token(county_user, make_hospital_user(f"cashier-{level}", institution))[1]
        date = datetime.date.fromisoformat(raw["date"])
        stay_ = raw["kind"] == "inpatient"
        body = {
            "visit_number": raw["ref"],
            "id_number": patients[raw["member"]].id_number,
            "kind": raw["kind"],
            "admission_date": str(date - datetime.timedelta(days=6) if stay_ else date),
            "discharge_date": str(date) if stay_ else None,
            "items": raw["items"],
            **({"total_cost": raw["total_cost"]} if "total_cost" in raw else {}),
        }
        response = api(keys[level]).post(URL, body, format="json")
        assert response.status_code == 201, response.content
        answer = response.json()
        want = expected[raw["ref"]]
        assert {k: answer[k] for k in FIGURES} == {k: want[k] for k in FIGURES}, raw["ref"]
        # The payers' list is the same payouts, with names and funds, in policy order.
        assert [p["key"] for p in answer["payers"]] == list(want["payouts"])
        assert [p["amount"] for p in answer["payers"]] == list(want["payouts"].values())
        total = Decimal(answer["payouts_total"]) + Decimal(answer["self_pay"])
        assert total == Decimal(want["total_cost"])
        posted += 1
    assert posted == 6
    assert Settlement.objects.filter(is_current=True).count() == 6


def test_statement_url_is_the_printable_statement(window):
    answer = api(window.key).post(URL, stay(window.patient), format="json").json()
    assert answer["statement_url"].startswith("http://testserver/settlement/")
    client = APIClient()
    client.force_login(window.cashier)
    page = client.get(answer["statement_url"])
    assert page.status_code == 200
    assert "一站式" in page.content.decode()
    client.force_login(window.rival)
    assert client.get(answer["statement_url"]).status_code == 404


# --- idempotency on (institution, visit number) ----------------------------------------------------


def test_the_same_visit_twice_creates_one_encounter_and_one_settlement(window):
    first = api(window.key).post(URL, stay(window.patient), format="json")
    again = api(window.key).post(URL, stay(window.patient), format="json")
    assert first.status_code == 201, first.content
    assert again.status_code == 200
    assert again.json() == first.json()
    assert Encounter.objects.count() == 1
    assert Settlement.objects.count() == 1
    assert Discharge.objects.count() == 1


def test_the_same_visit_with_other_content_is_refused(window):
    api(window.key).post(URL, stay(window.patient), format="json")
    changed = stay(window.patient)
    changed["items"][0]["amount"] = "6100.00"
    response = api(window.key).post(URL, changed, format="json")
    assert response.status_code == 409
    assert response.json()["field"] == "visit_number"
    assert Encounter.objects.count() == 1 and Settlement.objects.count() == 1


def test_the_same_visit_number_at_two_institutions_is_two_visits(window):
    assert api(window.key).post(URL, stay(window.patient), format="json").status_code == 201
    response = api(window.other_key).post(
        URL, stay(window.patient, discharge_date="2025-03-09"), format="json"
    )
    assert response.status_code == 201, response.content
    assert Encounter.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_five_identical_posts_at_once_make_one_visit(county_user, areas):
    """On PostgreSQL: five cashiers' retries of one discharge, sent at once, wait on the
    visit number's unique index; one settles, the others get its answer."""
    if connection.vendor != "postgresql":
        pytest.skip("concurrent transactions need PostgreSQL")
    from settlement import services

    policy = services.policy_import(user=county_user, document=load(POLICY))
    services.policy_activate(user=county_user, policy=policy, resettle=False)
    institution = InstitutionFactory(name="县人民医院", level="county")
    _, key = hospital_token(county_user, make_hospital_user("cashier", institution))
    patient = MemberFactory(household=HouseholdFactory(village=areas["east_village"]))
    body = stay(patient)

    def post(_):
        try:
            response = api(key).post(URL, body, format="json")
            return response.status_code, response.json()
        finally:
            connection.close()

    with ThreadPoolExecutor(5) as pool:
        results = list(pool.map(post, range(5)))
    codes = sorted(code for code, _ in results)
    assert codes == [200, 200, 200, 200, 201], results
    assert len({json.dumps(answer, sort_keys=True) for _, answer in results}) == 1
    assert Encounter.objects.count() == 1
    assert Settlement.objects.count() == 1
    assert EncounterItem.objects.count() == 3


# --- bad input -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda b: b["items"][1].update({"class": "D"}), "items[1].class"),
        (lambda b: b["items"][0].update({"amount": "-1.00"}), "items[0].amount"),
        (lambda b: b["items"][2].update({"deducted": "1000.01"}), "items[2].deducted"),
        (lambda b: b["items"][0].update({"amount": "1.001"}), "items[0].amount"),
        (lambda b: b["items"][0].update({"category": "cake"}), "items[0].category"),
        (lambda b: b.update({"items": []}), "items"),
        (lambda b: b.update({"total_cost": "9999.00"}), "total_cost"),
        (lambda b: b.update({"in_policy_cost": "8700.00"}), "in_policy_cost"),
        (lambda b: b.update({"visit_number": "含中文"}), "visit_number"),
        (lambda b: b.update({"id_number": "110101199001011234"}), "id_number"),
    ],
)
def test_bad_input_is_refused_with_the_field_path(window, change, field):
    body = stay(window.patient)
    change(body)
    response = api(window.key).post(URL, body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()
    assert not Encounter.objects.exists() and not Discharge.objects.exists()


def test_a_stay_that_cannot_be_settled_is_refused_and_not_kept(window):
    body = stay(window.patient, admission_date="2024-03-01", discharge_date="2024-03-08")
    response = api(window.key).post(URL, body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "not_settleable"
    assert not Encounter.objects.exists() and not Discharge.objects.exists()


# --- tokens ----------------------------------------------------------------------------------------


def test_a_revoked_token_is_refused(window, county_user):
    from claims import services
    from claims.models import InstitutionToken

    token = InstitutionToken.objects.get(user=window.cashier)
    services.institution_token_revoke(user=county_user, token=token)
    response = api(window.key).post(URL, stay(window.patient), format="json")
    assert response.status_code == 401
    assert api(window.key).get("/api/v1/claims/encounters/").status_code == 401
    assert not Encounter.objects.exists()


def test_unknown_tokens_and_unlinked_holders_are_refused(window):
    from claims.models import InstitutionUser

    assert api("hw_" + "x" * 43).post(URL, stay(window.patient), format="json").status_code == 401
    InstitutionUser.objects.filter(user=window.cashier).update(institution=window.other)
    assert api(window.key).post(URL, stay(window.patient), format="json").status_code == 401


def test_one_live_token_per_institution(window, county_user):
    from claims import services
    from core.errors import DomainError

    with pytest.raises(DomainError) as refused:
        hospital_token(county_user, window.cashier)
    assert refused.value.code == "conflict"
    token = window.cashier  # noqa: F841
    from claims.models import InstitutionToken

    services.institution_token_revoke(
        user=county_user, token=InstitutionToken.objects.get(user=window.cashier)
    )
    _, key = hospital_token(county_user, window.cashier)
    assert api(key).post(URL, stay(window.patient), format="json").status_code == 201


@pytest.mark.parametrize("who", ["county_user", "township_user", "supervisor"])
def test_only_hospital_users_settle_at_the_window(window, request, who):
    client = APIClient()
    client.force_login(request.getfixturevalue(who))
    assert client.post(URL, stay(window.patient), format="json").status_code == 403
    assert not Encounter.objects.exists()


# --- correction and cancellation (退费重结) --------------------------------------------------------


def test_a_correction_supersedes_the_settlement(window):
    first = api(window.key).post(URL, stay(window.patient), format="json").json()
    corrected = stay(window.patient)
    corrected.pop("visit_number"), corrected.pop("id_number")
    corrected["items"] = corrected["items"][:2]  # the 丙类 item refunded
    corrected["reason"] = "丙类耗材退费"
    url = f"{URL}ZY0001/correction/"
    response = api(window.key).post(url, corrected, format="json")
    assert response.status_code == 201, response.content
    answer = response.json()
    assert answer["status"] == "corrected"
    assert answer["total_cost"] == "9000.00"
    assert Decimal(answer["self_pay"]) - Decimal(first["self_pay"]) == Decimal(answer["self_pay_difference"])
    old = Settlement.objects.get(pk=first["settlement"])
    assert not old.is_current and old.superseded_by_id == answer["settlement"]
    assert Settlement.objects.filter(is_current=True).count() == 1
    # Sent again: the same answer, nothing new.
    again = api(window.key).post(url, corrected, format="json")
    assert again.status_code == 200 and again.json() == answer
    assert Settlement.objects.count() == 2
    # The original request sent again still answers what it answered first.
    assert api(window.key).post(URL, stay(window.patient), format="json").json() == first


def test_a_cancellation_retires_the_settlement(window):
    first = api(window.key).post(URL, stay(window.patient), format="json").json()
    url = f"{URL}ZY0001/cancel/"
    response = api(window.key).post(url, {"reason": "患者退费"}, format="json")
    assert response.status_code == 201, response.content
    answer = response.json()
    assert answer["refund_to_patient"] == first["self_pay"]
    assert answer["recovered_from_funds"] == first["payouts_total"]
    assert not Settlement.objects.filter(is_current=True).exists()
    assert not Encounter.objects.get().is_current
    client = APIClient()
    client.force_login(window.cashier)
    assert "已退费作废" in client.get(first["statement_url"]).content.decode()
    assert api(window.key).post(url, {"reason": "患者退费"}, format="json").json() == answer
    refused = api(window.key).post(
        f"{URL}ZY0001/correction/", {**stay(window.patient), "reason": "x"}, format="json"
    )
    assert refused.status_code == 400  # visit_number/id_number are not correction fields


def test_another_institutions_visit_cannot_be_corrected_or_cancelled(window):
    api(window.key).post(URL, stay(window.patient), format="json")
    response = api(window.other_key).post(f"{URL}ZY0001/cancel/", {"reason": "x"}, format="json")
    assert response.status_code == 404
    assert Encounter.objects.get().is_current


def test_an_identical_second_stay_needs_confirming(window):
    """Two visit numbers, the same patient, dates and bill: the second is a suspected
    duplicate (409) until the window confirms it with a reason."""
    assert api(window.key).post(URL, stay(window.patient), format="json").status_code == 201
    twin = stay(window.patient, visit="ZY0002")
    refused = api(window.key).post(URL, twin, format="json")
    assert refused.status_code == 409 and refused.json()["code"] == "duplicate"
    assert not Discharge.objects.filter(visit_number="ZY0002").exists()
    confirmed = {**twin, "confirm_duplicate": True, "duplicate_reason": "同日二次入院"}
    assert api(window.key).post(URL, confirmed, format="json").status_code == 201
    assert Settlement.objects.filter(is_current=True).count() == 2
