"""Settlement services on the database: idempotency, re-settlement (encounter and policy
corrections), needs-attention, registry changes, batch runs, simulation, policies, the fund
ledger and fund transfers. Expected amounts come from the pure engine on the same claims
(itself checked against the golden cases), so these tests check the storing, never the maths."""

import copy
import datetime
import json
from decimal import Decimal
from io import StringIO

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import call_command

from claims import events as claims_events
from claims import services as claims_services
from claims.events import MEMBER_YEAR_CHANGED
from core.models import OutboxEntry
from registry import fact_services
from registry import services as registry_services
from registry.events import MEMBER_FACTS_CHANGED
from settlement import engine, handlers, selectors, services
from settlement.demo import load_demo_settlement, policy_for_year
from settlement.models import (
    FundTransfer,
    Policy,
    Settlement,
    SettlementLine,
    SettlementProblem,
    SettlementRun,
)
from tests.settlement_world import POLICY_FILE, settle_all, stored_outputs

D = Decimal


def cents(text):
    return int(D(text) * 100)


def expected_outputs(document, claims):
    return {s["ref"]: s for s in engine.settle_claims(document, claims)}


def counts():
    return (Settlement.objects.count(), SettlementLine.objects.count(), SettlementProblem.objects.count())


# --- idempotency --------------------------------------------------------------------------------


def test_settling_twice_writes_nothing_the_second_time(golden_world, policies):
    first = settle_all(golden_world)
    assert sum(r.settled for r in first.values()) == 15
    before = counts()
    stamps = dict(Settlement.objects.values_list("id", "computed_at"))
    again = settle_all(golden_world)
    assert all(r.written == 0 and r.unchanged == r.encounters for r in again.values())
    assert counts() == before
    assert dict(Settlement.objects.values_list("id", "computed_at")) == stamps
    assert selectors.settled_encounter_ids([e.pk for e in golden_world.encounters.values()]) == {
        e.pk for e in golden_world.encounters.values()
    }


def test_a_new_policy_with_the_same_amounts_leaves_settlements_alone(
    golden_world, policies, county_user, document, django_capture_on_commit_callbacks
):
    settle_all(golden_world)
    before = counts()
    renamed = {**document, "code": "demo-county-2025-b", "name": "同样的政策，另一个编码"}
    with django_capture_on_commit_callbacks(execute=True):
        services.policy_import(user=county_user, document=renamed, status="active")
    run = SettlementRun.objects.get(kind="resettle_year", year=2025)
    assert run.status == "done" and run.result["unchanged"] == 14 and run.result["resettled"] == 0
    assert counts() == before
    assert Policy.objects.get(code="demo-county-2025").status == "retired"


# --- re-settlement after an encounter correction -------------------------------------------------


def test_encounter_correction_resettles_with_differences_to_the_cent(
    golden_world, policies, county_user, document, golden, django_capture_on_commit_callbacks
):
    settle_all(golden_world)
    old = {s.encounter.ref: s for s in Settlement.objects.select_related("encounter")}
    a2 = golden_world.encounters["A-2"]
    with django_capture_on_commit_callbacks(execute=True):
        corrected, _ = claims_services.encounter_correct(
            user=county_user,
            encounter=a2,
            version=a2.version,
            reason="费用录入错误",
            changes={"total_cost": D("52000.00"), "in_policy_cost": D("47000.00")},
        )
    assert corrected.ref == "A-2-R1"

    claims = copy.deepcopy(golden.claims)
    claims["encounters"][1].update(ref="A-2-R1", total_cost="52000.00", in_policy_cost="47000.00")
    new = expected_outputs(document, claims)
    before = {case["ref"]: case for case in golden.expected}
    assert stored_outputs() == {
        **{r: v for r, v in before.items() if r != "A-2"},
        "A-2-R1": new["A-2-R1"],
        "A-3": new["A-3"],
    }
    # A-1 (earlier) is untouched; A-2's settlement is kept, superseded by A-2-R1's.
    assert Settlement.objects.get(pk=old["A-1"].pk).is_current
    replaced = Settlement.objects.get(pk=old["A-2"].pk)
    assert not replaced.is_current and replaced.superseded_by.encounter.ref == "A-2-R1"
    for old_ref, new_ref in (("A-2", "A-2-R1"), ("A-3", "A-3")):
        settlement = Settlement.objects.get(pk=old[old_ref].pk).superseded_by
        assert settlement.is_current
        assert settlement.self_pay_difference == D(new[new_ref]["self_pay"]) - D(before[old_ref]["self_pay"])
        differences = {line.tier_key: line.difference for line in settlement.lines.all()}
        for key in document_keys(document):
            change = D(new[new_ref]["payouts"][key]) - D(before[old_ref]["payouts"][key])
            assert differences.get(key, D(0)) == change, (new_ref, key)


