"""Tables and charts of the dashboard pages, built from selector results.

A page shows each table from the same ``Table`` object its Excel download writes, so the page
and the file cannot disagree; a chart's data is taken from the table printed under it.
Values stay typed (int, Decimal, date) until the template or openpyxl formats them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import urlencode

from django.urls import reverse

from claims.models import EncounterKind
from core import export
from registry.idnumber import mask_id_number

from . import definitions
from .definitions import Period, percent

KIND_LABELS = dict(EncounterKind.choices)
_UNITS = {"money": "(元)", "pct": "(%)"}
_EXPORT_KINDS = {"int": "int", "money": "money", "pct": "pct", "date": "date", "text": "text"}


def _value(index):
    return lambda cells: cells[index].value


@dataclass
class Cell:
    value: object = None
    kind: str = "text"  # text | int | money | pct | date
    url: str = ""
    missed: bool = False  # the value misses its target


@dataclass
class Column:
    label: str
    kind: str = "text"
    target: str = ""  # a definitions.TARGETS key: the header shows the target


@dataclass
class Table:
    key: str
    title: str
    columns: list[Column]
    rows: list[list[Cell]] = field(default_factory=list)
    row_classes: list[str] = field(default_factory=list)
    footer: list[Cell] | None = None
    note: str = ""

    def add(self, cells: list[Cell], css: str = "") -> None:
        self.rows.append(cells)
        self.row_classes.append(css)

    def sheet(self) -> export.Sheet:
        """The table's columns for ``core.export``: rows are lists of cells."""
        return export.Sheet(
            [
                export.Column(
                    column.label + _UNITS.get(column.kind, ""),
                    _value(index),
                    _EXPORT_KINDS.get(column.kind, ""),
                )
                for index, column in enumerate(self.columns)
            ]
        )

    def export_rows(self) -> list[list[Cell]]:
        return [*self.rows, self.footer] if self.footer else list(self.rows)

    @property
    def lines(self):
        """(css class, cells) of each row, for templates."""
        return list(zip(self.row_classes, self.rows))

    def column_values(self, index: int) -> list:
        return [row[index].value for row in self.rows]


def url(name: str, *args, **params) -> str:
    base = reverse(name, args=args)
    params = {key: value for key, value in params.items() if value is not None and value != ""}
    return f"{base}?{urlencode(params)}" if params else base


# --- drill-down links ---------------------------------------------------------------------------


class Links:
    """The lists behind the figures of one row: ``place`` is {"township": id}, {"village": id}
    or {} (the whole scope)."""

    def __init__(self, period: Period, place: dict):
        self.period = period
        self.place = place
        self.period_params = period.params()

    def households(self):
        return url("registry:household_list", **self.place)

    def members(self):
        return url("registry:member_list", **self.place)

    def figure(self, name: str, **extra):
        return url("dashboards:figure_list", name, **self.place, **self.period_params, **extra)

    def encounters(self, **extra):
        return url(
            "claims:encounter_list",
            **self.place,
            date_from=self.period.start.isoformat(),
            date_to=self.period.end.isoformat(),
            is_current="true",
            **extra,
        )

    def funds(self):
        return url("dashboards:fund_use", year=self.period.year, **self.place)

    def risk(self):
        return url("dashboards:risk_list", year=self.period.year, **self.place)


# --- comparison table (townships or villages) -------------------------------------------------


