"""Automatic review of encounters (智能审核). Pure Python: no Django imports.

Each rule has a code, a Chinese name and explanation, and reads its thresholds from
``ReviewSettings``. ``review(encounters, settings)`` runs the enabled rules over a list of
``ReviewEncounter`` (plain data the caller reads from wherever it keeps encounters) and returns
``{ref: [{"code", "message"}, …]}`` for every encounter given, in input order (an empty list:
nothing found). A flag is a reason to look, not a refusal: staff decide.

Rules that compare an encounter with others (duplicate, overlap, readmission, the outliers)
compare it with the encounters passed in the same call: pass a member's encounters of the year
(or the county's, for the outliers).

* ``duplicate``: same member, institution, admission and discharge dates and total (重复录入).
* ``overlap``: two stays of one member overlapping in time (a discharge on the day of the next
  admission is a transfer, not an overlap).
* ``readmission``: a stay of the same member and diagnosis (ICD-10 category, the first three
  characters) admitted within ``readmission_days`` (default 15) of the previous discharge:
  分解住院.
* ``los_outlier`` / ``cost_outlier``: length of stay / total cost far from the encounters of
  the same kind, diagnosis category and institution level: a robust z-score,
  0.6745 × (x − median) / MAD, above ``los_outlier_z`` / ``cost_outlier_z`` (default 3.5)
  either way; groups smaller than ``outlier_min_group`` (default 5) or with MAD = 0 are not
  judged.
* ``drug_share``: 药占比, (西药 + 中成药 + 中药饮片) / total after deductions, above
  ``drug_share`` (default 0.40); itemised encounters of ``drug_share_kinds`` (default inpatient).
* ``class_c_share``: 丙类 (out-of-catalogue) share of the total after deductions above
  ``class_c_share`` (default 0.10, the usual cap on 目录外费用 for poor patients' stays).
* ``not_in_catalogue``: item codes not in ``catalogue_codes`` (None: the rule is off). The
  claims service fills the set from the county's catalogue (``CatalogueItem``) and the rule's
  typed codes (``services.review_settings``).
* ``sex_age``: a diagnosis impossible for the patient's sex or age: pregnancy (O00–O99) or
  female genital organs for a man, male genital organs (N40–N51, C60–C63) for a woman,
  perinatal conditions (P00–P96) from ``adult_age`` (default 18) on.
"""

from __future__ import annotations

import datetime
import gc
from collections import defaultdict
from collections.abc import Hashable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from statistics import median

DRUG_CATEGORIES = ("western_drug", "patent_drug", "herbal")
_ZERO = Decimal("0.00")

# code: (name, explanation)
RULES = {
    "duplicate": (
        "疑似重复录入",
        "同一患者、同一医疗机构、入出院日期和医疗总费用都相同的就诊记录，可能重复录入或重复申报。",
    ),
    "overlap": (
        "住院时间重叠",
        "同一患者的两次住院时间互相重叠（出院当天转入他院不算重叠），不可能同时在两处住院。",
    ),
    "readmission": (
        "疑似分解住院",
        "同一患者因同一疾病（ICD-10类目相同）出院后短期内（默认15天）再次入院，可能是分解住院。",
    ),
    "los_outlier": (
        "住院天数异常",
        "住院天数与同病种、同级别医疗机构的住院相差悬殊（稳健Z值：以中位数和绝对中位差计算，超过阈值）。",
    ),
    "cost_outlier": (
        "费用异常",
        "医疗总费用与同病种、同级别医疗机构、同类型就诊相差悬殊（稳健Z值：以中位数和绝对中位差计算，超过阈值）。",
    ),
    "drug_share": ("药占比偏高", "西药、中成药和中药饮片费用占扣除后医疗总费用的比例超过阈值。"),
    "class_c_share": ("丙类费用占比偏高", "丙类（目录外）费用占扣除后医疗总费用的比例超过阈值。"),
    "not_in_catalogue": ("项目不在目录内", "费用明细中的项目编码不在本县医保目录中。"),
    "sex_age": (
        "诊断与性别年龄不符",
        "诊断与患者性别或年龄不相容，例如男性的妊娠诊断、女性的前列腺疾病、成人的围生期疾病。",
    ),
}