def document_keys(document):
    return [t["key"] for t in document["tiers"]]


# --- re-settlement after a policy correction -----------------------------------------------------


def test_policy_correction_resettles_the_year_and_reports_refunds(
    golden_world, policies, county_user, document, golden, django_capture_on_commit_callbacks
):
    settle_all(golden_world)
    corrected = copy.deepcopy(document)
    # 低保 medical aid raised from 75% to 80%, and the deductible lowered to 1500.
    corrected["tiers"][2]["overrides"][2]["set"].update(
        rate={"flat": 0.80}, deductible={"per": "year", "amount": 1500}
    )
    with pytest.raises(services.SettlementError, match="重新结算"):
        services.policy_update_document(user=county_user, policy=policies[2025], document=corrected)
    with django_capture_on_commit_callbacks(execute=True):
        services.policy_update_document(
            user=county_user, policy=policies[2025], document=corrected, resettle=True
        )
    run = SettlementRun.objects.get(kind="resettle_year")
    assert run.status == "done"

    before = {case["ref"]: case for case in golden.expected}
    after = expected_outputs(corrected, golden.claims)
    assert stored_outputs() == {**after, "F-3": before["F-3"]}  # F-3 is 2026: another policy
    changed = [ref for ref in after if ref != "F-3" and after[ref] != before[ref]]
    assert changed and run.result["resettled"] == len(changed)
    assert run.result["unchanged"] == 14 - len(changed)
    # Σ per fund and per patient, to the cent, from the two engine outputs.
    fund_of = {t["key"]: t["fund"] for t in document["tiers"]}
    top_up, recovered, nets = {}, {}, {}
    member_of = {e["ref"]: e["member"] for e in golden.claims["encounters"]}
    for ref in changed:
        for key, amount in after[ref]["payouts"].items():
            delta = cents(amount) - cents(before[ref]["payouts"][key])
            bucket = top_up if delta > 0 else recovered
            if delta:
                bucket[fund_of[key]] = bucket.get(fund_of[key], 0) + delta
        nets[member_of[ref]] = (
            nets.get(member_of[ref], 0) + cents(after[ref]["self_pay"]) - cents(before[ref]["self_pay"])
        )
    refunds = {m: -n for m, n in nets.items() if n < 0}
    assert run.result["refund_patients"] == len(refunds)
    assert run.result["refund_total"] == engine.format_cents(sum(refunds.values()))
    assert run.result["patients_with_difference"] == len([n for n in nets.values() if n])
    for fund, figures in run.result["funds"].items():
        assert figures["top_up"] == engine.format_cents(top_up.get(fund, 0))
        assert figures["recovered"] == engine.format_cents(-recovered.get(fund, 0))
    # The list of patients owed money.
    listed = {p["name"]: p for p in selectors.resettlement_differences(run)}
    assert {name[-1] for name in listed} == {m for m, n in nets.items() if n}
    for member, net in nets.items():
        if net:
            assert listed[f"患者{member}"]["self_pay_difference"] == D(net) / 100
    # History: the superseded settlements are kept, with the old policy version.
    for s in Settlement.objects.filter(is_current=False, year=2025):
        assert s.superseded_by.policy_version > s.policy_version


# --- needs attention ----------------------------------------------------------------------------


