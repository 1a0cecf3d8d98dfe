"""GB 11643-1999 ID numbers: registry/idnumber.py."""

from datetime import date, timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from registry.idnumber import (
    IdInfo,
    IdNumberError,
    check_digit,
    is_valid_id_number,
    make_id_number,
    mask_id_number,
    validate_id_number,
)

TODAY = date(2024, 6, 30)

# Check characters worked out by hand. Weights of positions 1–17: 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2;
# the check character for (weighted sum mod 11) = 0..10 is 1 0 X 9 8 7 6 5 4 3 2.
#
# 11010519491231002X (the standard's own example):
#   1·7 + 1·9 + 0·10 + 1·5 + 0·8 + 5·4 + 1·2 + 9·1 + 4·6 + 9·3 + 1·7 + 2·9 + 3·10 + 1·5 + 0·8 + 0·4 + 2·2
#   = 7+9+0+5+0+20+2+9+24+27+7+18+30+5+0+0+4 = 167;  167 mod 11 = 2  -> X.
#   Born 1949-12-31, 17th digit 2 (even) -> female.
# 640221199001020015:
#   6·7 + 4·9 + 0·10 + 2·5 + 2·8 + 1·4 + 1·2 + 9·1 + 9·6 + 0·3 + 0·7 + 1·9 + 0·10 + 2·5 + 0·8 + 0·4 + 1·2
#   = 42+36+0+10+16+4+2+9+54+0+0+9+0+10+0+0+2 = 194;  194 mod 11 = 7  -> 5.
#   Born 1990-01-02, 17th digit 1 (odd) -> male.
# 21138120000229002?:
#   2·7 + 1·9 + 1·10 + 3·5 + 8·8 + 1·4 + 2·2 + 0·1 + 0·6 + 0·3 + 0·7 + 2·9 + 2·10 + 9·5 + 0·8 + 0·4 + 2·2
#   = 14+9+10+15+64+4+4+0+0+0+0+18+20+45+0+0+4 = 207;  207 mod 11 = 9  -> 3.
#   Born on a leap day, 2000-02-29, 17th digit 2 -> female.
# 44052418800101001 (a well-known historical example, born 1880):
#   4·7 + 4·9 + 0·10 + 5·5 + 2·8 + 4·4 + 1·2 + 8·1 + 8·6 + 0·3 + 0·7 + 1·9 + 0·10 + 1·5 + 0·8 + 0·4 + 1·2
#   = 28+36+0+25+16+16+2+8+48+0+0+9+0+5+0+0+2 = 195;  195 mod 11 = 8  -> 4.
KNOWN_VALID = [
    ("11010519491231002X", date(1949, 12, 31), "F"),
    ("640221199001020015", date(1990, 1, 2), "M"),
    ("211381200002290023", date(2000, 2, 29), "F"),
]


@pytest.mark.parametrize("number, birth, sex", KNOWN_VALID)
def test_known_valid_numbers(number, birth, sex):
    info = validate_id_number(number, today=TODAY)
    assert info == IdInfo(number, birth, sex)
    assert info.number == number and info.birth_date == birth and info.sex == sex
    assert info.region == number[:6]


@pytest.mark.parametrize(
    "first17, expected",
    [
        ("11010519491231002", "X"),
        ("64022119900102001", "5"),
        ("21138120000229002", "3"),
        ("44052418800101001", "4"),
    ],
)
def test_check_digit_by_hand(first17, expected):
    assert check_digit(first17) == expected


@pytest.mark.parametrize(
    "bad",
    ["1101051949123100", "110105194912310022", "1101051949123100a", "１１０１０５１９４９１２３１００２"],
)
def test_check_digit_needs_17_ascii_digits(bad):
    with pytest.raises(ValueError):
        check_digit(bad)


