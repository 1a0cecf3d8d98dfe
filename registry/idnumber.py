"""Resident ID numbers (公民身份号码, GB 11643-1999). Pure Python, no Django imports.

An 18-character number: 6-digit region code, 8-digit birth date (YYYYMMDD), 3-digit
sequence (odd for men, even for women), and a check character computed with ISO 7064
MOD 11-2 over the first 17 digits (``X`` stands for 10).

The roster import validates every row with :func:`validate_id_number`, so it is written to be
cheap: no regular expressions, birth dates cached, the check sum in one C call.
"""

from __future__ import annotations

import re
from datetime import date
from operator import mul
from typing import NamedTuple

__all__ = [
    "IdInfo",
    "IdNumberError",
    "check_digit",
    "is_valid_id_number",
    "make_id_number",
    "mask_birth_date",
    "mask_id_number",
    "mask_id_numbers_in_text",
    "normalize_id_number",
    "validate_id_number",
]

# Weight of position i (1-based, left to right) is 2**(18 - i) mod 11.
WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))  # 7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2
# The check character for (sum of weighted digits) mod 11.
CHECK_CHARS = "10X98765432"
# ``check_digit`` sums the ASCII codes rather than the digits; this is the excess to remove.
_ASCII_ZERO_EXCESS = ord("0") * sum(WEIGHTS)
_EARLIEST_BIRTH_YEAR = 1900
# Full-width ０–９, Ｘ and ｘ (typed with a Chinese input method) -> ASCII.
_FULL_WIDTH = {0xFF10 + i: ord("0") + i for i in range(10)} | {0xFF38: ord("X"), 0xFF58: ord("x")}