def test_no_policy_then_activated(
    golden_world, county_user, document, golden, django_capture_on_commit_callbacks
):
    settle_all(golden_world)
    assert not Settlement.objects.exists()
    problems = SettlementProblem.objects.all()
    assert problems.count() == 15 and {p.reason for p in problems} == {"no_policy"}
    assert "2025年度没有生效的结算政策" in problems.filter(encounter__ref="A-1").get().detail
    again = settle_all(golden_world)  # the same problems: nothing rewritten
    assert all(r.problems == r.encounters for r in again.values())
    with django_capture_on_commit_callbacks(execute=True):
        services.policy_import(user=county_user, document=document, status="active")
    # 2025 settled by the re-settlement run that activation queued; F-3 (2026) still waits.
    assert list(SettlementProblem.objects.values_list("encounter__ref", flat=True)) == ["F-3"]
    assert set(stored_outputs()) == {case["ref"] for case in golden.expected} - {"F-3"}


def test_not_insured_then_registered_through_the_registry(
    golden_world, policies, county_user, golden, django_capture_on_commit_callbacks
):
    a = golden_world.members["A"]
    a.insured = None
    a.save()
    settle_all(golden_world)
    flagged = SettlementProblem.objects.filter(encounter__member=a)
    assert flagged.count() == 3 and {p.reason for p in flagged} == {"not_insured"}
    assert "参保情况未登记" in flagged.first().detail
    assert not Settlement.objects.filter(member=a).exists()
    a.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        registry_services.member_update(
            user=county_user, member=a, version=a.version, changes={"insured": True}
        )
    assert not SettlementProblem.objects.exists()
    assert stored_outputs() == {case["ref"]: case for case in golden.expected}


def test_registry_status_change_resettles_that_household(
    golden_world, policies, county_user, document, golden, django_capture_on_commit_callbacks
):
    settle_all(golden_world)
    household = golden_world.members["F"].household
    with handlers.watch() as queued, django_capture_on_commit_callbacks(execute=True) as callbacks:
        registry_services.household_update(
            user=county_user,
            household=household,
            version=household.version,
            changes={"poverty_status": "lifted"},
        )
    assert len(callbacks) == 1  # one outbox kick at commit
    entry = OutboxEntry.objects.get(topic=MEMBER_FACTS_CHANGED)
    assert entry.payload["household_id"] == household.pk and entry.done_at is not None
    # F's member-years 2025 and 2026, one task each
    f = golden_world.members["F"].pk
    assert queued == [("member_years", 2025, [f]), ("member_years", 2026, [f])]
    # The edit form has no date: the new status holds from today (dated facts), so F's stays,
    # all before today, keep the status of their day of care and their settlements.
    assert stored_outputs() == {case["ref"]: case for case in golden.expected}
    assert Settlement.objects.filter(member=golden_world.members["F"]).count() == 3
    # A dated change reaches back to its effective date: from 2025-11-01, F-2 and F-3 are lifted.
    fact_services.household_status_change(
        user=county_user,
        household=household,
        poverty_status="monitored",
        effective_from=datetime.date(2025, 11, 1),
        reason="纳入监测",
    )
    settle_all(golden_world)
    claims = copy.deepcopy(golden.claims)
    for raw in claims["encounters"]:
        if raw["member"] == "F" and raw["date"] >= "2025-11-01":
            raw["poverty_status"] = "monitored"
    assert stored_outputs() == expected_outputs(document, claims)
    # A change that settlement does not depend on queues nothing.
    household.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        registry_services.household_update(
            user=county_user, household=household, version=household.version, changes={"phone": "13800000000"}
        )
    assert callbacks == []


def test_member_years_queued_in_one_transaction_go_as_one_batch(
    golden_world, policies, golden, settings, django_capture_on_commit_callbacks
):
    settings.SETTLEMENT_CHUNK_MEMBERS = 4  # 2025: tasks of 4 and 2 members; 2026: one member
    with handlers.watch() as queued, django_capture_on_commit_callbacks(execute=True) as callbacks:
        for encounter in golden_world.encounters.values():
            claims_events.record_member_years_changed(
                pairs=[(encounter.member_id, encounter.service_date.year)]
            )
    assert len(callbacks) == 1 and OutboxEntry.objects.filter(topic=MEMBER_YEAR_CHANGED).count() == 7
    assert [(year, len(members)) for _, year, members in queued] == [(2025, 4), (2025, 2), (2026, 1)]
    assert stored_outputs() == {case["ref"]: case for case in golden.expected}