def _comparison_cells(figures, links: Links, misses: set) -> list[Cell]:
    def rate(key, link=""):
        return Cell(getattr(figures, key), "pct", link, key in misses)

    return [
        Cell(figures.households, "int", links.households()),
        Cell(figures.members, "int", links.members()),
        rate("insured_rate"),
        Cell(figures.members - figures.members_insured, "int", links.figure("uninsured")),
        Cell(figures.illnesses_identified, "int", links.figure("illnesses")),
        Cell(figures.illnesses_treating, "int", links.figure("illnesses", state="treating")),
        Cell(figures.illnesses_treated, "int", links.figure("illnesses", state="treated")),
        rate("treatment_rate"),
        Cell(figures.households_signed, "int"),
        rate("signing_rate", links.figure("unsigned")),
        Cell(figures.contracts_without_followup, "int", links.figure("nofollowup")),
        Cell(figures.encounters, "int", links.encounters()),
        Cell(figures.total_cost, "money"),
        rate("in_county_rate", links.figure("out_of_county")),
        Cell(figures.payouts_total, "money", links.funds()),
        rate("self_pay_ratio", links.figure("poor_inpatients")),
        Cell(figures.members_at_risk, "int", links.risk()),
    ]


def comparison_columns(first: str, target_values: dict) -> list[Column]:
    def target(key, label):
        spec = definitions.TARGETS_BY_KEY[key]
        return Column(f"{label}（{spec.sign}{target_values[key]}%）", "pct", key)

    return [
        Column(first),
        Column("户数", "int"),
        Column("人数", "int"),
        target("insured_rate", "参保率"),
        Column("未参保人数", "int"),
        Column("疾病档案", "int"),
        Column("救治中", "int"),
        Column("已救治", "int"),
        target("treatment_rate", "救治率"),
        Column("签约户数", "int"),
        target("signing_rate", "签约率"),
        Column("签而不约", "int"),
        Column("就诊人次", "int"),
        Column("医疗总费用", "money"),
        target("in_county_rate", "县域内就诊率"),
        Column("报销合计", "money"),
        target("self_pay_ratio", "未脱贫住院自付比例"),
        Column("返贫风险人数", "int"),
    ]


def comparison_table(board) -> Table:
    """Every township (or every village of a township) with all figures and drill-down links;
    a row missing any target gets ``behind-target``."""
    period = board.period
    village_level = board.level == "village"
    table = Table(
        key="comparison",
        title=f"各{'行政村' if village_level else '乡镇'}对比（{period.label}）",
        columns=comparison_columns("行政村" if village_level else "乡镇", board.targets),
    )
    for group in board.groups:
        place = {"village": group.id} if village_level else {"township": group.id}
        name_url = "" if village_level else reverse("dashboards:township", args=[group.id])
        name = Cell(group.name, "text", name_url + ("?" + urlencode(period.params()) if name_url else ""))
        table.add(
            [name] + _comparison_cells(group.figures, Links(period, place), group.misses),
            "behind-target" if group.misses else "",
        )
    total_place = {"township": board.township.id} if village_level else {}
    table.footer = [Cell("合计")] + _comparison_cells(
        board.total, Links(period, total_place), board.total_misses
    )
    table.note = (
        f"签约率按{period.year}年{board.measured_month}月" if board.measured_month else "签约率"
    ) + "末（本月为今天）在约户数计算；浅红色为未达目标。"
    return table


def rates_table(board) -> Table:
    """The rates the bar chart draws, per township or village."""
    keys = [spec.key for spec in definitions.TARGETS]
    columns = [Column("乡镇" if board.level == "township" else "行政村")] + [
        Column(f"{spec.label}（{spec.sign}{board.targets[spec.key]}%）", "pct", spec.key)
        for spec in definitions.TARGETS
    ]
    table = Table(key="rates", title=f"主要指标（{board.period.label}）", columns=columns)
    for group in board.groups:
        table.add(
            [Cell(group.name)]
            + [Cell(getattr(group.figures, key), "pct", "", key in group.misses) for key in keys],
            "behind-target" if group.misses else "",
        )
    table.footer = [Cell("合计")] + [
        Cell(getattr(board.total, key), "pct", "", key in board.total_misses) for key in keys
    ]
    return table


