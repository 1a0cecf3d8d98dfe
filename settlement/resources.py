"""Excel exports of the settlement pages (``core.export`` sheets).

Lists of settlements are model exports with one column per tier of the policies in the list;
the ledger, a re-settlement's differences and a simulation are exports of rows the selectors
computed. ID numbers are always masked. Amounts are Decimals with two decimals."""

from decimal import Decimal

from claims.resources import export_resource, masked_id

ZERO = Decimal("0.00")


def _lines(obj):
    # From the prefetched lines: no query per row.
    return {line.tier_key: line.amount for line in obj.lines.all()}


def settlement_resource(tiers):
    """The settlement list's export: person, encounter, totals, then ``tiers`` — ``[(key,
    name)]`` — as one column each (0.00 where a settlement has no line for it)."""
    columns = [
        ("结算年度", "year"),
        ("乡镇", "member.household.village.township.name"),
        ("行政村", "member.household.village.name"),
        ("户编号", "member.household.number"),
        ("姓名", "member.name"),
        ("证件号码", masked_id("member.id_number")),
        ("就诊流水号", "encounter.ref"),
        ("医疗机构", "institution.name"),
        ("结算日期", "service_date"),
        ("医疗总费用", "total_cost"),
    ]
    columns += [(name, (lambda key: lambda o: _lines(o).get(key, ZERO))(key)) for key, name in tiers]  # noqa: B023
    columns += [
        ("报销合计", "payouts_total"),
        ("个人自付", "self_pay"),
        ("政策范围内自付", "in_policy_self_pay"),
        ("政策范围外自付", "out_of_policy_self_pay"),
        ("适用政策", "policy.code"),
        ("状态", lambda o: "当前有效" if o.is_current else "已被重新结算"),
        ("计算时间", "computed_at"),
    ]
    return export_resource(columns)
