"""The golden cases (fixtures/settlement/) through every interface the contract names: the
``settle_preview`` command, ``POST /api/v1/settlement/preview/``, and the stored path
(encounters in the database, settled by the service, read back)."""

import json
import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from settlement import engine
from settlement.models import Settlement, SettlementLine
from tests.settlement_world import CLAIMS_FILE, POLICY_FILE, ROOT, settle_all, stored_outputs

# Every golden case: (policy file, claims file, expected file). The facts case carries the
# member's poverty status / aid category per encounter; the items case itemised bills under a
# policy with a ``catalogue``.
CASES = {
    name: (
        ROOT / "fixtures" / "policies" / f"{policy}.json",
        ROOT / "fixtures" / "settlement" / f"demo-county-2025{name}.claims.json",
        ROOT / "fixtures" / "settlement" / f"demo-county-2025{name}.expected.json",
    )
    for name, policy in (
        ("", "demo-county-2025"),
        ("-facts", "demo-county-2025"),
        ("-items", "demo-county-2025-items"),
    )
}
CASE_IDS = [name or "base" for name in CASES]


def case(name):
    policy, claims, expected = CASES[name]
    return (json.loads(path.read_text(encoding="utf-8")) for path in (policy, claims, expected))


def preview_command(*args):
    out = StringIO()
    call_command("settle_preview", *args, stdout=out)
    return json.loads(out.getvalue())


# --- every golden case through the pure engine, the command and the API --------------------------


@pytest.mark.parametrize("name", CASES, ids=CASE_IDS)
def test_golden_case_through_the_pure_engine(name):
    document, claims, expected = case(name)
    assert engine.settle_claims(document, claims) == expected


@pytest.mark.parametrize("name", CASES, ids=CASE_IDS)
def test_golden_case_through_the_command(db, name):
    policy, claims, _ = CASES[name]
    _, _, expected = case(name)
    assert preview_command("--policy", str(policy), str(claims)) == expected
    assert not Settlement.objects.exists()


@pytest.mark.parametrize("name", CASES, ids=CASE_IDS)
def test_golden_case_through_the_api(client, county_user, name):
    document, claims, expected = case(name)
    client.force_login(county_user)
    body = {"policy": document, "members": claims["members"], "encounters": claims["encounters"]}
    response = client.post(URL, body, content_type="application/json")
    assert response.status_code == 200, response.content
    assert response.json() == expected
    assert not Settlement.objects.exists()


def test_items_golden_case_with_the_stored_policy_code(client, county_user):
    """The catalogue survives import: the stored items policy previews the same array."""
    from settlement import services

    document, claims, expected = case("-items")
    services.policy_import(user=county_user, document=document)
    assert services.policy_export(code="demo-county-2025-items") == document  # the catalogue kept
    assert preview_command("--policy", "demo-county-2025-items", str(CASES["-items"][1])) == expected
    client.force_login(county_user)
    body = {
        "policy_code": "demo-county-2025-items",
        "members": claims["members"],
        "encounters": claims["encounters"],
    }
    assert client.post(URL, body, content_type="application/json").json() == expected


# --- (a) the command ----------------------------------------------------------------------------


def test_command_prints_the_expected_array_and_writes_nothing(db, golden):
    assert preview_command("--policy", str(POLICY_FILE), str(CLAIMS_FILE)) == golden.expected
    assert not Settlement.objects.exists()


def test_command_takes_a_stored_policy_code(county_user, policies, golden):
    assert preview_command("--policy", "demo-county-2025", str(CLAIMS_FILE)) == golden.expected
    assert not Settlement.objects.exists()


