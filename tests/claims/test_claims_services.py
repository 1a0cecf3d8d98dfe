"""Claims services on the real database: validation messages, warnings, versions, the
correction flow, contracts, follow-ups, screening, and the lists built on them."""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied

from claims import selectors, services
from claims.models import Contract, Encounter, Screening
from tests.factories import ContractFactory, FollowUpFactory, HouseholdFactory, MemberFactory

D = Decimal


def _encounter(user, member, institution, **overrides):
    values = dict(
        kind="inpatient",
        admission_date=datetime.date(2025, 3, 1),
        discharge_date=datetime.date(2025, 3, 8),
        diagnosis_code="C16.9",
        total_cost=D("8432.00"),
        in_policy_cost=D("7000.00"),
    )
    values.update(overrides)
    return services.encounter_create(user=user, member=member, institution=institution, **values)


@pytest.mark.parametrize(
    "overrides, field, message",
    [
        ({"discharge_date": datetime.date(2025, 2, 28)}, "discharge_date", "出院日期早于入院日期"),
        ({"in_policy_cost": D("9000.00")}, "in_policy_cost", "政策范围内费用不能大于医疗总费用"),
        ({"total_cost": D("-1.00"), "in_policy_cost": D("0")}, "total_cost", "医疗总费用不能为负数"),
        (
            {"admission_date": datetime.date(2099, 1, 1), "discharge_date": None, "kind": "outpatient"},
            "admission_date",
            "入院日期不能晚于今天",
        ),
        ({"discharge_date": None}, "discharge_date", "出院日期住院记录必须填写"),
    ],
)
def test_encounter_create_refuses_with_a_clear_message(
    world, township_user, settlement_spy, overrides, field, message
):
    with pytest.raises(services.ClaimsError) as caught:
        _encounter(township_user, world.east_head, world.county_hospital, **overrides)
    assert caught.value.field == field and message in caught.value.message
    assert not Encounter.objects.filter(member=world.east_head, diagnosis_code="C16.9").exists()
    assert settlement_spy.queued == []


def test_encounter_create_saves_fills_the_name_and_queues_settlement(world, township_user, settlement_spy):
    encounter, warnings = _encounter(township_user, world.east_head, world.county_hospital)
    assert warnings == []
    assert encounter.diagnosis_name == "胃癌"  # from the catalogue
    assert encounter.service_date == datetime.date(2025, 3, 8) and encounter.created_by == township_user
    assert encounter.history.get().history_user == township_user
    assert settlement_spy.queued == [(world.east_head.pk, 2025)]


def test_warnings_for_an_uninsured_member_and_a_chronic_visit_outside_the_list(
    world, township_user, settlement_spy
):
    world.east_son.insured = False
    world.east_son.save()
    _, warnings = _encounter(
        township_user,
        world.east_son,
        world.county_hospital,
        kind="outpatient_chronic",
        discharge_date=None,
        diagnosis_code="J06.9",
        total_cost=D("100"),
        in_policy_cost=D("90"),
    )
    assert len(warnings) == 2
    assert "未参加城乡居民基本医疗保险" in warnings[0] and "J06.9" in warnings[1]
    _, warnings = _encounter(
        township_user,
        world.east_head,
        world.county_hospital,
        kind="outpatient_chronic",
        discharge_date=None,
        diagnosis_code="I10",
        total_cost=D("100"),
        in_policy_cost=D("90"),
    )
    assert warnings == []  # hypertension is on the chronic list; the member is insured


def test_a_township_user_cannot_enter_or_change_another_townships_encounters(
    world, township_user, settlement_spy
):
    with pytest.raises(services.ClaimsError, match="本乡镇"):
        _encounter(township_user, world.west_head, world.county_hospital)
    with pytest.raises(services.ClaimsError):
        services.encounter_update(
            user=township_user, encounter=world.west_encounter, version=1, changes={"total_cost": D("1")}
        )


def test_supervisor_cannot_write(world, supervisor):
    with pytest.raises(PermissionDenied):
        _encounter(supervisor, world.east_head, world.county_hospital)
    with pytest.raises(PermissionDenied):
        services.reference_save(user=supervisor, model=type(world.county_hospital), values={"name": "x"})


def test_unsettled_encounter_is_edited_in_place_with_a_version_check(world, township_user, settlement_spy):
    encounter = world.east_encounter
    updated, _ = services.encounter_update(
        user=township_user,
        encounter=encounter,
        version=1,
        changes={"total_cost": D("260.00"), "admission_date": datetime.date(2024, 12, 30)},
    )
    assert updated.pk == encounter.pk and updated.version == 2 and updated.total_cost == D("260.00")
    # Both the old and the new year are settled again.
    assert sorted(settlement_spy.queued) == [(world.east_head.pk, 2024), (world.east_head.pk, 2025)]
    with pytest.raises(services.ClaimsError) as caught:
        services.encounter_update(
            user=township_user, encounter=encounter, version=1, changes={"total_cost": D("1")}
        )
    assert caught.value.code == "conflict" and "已被他人修改" in caught.value.message