def test_settled_encounters_cannot_be_edited_in_claims(golden_world, policies, county_user):
    settle_all(golden_world)
    encounter = golden_world.encounters["B-2"]
    with pytest.raises(claims_services.ClaimsError, match="已结算"):
        claims_services.encounter_update(
            user=county_user,
            encounter=encounter,
            version=encounter.version,
            changes={"total_cost": D("200.00"), "in_policy_cost": D("200.00")},
        )


# --- batch runs ---------------------------------------------------------------------------------


@pytest.fixture
def small_chunks(settings):
    settings.SETTLEMENT_CHUNK_MEMBERS = 2
    settings.SETTLEMENT_SIMULATE_CHUNK_MEMBERS = 4


def test_settle_year_run_through_the_tasks(
    golden_world, policies, county_user, golden, small_chunks, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        run = services.settlement_run_start(user=county_user, kind="settle_year", year=2025)
    run.refresh_from_db()
    assert run.status == "done" and run.total == run.done == 6
    # 6 members, at most 2 a chunk: 3 chunks, made 4 (of 2, 2, 1, 1) for the worker's 2 processes.
    assert sorted(len(c.member_ids) for c in run.chunks.all()) == [1, 1, 2, 2]
    assert not run.chunks.filter(done=False).exists()
    assert run.result["settled"] == 14 and run.result["encounters"] == 14 and run.result["problems"] == 0
    expected = {case["ref"]: case for case in golden.expected if case["ref"] != "F-3"}
    assert stored_outputs() == expected
    assert set(Settlement.objects.values_list("run_id", flat=True)) == {run.pk}
    # A redelivered chunk does nothing and counts nothing.
    assert services.settlement_run_chunk(run_id=run.pk, index=0) is False
    run.refresh_from_db()
    assert run.done == 6


def test_settle_year_command_inline_and_refusal(golden_world, policies, county_user):
    out = StringIO()
    call_command("settle_year", "2025", "--inline", stdout=out)
    result = json.loads(out.getvalue())
    assert result["settled"] == 14
    call_command("settle_year", "2025", "--inline", "--resettle", stdout=out)
    assert SettlementRun.objects.order_by("-id").first().result["unchanged"] == 14
    with pytest.raises(Exception, match="2024年度没有生效的结算政策"):
        call_command("settle_year", "2024", "--inline", stdout=StringIO())


def test_a_failed_chunk_fails_the_run(golden_world, policies, county_user, small_chunks, monkeypatch):
    from settlement import batch, tasks

    run = services.settlement_run_start(user=county_user, kind="settle_year", year=2025, enqueue=False)
    monkeypatch.setattr(batch, "settle_members", lambda *a, **k: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        tasks.start_run.delay(run.pk)
    run.refresh_from_db()
    assert run.status == "failed" and "ZeroDivisionError" in run.error


def test_simulation_compares_a_draft_with_what_is_stored(
    golden_world, policies, county_user, document, golden, small_chunks, django_capture_on_commit_callbacks
):
    settle_all(golden_world)
    before = counts()
    draft_doc = copy.deepcopy(document)
    draft_doc.update(code="draft-2025", name="草稿")
    draft_doc["tiers"][3]["self_pay_cap"]["by_level"]["county"] = 2000  # backstop: 2000 a year in county
    draft_doc["tiers"][2]["overrides"][3]["set"]["rate"] = {"flat": 0.95}  # 特困 medical aid 95%
    draft = services.policy_import(user=county_user, document=draft_doc)
    with django_capture_on_commit_callbacks(execute=True):
        run = services.settlement_run_start(user=county_user, kind="simulate", year=2025, policy=draft)
    run.refresh_from_db()
    assert run.status == "done", run.error
    assert counts() == before  # nothing stored
    result = run.result
    assert result["threshold"] == "2000.00" and result["compared_with"] == "demo-county-2025"

    def outcome(outputs):
        refs = {e["ref"]: e for e in golden.claims["encounters"] if e["date"].startswith("2025")}
        funds = {t["fund"]: 0 for t in document["tiers"]}
        fund_of = {t["key"]: t["fund"] for t in document["tiers"]}
        per_member = {}
        for ref, out in outputs.items():
            if ref not in refs:
                continue
            m = per_member.setdefault(refs[ref]["member"], [0, 0, 0])
            m[0] += cents(out["self_pay"])
            m[1] += cents(out["in_policy_self_pay"])
            m[2] += sum(cents(v) for v in out["payouts"].values())
            for key, amount in out["payouts"].items():
                funds[fund_of[key]] += cents(amount)
        poor = [
            m for key, m in per_member.items() if golden.claims["members"][key]["poverty_status"] == "poor"
        ]
        return funds, per_member, poor

    for label, outputs in (
        ("policy_outcome", expected_outputs(draft_doc, golden.claims)),
        ("stored_outcome", {c["ref"]: c for c in golden.expected}),
    ):
        funds, per_member, poor = outcome(outputs)
        got = result[label]
        assert got["encounters"] == 14 and got["patients"] == 6
        assert got["funds"] == {f: engine.format_cents(c) for f, c in sorted(funds.items())}
        assert got["helped"] == sum(1 for m in per_member.values() if m[2] > 0)
        assert got["poor_patients"] == len(poor) == 3
        assert got["poor_self_pay"] == engine.format_cents(sum(m[0] for m in poor))
        assert got["poor_over_threshold"] == sum(1 for m in poor if m[1] > 200000)
        assert sum(got["poor_self_pay_bands"].values()) == 3
    assert result["change"]["payouts"] != "0.00"


def test_simulation_chunks_sum_the_stored_side_of_every_member(
    golden_world, policies, county_user, document, small_chunks
):
    """Each chunk of a simulation sums what is stored for its range of member ids (from its
    first member to the next chunk's first): together they cover members below the first
    patient, between two chunks and above the last whose current settlements of the year no
    longer have a current encounter of that year."""
    from django.db.models import Sum

    from claims.models import Encounter
    from settlement import batch

    settle_all(golden_world)
    ordered = sorted(golden_world.members.values(), key=lambda m: m.pk)
    moved = [ordered[0], ordered[3], ordered[5]]  # below the first chunk, between, above the last
    Encounter.objects.filter(member__in=moved).update(
        admission_date=datetime.date(2024, 6, 1), discharge_date=None
    )
    draft = services.policy_import(
        user=county_user, document={**document, "code": "draft-2025", "name": "草稿"}
    )
    run = services.settlement_run_start(
        user=county_user, kind="simulate", year=2025, policy=draft, enqueue=False
    )
    run = services.settlement_run_execute(run_id=run.pk)
    assert run.status == "done", run.error
    chunks = list(run.chunks.order_by("index").values_list("member_ids", flat=True))
    assert chunks == [[ordered[1].pk, ordered[2].pk], [ordered[4].pk]]  # no chunk without members
    current = Settlement.objects.filter(year=2025, is_current=True)
    stored = run.result["stored_outcome"]
    assert stored["patients"] == current.values("member").distinct().count() == 6
    assert stored["encounters"] == current.count()
    assert D(stored["payouts"]) == current.aggregate(s=Sum("payouts_total"))["s"]
    assert stored["poor_patients"] == 3  # A, B and D of the golden claims, moved or not
    whole_year = selectors.year_outcome(2025, threshold=batch.backstop_threshold(document))
    assert stored == whole_year.summary()
    assert run.result["policy_outcome"]["patients"] == 3


def test_a_simulation_begun_with_an_empty_chunk_0_still_counts_the_stored_side_once(
    golden_world, policies, county_user, document, small_chunks
):
    """Runs begun before the stored side went into the members' chunks have a chunk 0 without
    members that sums the whole year; their other chunks then sum no stored side."""
    from settlement.models import SettlementRunChunk

    settle_all(golden_world)
    draft = services.policy_import(
        user=county_user, document={**document, "code": "draft-2025", "name": "草稿"}
    )
    run = services.settlement_run_start(
        user=county_user, kind="simulate", year=2025, policy=draft, enqueue=False
    )
    pending = services.settlement_run_begin(run_id=run.pk)
    assert pending == [0, 1]
    for chunk in run.chunks.order_by("-index"):  # the older layout: members' chunks from 1 on
        chunk.index += 1
        chunk.save(update_fields=["index"])
    SettlementRunChunk.objects.create(run=run, index=0, member_ids=[])
    for index in (0, 1, 2):
        services.settlement_run_chunk(run_id=run.pk, index=index)
    run.refresh_from_db()
    assert run.status == "done", run.error
    current = Settlement.objects.filter(year=2025, is_current=True)
    assert run.result["stored_outcome"]["encounters"] == current.count() == 14
    assert run.result["stored_outcome"]["patients"] == run.result["policy_outcome"]["patients"] == 6


# --- policies -----------------------------------------------------------------------------------


def test_policy_import_refuses_an_invalid_document_and_stores_nothing(county_user, document):
    document["tiers"][1]["rate"]["bands"][1][0] = 10
    with pytest.raises(services.SettlementError) as refused:
        services.policy_import(user=county_user, document=document)
    assert "tiers[1].rate.bands[1]：分段上限必须递增" in refused.value.errors
    assert not Policy.objects.exists()


def test_policy_import_replace_rules_and_export_round_trip(county_user, township_user, document, tmp_path):
    with pytest.raises(PermissionDenied):
        services.policy_import(user=township_user, document=document)
    draft = services.policy_import(user=county_user, document=document)
    assert draft.status == "draft" and draft.year == 2025
    changed = copy.deepcopy(document)
    changed["name"] = "修订稿"
    assert services.policy_import(user=county_user, document=changed).name == "修订稿"  # a draft is replaced
    assert (
        services.policy_import(user=county_user, document=changed).history.count() == 2
    )  # same again: no-op
    services.policy_activate(user=county_user, policy=draft, resettle=False)
    with pytest.raises(services.SettlementError) as refused:
        services.policy_import(user=county_user, document=document)
    assert refused.value.code == "conflict"
    exported = services.policy_export(code=document["code"])
    assert list(exported) == ["code", "name", "year", "tiers"]
    assert exported == changed
    # Through the commands: export to a file, import it elsewhere; same settlements.
    path = tmp_path / "out.json"
    call_command("export_policy", document["code"], "-o", str(path), stderr=StringIO())
    assert json.loads(path.read_text(encoding="utf-8")) == changed
    out = StringIO()
    call_command("export_policy", document["code"], stdout=out)
    assert json.loads(out.getvalue()) == changed


def test_import_policy_command_and_activation_retires_the_other(
    county_user, document, tmp_path, django_capture_on_commit_callbacks
):
    out = StringIO()
    call_command("import_policy", str(POLICY_FILE), stdout=out)
    assert "草稿" in out.getvalue()
    other = {**document, "code": "demo-county-2025-v2"}
    path = tmp_path / "v2.json"
    path.write_text(json.dumps(other), encoding="utf-8")
    services.policy_activate(
        user=county_user, policy=Policy.objects.get(code="demo-county-2025"), resettle=False
    )
    with django_capture_on_commit_callbacks(execute=True):
        call_command("import_policy", str(path), "--activate", stdout=out)
    assert dict(Policy.objects.values_list("code", "status")) == {
        "demo-county-2025": "retired",
        "demo-county-2025-v2": "active",
    }
    assert SettlementRun.objects.get().kind == "resettle_year"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**document, "tiers": []}), encoding="utf-8")
    with pytest.raises(Exception, match="tiers：缺少必填字段"):
        call_command("import_policy", str(bad), stdout=StringIO())


