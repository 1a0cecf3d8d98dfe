"""The batch writes settlement lines as COPY text (``bulk.insert(text_ready=True, cents=…)``):
strings from a policy document may hold anything COPY's text format treats specially, and
amounts go as int cents. What is read back is what was meant, to the cent."""

from decimal import Decimal

import pytest

from core import bulk
from settlement.batch import LINE_CENTS, LINE_FIELDS
from settlement.models import SettlementLine

pytestmark = pytest.mark.django_db

AWKWARD = ["tab\there", "back\\slash", "new\nline", "cr\rreturn", "\\N", 'comma, "quote"', "医疗救助", ""]


def test_text_ready_rows_keep_awkward_strings_and_exact_cents():
    safe = bulk.text_safe
    rows = (
        (10_000 + i, i + 1, safe(f"k{i}"), safe("basic_insurance"), safe(name), safe(name), cents, -cents)
        for i, (name, cents) in enumerate(zip(AWKWARD, [0, 1, 5, 99, 100, 12345, 10**12 - 1, 7]))
    )
    # A generator, consumed while COPY runs; lines have no database FOREIGN KEY (see the model).
    bulk.insert(SettlementLine, LINE_FIELDS, rows, return_ids=False, text_ready=True, cents=LINE_CENTS)
    stored = list(
        SettlementLine.objects.order_by("position").values_list("tier_name", "fund", "amount", "difference")
    )
    assert [(name, fund) for name, fund, _, _ in stored] == [(name, name) for name in AWKWARD]
    assert [amount for _, _, amount, _ in stored] == [
        Decimal(c).scaleb(-2) for c in [0, 1, 5, 99, 100, 12345, 10**12 - 1, 7]
    ]
    assert all(difference == -amount for _, _, amount, difference in stored)