def test_settled_encounter_is_corrected_by_a_new_version(world, township_user, settlement_spy):
    old = world.east_encounter
    settlement_spy.settled.add(old.pk)
    with pytest.raises(services.ClaimsError) as caught:
        services.encounter_update(
            user=township_user, encounter=old, version=1, changes={"total_cost": D("1")}
        )
    assert caught.value.code == "settled"

    with pytest.raises(services.ClaimsError, match="更正原因"):
        services.encounter_correct(user=township_user, encounter=old, version=1, changes={}, reason=" ")
    new, _ = services.encounter_correct(
        user=township_user,
        encounter=old,
        version=1,
        reason="医院更正费用",
        changes={"total_cost": D("300.00"), "in_policy_cost": D("240.00")},
    )
    old.refresh_from_db()
    assert (new.ref, new.supersedes_id, new.is_current) == (f"{old.ref}-R1", old.pk, True)
    assert (new.total_cost, new.member_id, new.kind) == (D("300.00"), old.member_id, old.kind)
    assert old.is_current is False and old.total_cost == D("200.00")  # the old values stay visible
    assert [v.ref for v in selectors.encounter_versions(old)] == [old.ref, new.ref]
    assert settlement_spy.queued == [(old.member_id, 2025)]
    assert "医院更正费用" in new.history.get().history_change_reason
    # The old version can be neither edited nor corrected again; the new one can.
    with pytest.raises(services.ClaimsError) as caught:
        services.encounter_correct(
            user=township_user, encounter=old, version=2, changes={"total_cost": D("1")}, reason="再改"
        )
    assert caught.value.code == "superseded"
    settlement_spy.settled.add(new.pk)
    newer, _ = services.encounter_correct(
        user=township_user, encounter=new, version=1, reason="再次更正", changes={"total_cost": D("310.00")}
    )
    assert newer.ref == f"{old.ref}-R2"


def test_correction_that_changes_nothing_is_refused(world, township_user, settlement_spy):
    with pytest.raises(services.ClaimsError, match="相同"):
        services.encounter_correct(
            user=township_user, encounter=world.east_encounter, version=1, changes={}, reason="无"
        )


# --- illness records ------------------------------------------------------------------------------


def test_illness_create_matches_the_catalogue_and_refuses_duplicates(world, township_user):
    record = services.illness_create(
        user=township_user,
        member=world.east_son,
        diagnosis_code="c34.1",
        diagnosed_on=datetime.date(2025, 1, 5),
    )
    assert (record.diagnosis_code, record.diagnosis_name, record.disease.name) == ("C34.1", "肺癌", "肺癌")
    assert record.treatment_way == "concentrated" and record.status == "pending"
    with pytest.raises(services.ClaimsError, match="已有诊断编码为C34.1"):
        services.illness_create(
            user=township_user,
            member=world.east_son,
            diagnosis_code="C34.1",
            diagnosed_on=datetime.date(2025, 1, 5),
        )
    with pytest.raises(services.ClaimsError, match="请填写诊断名称"):
        services.illness_create(
            user=township_user,
            member=world.east_son,
            diagnosis_code="X99",
            diagnosed_on=datetime.date(2025, 1, 5),
        )


def test_illness_figures_must_add_up(world, township_user):
    with pytest.raises(services.ClaimsError, match="不能超过累计总费用"):
        services.illness_create(
            user=township_user,
            member=world.east_son,
            diagnosis_code="I21.0",
            diagnosed_on=datetime.date(2025, 1, 5),
            total_cost=D("1000"),
            basic_insurance=D("600"),
            civil_aid=D("300"),
            self_pay=D("200"),
        )


def test_illness_status_follows_its_transitions(world, township_user):
    record = world.west_illness  # 救治中
    with pytest.raises(services.ClaimsError) as caught:
        services.illness_update(user=township_user, record=record, version=1, changes={"status": "pending"})
    assert "本乡镇" in caught.value.message  # another township's record first of all
    from tests.factories import make_user

    west_user = make_user("west", "township", township=world.west)
    with pytest.raises(services.ClaimsError, match="不能从“救治中”改为“待救治”"):
        services.illness_update(user=west_user, record=record, version=1, changes={"status": "pending"})
    updated = services.illness_update(
        user=west_user, record=record, version=1, changes={"status": "treated", "result": "治愈出院"}
    )
    assert (updated.status, updated.version) == ("treated", 2)
    changes = selectors.record_history(updated)[0][1]
    assert ("救治状态", "救治中", "已救治") in changes