@dataclass(frozen=True, slots=True)
class ReviewItem:
    code: str
    item_class: str  # A 甲类 · B 乙类 · C 丙类
    amount: Decimal
    category: str = ""
    deducted: Decimal = _ZERO


@dataclass(frozen=True, slots=True)
class ReviewEncounter:
    ref: Hashable
    member: Hashable
    institution: Hashable
    kind: str  # inpatient · outpatient_chronic · outpatient
    level: str
    admission_date: datetime.date
    total_cost: Decimal
    discharge_date: datetime.date | None = None
    diagnosis_code: str = ""
    sex: str = ""  # "M" / "F" / "" unknown
    birth_date: datetime.date | None = None
    items: tuple[ReviewItem, ...] = ()


@dataclass(frozen=True, slots=True)
class ReviewSettings:
    enabled: frozenset[str] | None = None  # None: every rule
    readmission_days: int = 15
    los_outlier_z: Decimal = Decimal("3.5")
    cost_outlier_z: Decimal = Decimal("3.5")
    outlier_min_group: int = 5
    drug_share: Decimal = Decimal("0.40")
    drug_share_kinds: tuple[str, ...] = ("inpatient",)
    class_c_share: Decimal = Decimal("0.10")
    catalogue_codes: frozenset[str] | None = None
    adult_age: int = 18

    def on(self, code: str) -> bool:
        return self.enabled is None or code in self.enabled


def _flag(code: str, message: str) -> dict:
    return {"code": code, "message": message}


@lru_cache(maxsize=65536)
def _category(code: str) -> str:
    """ICD-10 category: ``C16.9`` → ``C16`` (cached: a year has few distinct codes)."""
    return (code or "").replace(".", "").strip().upper()[:3]


def _percent(ratio: Decimal) -> str:
    return f"{(ratio * 100).quantize(Decimal('0.1'), ROUND_HALF_UP)}%"


def _stay_days(e: ReviewEncounter) -> int | None:
    if e.kind != "inpatient" or e.discharge_date is None:
        return None
    return max((e.discharge_date - e.admission_date).days, 1)  # 当日出院按1天计


def _net(e: ReviewEncounter) -> Decimal:
    return sum((i.amount - i.deducted for i in e.items), _ZERO)


# --- rules over several encounters --------------------------------------------------------------


def _duplicates(encounters, out, settings):
    # By member and admission first (cheap keys); the full key only where those collide.
    buckets = defaultdict(list)
    for e in encounters:
        buckets[(e.member, e.admission_date)].append(e)
    groups = defaultdict(list)
    for bucket in buckets.values():
        if len(bucket) > 1:
            for e in bucket:
                groups[(e.member, e.institution, e.admission_date, e.discharge_date, e.total_cost)].append(e)
    for group in groups.values():
        if len(group) > 1:
            for e in group:
                others = "、".join(str(o.ref) for o in group if o is not e)
                out[e.ref].append(
                    _flag(
                        "duplicate",
                        f"与就诊记录{others}的患者、医疗机构、日期和医疗总费用完全相同，疑似重复录入。",
                    )
                )


def _stays_by_member(encounters):
    stays = defaultdict(list)
    for e in encounters:
        if e.kind == "inpatient" and e.discharge_date is not None:
            stays[e.member].append(e)
    for group in stays.values():
        group.sort(key=lambda e: (e.admission_date, e.discharge_date))
    return stays