def test_policies_api(client, county_user, township_user, document):
    client.force_login(township_user)
    assert (
        client.post("/api/v1/settlement/policies/", document, content_type="application/json").status_code
        == 403
    )
    client.force_login(county_user)
    response = client.post("/api/v1/settlement/policies/", document, content_type="application/json")
    assert response.status_code == 201 and response.json()["status"] == "draft"
    bad = {**document, "year": "2025"}
    response = client.post(
        "/api/v1/settlement/policies/", {**bad, "code": "x"}, content_type="application/json"
    )
    assert response.status_code == 400 and response.json()["errors"] == [
        "year：缺少必填字段，应是不带引号的整数"
    ]
    client.force_login(township_user)
    listed = client.get("/api/v1/settlement/policies/").json()["results"]
    assert [p["code"] for p in listed] == ["demo-county-2025"]


# --- township isolation -------------------------------------------------------------------------


def test_township_users_see_only_their_townships_settlements(
    golden_world, policies, client, township_user, other_township_user, supervisor
):
    settle_all(golden_world)
    east = {"A", "B", "C"}
    mine = selectors.settlements_for(township_user)
    assert {s.member.name[-1] for s in mine} == east
    assert {s.member.name[-1] for s in selectors.settlements_for(other_township_user)} == {"D", "E", "F"}
    assert selectors.settlements_for(supervisor).count() == 15

    client.force_login(township_user)
    listed = client.get("/api/v1/settlement/settlements/?page_size=100").json()
    assert {s["member_name"][-1] for s in listed["results"]} == east and listed["count"] == 8
    west = Settlement.objects.get(encounter__ref="D-3")
    assert client.get(f"/api/v1/settlement/settlements/{west.pk}/").status_code == 404
    east_one = Settlement.objects.get(encounter__ref="A-2")
    detail = client.get(f"/api/v1/settlement/settlements/{east_one.pk}/").json()
    assert detail["payouts"] == {
        "basic": "40387.50",
        "catastrophic": "0.00",
        "medical_aid": "1959.38",
        "backstop": "1303.12",
    }
    assert "*" in detail["member_id_number"]
    assert [line["tier_key"] for line in detail["lines"]] == ["basic", "medical_aid", "backstop"]
    filtered = client.get(
        f"/api/v1/settlement/settlements/?member={golden_world.members['A'].pk}&year=2025&current=true"
    ).json()
    assert {s["ref"] for s in filtered["results"]} == {"A-1", "A-2", "A-3"}
    # Another township's member id in the filter finds nothing.
    assert (
        client.get(f"/api/v1/settlement/settlements/?member={golden_world.members['D'].pk}").json()["count"]
        == 0
    )
    # The ledger is for the county and supervisors.
    assert client.get("/api/v1/settlement/ledger/?year=2025").status_code == 403
    client.force_login(supervisor)
    assert client.get("/api/v1/settlement/ledger/?year=2025").status_code == 200