@pytest.mark.parametrize(
    "raw, normalised",
    [
        ("11010519491231002x", "11010519491231002X"),  # lower-case x
        (" 640221199001020015 ", "640221199001020015"),
        ("640221 19900102 0015", "640221199001020015"),  # spaces inside
        ("640221\u300019900102\u30000015", "640221199001020015"),  # full-width spaces
        ("\t11010519491231002X\n", "11010519491231002X"),
        ("１１０１０５１９４９１２３１００２Ｘ", "11010519491231002X"),  # full-width digits and Ｘ
    ],
)
def test_normalisation(raw, normalised):
    assert validate_id_number(raw, today=TODAY).number == normalised


@pytest.mark.parametrize(
    "value, message_start",
    [
        ("", "长度应为18位"),
        ("64022119900102001", "长度应为18位"),  # 17
        ("6402211990010200155", "长度应为18位"),  # 19
        ("64022119900102", "长度应为18位"),
        ("640221199001020015X", "长度应为18位"),
        ("64022119900102001A", "格式错误"),  # letter other than X at the end
        ("6402211990010200X5", "格式错误"),  # X not at the end
        ("64022119900A020015", "格式错误"),
        ("640221-9900102001X", "格式错误"),
        ("64022119900102001²", "格式错误"),  # a Unicode digit that is not 0-9
        ("640221199002300011", "出生日期无效"),  # 30 February
        ("640221199013020011", "出生日期无效"),  # month 13
        ("640221199000020011", "出生日期无效"),  # month 0
        ("640221199001000011", "出生日期无效"),  # day 0
        ("640221190002290011", "出生日期无效"),  # 1900 was not a leap year
        ("640221202501010011", "出生日期无效"),  # after TODAY
        ("640221189912310011", "出生日期无效"),  # before 1900
        ("640221199001020016", "校验位错误"),  # 5 expected (see above)
        ("11010519491231002Y", "格式错误"),
        ("110105194912310020", "校验位错误"),  # X expected
    ],
)
def test_each_fault(value, message_start):
    with pytest.raises(IdNumberError) as caught:
        validate_id_number(value, today=TODAY)
    assert str(caught.value).startswith(message_start)
    assert caught.value.message == str(caught.value)


def test_length_message_names_the_actual_length():
    with pytest.raises(IdNumberError, match="实为17位"):
        validate_id_number("64022119900102001", today=TODAY)


def test_birth_date_today_is_accepted_and_tomorrow_is_not():
    today_number = make_id_number("640221", TODAY, 12)
    assert validate_id_number(today_number, today=TODAY).birth_date == TODAY
    tomorrow_number = make_id_number("640221", TODAY + timedelta(days=1), 12)
    with pytest.raises(IdNumberError, match="出生日期无效"):
        validate_id_number(tomorrow_number, today=TODAY)


def test_default_today_is_the_current_date():
    future = make_id_number("640221", date.today() + timedelta(days=1), 1)
    with pytest.raises(IdNumberError, match="出生日期无效"):
        validate_id_number(future)
    assert validate_id_number(make_id_number("640221", date.today(), 1)).birth_date == date.today()


@pytest.mark.parametrize("value", [110105194912310020, 1.1010519491231e17, None])
def test_non_text_is_refused(value):
    with pytest.raises(IdNumberError, match="文本"):
        validate_id_number(value, today=TODAY)


def test_is_valid_id_number():
    assert is_valid_id_number("11010519491231002x", today=TODAY)
    assert not is_valid_id_number("110105194912310020", today=TODAY)
    assert not is_valid_id_number("", today=TODAY)


def test_error_is_a_value_error():
    assert issubclass(IdNumberError, ValueError)


@pytest.mark.parametrize(
    "number, masked",
    [
        ("64022119900102123X", "640*************3X"),
        ("11010519491231002X", "110*************2X"),
        ("1234567", "*****67"),
        ("12345", "*****"),
        ("123", "***"),
        ("", ""),
    ],
)
def test_mask(number, masked):
    assert mask_id_number(number) == masked