def _overlaps(encounters, out, settings, stays=None):
    for group in (stays if stays is not None else _stays_by_member(encounters)).values():
        for i, a in enumerate(group):
            for b in group[i + 1 :]:
                if b.admission_date >= a.discharge_date:
                    break
                for x, y in ((a, b), (b, a)):
                    out[x.ref].append(
                        _flag(
                            "overlap",
                            f"与住院记录{y.ref}（{y.admission_date}至{y.discharge_date}）时间重叠，"
                            "同一患者不能同时在两处住院。",
                        )
                    )


def _readmissions(encounters, out, settings, stays=None):
    days = settings.readmission_days
    for group in (stays if stays is not None else _stays_by_member(encounters)).values():
        last = {}  # diagnosis category -> the latest earlier stay
        for e in group:
            category = _category(e.diagnosis_code)
            if not category:
                continue
            before = last.get(category)
            if before is not None:
                gap = (e.admission_date - before.discharge_date).days
                if 0 <= gap <= days:
                    out[e.ref].append(
                        _flag(
                            "readmission",
                            f"同一疾病（{category}）距上次住院{before.ref}出院（{before.discharge_date}）"
                            f"{gap}天再次入院（{days}天内），疑似分解住院。",
                        )
                    )
            if before is None or e.discharge_date >= before.discharge_date:
                last[category] = e


_Z_FACTOR = Decimal("0.6745")


def robust_z(values: list[Decimal]) -> list[Decimal] | None:
    """0.6745 × (x − median) / MAD per value; None when MAD is 0 (no spread to judge by)."""
    values = [Decimal(v) for v in values]
    mid = median(values)
    mad = median([abs(v - mid) for v in values])
    if mad == 0:
        return None
    return [Decimal("0.6745") * (v - mid) / mad for v in values]


def _outliers(encounters, out, settings, *, code, measure, what, unit, limit):
    groups = defaultdict(list)
    for e in encounters:
        value = measure(e)
        category = _category(e.diagnosis_code)
        if value is not None and category:
            groups[(e.kind, category, e.level)].append((e, Decimal(value)))
    for (_, category, _), group in groups.items():
        if len(group) < settings.outlier_min_group:
            continue
        values = [v for _, v in group]
        mid = median(values)
        mad = median([abs(v - mid) for v in values])
        if mad == 0:
            continue
        # |0.6745 × (x − median) / MAD| > limit, without a division per value (the products
        # are exact: amounts have few decimals); the z-score is computed for the message only.
        bound = limit * mad
        for e, value in group:
            if abs(value - mid) * _Z_FACTOR > bound:
                z = _Z_FACTOR * (value - mid) / mad
                side = "偏高" if z > 0 else "偏低"
                out[e.ref].append(
                    _flag(
                        code,
                        f"{what}{value}{unit}，同病种（{category}）同级别机构{len(group)}例的中位数为{mid}{unit}，"
                        f"稳健Z值{z.quantize(Decimal('0.1'), ROUND_HALF_UP)}，明显{side}"
                        f"（阈值{limit}）。",
                    )
                )


# --- rules of one encounter ----------------------------------------------------------------------


def _drug_share(e, settings):
    if not e.items or e.kind not in settings.drug_share_kinds:
        return None
    net = _net(e)
    if net <= 0:
        return None
    drugs = sum((i.amount - i.deducted for i in e.items if i.category in DRUG_CATEGORIES), _ZERO)
    share = drugs / net
    if share > settings.drug_share:
        return _flag(
            "drug_share",
            f"药占比{_percent(share)}（药品费用{drugs}元），超过{_percent(settings.drug_share)}。",
        )
    return None


def _class_c_share(e, settings):
    if not e.items:
        return None
    net = _net(e)
    if net <= 0:
        return None
    c = sum((i.amount - i.deducted for i in e.items if i.item_class == "C"), _ZERO)
    share = c / net
    if share > settings.class_c_share:
        return _flag(
            "class_c_share",
            f"丙类费用占比{_percent(share)}（{c}元），超过{_percent(settings.class_c_share)}。",
        )
    return None