def test_township_problems_scope(golden_world, township_user):
    settle_all(golden_world)  # no policy: every encounter needs attention
    assert {p.encounter.member.name[-1] for p in selectors.problems_for(township_user)} == {"A", "B", "C"}


# --- ledger and fund transfers ------------------------------------------------------------------


def test_ledger_reconciles_with_lines_and_transfers(
    golden_world, policies, county_user, client, django_capture_on_commit_callbacks
):
    settle_all(golden_world)
    county = golden_world.encounters["A-2"].institution
    services.fund_transfer_record(
        user=county_user,
        fund="城乡居民医保基金",
        institution=county,
        year=2025,
        month=5,
        amount=D("40000.00"),
        paid_on=datetime.date(2025, 6, 10),
        reference="BK-1",
    )
    services.fund_transfer_record(
        user=county_user,
        fund="医疗救助资金专户",
        institution=county,
        year=2025,
        month=4,
        amount="100.50",
        paid_on=datetime.date(2025, 6, 10),
        reference="BK-2",
    )
    for period in ("month", "quarter"):
        ledger = selectors.ledger(year=2025, period=period)
        lines = SettlementLine.objects.filter(settlement__is_current=True, settlement__year=2025)
        assert ledger["totals"]["owed"] == sum(line.amount for line in lines)
        assert ledger["totals"]["paid"] == D("40100.50") == sum(t.amount for t in FundTransfer.objects.all())
        assert ledger["totals"]["outstanding"] == ledger["totals"]["owed"] - ledger["totals"]["paid"]
        for fund, totals in ledger["funds"].items():
            assert totals["owed"] == sum(line.amount for line in lines if line.fund == fund)
        cell = next(
            r
            for r in ledger["rows"]
            if r["fund"] == "城乡居民医保基金"
            and r["institution_id"] == county.pk
            and r["period"] == (5 if period == "month" else 2)
        )
        # May: A-2 (40387.50); the second quarter adds F-1 (April, 9675.00), same hospital.
        owed = D("40387.50") if period == "month" else D("50062.50")
        assert (cell["owed"], cell["paid"], cell["outstanding"]) == (
            owed,
            D("40000.00"),
            owed - D("40000.00"),
        )
    one = selectors.ledger(year=2025, fund="医疗救助资金专户", institution=county)
    assert {r["fund"] for r in one["rows"]} == {"医疗救助资金专户"} and {
        r["institution_id"] for r in one["rows"]
    } == {county.pk}
    client.force_login(county_user)
    data = client.get(f"/api/v1/settlement/ledger/?year=2025&period=quarter&institution={county.pk}").json()
    assert data["totals"]["paid"] == "40100.50"
    assert client.get("/api/v1/settlement/ledger/?year=x&period=week").json()["errors"] == [
        "year: required, an integer",
        "period: must be month or quarter",
    ]

    # After a re-settlement the ledger still equals the current lines.
    a3 = golden_world.encounters["A-3"]
    with django_capture_on_commit_callbacks(execute=True):
        claims_services.encounter_correct(
            user=county_user,
            encounter=a3,
            version=a3.version,
            reason="更正",
            changes={"total_cost": D("90000.00"), "in_policy_cost": D("80000.00")},
        )
    lines = SettlementLine.objects.filter(settlement__is_current=True, settlement__year=2025)
    assert selectors.ledger(year=2025)["totals"]["owed"] == sum(line.amount for line in lines)


