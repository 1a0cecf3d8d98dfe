"""Demo data of the claims app for the demo county (``make run``): institutions, the
catalogue, family-doctor teams and packages, contracts and follow-ups, illness records,
screening, and about 1,500 encounters over a year. Deterministic, and safe to run again:
whatever exists is left alone.

Called by ``load_demo`` (core/demo.py, through ``ClaimsConfig.demo_load``) once the demo roster is loaded:
``load_demo_claims(user=county_user, year=2025)``.
"""

from __future__ import annotations

import datetime
import math
import random
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from registry.models import Household, Member, Township

from . import encounter_rows, reference_data, selectors, services
from .models import (
    CatalogueItem,
    Contract,
    Encounter,
    FollowUp,
    IllnessRecord,
    Institution,
    Screening,
    ServicePackage,
    Team,
    TeamMember,
)
from .reference import load_reference_data

N_ENCOUNTERS = 1500
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
_GIVEN = ("建华", "秀梅", "志刚", "丽娟", "国庆", "海燕", "文明", "春花", "永强", "晓燕", "红军", "玉芳")
_CHRONIC = (("I10", "原发性高血压"), ("E11.9", "2型糖尿病"), ("A16.2", "肺结核"), ("F20.9", "精神分裂症"))
_SERIOUS = (
    ("C16.9", "胃癌"),
    ("C34.1", "肺癌"),
    ("N18.5", "慢性肾脏病5期"),
    ("I21.0", "急性心肌梗死"),
    ("I63.9", "脑梗死"),
    ("C50.9", "乳腺癌"),
    ("H25.9", "老年性白内障"),
    ("J44.1", "慢性阻塞性肺病急性加重"),
)
_COMMON = (
    ("J06.9", "急性上呼吸道感染"),
    ("K29.7", "胃炎"),
    ("M54.5", "腰痛"),
    ("J18.9", "肺炎"),
    ("K80.2", "胆囊结石"),
    ("S52.5", "桡骨远端骨折"),
    ("N39.0", "泌尿道感染"),
    ("M17.1", "膝关节病"),
)
_PACKAGES = (("K35", "K35.8", "急性阑尾炎"), ("O80", "O80.0", "单胎顺产"))
# (level, weight) by kind; median cost (yuan) and lognormal spread by kind.
_LEVELS = {
    "outpatient": (("village", 45), ("township", 45), ("county", 10)),
    "outpatient_chronic": (("township", 55), ("county", 45)),
    "inpatient": (("township", 25), ("county", 45), ("city", 18), ("province", 9), ("out_of_province", 3)),
}
_COST = {"outpatient": (90, 0.7), "outpatient_chronic": (320, 0.6), "inpatient": (7000, 0.9)}
_LEVEL_FACTOR = {
    "village": 0.5,
    "township": 0.7,
    "county": 1.0,
    "city": 1.6,
    "province": 2.4,
    "out_of_province": 3.0,
}


def _pick(rng, mix):
    values, weights = zip(*mix)
    return rng.choices(values, weights)[0]


def _money(value) -> Decimal:
    return Decimal(str(round(value, 2))).quantize(Decimal("0.01"))


def _date_in(rng, year, until):
    start = datetime.date(year, 1, 1)
    end = min(datetime.date(year, 12, 31), until)
    return start + datetime.timedelta(days=rng.randrange(max(1, (end - start).days + 1)))


@transaction.atomic
def load_demo_claims(*, user, year: int) -> dict:
    """Create the claims demo data for ``year``; returns what was created."""
    rng = random.Random(year)
    today = selectors.today()
    until = min(today, datetime.date(year, 12, 31))
    out = {"reference": load_reference_data(clinics=True, demo_hospitals=True, packages=True)}
    teams = _teams(rng)
    out["teams"] = len(teams)
    out["contracts"], out["followups"] = _contracts(rng, user, year, until, teams)
    out["illnesses"] = _illnesses(rng, user, year, until)
    out["screenings"] = _screenings(rng, user, year, until)
    out["encounters"] = _encounters(rng, user, year, until)
    out["catalogue"] = load_demo_catalogue(user=user)
    return out