def test_figures_come_from_settlements_once_they_exist(world, township_user, monkeypatch):
    import settlement.selectors

    record = world.east_illness
    monkeypatch.setattr(
        settlement.selectors,
        "member_cost_totals",
        lambda ids: {
            world.east_head.pk: {
                "total_cost": D("5000.00"),
                "basic_insurance": D("3000.00"),
                "self_pay": D("400.00"),
            }
        },
        raising=False,
    )
    figures, from_settlements = selectors.illness_figures(record)
    assert from_settlements and figures["total_cost"] == D("5000.00") and figures["civil_aid"] is None
    with pytest.raises(services.ClaimsError, match="已有结算数据"):
        services.illness_update(user=township_user, record=record, version=1, changes={"total_cost": D("1")})


# --- screening ------------------------------------------------------------------------------------


def test_screening_a_village_creates_updates_and_unticks(world, township_user):
    entries = [
        services.ScreeningEntry(world.east_head.pk, True, "血压偏高"),
        services.ScreeningEntry(world.east_son.pk, False, ""),
    ]
    counts = services.screening_record_village(
        user=township_user,
        village=world.east_village,
        year=2025,
        round="checkup",
        checked_on=datetime.date(2025, 3, 1),
        entries=entries,
    )
    assert counts == {"created": 1, "updated": 0, "unchanged": 0}
    entries = [
        services.ScreeningEntry(world.east_head.pk, False, "血压偏高"),
        services.ScreeningEntry(world.east_son.pk, True, ""),
    ]
    counts = services.screening_record_village(
        user=township_user,
        village=world.east_village,
        year=2025,
        round="checkup",
        checked_on=datetime.date(2025, 3, 2),
        entries=entries,
    )
    assert counts == {"created": 1, "updated": 1, "unchanged": 0}
    assert Screening.objects.get(member=world.east_head).checked is False
    with pytest.raises(services.ClaimsError, match="不属于该村"):
        services.screening_record_village(
            user=township_user,
            village=world.east_village,
            year=2025,
            round="checkup",
            checked_on=datetime.date(2025, 3, 2),
            entries=[services.ScreeningEntry(world.west_head.pk, True)],
        )
    with pytest.raises(services.ClaimsError, match="本乡镇"):
        services.screening_record_village(
            user=township_user,
            village=world.west_village,
            year=2025,
            round="checkup",
            checked_on=datetime.date(2025, 3, 2),
            entries=[],
        )


# --- contracts and follow-ups ---------------------------------------------------------------------


def test_contract_sign_checks_team_members_and_one_contract_in_force(world, township_user, in_2025):
    household = HouseholdFactory(village=world.east_village, number="E002")
    head = MemberFactory(household=household, relation="head")
    MemberFactory(household=household, relation="spouse")
    with pytest.raises(services.ClaimsError, match="本乡镇卫生院的团队"):
        services.contract_sign(
            user=township_user,
            household=household,
            team=world.west_team,
            package=world.package,
            start_date=datetime.date(2025, 2, 1),
        )
    with pytest.raises(services.ClaimsError, match="本户成员"):
        services.contract_sign(
            user=township_user,
            household=household,
            team=world.east_team,
            package=world.package,
            start_date=datetime.date(2025, 2, 1),
            members=[world.east_head],
        )
    contract = services.contract_sign(
        user=township_user,
        household=household,
        team=world.east_team,
        package=world.package,
        start_date=datetime.date(2025, 2, 1),
        members=[head],
    )
    assert contract.end_date == datetime.date(2026, 1, 31)
    assert list(contract.members.all()) == [head]
    with pytest.raises(services.ClaimsError, match="已有履约中的签约"):
        services.contract_sign(
            user=township_user,
            household=household,
            team=world.east_team,
            package=world.package,
            start_date=datetime.date(2025, 3, 1),
        )
    terminated = services.contract_terminate(
        user=township_user, contract=contract, version=1, reason="迁出本乡"
    )
    assert terminated.status == "terminated"
    again = services.contract_sign(
        user=township_user,
        household=household,
        team=world.east_team,
        package=world.package,
        start_date=datetime.date(2025, 3, 1),
    )
    assert again.members.count() == 2


