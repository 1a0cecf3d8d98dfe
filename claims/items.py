"""Itemised bills (费用明细) of an encounter. Pure Python: no Django imports.

The settlement contract's rules for ``items`` (codes in ``claims.codes``): a non-empty list;
each item has a ``code``, a ``class`` (A 甲类 · B 乙类 · C 丙类), an ``amount`` ≥ 0 with at most
two decimals, and optionally a ``category``, a ``name``, a ``quantity`` and ``unit_price``
(both ≥ 0) and a ``deducted`` amount (违规扣除, 0 ≤ deducted ≤ amount). Faults name the item's
path: ``items[2].class``. The encounter's total is Σ amount; if a total is given beside the
items it must equal that sum, and an in-policy cost may not be given (the year's policy
catalogue derives it when the encounter is settled).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from . import codes

CLASSES = dict(codes.ITEM_CLASSES)
CATEGORIES = dict(codes.ITEM_CATEGORIES)
# The two lines of a bill made from an encounter's totals when a review deducts from it
# (``claims.review``): never flagged as out of the catalogue.
SUMMARY_CODES = ("ZD-IN", "ZD-OUT")
FIELDS = ("code", "name", "category", "class", "quantity", "unit_price", "amount", "deducted")
_MAX_LENGTH = {"code": 50, "name": 100}
_LIMIT = Decimal("10000000000")  # the database's 12 digits with two decimals


@dataclass(frozen=True, slots=True)
class BillItem:
    code: str
    item_class: str
    amount: Decimal
    deducted: Decimal = Decimal("0.00")
    category: str = ""
    name: str = ""
    quantity: Decimal | None = None
    unit_price: Decimal | None = None


class ItemsError(ValueError):
    """Bad itemised input: ``path`` (e.g. ``items[2].class``) and a Chinese message."""

    def __init__(self, path: str, message: str):
        super().__init__(f"{path}：{message}")
        self.path = path
        self.message = message


def _decimal(value, path, *, places: int, required: bool) -> Decimal | None:
    if value is None or value == "":
        if required:
            raise ItemsError(path, "必填")
        return None
    if isinstance(value, bool):
        raise ItemsError(path, "应为数字")
    try:
        number = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
    except (InvalidOperation, ValueError):
        raise ItemsError(path, "应为数字") from None
    if not number.is_finite():
        raise ItemsError(path, "应为数字")
    if number < 0:
        raise ItemsError(path, "不能为负数")
    if number >= _LIMIT:
        raise ItemsError(path, "数额过大")
    step = Decimal(1).scaleb(-places)
    if number != number.quantize(step):
        raise ItemsError(path, f"最多{places}位小数")
    return number.quantize(step)


decimal_value = _decimal  # shared with the catalogue's parser (claims.catalogue_rows)


def _text(value, path, *, required: bool) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str | int):
        raise ItemsError(path, "应为文字")
    text = str(value).strip()
    if required and not text:
        raise ItemsError(path, "必填")
    field = path.rsplit(".", 1)[-1]
    if len(text) > _MAX_LENGTH[field]:
        raise ItemsError(path, f"不能超过{_MAX_LENGTH[field]}个字")
    return text


def parse_item(raw, index: int) -> BillItem:
    """One item (a dict with the contract's keys) → BillItem; raises ItemsError naming the path."""
    p = f"items[{index}]"
    if not isinstance(raw, dict):
        raise ItemsError(p, "每条明细应是一个对象 {code, class, amount, …}")
    unknown = sorted(k for k in raw if k not in FIELDS)
    if unknown:
        raise ItemsError(f"{p}.{unknown[0]}", f"不认识的字段（可填：{'、'.join(FIELDS)}）")
    code = _text(raw.get("code"), f"{p}.code", required=True)
    item_class = raw.get("class")
    if item_class not in CLASSES:
        raise ItemsError(f"{p}.class", "医保目录类别必须是 A（甲类）、B（乙类）或 C（丙类）")
    category = raw.get("category") or ""
    if category and category not in CATEGORIES:
        allowed = "、".join(f"{c}（{label}）" for c, label in codes.ITEM_CATEGORIES)
        raise ItemsError(f"{p}.category", f"不认识的费用类别（可填：{allowed}）")
    amount = _decimal(raw.get("amount"), f"{p}.amount", places=2, required=True)
    deducted = _decimal(raw.get("deducted"), f"{p}.deducted", places=2, required=False) or Decimal("0.00")
    if deducted > amount:
        raise ItemsError(f"{p}.deducted", f"扣除金额不能大于项目金额（{deducted} > {amount}）")
    return BillItem(
        code=code,
        item_class=item_class,
        amount=amount,
        deducted=deducted,
        category=category,
        name=_text(raw.get("name"), f"{p}.name", required=False),
        quantity=_decimal(raw.get("quantity"), f"{p}.quantity", places=3, required=False),
        unit_price=_decimal(raw.get("unit_price"), f"{p}.unit_price", places=4, required=False),
    )


def parse_items(raw_items, *, total_cost=None, in_policy_cost=None) -> tuple[list[BillItem], Decimal]:
    """The list of items → (BillItems, total = Σ amount). Refuses (ItemsError) the first fault:
    an empty list, a bad item, an in-policy cost given beside items, a total ≠ Σ amount."""
    if not isinstance(raw_items, list | tuple) or not raw_items:
        raise ItemsError("items", "费用明细应是非空列表 […]")
    if in_policy_cost is not None:
        raise ItemsError("in_policy_cost", "有费用明细时不能再填政策范围内费用（结算时由明细按目录类别算出）")
    items = [parse_item(raw, i) for i, raw in enumerate(raw_items)]
    total = sum((item.amount for item in items), Decimal("0.00"))
    if total >= _LIMIT:
        raise ItemsError("items", "明细金额合计过大")
    if total_cost is not None and Decimal(total_cost) != total:
        raise ItemsError("total_cost", f"医疗总费用 {total_cost} 与明细金额合计 {total} 不一致")
    return items, total


def catalogue_cost(items) -> Decimal:
    """Σ (amount − deducted) of the A and B items: the bill's 目录内费用, stored as the
    encounter's in-policy cost (settlement derives the in-policy cost itself, subtracting
    乙类先行自付 under the year's policy)."""
    return sum((i.amount - i.deducted for i in items if i.item_class in ("A", "B")), Decimal("0.00"))