def kinds_table(board, place: dict) -> Table:
    links = Links(board.period, place)
    table = Table(
        key="kinds",
        title=f"就诊人次与费用（{board.period.label}）",
        columns=[
            Column("就诊类型"),
            Column("人次", "int"),
            Column("医疗总费用", "money"),
            Column("政策范围内费用", "money"),
            Column("次均费用", "money"),
        ],
    )
    for kind, label in KIND_LABELS.items():
        count, cost, in_policy = board.total.encounters_by_kind.get(
            kind, (0, Decimal("0.00"), Decimal("0.00"))
        )
        average = definitions.money(cost / count) if count else None
        table.add(
            [
                Cell(label),
                Cell(count, "int", links.encounters(kind=kind)),
                Cell(cost, "money"),
                Cell(in_policy, "money"),
                Cell(average, "money"),
            ]
        )
    total = board.total
    table.footer = [
        Cell("合计"),
        Cell(total.encounters, "int", links.encounters()),
        Cell(total.total_cost, "money"),
        Cell(sum((row[2] for row in total.encounters_by_kind.values()), Decimal("0.00")), "money"),
        Cell(definitions.money(total.total_cost / total.encounters) if total.encounters else None, "money"),
    ]
    return table


def payouts_table(board) -> Table:
    table = Table(
        key="payouts",
        title=f"各层级支付（{board.period.label}）",
        columns=[
            Column("保障层级"),
            Column("类型"),
            Column("支付资金"),
            Column("笔数", "int"),
            Column("金额", "money"),
            Column("占报销合计", "pct"),
        ],
    )
    total = board.total.payouts_total
    for (_key, kind, name, fund), (lines, amount) in board.payouts():
        table.add(
            [
                Cell(name),
                Cell(definitions.TIER_KIND_LABELS.get(kind, kind)),
                Cell(fund),
                Cell(lines, "int"),
                Cell(amount, "money"),
                Cell(percent(amount, total), "pct"),
            ]
        )
    table.footer = [
        Cell("合计"),
        Cell(""),
        Cell(""),
        Cell(sum(row[3].value for row in table.rows), "int"),
        Cell(total, "money"),
        Cell(percent(total, total), "pct"),
    ]
    return table


def payers_table(board) -> Table:
    """The split of the period's settled cost between the funds and the patients."""
    table = Table(
        key="payers",
        title=f"费用分担（{board.period.label}）",
        columns=[Column("支付方"), Column("金额", "money"), Column("占医疗总费用", "pct")],
    )
    cost = board.total.settled_cost
    for payer, amount in board.funds():
        table.add([Cell(payer), Cell(amount, "money"), Cell(percent(amount, cost), "pct")])
    table.footer = [Cell("合计（已结算医疗总费用）"), Cell(cost, "money"), Cell(percent(cost, cost), "pct")]
    table.note = "按当前有效结算统计；各支付方金额与个人自付之和等于已结算的医疗总费用。"
    return table


def trend_table(board) -> Table:
    year = board.period.year
    table = Table(
        key="trend",
        title=f"{year}年逐月趋势",
        columns=[
            Column("月份"),
            Column("就诊人次", "int"),
            Column("医疗总费用", "money"),
            Column("县域内就诊率", "pct", "in_county_rate"),
            Column("报销合计", "money"),
            Column("个人自付", "money"),
            Column("未脱贫住院自付比例", "pct", "self_pay_ratio"),
        ],
    )
    for month, figures in board.months.items():
        misses = figures.misses(board.targets)
        table.add(
            [
                Cell(f"{month}月"),
                Cell(figures.encounters, "int"),
                Cell(figures.total_cost, "money"),
                Cell(figures.in_county_rate, "pct", "", "in_county_rate" in misses),
                Cell(figures.payouts_total, "money"),
                Cell(figures.self_pay, "money"),
                Cell(figures.self_pay_ratio, "pct", "", "self_pay_ratio" in misses),
            ]
        )
    return table


# --- charts (ECharts options; the numbers are the table's, as strings: no floats) -------------------


def _number(value):
    return None if value is None else str(value)