def test_sign_village_previews_then_signs_only_unsigned_households(world, township_user, in_2025):
    new = [HouseholdFactory(village=world.east_village, number=f"E1{i}") for i in range(3)]
    for household in new:
        MemberFactory(household=household, relation="head")
    MemberFactory(household=new[0], relation="spouse")
    kwargs = dict(
        user=township_user,
        village=world.east_village,
        team=world.east_team,
        package=world.package,
        start_date=datetime.date(2025, 4, 1),
    )
    preview = services.contract_sign_village(dry_run=True, **kwargs)
    assert [h["number"] for h in preview.households] == ["E10", "E11", "E12"]  # E001 is signed already
    assert preview.members_signed == 4 and preview.contracts_created == 0
    assert Contract.objects.filter(household__in=new).count() == 0
    done = services.contract_sign_village(**kwargs)
    assert done.contracts_created == 3
    assert Contract.objects.get(household=new[0]).members.count() == 2
    assert Contract.objects.get(household=new[1]).history.get().history_change_reason.startswith("整村签约")
    assert services.contract_sign_village(dry_run=True, **kwargs).households == []
    with pytest.raises(services.ClaimsError, match="本乡镇"):
        services.contract_sign_village(**{**kwargs, "village": world.west_village})


def test_followup_rules(world, township_user):
    contract = world.east_contract
    base = dict(
        user=township_user,
        contract=contract,
        member=world.east_head,
        date=datetime.date(2025, 3, 1),
        kind="home_visit",
    )
    for extra, message in [
        ({"member": world.west_head}, "签约成员"),
        ({"doctor": world.west_team.members.create(name="外乡医生", role="nurse")}, "签约团队的成员"),
        ({"date": datetime.date(2024, 12, 1)}, "早于签约开始日期"),
        ({"date": datetime.date(2099, 1, 1)}, "不能晚于今天"),
        ({"systolic": 140}, "同时填写"),
        ({"systolic": 80, "diastolic": 90}, "舒张压应低于收缩压"),
        ({"glucose": D("80")}, "血糖"),
    ]:
        with pytest.raises(services.ClaimsError, match=message):
            services.followup_create(**{**base, **extra})
    followup = services.followup_create(
        **base, systolic=150, diastolic=95, glucose=D("7.2"), doctor=world.doctor
    )
    assert followup.created_by == township_user


def test_contracts_without_followup_in_their_first_quarter(world, township_user):
    on = datetime.date(2025, 6, 1)
    late = ContractFactory(
        household=HouseholdFactory(village=world.east_village),
        team=world.east_team,
        start_date=datetime.date(2025, 1, 1),
    )
    MemberFactory(household=late.household)
    late.members.set(late.household.members.all())
    FollowUpFactory(
        contract=late, member=late.household.members.first(), date=datetime.date(2025, 4, 30)
    )  # day 119
    recent = ContractFactory(
        household=HouseholdFactory(village=world.east_village),
        team=world.east_team,
        start_date=datetime.date(2025, 4, 1),
    )  # its quarter is not over
    found = set(selectors.contracts_without_followup(township_user, on=on))
    assert late in found and recent not in found
    assert world.east_contract not in found  # followed up on day 36
    assert world.west_contract not in found  # other township


def test_members_due_for_followup(world, township_user):
    on = datetime.date(2025, 6, 1)
    due = list(selectors.members_due_followup(township_user, on=on))
    # The chronic head was last followed up on 2025-02-20 (over 90 days); her healthy son is not listed.
    assert due == [world.east_head]
    assert due[0].last_followup == datetime.date(2025, 2, 20)
    FollowUpFactory(contract=world.east_contract, member=world.east_head, date=datetime.date(2025, 5, 20))
    assert list(selectors.members_due_followup(township_user, on=on)) == []
    assert list(selectors.members_due_followup(township_user, on=datetime.date(2025, 8, 19))) == [
        world.east_head
    ]


def test_contracts_expire(world):
    assert services.contracts_expire(on=datetime.date(2026, 1, 15)) == 2
    assert set(Contract.objects.values_list("status", flat=True)) == {"expired"}


def test_reference_data_is_for_county_staff_and_names_are_unique(world, county_user, township_user):
    from claims.models import Institution

    with pytest.raises(PermissionDenied):
        services.reference_save(
            user=township_user, model=Institution, values={"name": "新医院", "level": "county"}
        )
    with pytest.raises(services.ClaimsError, match="已存在"):
        services.reference_save(
            user=county_user, model=Institution, values={"name": "县人民医院", "level": "county"}
        )
    with pytest.raises(services.ClaimsError, match="必须填写所在乡镇"):
        services.reference_save(
            user=county_user, model=Institution, values={"name": "某卫生院", "level": "township"}
        )
    hospital = services.reference_save(
        user=county_user, model=Institution, instance=world.city_hospital, values={"designated": False}
    )
    assert hospital.designated is False and hospital.history.count() == 2
