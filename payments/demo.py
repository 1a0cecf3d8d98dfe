"""The demo county's payments: a fund account for each fund its policies and subsidies name,
with a yearly appropriation, and one bank file layout (Excel) to export with."""

import datetime
from decimal import Decimal

from settlement.models import Policy

from . import services
from .models import BankFileColumn, BankFileLayout

DEMO_LAYOUT = [
    ("序号", "seq"),
    ("收款账号", "account_number"),
    ("收款户名", "account_name"),
    ("开户银行", "bank_name"),
    ("金额", "amount"),
    ("用途", "purpose"),
    ("业务编号", "reference"),
]


def load_demo_payments(*, user) -> int:
    created = 0
    for year in sorted(set(Policy.objects.values_list("year", flat=True))):
        for fund in services.funds_sync(user=user, year=year):
            services.fund_income_record(
                user=user,
                fund=fund,
                kind="appropriation",
                received_on=datetime.date(year, 1, 15),
                amount=Decimal("5000000.00"),
                document_number=f"演示〔{year}〕1号",
            )
            created += 1
    if not BankFileLayout.objects.filter(name="通用代发（Excel）").exists():
        layout = BankFileLayout.objects.create(
            name="通用代发（Excel）", bank_name="农村商业银行", file_format="xlsx"
        )
        BankFileColumn.objects.bulk_create(
            BankFileColumn(layout=layout, position=i, header=h, field=f)
            for i, (h, f) in enumerate(DEMO_LAYOUT, start=1)
        )
    return created