def test_fund_transfer_validation(golden_world, policies, county_user, township_user):
    institution = golden_world.encounters["A-1"].institution
    values = dict(
        fund="城乡居民医保基金",
        institution=institution,
        year=2025,
        month=3,
        amount=D("10.00"),
        paid_on=datetime.date(2025, 4, 1),
        reference="R",
    )
    with pytest.raises(PermissionDenied):
        services.fund_transfer_record(user=township_user, **values)
    for change, field in (
        ({"fund": "小金库"}, "fund"),
        ({"amount": D("-1")}, "amount"),
        ({"amount": "1.234"}, "amount"),
        ({"month": 13}, "month"),
        ({"reference": ""}, "reference"),
    ):
        with pytest.raises(services.SettlementError) as refused:
            services.fund_transfer_record(user=county_user, **{**values, **change})
        assert refused.value.errors[0].startswith(f"{field}:")
    transfer = services.fund_transfer_record(user=county_user, **values)
    assert transfer.history.first().history_user == county_user


# --- selectors for other apps and pages ---------------------------------------------------------


def test_member_year_totals_and_cost_totals(golden_world, policies, golden):
    settle_all(golden_world)
    a = golden_world.members["A"]
    totals = selectors.member_year_totals(a, 2025)
    a_cases = [c for c in golden.expected if c["ref"].startswith("A-")]
    basic = next(t for t in totals["tiers"] if t["key"] == "basic")
    assert basic["paid"] == sum(D(c["payouts"]["basic"]) for c in a_cases)
    assert basic["cap_per_year"] == D("150000.00") and basic["cap_left"] == D("150000.00") - basic["paid"]
    # A is poor: the poor override of the basic tier applies (member-level condition).
    assert basic["deductible"]["by_level"]["county"] == 250
    medical_aid = next(t for t in totals["tiers"] if t["key"] == "medical_aid")
    assert medical_aid["deductible"] == {"per": "year", "amount": 2000}  # A is 低保
    assert totals["self_pay"] == sum(D(c["self_pay"]) for c in a_cases)
    figures = selectors.member_cost_totals([a.pk])[a.pk]
    assert figures["basic_insurance"] == basic["paid"]
    assert figures["civil_aid"] == medical_aid["paid"]
    assert figures["total_cost"] == sum(D(c["total_cost"]) for c in a_cases)


# --- the demo -----------------------------------------------------------------------------------


def test_demo_loader_imports_activates_and_settles_every_year(golden_world, county_user, golden):
    results = load_demo_settlement(user=county_user)
    assert set(results) == {2025, 2026}
    assert dict(Policy.objects.values_list("code", "status")) == {
        "demo-county-2025": "active",
        "demo-county-2026": "active",
    }
    assert Policy.objects.get(code="demo-county-2026").document == policy_for_year(
        json.loads(POLICY_FILE.read_text(encoding="utf-8")), 2026
    )
    assert stored_outputs() == {case["ref"]: case for case in golden.expected}
    before = counts()
    again = load_demo_settlement(user=county_user)
    assert counts() == before and again[2025]["unchanged"] == 14