# The demo county's medical-insurance catalogue (医保目录): the codes of the itemised golden
# cases (../shared/settlement-cases/demo-county-2025-items.*) with their class and category;
# X1 (a 丙类 line of the cases) is left out, so a bill using it shows 「不在目录内」.
DEMO_CATALOGUE = (
    # code, name, category, class, unit price, unit
    ("A1", "青霉素钠注射液", "western_drug", "A", "2.50", "支"),
    ("A9", "葡萄糖氯化钠注射液", "western_drug", "A", "4.80", "袋"),
    ("B1", "彩色多普勒超声检查", "exam", "B", "160.00", "次"),
    ("B2", "头孢呋辛钠注射液", "western_drug", "B", "18.60", "支"),
    ("B3", "住院诊查费", "treatment", "B", "12.00", "日"),
    ("C1", "进口心脏支架", "material", "C", None, "个"),
    ("C2", "特需病房床位费", "other", "C", "200.00", "日"),
    ("D1", "阿莫西林胶囊", "western_drug", "A", "12.50", "盒"),
    ("D2", "复方丹参滴丸", "patent_drug", "B", "26.00", "盒"),
    ("E1", "胸部CT平扫", "exam", "B", "180.00", "次"),
    ("H1", "中药饮片（按剂）", "herbal", "B", None, "剂"),
    ("L1", "血常规", "lab", "A", "20.00", "次"),
    ("M1", "一次性使用输液器", "material", "B", "3.50", "套"),
    ("M2", "医用外科口罩", "material", "B", "0.80", "个"),
    ("S1", "阑尾切除术", "surgery", "A", "1200.00", "次"),
    ("S2", "腹腔镜胆囊切除术", "surgery", "A", "2600.00", "次"),
)


def load_demo_catalogue(*, user) -> int:
    """Create the demo catalogue's items that are missing (a second load adds nothing)."""
    have = set(CatalogueItem.objects.values_list("code", flat=True))
    new = [
        CatalogueItem(
            code=code,
            name=name,
            category=category,
            item_class=item_class,
            unit_price=Decimal(price) if price else None,
            unit=unit,
        )
        for code, name, category, item_class, price, unit in DEMO_CATALOGUE
        if code not in have
    ]
    bulk_create_with_history(new, CatalogueItem, default_user=user, default_change_reason="演示数据")
    return len(new)


def _teams(rng) -> dict[int, Team]:
    """One team per township clinic, with a county doctor, a township doctor, village doctors
    and a nurse."""
    teams = {}
    for township in Township.objects.order_by("name"):
        clinic = Institution.objects.filter(name=reference_data.clinic_name(township.name)).first()
        if clinic is None:
            continue
        team, created = Team.objects.get_or_create(
            institution=clinic, name=f"{township.name}家庭医生一团队", defaults={"township": township}
        )
        if created:
            roles = (
                "county_doctor",
                "township_doctor",
                "township_doctor",
                "village_doctor",
                "village_doctor",
                "nurse",
            )
            for role in roles:
                name = rng.choice(_SURNAMES) + rng.choice(_GIVEN)
                TeamMember.objects.create(
                    team=team, name=name, role=role, phone=f"13{rng.randrange(10**9):09d}"
                )
        teams[township.pk] = team
    return teams


