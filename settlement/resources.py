"""Excel exports of the settlement pages (django-import-export resources).

Lists of settlements are model exports with one column per tier of the policies in the list;
the ledger, a re-settlement's differences and a simulation are exports of rows the selectors
computed. ID numbers are always masked. Amounts are Decimals with two decimals."""

from decimal import Decimal

from import_export import fields, resources

from claims.resources import _masked, export_resource

from .models import Settlement

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
        ("证件号码", _masked("member.id_number")),
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
        ("计算时间", lambda o: o.computed_at.strftime("%Y-%m-%d %H:%M")),
    ]
    return export_resource(Settlement, columns)


def rows_resource(columns):
    """A resource exporting dict rows: ``columns`` is ``[(header, key or callable)]``."""
    attrs, names = {}, []
    for index, (header, value) in enumerate(columns):
        name = f"col{index}"
        names.append(name)
        getter = value if callable(value) else (lambda key: lambda row: row.get(key))(value)
        attrs[name] = fields.Field(column_name=header)
        attrs[f"dehydrate_{name}"] = (lambda get: lambda self, row: get(row))(getter)
    attrs["Meta"] = type("Meta", (), {"fields": tuple(names), "export_order": tuple(names)})
    return type("RowsResource", (resources.Resource,), attrs)


def export_rows(columns, rows):
    return rows_resource(columns)().export(queryset=list(rows))