def bar_chart(table: Table, title: str, indexes: list[int], target_value=None) -> dict:
    names = table.column_values(0)
    series = []
    for index in indexes:
        entry = {
            "name": table.columns[index].label,
            "type": "bar",
            "data": [_number(value) for value in table.column_values(index)],
        }
        if target_value is not None:
            entry["markLine"] = {
                "symbol": "none",
                "data": [{"yAxis": str(target_value), "name": "目标"}],
                "lineStyle": {"color": "#dc3545", "type": "dashed"},
            }
        series.append(entry)
    return {
        "title": {"text": title, "left": "center", "textStyle": {"fontSize": 14}},
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 24, "type": "scroll"},
        "grid": {"top": 70, "left": 50, "right": 20, "bottom": 60},
        "xAxis": {"type": "category", "data": names, "axisLabel": {"interval": 0, "rotate": 30}},
        "yAxis": {"type": "value"},
        "series": series,
    }


def trend_chart(table: Table) -> dict:
    months = table.column_values(0)
    return {
        "title": {"text": table.title, "left": "center", "textStyle": {"fontSize": 14}},
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 24},
        "grid": {"top": 70, "left": 60, "right": 80, "bottom": 40},
        "xAxis": {"type": "category", "data": months},
        "yAxis": [{"type": "value", "name": "人次"}, {"type": "value", "name": "元"}],
        "series": [
            {
                "name": "就诊人次",
                "type": "line",
                "yAxisIndex": 0,
                "data": [_number(v) for v in table.column_values(1)],
            },
            {
                "name": "医疗总费用",
                "type": "line",
                "yAxisIndex": 1,
                "data": [_number(v) for v in table.column_values(2)],
            },
            {
                "name": "报销合计",
                "type": "line",
                "yAxisIndex": 1,
                "data": [_number(v) for v in table.column_values(4)],
            },
            {
                "name": "个人自付",
                "type": "line",
                "yAxisIndex": 1,
                "data": [_number(v) for v in table.column_values(5)],
            },
        ],
    }


def pie_chart(table: Table) -> dict:
    return {
        "title": {"text": table.title, "left": "center", "textStyle": {"fontSize": 14}},
        "tooltip": {"trigger": "item", "formatter": "{b}: {c} 元 ({d}%)"},
        "legend": {"bottom": 0, "type": "scroll"},
        "series": [
            {
                "type": "pie",
                "radius": ["35%", "65%"],
                "center": ["50%", "50%"],
                "data": [{"name": row[0].value, "value": _number(row[1].value)} for row in table.rows],
            }
        ],
    }


# --- the lists behind the figures, the risk list, notices, fund use, survey ----------------------


def _person(member) -> list[Cell]:
    household = member.household
    return [
        Cell(household.village.township.name),
        Cell(household.village.name),
        Cell(household.number, "text", reverse("registry:household_detail", args=[household.pk])),
        Cell(member.name, "text", reverse("registry:member_detail", args=[member.pk])),
        Cell(mask_id_number(member.id_number)),
    ]


_PERSON_COLUMNS = [Column("乡镇"), Column("行政村"), Column("户编号"), Column("姓名"), Column("证件号码")]
_HOUSEHOLD_COLUMNS = [Column("乡镇"), Column("行政村"), Column("户编号")]


def _household(household) -> list[Cell]:
    return [
        Cell(household.village.township.name),
        Cell(household.village.name),
        Cell(household.number, "text", reverse("registry:household_detail", args=[household.pk])),
    ]


@dataclass(frozen=True)
class FigureList:
    title: str
    place: str  # path from the listed model to its village (place filters)
    columns: list
    row: object  # object -> list[Cell]


def _insured_label(value):
    return {True: "是", False: "否"}.get(value, "未知")