class IdNumberError(ValueError):
    """An invalid ID number; ``str(error)`` is a message in Chinese for the user."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class IdInfo(NamedTuple):
    """What a valid ID number says (a named tuple: cheap to create)."""

    number: str  # normalised: 18 characters, upper-case X
    birth_date: date
    sex: str  # "M" or "F"

    @property
    def region(self) -> str:
        return self.number[:6]


def check_digit(first17: str) -> str:
    """The MOD 11-2 check character ("0"–"9" or "X") for 17 ASCII digits."""
    if len(first17) != 17 or not (first17.isascii() and first17.isdigit()):
        raise ValueError(f"需要17位数字，得到「{first17}」")
    total = sum(map(mul, first17.encode("ascii"), WEIGHTS)) - _ASCII_ZERO_EXCESS
    return CHECK_CHARS[total % 11]


# YYYYMMDD -> date for the birth dates met so far (there are only some 45,000 valid ones
# since 1900; a roster repeats them a lot).
_BIRTH_DATES: dict[str, date] = {}
_BIRTH_CACHE_SIZE = 100_000


def _birth_date(text: str) -> date:
    year = int(text[:4])
    try:
        birth = date(year, int(text[4:6]), int(text[6:8]))
    except ValueError:
        raise IdNumberError(f"出生日期无效（{text}）") from None
    if year < _EARLIEST_BIRTH_YEAR:
        raise IdNumberError(f"出生日期无效（{text}）")
    if len(_BIRTH_DATES) >= _BIRTH_CACHE_SIZE:
        _BIRTH_DATES.clear()
    _BIRTH_DATES[text] = birth
    return birth


def normalize_id_number(value: str) -> str:
    """Remove all whitespace (full-width spaces included), fold full-width digits and X to
    ASCII, and upper-case a final ``x``."""
    number = "".join(value.split())
    if not number.isascii():
        number = number.translate(_FULL_WIDTH)
    if number[-1:] == "x":
        number = number[:-1] + "X"
    return number


def validate_id_number(value: str, *, today: date | None = None) -> IdInfo:
    """Check ``value`` and return the normalised number with its birth date and sex.

    Raises :class:`IdNumberError` (message in Chinese) for the first fault found, in this
    order: length, characters, birth date, check character. ``today`` (default: the current
    date) is the latest acceptable birth date.
    """
    if value.__class__ is not str and not isinstance(value, str):
        raise IdNumberError("应为文本格式的18位号码")
    if len(value) == 18 and value.isalnum() and value.isascii():
        number = value if value[17] != "x" else value[:17] + "X"  # the common case
    else:
        number = normalize_id_number(value)
    if len(number) != 18:
        raise IdNumberError(f"长度应为18位（实为{len(number)}位）")
    first17 = number[:17]
    last = number[17]
    if not (number.isascii() and first17.isdigit() and (last.isdigit() or last == "X")):
        raise IdNumberError("格式错误：前17位应为数字，最后一位应为数字或X")
    birth = _BIRTH_DATES.get(number[6:14])
    if birth is None:
        birth = _birth_date(number[6:14])
    if birth > (today or date.today()):
        raise IdNumberError(f"出生日期无效（{number[6:14]}）")
    # 13 ≡ 2 (mod 11), so reading the 17 digits in base 13 gives, times 2, the weighted sum
    # Σ dᵢ·2^(18-i) modulo 11 in one C call (the digits were checked above).
    if CHECK_CHARS[2 * int(first17, 13) % 11] != last:
        raise IdNumberError("校验位错误")
    return IdInfo(number, birth, "M" if ord(number[16]) & 1 else "F")


def is_valid_id_number(value: str, *, today: date | None = None) -> bool:
    try:
        validate_id_number(value, today=today)
    except IdNumberError:
        return False
    return True


def mask_id_number(number: str) -> str:
    """``640*************3X``: the first 3 and the last 2 characters, 13 asterisks between.

    The one masking function: every page, API field, export and history line that shows an ID
    number to a role not allowed the full number goes through it (docs/security.md). It hides
    the whole birth date (characters 7–14) and all but the region's province, so the number
    cannot be rebuilt from the masked form plus the birth year shown beside it. Anything that
    is not 18 characters long keeps only its last 2 characters (if it has more than 5), so a
    malformed number never leaks in full either."""
    number = number or ""
    if len(number) == 18:
        return number[:3] + "*" * 13 + number[16:]
    if len(number) > 5:
        return "*" * (len(number) - 2) + number[-2:]
    return "*" * len(number)


def mask_birth_date(birth: date | None) -> str:
    """What is shown of a birth date beside a masked ID number: the year only (``1975年``)."""
    return f"{birth.year}年" if birth else ""


# A 15-digit (first-generation) or 18-character ID number standing alone in a text: not part of
# a longer run of digits. URL-encoded spaces and separators around it do not matter.
_ID_IN_TEXT = re.compile(
    r"(?:(?<![0-9A-Za-z])|(?<=%[0-9A-Fa-f]{2}))(?:[0-9]{17}[0-9Xx]|[0-9]{15})(?![0-9A-Za-z])"
)


def mask_id_numbers_in_text(text: str) -> str:
    """``text`` with every ID number in it masked (for log lines: URLs carry typed searches).
    15-digit numbers keep their last 2 characters only."""
    if not text or not any(ch.isdigit() for ch in text):
        return text
    return _ID_IN_TEXT.sub(lambda m: mask_id_number(m.group(0)), text)


def make_id_number(region6: str, birth: date, seq3: int, sex: str | None = None) -> str:
    """Build a valid ID number: ``region6`` (6 digits), ``birth`` and the 3-digit sequence
    ``seq3`` (0–999), followed by the correct check character.

    With ``sex`` ("M"/"F") the parity of the sequence is forced to match (``seq3`` is
    lowered or raised by one if needed: odd for men, even for women)."""
    if len(region6) != 6 or not (region6.isascii() and region6.isdigit()):
        raise ValueError(f"区划代码应为6位数字，得到「{region6}」")
    if not 0 <= seq3 <= 999:
        raise ValueError(f"顺序码应在0–999之间，得到{seq3}")
    if sex is not None:
        if sex not in ("M", "F"):
            raise ValueError(f"性别应为M或F，得到「{sex}」")
        if (seq3 % 2 == 1) != (sex == "M"):
            seq3 = seq3 + 1 if seq3 == 0 else seq3 - 1
    first17 = f"{region6}{birth.year:04d}{birth.month:02d}{birth.day:02d}{seq3:03d}"
    return first17 + check_digit(first17)