def test_command_in_a_real_process_exit_status_and_streams(tmp_path, golden):
    ok = subprocess.run(
        [sys.executable, "manage.py", "settle_preview", "--policy", str(POLICY_FILE), str(CLAIMS_FILE)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout) == golden.expected

    bad = golden.claims
    bad["encounters"][2]["total_cost"] = "12.345"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad), encoding="utf-8")
    refused = subprocess.run(
        [sys.executable, "manage.py", "settle_preview", "--policy", str(POLICY_FILE), str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode == 1
    assert refused.stdout == ""
    assert "encounters[2].total_cost" in refused.stderr


@pytest.mark.parametrize(
    "mutate, field",
    [
        (
            lambda doc, claims: doc["tiers"][1]["rate"]["bands"].__setitem__(1, [40000, 0.7]),
            "tiers[1].rate.bands[1]",
        ),
        (lambda doc, claims: doc["tiers"][0].__setitem__("colour", "red"), "tiers[0].colour"),
        (lambda doc, claims: claims["encounters"][0].__setitem__("kind", "dental"), "encounters[0].kind"),
        (lambda doc, claims: claims["members"]["A"].pop("aid_category"), "members.A.aid_category"),
    ],
)
def test_command_refuses_invalid_input_naming_the_field(db, tmp_path, golden, document, mutate, field):
    mutate(document, golden.claims)
    policy_path, claims_path = tmp_path / "policy.json", tmp_path / "claims.json"
    policy_path.write_text(json.dumps(document), encoding="utf-8")
    claims_path.write_text(json.dumps(golden.claims), encoding="utf-8")
    out = StringIO()
    with pytest.raises(CommandError) as refused:
        call_command("settle_preview", "--policy", str(policy_path), str(claims_path), stdout=out)
    assert refused.value.returncode == 1
    assert field in str(refused.value)
    assert out.getvalue() == ""


def test_command_unknown_policy_code_or_broken_json(db, tmp_path):
    with pytest.raises(CommandError, match="既不是政策文件，也不是已存政策的编码"):
        call_command("settle_preview", "--policy", "no-such-policy", str(CLAIMS_FILE), stdout=StringIO())
    broken = tmp_path / "claims.json"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(CommandError, match="JSON格式错误：第1行第2列附近"):
        call_command("settle_preview", "--policy", str(POLICY_FILE), str(broken), stdout=StringIO())


# --- (b) the API --------------------------------------------------------------------------------

URL = "/api/v1/settlement/preview/"


def test_api_preview_with_a_document(client, township_user, golden, document):
    client.force_login(township_user)
    body = {
        "policy": document,
        "members": golden.claims["members"],
        "encounters": golden.claims["encounters"],
    }
    response = client.post(URL, body, content_type="application/json")
    assert response.status_code == 200, response.content
    assert response.json() == golden.expected
    assert not Settlement.objects.exists()


def test_api_preview_with_a_stored_code_and_json_numbers(client, supervisor, policies, golden):
    client.force_login(supervisor)  # a preview changes nothing: read-only roles may run it
    encounters = [
        {
            **e,
            "total_cost": float(e["total_cost"]),
            **({"in_policy_cost": float(e["in_policy_cost"])} if "in_policy_cost" in e else {}),
        }
        for e in golden.claims["encounters"]
    ]
    body = {"policy_code": "demo-county-2025", "members": golden.claims["members"], "encounters": encounters}
    response = client.post(URL, body, content_type="application/json")
    assert response.status_code == 200, response.content
    assert response.json() == golden.expected


def test_api_preview_field_errors(client, county_user, golden, document):
    client.force_login(county_user)
    document["tiers"][2]["rate"] = {"flat": 1.5}
    body = {
        "policy": document,
        "members": golden.claims["members"],
        "encounters": golden.claims["encounters"],
    }
    response = client.post(URL, body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["errors"] == ["policy.tiers[2].rate.flat：比例必须在0到1之间（80%写成0.80）"]

    body = {"policy_code": "nope", "members": {}, "encounters": []}
    assert client.post(URL, body, content_type="application/json").json()["errors"] == [
        "policy_code：没有编码为「nope」的政策"
    ]
    body = {
        "policy": engine_valid_policy(),
        "members": {"M": {"poverty_status": "rich", "aid_category": "none"}},
        "encounters": [
            {
                "ref": "x",
                "member": "M",
                "date": "2025-13-01",
                "kind": "outpatient",
                "level": "county",
                "total_cost": 1,
            }
        ],
    }
    errors = client.post(URL, body, content_type="application/json").json()["errors"]
    assert any(e.startswith("members.M.poverty_status：") for e in errors)
    assert any(e.startswith("encounters[0].date：") for e in errors)


def engine_valid_policy():
    return {
        "code": "t",
        "name": "t",
        "year": 2025,
        "tiers": [{"key": "b", "kind": "basic_insurance", "name": "b", "fund": "f", "rate": {"flat": 0.5}}],
    }


def test_api_preview_needs_a_role(client, golden, document):
    body = {
        "policy": document,
        "members": golden.claims["members"],
        "encounters": golden.claims["encounters"],
    }
    assert client.post(URL, body, content_type="application/json").status_code in (401, 403)


# --- (c) the stored path ------------------------------------------------------------------------


def test_stored_path_matches_every_field_of_the_expected_output(golden_world, policies, golden):
    settle_all(golden_world)
    assert stored_outputs() == {case["ref"]: case for case in golden.expected}
    for s in Settlement.objects.select_related("encounter"):
        assert s.is_current and s.self_pay_difference == 0
        assert s.year == s.service_date.year == s.encounter.service_date.year
        assert s.policy == policies[s.year] and s.policy_version == s.policy.history.count()
        assert s.total_cost == s.payouts_total + s.self_pay
        assert s.payouts_total == sum(line.amount for line in s.lines.all())
    # Zero payouts are not stored; each stored line names its tier's fund.
    assert not SettlementLine.objects.filter(amount=0).exists()
    funds = {t["key"]: t["fund"] for t in policies[2025].document["tiers"]}
    assert all(line.fund == funds[line.tier_key] for line in SettlementLine.objects.all())


def test_golden_none_and_lifted_alike(golden):
    """The stored path keeps golden member B ("none") as a lifted household; under the demo
    policy that must not change a cent, or the stored-path comparison would be hollow."""
    lifted = {
        **golden.claims,
        "members": {**golden.claims["members"], "B": {"poverty_status": "lifted", "aid_category": "none"}},
    }
    document = json.loads(POLICY_FILE.read_text(encoding="utf-8"))
    assert engine.settle_claims(document, lifted) == golden.expected


def test_items_golden_case_through_the_stored_path(client, county_user, areas):
    """The itemised golden case stored: members and encounters entered through the claims
    service (items as the API takes them), settled by the service under the stored items
    policy, every figure read back — ``deducted`` included, and only on itemised encounters."""
    from decimal import Decimal

    from settlement import services
    from tests.settlement_world import store_claims

    document, claims, expected = case("-items")
    policy = services.policy_import(user=county_user, document=document)
    services.policy_activate(user=county_user, policy=policy, resettle=False)
    members, _ = store_claims(county_user, areas, claims, prefix="I")
    for member in members.values():
        services.settle_member_year(member_id=member.pk, year=2025)
    assert stored_outputs() == {case["ref"]: case for case in expected}
    for s in Settlement.objects.select_related("encounter"):
        assert s.total_cost == s.payouts_total + s.self_pay
        assert (s.deducted is None) == (not s.encounter.items.exists())
    # A simulation of the same policy bills the items the same way (nothing written).
    from settlement import batch

    outcome = batch.simulate_members(
        [m.pk for m in members.values()], 2025, engine.compile_policy(document), None
    )
    cents = lambda v: int(Decimal(v) * 100)  # noqa: E731
    assert outcome.encounters == len(expected)
    assert outcome.total_cost == sum(cents(e["total_cost"]) for e in expected)
    assert outcome.payouts == sum(cents(p) for e in expected for p in e["payouts"].values())
    # Settled again: nothing changes, nothing is written twice.
    again = services.settle_member_year(member_id=members["P"].pk, year=2025)
    assert again.written == 0 and again.unchanged == 4

    # The statement lists the bill by category and class and the deduction the hospital bears.
    from django.urls import reverse

    client.force_login(county_user)
    statement = lambda ref: client.get(  # noqa: E731
        reverse("settlement:statement", args=[Settlement.objects.get(encounter__ref=ref, is_current=True).pk])
    ).content.decode()
    html = statement("I-3")
    assert 'data-section="bill-summary"' in html and 'data-item="E1"' in html and 'data-item="S1"' in html
    assert "检查" in html and "手术" in html and "乙类" in html and "甲类" in html
    assert "违规扣除 2,000.00 元由医疗机构承担" in html
    # In-policy cost under the catalogue: 15,000 (A) + 3,000 − 300 (乙类先行自付 10%); out of it 300.
    assert "17,700.00" in html and "300.00" in html and "18,000.00" in html
    plain = statement("I-7")
    assert "bill-summary" not in plain and "违规扣除" not in plain
