"""Synthetic roster data for the demo county (`make run`), tests and benchmarks. Pure: stdlib, openpyxl (only
for ``write_xlsx``) and the registry's pure modules.

Everything is deterministic for a given seed.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

from registry import codes
from registry.idnumber import make_id_number
from registry.roster import CANONICAL_HEADERS

# Region codes of counties named in the seed reports (平罗县, 北票市, 来安县, 鄠邑区).
REGIONS = ("640221", "211381", "341122", "610118")
# The demo county of `make run`: its first township is the demo clinic user's.
DEMO_TOWNSHIPS = ("城关镇", "北关乡", "南岗镇", "东湖乡")

TOWNSHIPS = (
    "城关镇",
    "北关乡",
    "南岗镇",
    "东湖乡",
    "西营镇",
    "黄渠桥镇",
    "宝丰镇",
    "头闸镇",
    "姚伏镇",
    "通伏乡",
    "高庄乡",
    "陶乐镇",
    "红崖子乡",
    "灵沙乡",
    "渠口乡",
    "崇岗镇",
)
_NUMERALS = "一二三四五六七八九十"
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程魏苏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
MALE_GIVEN = (
    "建国",
    "建军",
    "志强",
    "国强",
    "海军",
    "永刚",
    "卫东",
    "德明",
    "文斌",
    "俊杰",
    "伟",
    "军",
    "勇",
    "强",
    "磊",
    "涛",
    "斌",
    "鹏",
    "浩然",
    "子轩",
    "宇航",
    "明",
    "福贵",
    "长生",
    "有才",
    "金山",
    "振华",
    "立新",
)
FEMALE_GIVEN = (
    "秀英",
    "桂英",
    "玉兰",
    "秀兰",
    "凤英",
    "淑珍",
    "丽华",
    "红梅",
    "翠花",
    "春燕",
    "芳",
    "娜",
    "静",
    "敏",
    "丽",
    "艳",
    "霞",
    "婷",
    "雨涵",
    "欣怡",
    "梓涵",
    "秀珍",
    "桂兰",
    "玉梅",
    "金花",
    "美玲",
    "海燕",
    "小红",
)
ETHNICITIES = ("汉族",) * 17 + ("回族", "回族", "满族", "蒙古族")

_LABEL = {
    name: codes.labels(table)
    for name, table in (
        ("attribute", codes.HOUSEHOLD_ATTRIBUTES),
        ("status", codes.POVERTY_STATUSES),
        ("cause", codes.MAIN_CAUSES),
        ("relation", codes.RELATIONS),
        ("health", codes.HEALTH_STATUSES),
        ("aid", codes.AID_CATEGORIES),
        ("sex", codes.SEXES),
    )
}
# Weighted mixes, roughly as the county reports describe them (因病致贫 ≈ 40 %).
_ATTRIBUTE_MIX = (("general", 70), ("dibao", 24), ("tekun", 6))
_STATUS_MIX = (("lifted", 70), ("poor", 20), ("monitored", 10))
_CAUSE_MIX = (
    ("illness", 40),
    ("disability", 12),
    ("labour", 12),
    ("funds", 8),
    ("skills", 8),
    ("education", 6),
    ("disaster", 3),
    ("land", 2),
    ("water", 2),
    ("transport", 2),
    ("motivation", 3),
    ("other", 2),
)
_CHILDREN = ("son", "daughter", "grandson", "granddaughter")
_HEALTH_MIX = (("healthy", 70), ("chronic", 18), ("serious", 6), ("disabled", 6))


def _rng(rng_or_seed) -> random.Random:
    if isinstance(rng_or_seed, random.Random):
        return rng_or_seed
    return random.Random(rng_or_seed)


def _pick(rng, mix):
    values, weights = zip(*mix)
    return rng.choices(values, weights)[0]


def _years_before(day, years):
    if day.month == 2 and day.day == 29:
        day = day.replace(day=28)
    return day.replace(year=day.year - years)


def _birth(rng, min_age, max_age, today):
    """A birth date for an age between min_age and max_age (inclusive) at ``today``."""
    earliest = _years_before(today, max_age + 1) + timedelta(days=1)
    latest = _years_before(today, min_age)
    return earliest + timedelta(days=rng.randrange((latest - earliest).days + 1))


def valid_id(rng=None, *, seed=None, region=None, birth=None, sex=None, today=None) -> str:
    """A valid ID number. ``rng`` is a ``random.Random`` (or a seed); unspecified parts are
    random: region among REGIONS, birth within the 90 years before ``today`` (default
    2024-06-30), sex either."""
    rng = _rng(rng if rng is not None else seed)
    today = today or date(2024, 6, 30)
    region = region or rng.choice(REGIONS)
    birth = birth or _birth(rng, 0, 90, today)
    sex = sex or rng.choice("MF")
    return make_id_number(region, birth, rng.randrange(1000), sex)


def township_names(count: int) -> list[str]:
    names = list(TOWNSHIPS[:count])
    while len(names) < count:
        names.append(f"第{len(names) + 1}乡")
    return names


def village_names(township: str, count: int) -> list[str]:
    names = []
    for i in range(count):
        numeral = _NUMERALS[i] if i < 10 else f"{_NUMERALS[9]}{_NUMERALS[i - 10]}" if i < 19 else str(i + 1)
        names.append(f"{township}{numeral}村")
    return names


def synthetic_roster(
    n_households: int,
    seed: int = 0,
    townships=None,
    villages_per_township: int = 5,
    *,
    region: str = "640221",
    today: date | None = None,
) -> list[list]:
    """A roster as read from Excel: the header row (CANONICAL_HEADERS) and one row per member.

    Households have 1–6 members with exactly one 户主 (always the household's first row),
    plausible names, unique valid ID numbers agreeing with 性别 and 出生日期 (date cells),
    a realistic mix of attributes, statuses, causes, health statuses and aid categories,
    and 是否参保 mostly 是. ``townships`` is a count or a list of names (default 4)."""
    rng = random.Random(seed)
    today = today or date(2024, 6, 30)
    if townships is None:
        townships = 4
    if isinstance(townships, int):
        townships = township_names(townships)
    areas = [
        (t, v, ti, vi)
        for ti, t in enumerate(townships)
        for vi, v in enumerate(village_names(t, villages_per_township))
    ]
    used_ids = set()

    def new_id(birth, sex):
        while True:
            number = make_id_number(region, birth, rng.randrange(1000), sex)
            if number not in used_ids:
                used_ids.add(number)
                return number

    rows = [list(CANONICAL_HEADERS)]
    counters = {}
    for _ in range(n_households):
        township, village, ti, vi = rng.choice(areas)
        counters[(ti, vi)] = seq = counters.get((ti, vi), 0) + 1
        number = f"{region}{ti + 1:03d}{vi + 1:03d}{seq:04d}"
        attribute = _pick(rng, _ATTRIBUTE_MIX)
        status = _pick(rng, _STATUS_MIX)
        cause = _pick(rng, _CAUSE_MIX)
        income = round(rng.uniform(2000, 60000), 2) if rng.random() < 0.95 else None
        phone = f"1{rng.choice('35789')}{rng.randrange(10**9):09d}"
        surname = rng.choice(SURNAMES)
        members = _household_members(rng, today, surname)
        default_aid = codes.DEFAULT_AID_CATEGORY_BY_ATTRIBUTE[attribute]
        for relation, name, sex, birth in members:
            if default_aid == "none":
                aid = _pick(rng, (("none", 92), ("dibao_edge", 6), ("orphan", 1), ("dibao", 1)))
                if aid == "orphan" and not (relation in _CHILDREN and birth > _years_before(today, 18)):
                    aid = "none"
            else:
                aid = default_aid
            id_number = new_id(birth, sex)
            rows.append(
                [
                    township,
                    village,
                    number,
                    name,
                    id_number,
                    _LABEL["relation"][relation],
                    _LABEL["sex"][sex],
                    rng.choice(ETHNICITIES),
                    birth,
                    phone if relation == "head" else (phone if rng.random() < 0.3 else ""),
                    _LABEL["attribute"][attribute],
                    _LABEL["status"][status],
                    _LABEL["cause"][cause],
                    _LABEL["health"][_pick(rng, _HEALTH_MIX)],
                    "是" if rng.random() < 0.97 else "否",
                    _LABEL["aid"][aid],
                    income,
                ]
            )
    return rows


def _name(rng, surname, sex):
    return surname + rng.choice(MALE_GIVEN if sex == "M" else FEMALE_GIVEN)


def _household_members(rng, today, surname):
    """[(relation code, name, sex, birth date)], the head first."""
    size = rng.choices((1, 2, 3, 4, 5, 6), (12, 22, 22, 24, 13, 7))[0]
    head_sex = "M" if rng.random() < 0.8 else "F"
    head_age = rng.randint(max(25, 18 + 20 * (size > 4)), 85)
    head_birth = _birth(rng, head_age, head_age, today)
    head_name = _name(rng, surname, head_sex) if head_sex == "M" else _name(rng, rng.choice(SURNAMES), "F")
    members = [("head", head_name, head_sex, head_birth)]
    if size == 1:
        return members
    spouse_sex = "F" if head_sex == "M" else "M"
    spouse_age = max(20, min(90, head_age + rng.randint(-5, 5)))
    family_surname = surname if head_sex == "M" else rng.choice(SURNAMES)
    spouse_surname = rng.choice(SURNAMES) if spouse_sex == "F" else family_surname
    members.append(
        (
            "spouse",
            _name(rng, spouse_surname, spouse_sex),
            spouse_sex,
            _birth(rng, spouse_age, spouse_age, today),
        )
    )
    children = []
    while len(members) < size:
        room = size - len(members)
        if head_age >= 50 and children and room >= 1 and rng.random() < 0.5:
            # a grandchild of an adult son
            parent_age = children[0]
            age = rng.randint(0, max(0, min(parent_age - 20, 17)))
            sex = rng.choice("MF")
            members.append(
                (
                    "grandson" if sex == "M" else "granddaughter",
                    _name(rng, family_surname, sex),
                    sex,
                    _birth(rng, age, age, today),
                )
            )
        elif (
            head_age <= 55
            and room >= 1
            and rng.random() < 0.15
            and not any(r in ("father", "mother") for r, *_ in members)
        ):
            age = min(100, head_age + rng.randint(22, 32))
            sex = rng.choice("MF")
            members.append(
                (
                    "father" if sex == "M" else "mother",
                    _name(rng, family_surname if sex == "M" else rng.choice(SURNAMES), sex),
                    sex,
                    _birth(rng, age, age, today),
                )
            )
        else:
            age = rng.randint(max(0, head_age - 40), max(0, head_age - 20))
            sex = rng.choice("MF")
            children.append(age)
            members.append(
                (
                    "son" if sex == "M" else "daughter",
                    _name(rng, family_surname, sex),
                    sex,
                    _birth(rng, age, age, today),
                )
            )
            if age >= 22 and sex == "M" and len(members) < size and rng.random() < 0.5:
                members.append(
                    (
                        "daughter_in_law",
                        _name(rng, rng.choice(SURNAMES), "F"),
                        "F",
                        _birth(rng, max(20, age - 2), max(20, age + 2), today),
                    )
                )
    return members


def write_xlsx(rows, path) -> None:
    """Write rows (header first) to an .xlsx file with openpyxl's write-only mode. Dates get
    a date format; ID numbers stay text."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("花名册")
    for row in rows:
        out = []
        for value in row:
            if isinstance(value, date):
                cell = WriteOnlyCell(sheet, value=value)
                cell.number_format = "yyyy-mm-dd"
                out.append(cell)
            else:
                out.append(value)
        sheet.append(out)
    workbook.save(path)