def test_make_id_number_pieces():
    number = make_id_number("640221", date(1990, 1, 2), 1)
    assert number == "640221199001020015"
    assert make_id_number("110105", date(1949, 12, 31), 2) == "11010519491231002X"


@pytest.mark.parametrize(
    "seq, sex, expected_seq",
    [
        (1, "M", "001"),
        (1, "F", "000"),
        (0, "M", "001"),
        (0, "F", "000"),
        (998, "M", "997"),
        (999, "F", "998"),
        (124, "F", "124"),
        (125, "M", "125"),
    ],
)
def test_make_id_number_forces_sex_parity(seq, sex, expected_seq):
    number = make_id_number("640221", date(1990, 1, 2), seq, sex)
    assert number[14:17] == expected_seq
    assert validate_id_number(number, today=TODAY).sex == sex


@pytest.mark.parametrize(
    "args",
    [
        ("64022", date(1990, 1, 2), 1),
        ("64022a", date(1990, 1, 2), 1),
        ("640221", date(1990, 1, 2), 1000),
        ("640221", date(1990, 1, 2), -1),
    ],
)
def test_make_id_number_refuses_bad_parts(args):
    with pytest.raises(ValueError):
        make_id_number(*args)


def test_make_id_number_refuses_bad_sex():
    with pytest.raises(ValueError):
        make_id_number("640221", date(1990, 1, 2), 1, "X")


# ----------------------------------------------------------------------------------------
# Properties

regions = st.text(alphabet="0123456789", min_size=6, max_size=6)
births = st.dates(min_value=date(1900, 1, 1), max_value=TODAY)
seqs = st.integers(min_value=0, max_value=999)


def _reference_check(first17):
    """An independent implementation: weights 2^(17-i) mod 11, check = (12 - sum mod 11) mod 11."""
    total = sum(int(d) * (2 ** (17 - i) % 11) for i, d in enumerate(first17))
    value = (12 - total % 11) % 11
    return "X" if value == 10 else str(value)


@given(regions, births, seqs, st.sampled_from([None, "M", "F"]))
def test_made_numbers_validate(region, birth, seq, sex):
    number = make_id_number(region, birth, seq, sex)
    info = validate_id_number(number, today=TODAY)
    assert info.number == number
    assert info.birth_date == birth
    assert number[:6] == region
    assert number[17] == _reference_check(number[:17])
    if sex:
        assert info.sex == sex
    else:
        assert info.sex == ("M" if seq % 2 else "F")


@given(regions, births, seqs, st.integers(min_value=0, max_value=17), st.sampled_from("0123456789X"))
def test_single_substitution_always_fails(region, birth, seq, position, replacement):
    number = make_id_number(region, birth, seq)
    assume(number[position] != replacement)
    changed = number[:position] + replacement + number[position + 1 :]
    with pytest.raises(IdNumberError):
        validate_id_number(changed, today=TODAY)


@given(regions, births, seqs, st.integers(min_value=0, max_value=16))
def test_adjacent_transposition_always_fails(region, birth, seq, position):
    number = make_id_number(region, birth, seq)
    assume(number[position] != number[position + 1])
    swapped = number[:position] + number[position + 1] + number[position] + number[position + 2 :]
    with pytest.raises(IdNumberError):
        validate_id_number(swapped, today=TODAY)


@given(st.text(alphabet="0123456789", min_size=17, max_size=17))
def test_check_digit_matches_reference(first17):
    assert check_digit(first17) == _reference_check(first17)


@given(st.text(max_size=30))
def test_arbitrary_text_validates_or_raises_id_error(text):
    try:
        info = validate_id_number(text, today=TODAY)
    except IdNumberError:
        return
    assert len(info.number) == 18 and info.number[:17].isdigit()


@given(regions, births, seqs)
def test_mask_keeps_only_ends(region, birth, seq):
    number = make_id_number(region, birth, seq)
    masked = mask_id_number(number)
    assert len(masked) == 18
    assert masked[:3] == number[:3] and masked[-2:] == number[-2:]
    assert masked[3:16] == "*" * 13
