"""A small world for payments: two townships, a county hospital and a township clinic,
patients of each township with settled encounters, three county staff (drafter, checker,
approver), a fund with income, payee accounts and a bank file layout."""

import datetime
from decimal import Decimal

import pytest

from payments import services
from payments.models import BankFileColumn, BankFileLayout
from tests.factories import (
    TEST_FUNDS,
    ClinicFactory,
    EncounterFactory,
    HouseholdFactory,
    InstitutionFactory,
    MemberFactory,
    make_settlement,
    make_user,
    policy_for,
)

BASIC = TEST_FUNDS["basic_insurance"][1]  # 城乡居民医保基金


def encounter(member, institution, day, total="1000.00", in_policy="800.00"):
    return EncounterFactory(
        member=member,
        institution=institution,
        kind="inpatient",
        admission_date=day,
        discharge_date=day,
        total_cost=Decimal(total),
        in_policy_cost=Decimal(in_policy),
    )


@pytest.fixture
def staff(db):
    return {
        "drafter": make_user("drafter", "county"),
        "checker": make_user("checker", "county"),
        "approver": make_user("approver", "county"),
    }


@pytest.fixture
def world(areas, staff):
    policy = policy_for(2025)
    policy.document = {"tiers": [{"key": k, "fund": fund} for k, (_, fund) in TEST_FUNDS.items()]}
    policy.save()
    hospital = InstitutionFactory(name="县人民医院")
    clinic = ClinicFactory(township=areas["east"])
    east = MemberFactory(name="张东", household=HouseholdFactory(village=areas["east_village"]))
    west = MemberFactory(name="李西", household=HouseholdFactory(village=areas["west_village"]))
    drafter = staff["drafter"]
    fund = services.fund_create(user=drafter, code="YB", name=BASIC)
    services.fund_income_record(
        user=drafter,
        fund=fund,
        kind="appropriation",
        received_on=datetime.date(2025, 1, 5),
        amount="100000.00",
        document_number="财社〔2025〕1号",
    )
    # Settled by hand (make_settlement): the fund pays these shares.
    s1 = make_settlement(
        encounter(east, hospital, datetime.date(2025, 1, 10)), {"basic_insurance": Decimal("600.00")}
    )
    s2 = make_settlement(
        encounter(west, hospital, datetime.date(2025, 2, 11)), {"basic_insurance": Decimal("450.50")}
    )
    s3 = make_settlement(
        encounter(east, clinic, datetime.date(2025, 2, 20), "300.00", "300.00"),
        {"basic_insurance": Decimal("240.25")},
    )
    s4 = make_settlement(
        encounter(west, clinic, datetime.date(2025, 4, 2)), {"basic_insurance": Decimal("99.99")}
    )
    for institution, number in ((hospital, "6222000011112222333"), (clinic, "6222000099998888777")):
        services.institution_account_save(
            user=drafter,
            institution=institution,
            bank_name="农商银行",
            account_name=institution.name,
            account_number=number,
        )
    for member, number in ((east, "6217000012345678901"), (west, "6217000087654321098")):
        services.bank_account_save(
            user=drafter,
            household=member.household,
            member=member,
            kind="social_card",
            bank_name="农商银行",
            account_name=member.name,
            account_number=number,
        )
    layout = BankFileLayout.objects.create(name="农商银行代发", bank_name="农商银行", file_format="xlsx")
    for position, (header, field) in enumerate(
        [
            ("序号", "seq"),
            ("收款账号", "account_number"),
            ("收款户名", "account_name"),
            ("金额", "amount"),
            ("用途", "purpose"),
        ],
        start=1,
    ):
        BankFileColumn.objects.create(layout=layout, position=position, header=header, field=field)
    csv_layout = BankFileLayout.objects.create(
        name="信用社CSV", bank_name="信用社", file_format="csv", encoding="gbk"
    )
    for position, (header, field) in enumerate(
        [("账号", "account_number"), ("户名", "account_name"), ("金额", "amount"), ("摘要", "purpose")],
        start=1,
    ):
        BankFileColumn.objects.create(layout=csv_layout, position=position, header=header, field=field)
    return {
        "fund": fund,
        "hospital": hospital,
        "clinic": clinic,
        "east": east,
        "west": west,
        "settlements": [s1, s2, s3, s4],
        "layout": layout,
        "csv_layout": csv_layout,
        **staff,
    }


def walk_to_export(world, batch, layout=None):
    """Check, approve and export ``batch`` by three different people; the file's content."""
    services.batch_check(user=world["checker"], batch=batch)
    services.batch_approve(user=world["approver"], batch=batch)
    content, _ = services.batch_export(user=world["drafter"], batch=batch, layout=layout or world["layout"])
    return content
