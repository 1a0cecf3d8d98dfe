"""What the dashboard figures mean (no Django imports).

One place for the definitions docs/dashboards.md explains: periods, which households and
members a rate counts, the targets and which way they point, rounding of ratios, and how a
name is masked on a public notice. Selectors and services compute with these; templates only
format.
"""

from __future__ import annotations

import calendar
import datetime
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from urllib.parse import urlencode

# --- who counts ------------------------------------------------------------------------------

# 未脱贫 members: the poor patients whose self-pay ratio has the ≤ 10 % target (the demo
# policy's backstop caps exactly their self-pay at 10 %). 监测对象 are shown beside them.
SELF_PAY_POOR_STATUSES = ("poor",)
SELF_PAY_MONITORED_STATUSES = ("monitored",)

# 签约率 counts every registered (建档立卡) household, 已脱贫 included: during the transition
# period households keep their policies (脱贫不脱政策), and the claims signing page lists the
# same households as still to sign.
SIGNING_STATUSES = ("poor", "lifted", "monitored")
# A contract counts as in force on a day between its start and end dates unless terminated
# (a termination has no date of its own, so a terminated contract counts for no day).
SIGNING_CONTRACT_STATUSES = ("active", "expired")

# 救治率: records whose status is 已救治 or 签约管理中 (a long-term chronic illness under a
# family doctor's contract is one of the three ways of treatment, 签约服务管理一批).
TREATED_ILLNESS_STATUSES = ("treated", "managed")
TREATING_ILLNESS_STATUSES = ("treating",)

# 因病返贫 risk: a member's self-pay of the year above this share of the household's income.
RISK_INCOME_SHARE = Decimal("0.5")

# Payout tier kinds in the 因病致贫 survey layout; every other kind goes to 其他保障.
SURVEY_TIER_KINDS = ("basic_insurance", "catastrophic_insurance", "medical_aid")
TIER_KIND_LABELS = {
    "basic_insurance": "基本医保",
    "catastrophic_insurance": "大病保险",
    "medical_aid": "医疗救助",
    "supplementary": "补充保险",
    "hospital_waiver": "医院减免",
    "backstop": "政府兜底",
}

NOTICE_OBJECTION_DAYS = 7


# --- targets ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TargetSpec:
    key: str
    label: str
    default: Decimal
    at_least: bool  # True: the figure must reach the target; False: stay at or below it

    @property
    def sign(self) -> str:
        return "≥" if self.at_least else "≤"


TARGETS = (
    TargetSpec("insured_rate", "参保率", Decimal("100"), True),
    TargetSpec("treatment_rate", "救治率", Decimal("90"), True),
    TargetSpec("signing_rate", "签约率", Decimal("100"), True),
    TargetSpec("in_county_rate", "县域内就诊率", Decimal("90"), True),
    TargetSpec("self_pay_ratio", "未脱贫住院患者个人自付比例", Decimal("10"), False),
)
TARGETS_BY_KEY = {spec.key: spec for spec in TARGETS}


def misses_target(key: str, value: Decimal | None, target: Decimal) -> bool:
    """True when ``value`` (a percentage) misses the target; no value (nothing to measure,
    e.g. no encounters in the period) misses nothing."""
    if value is None:
        return False
    return value < target if TARGETS_BY_KEY[key].at_least else value > target


# --- arithmetic ------------------------------------------------------------------------------

_TENTH = Decimal("0.1")
_CENT = Decimal("0.01")


def percent(numerator, denominator) -> Decimal | None:
    """``numerator / denominator`` as a percentage rounded half-up to 0.1; None without a
    denominator. Exact Decimal arithmetic: money sums and counts alike."""
    if not denominator:
        return None
    return (Decimal(numerator) * 100 / Decimal(denominator)).quantize(_TENTH, rounding=ROUND_HALF_UP)


def money(value) -> Decimal:
    return (Decimal(value or 0)).quantize(_CENT, rounding=ROUND_HALF_UP)


# --- periods ---------------------------------------------------------------------------------

PERIOD_KINDS = (("year", "全年"), ("quarter", "季度"), ("month", "月度"))


@dataclass(frozen=True)
class Period:
    """A calendar year, quarter or month (``number`` is the quarter or month, 0 for a year)."""

    kind: str
    year: int
    number: int = 0

    def __post_init__(self):
        limits = {"year": (0, 0), "quarter": (1, 4), "month": (1, 12)}
        if self.kind not in limits:
            raise ValueError(f"unknown period kind {self.kind!r}")
        low, high = limits[self.kind]
        if not low <= self.number <= high:
            raise ValueError(f"{self.kind} number out of range: {self.number}")

    @property
    def first_month(self) -> int:
        return {"year": 1, "quarter": 3 * self.number - 2, "month": self.number}[self.kind]

    @property
    def last_month(self) -> int:
        return {"year": 12, "quarter": 3 * self.number, "month": self.number}[self.kind]

    @property
    def start(self) -> datetime.date:
        return datetime.date(self.year, self.first_month, 1)

    @property
    def end(self) -> datetime.date:
        return month_end(self.year, self.last_month)

    @property
    def label(self) -> str:
        if self.kind == "year":
            return f"{self.year}年"
        if self.kind == "quarter":
            return f"{self.year}年第{self.number}季度"
        return f"{self.year}年{self.number}月"

    def params(self) -> dict:
        """Query parameters that select this period (the period form's fields)."""
        params = {"period": self.kind, "year": self.year}
        if self.kind == "quarter":
            params["quarter"] = self.number
        elif self.kind == "month":
            params["month"] = self.number
        return params

    @property
    def query(self) -> str:
        return urlencode(self.params())

    def last_month_measured(self, today: datetime.date) -> int | None:
        """The last month of the period that has begun by ``today`` (point-in-time figures
        such as 签约率 are read there); None if the period lies in the future."""
        if self.start > today:
            return None
        if self.year < today.year:
            return self.last_month
        return min(self.last_month, today.month)


def month_end(year: int, month: int) -> datetime.date:
    return datetime.date(year, month, calendar.monthrange(year, month)[1])


def measuring_day(year: int, month: int, today: datetime.date) -> datetime.date | None:
    """The day a month's point-in-time figures are measured on: its last day, or today for
    the running month; None for a month that has not begun."""
    if datetime.date(year, month, 1) > today:
        return None
    return min(month_end(year, month), today)


def default_period(today: datetime.date) -> Period:
    return Period("year", today.year)


# --- public notice ---------------------------------------------------------------------------


def mask_name(name: str) -> str:
    """王秀英 → 王*英, 王五 → 王*, 欧阳秀英 → 欧*英: the family name and, from three characters
    on, the last character stay, so neighbours recognise the entry and strangers do not."""
    name = (name or "").strip()
    if len(name) <= 1:
        return "*" if name else ""
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" + name[-1]