FIGURE_LISTS = {
    "uninsured": FigureList(
        "未参保人员（含参保情况未知）",
        "household__village",
        _PERSON_COLUMNS + [Column("与户主关系"), Column("是否参保"), Column("脱贫状态")],
        lambda m: (
            _person(m)
            + [
                Cell(m.get_relation_display()),
                Cell(_insured_label(m.insured)),
                Cell(m.household.get_poverty_status_display()),
            ]
        ),
    ),
    "unsigned": FigureList(
        "未签约户",
        "village",
        _HOUSEHOLD_COLUMNS + [Column("户主"), Column("人口数", "int"), Column("脱贫状态")],
        lambda h: (
            _household(h)
            + [Cell(h.head_name), Cell(h.member_count, "int"), Cell(h.get_poverty_status_display())]
        ),
    ),
    "nofollowup": FigureList(
        "签而不约（签约后90天内无随访）",
        "household__village",
        _HOUSEHOLD_COLUMNS
        + [
            Column("签约团队"),
            Column("签约成员数", "int"),
            Column("签约开始", "date"),
            Column("签约结束", "date"),
            Column("状态"),
        ],
        lambda c: (
            _household(c.household)
            + [
                Cell(c.team.name, "text", reverse("claims:contract_detail", args=[c.pk])),
                Cell(c.member_count, "int"),
                Cell(c.start_date, "date"),
                Cell(c.end_date, "date"),
                Cell(c.get_status_display()),
            ]
        ),
    ),
    "illnesses": FigureList(
        "疾病救治档案",
        "member__household__village",
        _PERSON_COLUMNS + [Column("诊断"), Column("确诊日期", "date"), Column("救治状态")],
        lambda r: (
            _person(r.member)
            + [
                Cell(r.diagnosis_name, "text", reverse("claims:illness_detail", args=[r.pk])),
                Cell(r.diagnosed_on, "date"),
                Cell(r.get_status_display()),
            ]
        ),
    ),
    "out_of_county": FigureList(
        "县域外就诊",
        "member__household__village",
        _PERSON_COLUMNS
        + [
            Column("医疗机构"),
            Column("机构级别"),
            Column("就诊类型"),
            Column("结算日期", "date"),
            Column("医疗总费用", "money"),
            Column("按规定转诊"),
        ],
        lambda e: (
            _person(e.member)
            + [
                Cell(e.institution.name, "text", reverse("claims:encounter_detail", args=[e.pk])),
                Cell(e.institution.get_level_display()),
                Cell(e.get_kind_display()),
                Cell(e.service_date, "date"),
                Cell(e.total_cost, "money"),
                Cell("是" if e.referred else "否"),
            ]
        ),
    ),
    "poor_inpatients": FigureList(
        "未脱贫住院患者结算",
        "member__household__village",
        _PERSON_COLUMNS
        + [
            Column("医疗机构"),
            Column("结算日期", "date"),
            Column("医疗总费用", "money"),
            Column("报销合计", "money"),
            Column("个人自付", "money"),
            Column("自付比例", "pct"),
        ],
        lambda s: (
            _person(s.member)
            + [
                Cell(s.institution.name),
                Cell(s.service_date, "date"),
                Cell(s.total_cost, "money"),
                Cell(s.payouts_total, "money"),
                Cell(s.self_pay, "money"),
                Cell(percent(s.self_pay, s.total_cost), "pct"),
            ]
        ),
    ),
}


def figure_table(figure: str, objects, title: str) -> Table:
    spec = FIGURE_LISTS[figure]
    table = Table(key="list", title=title, columns=spec.columns)
    for obj in objects:
        table.add(spec.row(obj))
    return table


def risk_table(cells, title: str) -> Table:
    table = Table(
        key="risk",
        title=title,
        columns=_PERSON_COLUMNS
        + [
            Column("脱贫状态"),
            Column("家庭年收入", "money"),
            Column("结算笔数", "int"),
            Column("医疗总费用", "money"),
            Column("个人自付", "money"),
            Column("自付占家庭年收入", "pct"),
        ],
    )
    for cell in cells:
        household = cell.member.household
        table.add(
            _person(cell.member)
            + [
                Cell(household.get_poverty_status_display()),
                Cell(household.annual_income, "money"),
                Cell(cell.settlements, "int"),
                Cell(cell.total_cost, "money"),
                Cell(cell.self_pay, "money"),
                Cell(percent(cell.self_pay, household.annual_income), "pct"),
            ]
        )
    return table