def _contracts(rng, user, year, until, teams):
    """Most households signed early in the year; a few left unsigned; a few signed without
    any follow-up (签而不约); quarterly follow-ups for the others."""
    if Contract.objects.filter(start_date__year=year).exists() or not teams:
        return 0, 0
    packages = list(ServicePackage.objects.filter(active=True).order_by("price"))
    households = list(Household.objects.select_related("village").order_by("number"))
    created = []
    for household in households:
        team = teams.get(household.village.township_id)
        if team is None or rng.random() < 0.06:
            continue  # unsigned
        start = datetime.date(year, 1, 1) + datetime.timedelta(days=rng.randrange(75))
        if start > until:
            continue
        package = packages[0] if rng.random() < 0.7 else rng.choice(packages)
        try:
            created.append(
                services.contract_sign(
                    user=user, household=household, team=team, package=package, start_date=start
                )
            )
        except services.ClaimsError:
            continue
    doctors = {team.pk: list(team.members.all()) for team in teams.values()}
    followups = []
    for contract in created:
        if rng.random() < 0.08:
            continue  # 签而不约
        members = list(contract.members.all())
        day = contract.start_date + datetime.timedelta(days=rng.randrange(10, 80))
        while day <= until:
            member = rng.choice(members)
            sick = member.health_status in ("chronic", "serious")
            systolic = rng.randint(118, 168) if sick else None
            followups.append(
                FollowUp(
                    contract=contract,
                    member=member,
                    date=day,
                    doctor=rng.choice(doctors[contract.team_id]),
                    kind=_pick(rng, (("home_visit", 55), ("checkup", 30), ("phone", 15))),
                    systolic=systolic,
                    diastolic=(systolic - rng.randint(35, 55)) if systolic else None,
                    glucose=_money(rng.uniform(4.8, 11.5)).quantize(Decimal("0.1"))
                    if sick and rng.random() < 0.5
                    else None,
                    notes="血压控制尚可，嘱规律服药" if sick else "一般情况良好",
                    created_by=user,
                )
            )
            day += datetime.timedelta(days=rng.randint(75, 110))
    bulk_create_with_history(
        followups, FollowUp, default_user=user, default_change_reason="演示数据", default_date=timezone.now()
    )
    return len(created), len(followups)


def _illnesses(rng, user, year, until):
    """An illness record for members whose health status is chronic or serious."""
    if IllnessRecord.objects.exists():
        return 0
    catalogue, diseases = selectors.catalogue_index()
    hospitals = {
        level: list(Institution.objects.filter(level=level)) for level in ("county", "city", "province")
    }
    records = []
    for member in Member.objects.filter(health_status__in=("chronic", "serious")).order_by("id"):
        serious = member.health_status == "serious"
        code, name = rng.choice(_SERIOUS if serious else _CHRONIC)
        disease_id = catalogue.first(code)
        disease = diseases.get(disease_id)
        diagnosed = _date_in(rng, year - rng.randrange(3), until)
        status = rng.choice(("pending", "treating", "treated", "treated")) if serious else "managed"
        total = _money(rng.lognormvariate(math.log(30000 if serious else 3000), 0.6))
        basic = _money(float(total) * rng.uniform(0.5, 0.65))
        catastrophic = _money(float(total) * rng.uniform(0.05, 0.15)) if serious else Decimal("0.00")
        aid = _money(float(total) * rng.uniform(0.05, 0.15))
        records.append(
            IllnessRecord(
                member=member,
                disease=disease,
                diagnosis_code=code,
                diagnosis_name=name,
                diagnosed_on=diagnosed,
                diagnosed_at=rng.choice(hospitals["county"] + hospitals["city"])
                if hospitals["county"]
                else None,
                treatment_way=disease.treatment_way if disease else "",
                status=status,
                treatment_plan=(
                    "到定点医院集中救治，按单病种付费"
                    if serious
                    else "家庭医生签约管理，每季度随访，规律服药"
                ),
                total_cost=total,
                basic_insurance=basic,
                catastrophic_insurance=catastrophic,
                civil_aid=aid,
                self_pay=total - basic - catastrophic - aid,
                result="病情稳定" if status == "treated" else "",
                created_by=user,
            )
        )
    bulk_create_with_history(
        records,
        IllnessRecord,
        default_user=user,
        default_change_reason="演示数据",
        default_date=timezone.now(),
    )
    return len(records)


def _screenings(rng, user, year, until):
    if Screening.objects.filter(year=year).exists():
        return 0
    records = []
    for member in Member.objects.order_by("id"):
        if rng.random() < 0.85:
            sick = member.health_status in ("chronic", "serious")
            records.append(
                Screening(
                    member=member,
                    year=year,
                    round="checkup",
                    checked=True,
                    checked_on=_date_in(rng, year, min(until, datetime.date(year, 4, 30))),
                    findings=("血压偏高，建议复查" if sick and rng.random() < 0.5 else ""),
                    checked_by=user,
                )
            )
    bulk_create_with_history(
        records, Screening, default_user=user, default_change_reason="演示数据", default_date=timezone.now()
    )
    return len(records)