def _not_in_catalogue(e, settings):
    if settings.catalogue_codes is None or not e.items:
        return None
    missing = list(dict.fromkeys(i.code for i in e.items if i.code not in settings.catalogue_codes))
    if missing:
        shown = "、".join(missing[:10]) + ("等" if len(missing) > 10 else "")
        return _flag("not_in_catalogue", f"{len(missing)}个项目编码不在医保目录中：{shown}。")
    return None


@lru_cache(maxsize=65536)
def _in_ranges(code: str, ranges) -> bool:
    key = _category(code)
    return any(low <= key <= high for low, high in ranges)


_FEMALE_ONLY = (("O00", "O99"), ("N70", "N98"), ("C51", "C58"), ("D25", "D28"))
_MALE_ONLY = (("N40", "N51"), ("C60", "C63"), ("D29", "D29"))
_PERINATAL = (("P00", "P96"),)


def _age(birth: datetime.date, on: datetime.date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def _sex_age(e, settings):
    code = e.diagnosis_code
    if not code:
        return None
    if e.sex == "M" and _in_ranges(code, _FEMALE_ONLY):
        return _flag("sex_age", f"诊断{code}只适用于女性（妊娠或女性生殖系统），患者登记为男性。")
    if e.sex == "F" and _in_ranges(code, _MALE_ONLY):
        return _flag("sex_age", f"诊断{code}只适用于男性（男性生殖系统），患者登记为女性。")
    if e.birth_date is not None and _in_ranges(code, _PERINATAL):
        age = _age(e.birth_date, e.admission_date)
        if age >= settings.adult_age:
            return _flag("sex_age", f"诊断{code}是围生期疾病，患者就诊时已{age}岁。")
    return None


_SINGLE = {
    "drug_share": _drug_share,
    "class_c_share": _class_c_share,
    "not_in_catalogue": _not_in_catalogue,
    "sex_age": _sex_age,
}


def review(encounters: Iterable[ReviewEncounter], settings: ReviewSettings | None = None) -> dict:
    """``{ref: [{"code", "message"}, …]}`` for every encounter given (input order, rules in
    ``RULES`` order). The cyclic garbage collector is paused meanwhile: a year's review makes
    hundreds of thousands of small objects and no cycles, and the collector's passes over them
    cost a third of the time."""
    with gc_paused():
        return _review(encounters, settings)


@contextmanager
def gc_paused():
    """The cyclic garbage collector off for a bulk computation (back on as it was after)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def _review(encounters, settings) -> dict:
    settings = settings or ReviewSettings()
    encounters = list(encounters)
    found = {code: defaultdict(list) for code in RULES}
    if settings.on("duplicate"):
        _duplicates(encounters, found["duplicate"], settings)
    stays = _stays_by_member(encounters) if settings.on("overlap") or settings.on("readmission") else {}
    if settings.on("overlap"):
        _overlaps(encounters, found["overlap"], settings, stays)
    if settings.on("readmission"):
        _readmissions(encounters, found["readmission"], settings, stays)
    if settings.on("los_outlier"):
        _outliers(
            encounters,
            found["los_outlier"],
            settings,
            code="los_outlier",
            measure=_stay_days,
            what="住院",
            unit="天",
            limit=settings.los_outlier_z,
        )
    if settings.on("cost_outlier"):
        _outliers(
            encounters,
            found["cost_outlier"],
            settings,
            code="cost_outlier",
            measure=lambda e: e.total_cost,
            what="医疗总费用",
            unit="元",
            limit=settings.cost_outlier_z,
        )
    for code, rule in _SINGLE.items():
        if settings.on(code):
            for e in encounters:
                flag = rule(e, settings)
                if flag is not None:
                    found[code][e.ref].append(flag)
    out = {e.ref: [] for e in encounters}
    for code in RULES:
        for ref, flags in found[code].items():
            out[ref].extend(flags)
    return out
