"""Reference data loading and the demo county's claims data."""

from django.core.management import call_command

from claims import selectors
from claims.demo import load_demo_claims
from claims.models import Contract, Disease, Encounter, FollowUp, IllnessRecord, Institution, Screening, Team
from registry import services as registry_services
from registry.demo import DEMO_TOWNSHIPS, synthetic_roster


def test_load_reference_data_is_idempotent_and_keeps_county_edits(db, capsys):
    call_command("load_reference_data")
    assert "病种：新增 36" in capsys.readouterr().out
    assert Disease.objects.filter(group="serious").count() == 32
    stomach = Disease.objects.get(code="C16")
    stomach.active = False
    stomach.name = "胃恶性肿瘤"
    stomach.save()
    call_command("load_reference_data")
    assert "保留 36" in capsys.readouterr().out
    assert Disease.objects.get(code="C16").name == "胃恶性肿瘤"
    assert selectors.match_diseases("C16.9") == []  # switched off by the county
    call_command("load_reference_data", "--overwrite")
    assert Disease.objects.get(code="C16").name == "胃癌"


def test_demo_claims_fill_every_page_and_run_again_without_change(county_user):
    rows = synthetic_roster(60, seed=5, townships=list(DEMO_TOWNSHIPS))
    registry_services.roster_import(rows=rows, user=county_user, create_areas=True)
    result = load_demo_claims(user=county_user, year=2025)
    assert result["encounters"] == Encounter.objects.count() == 1500
    assert Institution.objects.filter(level="township").count() == len(DEMO_TOWNSHIPS)
    assert Team.objects.count() == len(DEMO_TOWNSHIPS)
    assert Contract.objects.count() == result["contracts"] > 0
    assert FollowUp.objects.count() == result["followups"] > 0
    assert IllnessRecord.objects.count() == result["illnesses"] > 0
    assert Screening.objects.count() == result["screenings"] > 0
    kinds = set(Encounter.objects.values_list("kind", flat=True))
    assert kinds == {"outpatient", "outpatient_chronic", "inpatient"}
    assert Encounter.objects.exclude(package="").exists()
    assert Encounter.objects.filter(
        referred=False, institution__level__in=("city", "province", "out_of_province")
    ).exists()
    levels = set(Encounter.objects.values_list("institution__level", flat=True))
    assert {"village", "township", "county", "city", "province"} <= levels
    assert all(
        e.in_policy_cost <= e.total_cost for e in Encounter.objects.only("total_cost", "in_policy_cost")
    )
    counts = (
        Encounter.objects.count(),
        Contract.objects.count(),
        FollowUp.objects.count(),
        IllnessRecord.objects.count(),
        Screening.objects.count(),
    )
    again = load_demo_claims(user=county_user, year=2025)
    assert again["encounters"] == again["contracts"] == again["illnesses"] == 0
    assert (
        Encounter.objects.count(),
        Contract.objects.count(),
        FollowUp.objects.count(),
        IllnessRecord.objects.count(),
        Screening.objects.count(),
    ) == counts