def _encounters(rng, user, year, until):
    """About N_ENCOUNTERS visits and stays over the year, through the Excel import's service,
    so the demo also shows what an import leaves behind."""
    prefix = f"DEMO{year}-"
    if Encounter.objects.filter(ref__startswith=prefix).exists():
        return 0
    members = list(
        Member.objects.order_by("id").values(
            "id",
            "id_number",
            "name",
            "sex",
            "birth_date",
            "health_status",
            "household__village__township__name",
        )
    )
    if not members:
        return 0
    by_level = {}
    for institution in (
        Institution.objects.filter(designated=True).select_related("township").order_by("name")
    ):
        by_level.setdefault(institution.level, []).append(institution)
    sick = [m for m in members if m["health_status"] in ("chronic", "serious")] or members
    rows = []
    for n in range(N_ENCOUNTERS):
        kind = _pick(rng, (("outpatient", 45), ("outpatient_chronic", 30), ("inpatient", 25)))
        member = rng.choice(sick if kind != "outpatient" and rng.random() < 0.7 else members)
        level = _pick(rng, _LEVELS[kind])
        local = [
            i
            for i in by_level.get(level, ())
            if i.township is None or i.township.name == member["household__village__township__name"]
        ]
        institution = rng.choice(local or by_level.get("county") or by_level[next(iter(by_level))])
        admission = _date_in(rng, year, until)
        median, sigma = _COST[kind]
        package = ""
        code, name = rng.choice(
            _CHRONIC
            if kind == "outpatient_chronic"
            else _SERIOUS + _COMMON
            if member["health_status"] == "serious"
            else _COMMON
        )
        discharge = None
        if kind == "inpatient":
            discharge = min(until, admission + datetime.timedelta(days=rng.randint(2, 18)))
            if level in ("township", "county") and rng.random() < 0.12:
                package, code, name = rng.choice(_PACKAGES)
                if package == "O80" and member["sex"] != "F":
                    package, code, name = _PACKAGES[0]
        total = _money(rng.lognormvariate(math.log(median * _LEVEL_FACTOR[level]), sigma))
        in_policy = _money(float(total) * rng.uniform(0.7, 0.95))
        referred = not (level in ("city", "province", "out_of_province") and rng.random() < 0.2)
        rows.append(
            encounter_rows.EncounterRow(
                n + 2,
                f"{prefix}{n + 1:05d}",
                member["name"],
                member["id_number"],
                institution.name,
                kind,
                admission,
                discharge,
                code,
                name,
                total,
                in_policy,
                package,
                referred,
            )
        )
    report = services.encounter_import(
        rows=encounter_rows.serialize_encounters(rows), user=user, source_name="演示县全年就诊", today=until
    )
    return report.created


# The demo's 定点医疗机构 login (its institution: the first county-level demo hospital).
DEMO_HOSPITAL_USER = ("hospital", "hospital-demo-2025", "县医院收费处 赵会计")


def load_demo_hospital_account(*, user) -> Institution | None:
    """A 定点医疗机构 login bound to the first county-level demo hospital (no API token: county
    staff generate one on the page, its key is shown once). Returns its institution."""
    from django.contrib.auth import get_user_model

    from registry.models import Profile, Role

    from .services import institution_account_link

    institution = Institution.objects.filter(level="county").order_by("name").first()
    if institution is None:
        return None
    username, password, display = DEMO_HOSPITAL_USER
    account = get_user_model().objects.filter(username=username).first()
    if account is None:
        account = get_user_model().objects.create_user(username, password=password, first_name=display)
        Profile.objects.create(user=account, role=Role.HOSPITAL)
    institution_account_link(user=user, account=account, institution=institution)
    return institution