def notice_table(rows, funds: list[str], title: str) -> Table:
    table = Table(
        key="notice",
        title=title,
        columns=[
            Column("序号", "int"),
            Column("姓名"),
            Column("医疗机构"),
            Column("就诊类型"),
            Column("入院/就诊日期", "date"),
            Column("出院日期", "date"),
            Column("医疗总费用", "money"),
        ]
        + [Column(fund, "money") for fund in funds]
        + [Column("报销合计", "money"), Column("个人自付", "money")],
    )
    zero = Decimal("0.00")
    for position, row in enumerate(rows, start=1):
        table.add(
            [
                Cell(row.position or position, "int"),
                Cell(row.masked_name),
                Cell(row.institution),
                Cell(KIND_LABELS.get(row.kind, row.kind)),
                Cell(row.admission_date, "date"),
                Cell(row.discharge_date, "date"),
                Cell(row.total_cost, "money"),
            ]
            + [Cell(row.payouts.get(fund, zero), "money") for fund in funds]
            + [Cell(row.payouts_total, "money"), Cell(row.self_pay, "money")],
            "" if row.current else "table-warning",
        )
    table.footer = (
        [
            Cell("合计"),
            Cell(f"{len(rows)}人次"),
            Cell(""),
            Cell(""),
            Cell(""),
            Cell(""),
            Cell(sum((r.total_cost for r in rows), zero), "money"),
        ]
        + [Cell(sum((r.payouts.get(fund, zero) for r in rows), zero), "money") for fund in funds]
        + [
            Cell(sum((r.payouts_total for r in rows), zero), "money"),
            Cell(sum((r.self_pay for r in rows), zero), "money"),
        ]
    )
    return table


def fund_tables(use) -> list[Table]:
    zero = Decimal("0.00")
    by_month = Table(
        key="funds",
        title=f"{use.year}年基金使用情况（按月）",
        columns=[Column("月份"), Column("结算笔数", "int")]
        + [Column(fund, "money") for fund in use.funds]
        + [Column("报销合计", "money"), Column("个人自付", "money")],
    )
    for month in range(1, 13):
        paid = use.months[month]
        by_month.add(
            [Cell(f"{month}月"), Cell(use.settlements[month], "int")]
            + [Cell(paid.get(fund, zero), "money") for fund in use.funds]
            + [Cell(sum(paid.values(), zero), "money"), Cell(use.self_pay[month], "money")]
        )
    columns = len(by_month.columns)
    by_month.footer = [Cell("全年")] + [
        Cell(sum(row[index].value for row in by_month.rows), by_month.columns[index].kind)
        for index in range(1, columns)
    ]
    tiers = Table(
        key="tiers",
        title=f"{use.year}年各保障层级支付",
        columns=[Column("保障层级"), Column("支付资金"), Column("笔数", "int"), Column("金额", "money")],
    )
    for name, fund, lines, amount in use.tiers:
        tiers.add([Cell(name), Cell(fund), Cell(lines, "int"), Cell(amount, "money")])
    tiers.footer = [
        Cell("合计"),
        Cell(""),
        Cell(sum(row[2].value for row in tiers.rows), "int"),
        Cell(sum((row[3].value for row in tiers.rows), zero), "money"),
    ]
    return [by_month, tiers]


