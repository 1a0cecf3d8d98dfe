"""Code lists of the registry (no Django imports).

One source for the stored codes and their Chinese labels: the models build their
``TextChoices`` from these tuples, the roster parser maps Excel cell text to codes with
them, and the settlement engine speaks the same codes (poverty status, aid category).
Each list is ``(code, label, aliases)``; aliases are other spellings found in exports of
the national poverty-alleviation information system.
"""

HOUSEHOLD_ATTRIBUTES = (
    ("general", "一般贫困户", ("一般户", "一般农户")),
    ("dibao", "低保贫困户", ("低保户",)),
    ("tekun", "特困供养贫困户", ("特困户", "五保户", "五保贫困户", "分散供养特困人员")),
)

POVERTY_STATUSES = (
    ("poor", "未脱贫", ("贫困", "未脱贫户")),
    ("lifted", "已脱贫", ("脱贫", "已脱贫户", "脱贫户", "稳定脱贫")),
    (
        "monitored",
        "监测对象",
        ("防止返贫监测对象", "监测户", "脱贫不稳定户", "边缘易致贫户", "突发严重困难户"),
    ),
)

MAIN_CAUSES = (
    ("illness", "因病", ("因病致贫",)),
    ("disability", "因残", ("因残致贫",)),
    ("education", "因学", ("因学致贫",)),
    ("disaster", "因灾", ("因灾致贫",)),
    ("labour", "缺劳力", ("缺劳动力",)),
    ("funds", "缺资金", ()),
    ("skills", "缺技术", ()),
    ("land", "缺土地", ()),
    ("water", "缺水", ()),
    ("transport", "交通条件落后", ("交通落后",)),
    ("motivation", "自身发展动力不足", ("自身发展动力不足致贫",)),
    ("other", "其他", ("其它",)),
)

RELATIONS = (
    ("head", "户主", ("本人",)),
    ("spouse", "配偶", ("妻", "夫", "之妻", "之夫")),
    ("son", "之子", ("子", "儿子")),
    ("daughter", "之女", ("女", "女儿")),
    ("daughter_in_law", "之儿媳", ("儿媳",)),
    ("son_in_law", "之女婿", ("女婿",)),
    ("grandson", "之孙子", ("孙子",)),
    ("granddaughter", "之孙女", ("孙女",)),
    ("father", "之父", ("父亲",)),
    ("mother", "之母", ("母亲",)),
    ("other", "其他", ("其它",)),
)

HEALTH_STATUSES = (
    ("healthy", "健康", ()),
    ("chronic", "长期慢性病", ("慢性病",)),
    ("serious", "患有大病", ("大病",)),
    ("disabled", "残疾", ()),
)

AID_CATEGORIES = (
    ("tekun", "特困供养", ("特困", "特困人员", "五保")),
    ("orphan", "孤儿", ()),
    ("dibao", "低保", ("低保对象",)),
    ("dibao_edge", "低保边缘", ("低保边缘户", "低保边缘家庭")),
    ("none", "无", ("否", "-", "—")),
)

SEXES = (
    ("M", "男", ("男性",)),
    ("F", "女", ("女性",)),
)

# The household attribute gives its members' default aid category (domain.md).
DEFAULT_AID_CATEGORY_BY_ATTRIBUTE = {"general": "none", "dibao": "dibao", "tekun": "tekun"}


def label_to_code(table):
    """Map every label and alias of a code list to its code."""
    mapping = {}
    for code, label, aliases in table:
        mapping[label] = code
        for alias in aliases:
            mapping[alias] = code
    return mapping


def choices(table):
    """``[(code, label), …]`` for Django fields and forms."""
    return [(code, label) for code, label, _ in table]


def labels(table):
    return {code: label for code, label, _ in table}
