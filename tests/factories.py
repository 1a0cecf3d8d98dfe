"""factory-boy factories for test data."""

import datetime
import itertools

import factory
from django.contrib.auth import get_user_model

from registry.idnumber import make_id_number
from registry.models import Household, Member, Profile, Township, Village

_serial = itertools.count(1)


class TownshipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Township
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"测试{n}乡")


class VillageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Village
        django_get_or_create = ("township", "name")

    township = factory.SubFactory(TownshipFactory)
    name = factory.Sequence(lambda n: f"第{n}村")


class HouseholdFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Household

    number = factory.Sequence(lambda n: f"6402210{n:08d}")
    village = factory.SubFactory(VillageFactory)
    poverty_status = "poor"
    attribute = "general"
    main_cause = "illness"


def next_id_number(sex="M", birth=datetime.date(1970, 5, 17)):
    seq = next(_serial) % 500
    # The 17th digit (last of the 3-digit sequence) is odd for men.
    seq3 = seq * 2 + (1 if sex == "M" else 0)
    return make_id_number("640221", birth, seq3)


class MemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Member

    household = factory.SubFactory(HouseholdFactory)
    name = factory.Sequence(lambda n: f"成员{n}")
    sex = "M"
    birth_date = datetime.date(1970, 5, 17)
    id_number = factory.LazyAttribute(lambda o: next_id_number(o.sex, o.birth_date))
    relation = "head"
    insured = True
    aid_category = "none"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")

    @factory.post_generation
    def password(obj, create, extracted, **kwargs):
        obj.set_password(extracted or "test-pass-123")
        obj.save()


def make_user(username, role, township=None, **kwargs):
    """A user with a role (``county`` / ``township`` / ``supervisor``)."""
    user = UserFactory(username=username, **kwargs)
    Profile.objects.update_or_create(user=user, defaults={"role": role, "township": township})
    return user


# --- claims ---------------------------------------------------------------------------------------

from decimal import Decimal  # noqa: E402

from claims.models import (  # noqa: E402
    Contract,
    Disease,
    Encounter,
    FollowUp,
    IllnessRecord,
    Institution,
    ServicePackage,
    Team,
    TeamMember,
)


class InstitutionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Institution
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"第{n}人民医院")
    level = "county"
    designated = True


class ClinicFactory(InstitutionFactory):
    """A township clinic (乡镇卫生院) of ``township``."""

    name = factory.LazyAttribute(lambda o: f"{o.township.name}卫生院")
    level = "township"
    township = factory.SubFactory(TownshipFactory)


class DiseaseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Disease
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"Z{n % 100:02d}")
    name = factory.Sequence(lambda n: f"病种{n}")
    group = "other"


class EncounterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Encounter

    ref = factory.Sequence(lambda n: f"T{n:06d}")
    member = factory.SubFactory(MemberFactory)
    institution = factory.SubFactory(InstitutionFactory)
    kind = "outpatient"
    admission_date = datetime.date(2025, 3, 10)
    total_cost = Decimal("200.00")
    in_policy_cost = Decimal("150.00")
    diagnosis_code = "J06.9"


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team

    name = factory.Sequence(lambda n: f"家庭医生{n}团队")
    institution = factory.SubFactory(ClinicFactory)
    township = factory.SelfAttribute("institution.township")


class TeamMemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TeamMember

    team = factory.SubFactory(TeamFactory)
    name = factory.Sequence(lambda n: f"医生{n}")
    role = "village_doctor"


class PackageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ServicePackage
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"服务包{n}")
    tier = "basic"
    items = "建立健康档案\n健康体检"
    price = Decimal("60.00")
    personal_share = Decimal("0.00")


class ContractFactory(factory.django.DjangoModelFactory):
    """A contract in force signing every member the household has when it is made."""

    class Meta:
        model = Contract
        skip_postgeneration_save = True

    household = factory.SubFactory(HouseholdFactory)
    team = factory.SubFactory(TeamFactory)
    package = factory.SubFactory(PackageFactory)
    start_date = datetime.date(2025, 1, 15)
    end_date = datetime.date(2026, 1, 14)

    @factory.post_generation
    def members(obj, create, extracted, **kwargs):
        if create:
            obj.members.set(extracted if extracted is not None else obj.household.members.all())


class FollowUpFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FollowUp

    contract = factory.SubFactory(ContractFactory)
    member = factory.LazyAttribute(lambda o: o.contract.members.first())
    date = datetime.date(2025, 2, 20)
    kind = "home_visit"


class IllnessFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = IllnessRecord

    member = factory.SubFactory(MemberFactory)
    diagnosis_code = "I10"
    diagnosis_name = "高血压"
    diagnosed_on = datetime.date(2024, 6, 1)
    status = "managed"


# --- settlements written by hand (dashboards tests) ----------------------------------------------

from settlement.models import Policy, Settlement, SettlementLine  # noqa: E402

TEST_FUNDS = {
    "basic_insurance": ("城乡居民基本医疗保险", "城乡居民医保基金"),
    "catastrophic_insurance": ("城乡居民大病保险", "大病保险承办机构"),
    "medical_aid": ("城乡医疗救助", "医疗救助资金专户"),
    "supplementary": ("扶贫特惠保", "商业补充保险"),
    "backstop": ("政府兜底保障", "县级健康扶贫兜底资金"),
}


def policy_for(year):
    policy, _ = Policy.objects.get_or_create(
        code=f"test-{year}",
        defaults={"name": f"测试政策{year}", "year": year, "status": "active", "document": {}},
    )
    return policy


def make_settlement(encounter, payouts, *, replaces=None):
    """A current settlement of ``encounter`` as the engine would store it: ``payouts`` maps a
    tier kind (TEST_FUNDS) to its amount, the patient pays the rest. ``replaces`` is the
    current settlement this one re-settles (it is kept, superseded)."""
    paid = sum(payouts.values(), Decimal("0.00"))
    self_pay = encounter.total_cost - paid
    in_policy = min(max(encounter.in_policy_cost - paid, Decimal("0.00")), self_pay)
    if replaces is not None:
        replaces.is_current = False
        replaces.save(update_fields=["is_current"])
    settlement = Settlement.objects.create(
        encounter=encounter,
        member=encounter.member,
        institution=encounter.institution,
        year=encounter.service_date.year,
        service_date=encounter.service_date,
        policy=policy_for(encounter.service_date.year),
        total_cost=encounter.total_cost,
        payouts_total=paid,
        self_pay=self_pay,
        in_policy_self_pay=in_policy,
        out_of_policy_self_pay=self_pay - in_policy,
        self_pay_difference=(self_pay - replaces.self_pay) if replaces else Decimal("0.00"),
    )
    SettlementLine.objects.bulk_create(
        [
            SettlementLine(
                settlement=settlement,
                position=position,
                tier_key=kind,
                tier_kind=kind,
                tier_name=TEST_FUNDS[kind][0],
                fund=TEST_FUNDS[kind][1],
                amount=amount,
            )
            for position, (kind, amount) in enumerate(payouts.items(), start=1)
        ]
    )
    if replaces is not None:
        replaces.superseded_by = settlement
        replaces.save(update_fields=["superseded_by"])
    return settlement


# --- the hospital's window (定点医疗机构) -------------------------------------------------------------


def make_hospital_user(username, institution):
    """A 定点医疗机构 user bound to ``institution`` (claims.InstitutionUser)."""
    from claims.models import InstitutionUser

    user = make_user(username, "hospital")
    InstitutionUser.objects.update_or_create(user=user, defaults={"institution": institution})
    return user


def hospital_token(county_user, account, institution=None):
    """A live API token of ``account``'s institution, made by the service: (token, key)."""
    from claims import services
    from claims.models import InstitutionUser

    institution = institution or InstitutionUser.objects.get(user=account).institution
    return services.institution_token_create(user=county_user, institution=institution, account=account)


class CatalogueItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "claims.CatalogueItem"

    code = factory.Sequence(lambda n: f"ML{n:04d}")
    name = factory.Sequence(lambda n: f"目录项目{n}")
    category = "western_drug"
    item_class = "A"