SURVEY_COLUMNS = [
    Column("乡镇"),
    Column("村"),
    Column("户编号"),
    Column("姓名"),
    Column("证件号码"),
    Column("疾病名称"),
    Column("确诊日期", "date"),
    Column("确诊机构"),
    Column("医疗总费用", "money"),
    Column("基本医保", "money"),
    Column("大病保险", "money"),
    Column("医疗救助", "money"),
    Column("其他保障", "money"),
    Column("个人自付", "money"),
    Column("救治结果"),
    Column("数据来源"),
]


def survey_table(rows, title: str) -> Table:
    table = Table(key="survey", title=title, columns=SURVEY_COLUMNS)
    for row in rows:
        first = row.first
        table.add(
            _person(row.member)
            + [
                Cell(row.diagnoses),
                Cell(first.diagnosed_on, "date"),
                Cell(first.diagnosed_at.name if first.diagnosed_at else ""),
                Cell(row.total_cost, "money"),
                Cell(row.basic_insurance, "money"),
                Cell(row.catastrophic_insurance, "money"),
                Cell(row.medical_aid, "money"),
                Cell(row.other, "money"),
                Cell(row.self_pay, "money"),
                Cell(row.result),
                Cell("结算" if row.from_settlements else "手工填报"),
            ]
        )
    return table


# --- overview cards -----------------------------------------------------------------------------


@dataclass
class Card:
    label: str
    value: object
    kind: str
    url: str = ""
    missed: bool = False
    target: str = ""
    note: str = ""


def cards(board, links: Links) -> list[Card]:
    total, targets, misses = board.total, board.targets, board.total_misses

    def rate(label, key, url, note=""):
        spec = definitions.TARGETS_BY_KEY[key]
        return Card(
            label, getattr(total, key), "pct", url, key in misses, f"目标{spec.sign}{targets[key]}%", note
        )

    monitored = total.monitored_self_pay_ratio
    signed_on = f"{board.period.year}年{board.measured_month}月末" if board.measured_month else "—"
    return [
        Card(
            "在册户数",
            total.households,
            "int",
            links.households(),
            note=f"未脱贫 {total.households_poor:,} · 监测 {total.households_monitored:,}",
        ),
        Card("在册人数", total.members, "int", links.members()),
        rate(
            "参保率",
            "insured_rate",
            links.figure("uninsured"),
            f"未参保 {total.members_uninsured:,} · 未知 {total.members_insured_unknown:,}",
        ),
        rate(
            "救治率",
            "treatment_rate",
            links.figure("illnesses"),
            f"确诊 {total.illnesses_identified:,} · 救治中 {total.illnesses_treating:,} · 已救治 {total.illnesses_treated:,}",
        ),
        rate(
            "签约率",
            "signing_rate",
            links.figure("unsigned"),
            f"{signed_on}在约 {total.households_signed:,} / {total.households_for_signing:,} 户",
        ),
        Card(
            "签而不约",
            total.contracts_without_followup,
            "int",
            links.figure("nofollowup"),
            total.contracts_without_followup > 0,
            note=f"本期新签 {total.contracts_started:,} 份，满90天 {total.contracts_due:,} 份",
        ),
        Card(
            "就诊人次",
            total.encounters,
            "int",
            links.encounters(),
            note=f"医疗总费用 {total.total_cost:,.2f} 元",
        ),
        rate(
            "县域内就诊率",
            "in_county_rate",
            links.figure("out_of_county"),
            f"县域外 {total.encounters_out_of_county:,} 人次",
        ),
        Card(
            "报销合计(元)",
            total.payouts_total,
            "money",
            links.funds(),
            note=f"个人自付 {total.self_pay:,.2f} 元",
        ),
        rate(
            "未脱贫住院自付比例",
            "self_pay_ratio",
            links.figure("poor_inpatients"),
            "监测对象 " + (f"{monitored}%" if monitored is not None else "—"),
        ),
        Card(
            "因病返贫风险人数",
            total.members_at_risk,
            "int",
            links.risk(),
            total.members_at_risk > 0,
            note=f"无收入信息 {total.members_without_income:,} 人",
        ),
    ]
