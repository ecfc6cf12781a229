"""gateway._core.fixedpoint against decimal.Decimal, which is exact at a wide enough precision."""

import pickle
from decimal import Decimal, localcontext

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gateway._core.fixedpoint import FixedPointError, format_scaled, parse_scaled, rescale

U128_MAX = 2**128 - 1
decimals_st = st.integers(min_value=0, max_value=77)
# biased towards the uint64 / 128-bit boundaries the fast paths switch on
ints_st = st.one_of(
    st.integers(),
    st.integers(min_value=-(2**130), max_value=2**130),
    st.sampled_from([0, 1, -1, 2**63 - 1, 2**63, 2**64 - 1, 2**64, 10**19 - 1, 10**19,
                     U128_MAX, U128_MAX + 1, -(2**63), -(2**64), -U128_MAX, 10**38, 10**39]),
)


def oracle_scaled(text, decimals):
    """int(Decimal(text).scaleb(decimals)), or None when that is not an integer."""
    with localcontext() as ctx:
        ctx.prec = 10_000
        scaled = Decimal(text).scaleb(decimals)
        if scaled != scaled.to_integral_value():
            return None
        return int(scaled)


def oracle_format(value, decimals):
    with localcontext() as ctx:
        ctx.prec = 10_000
        return "{:f}".format(Decimal(value).scaleb(-decimals).normalize())


def code_of(text, decimals=18, **kw):
    with pytest.raises(FixedPointError) as info:
        parse_scaled(text, decimals, **kw)
    return info.value.code


# --- examples from the spec -------------------------------------------------

@pytest.mark.parametrize("text, decimals, expected", [
    ("65000.5", 18, 65000500000000000000000),
    ("1", 18, 10**18),
    ("0", 18, 0),
    ("0.0", 0, 0),
    ("007.50", 2, 750),
    ("1.500", 1, 15),
    ("1.000000000000000000000000000000", 0, 1),
    ("0.000000000000000001", 18, 1),
    ("123456789", 0, 123456789),
    ("18446744073709551615", 0, 2**64 - 1),
    ("18446744073709551616", 0, 2**64),
    ("340282366920938463463.374607431768211455", 18, U128_MAX),
])
def test_known_values(text, decimals, expected):
    assert parse_scaled(text, decimals) == expected
    assert parse_scaled(text.encode(), decimals) == expected


@pytest.mark.parametrize("value, decimals, expected", [
    (65000500000000000000000, 18, "65000.5"),
    (10**18, 18, "1"),
    (0, 18, "0"),
    (-(10**16), 18, "-0.01"),
    (1, 18, "0.000000000000000001"),
    (12300, 2, "123"),
    (-5, 0, "-5"),
    (-(2**63), 2, "-92233720368547758.08"),
    (U128_MAX, 18, "340282366920938463463.374607431768211455"),
    (2**200, 0, str(2**200)),
])
def test_format_known(value, decimals, expected):
    assert format_scaled(value, decimals) == expected


def test_negative_zero_is_zero():
    assert parse_scaled("-0", 18, signed=True) == 0
    assert parse_scaled("-0.000", 3, signed=True) == 0
    assert format_scaled(parse_scaled("-0", 6, signed=True), 6) == "0"


def test_signed_negatives():
    assert parse_scaled("-1.25", 2, signed=True) == -125
    assert parse_scaled(b"-0.01", 18, signed=True) == -(10**16)
    assert parse_scaled("-340282366920938463463.374607431768211455", 18, signed=True) == -U128_MAX


# --- properties against Decimal ---------------------------------------------

@given(ints_st, decimals_st)
@settings(max_examples=500)
def test_round_trip(value, decimals):
    text = format_scaled(value, decimals)
    assert parse_scaled(text, decimals, signed=True, max_value=abs(value)) == value
    assert text == oracle_format(value, decimals)


@given(st.integers(min_value=-U128_MAX, max_value=U128_MAX), decimals_st)
@settings(max_examples=300)
def test_round_trip_default_bound(value, decimals):
    assert parse_scaled(format_scaled(value, decimals), decimals, signed=True) == value


@given(
    neg=st.booleans(),
    int_digits=st.from_regex(r"[0-9]{1,45}", fullmatch=True),
    frac_digits=st.one_of(st.none(), st.from_regex(r"[0-9]{1,25}", fullmatch=True)),
    trailing_zeros=st.integers(min_value=0, max_value=30),
    decimals=decimals_st,
)
@settings(max_examples=1000)
@example(neg=False, int_digits="65000", frac_digits="5", trailing_zeros=0, decimals=18)
@example(neg=False, int_digits="1", frac_digits="5", trailing_zeros=5, decimals=1)
@example(neg=True, int_digits="0", frac_digits="0", trailing_zeros=0, decimals=0)
def test_random_strings_match_decimal(neg, int_digits, frac_digits, trailing_zeros, decimals):
    text = ("-" if neg else "") + int_digits
    if frac_digits is not None:
        text += "." + frac_digits + "0" * trailing_zeros
    expected = oracle_scaled(text, decimals)
    if expected is None:
        assert code_of(text, decimals, signed=True) == "excess_precision"
    elif abs(expected) > U128_MAX:
        assert code_of(text, decimals, signed=True) == "out_of_range"
    else:
        assert parse_scaled(text, decimals, signed=True) == expected
        assert parse_scaled(text.encode(), decimals, signed=True) == expected


@given(st.from_regex(r"[0-9]{1,60}(\.[0-9]{1,40})?", fullmatch=True), decimals_st)
def test_bytes_and_str_agree(text, decimals):
    def outcome(t):
        try:
            return parse_scaled(t, decimals, max_value=10**200)
        except FixedPointError as exc:
            return exc.code
    result = outcome(text)
    assert outcome(text.encode("ascii")) == result
    assert result == (oracle_scaled(text, decimals) if oracle_scaled(text, decimals) is not None
                      else "excess_precision")


@given(st.integers(min_value=0, max_value=2**260), decimals_st)
def test_max_value_boundary(max_value, decimals):
    at_max = format_scaled(max_value, decimals)
    assert parse_scaled(at_max, decimals, max_value=max_value) == max_value
    above = format_scaled(max_value + 1, decimals)
    with pytest.raises(FixedPointError) as info:
        parse_scaled(above, decimals, max_value=max_value)
    assert info.value.code == "out_of_range"
    with pytest.raises(FixedPointError) as info:
        parse_scaled("-" + above, decimals, signed=True, max_value=max_value)
    assert info.value.code == "out_of_range"
    assert parse_scaled("-" + at_max, decimals, signed=True, max_value=max_value) == -max_value


def test_u128_max_at_18_decimals():
    assert parse_scaled("340282366920938463463.374607431768211455", 18) == U128_MAX
    assert format_scaled(U128_MAX, 18) == "340282366920938463463.374607431768211455"
    for over in ("340282366920938463463.374607431768211456", "340282366920938463464",
                 "-340282366920938463463.374607431768211456"):
        assert code_of(over, 18, signed=True) == "out_of_range"


def test_small_max_value():
    assert parse_scaled("100.00", 2, max_value=10000) == 10000
    assert code_of("100.01", 2, max_value=10000) == "out_of_range"
    assert code_of("-100.01", 2, signed=True, max_value=10000) == "out_of_range"
    assert parse_scaled("0", 2, max_value=0) == 0
    assert code_of("0.01", 2, max_value=0) == "out_of_range"


@given(ints_st, decimals_st, decimals_st)
def test_rescale_matches_decimal(value, from_decimals, to_decimals):
    expected = oracle_scaled(str(value), to_decimals - from_decimals)
    if expected is None:
        with pytest.raises(FixedPointError) as info:
            rescale(value, from_decimals, to_decimals)
        assert info.value.code == "excess_precision"
    else:
        assert rescale(value, from_decimals, to_decimals) == expected
        assert rescale(expected, to_decimals, from_decimals) == value


def test_rescale_examples():
    assert rescale(15, 1, 18) == 15 * 10**17
    assert rescale(-1500, 3, 1) == -15
    assert rescale(7, 4, 4) == 7
    with pytest.raises(FixedPointError) as info:
        rescale(-1501, 3, 1)
    assert info.value.code == "excess_precision"
    assert "1501" in str(info.value)


# --- every error code -------------------------------------------------------

@pytest.mark.parametrize("text, code, kw", [
    ("", "empty", {}),
    (b"", "empty", {}),
    ("abc", "bad_char", {}),
    ("1,000", "bad_char", {}),
    ("1_000", "bad_char", {}),           # int() would accept this
    ("\u0661\u0662", "bad_char", {}),    # Arabic-Indic digits, also int()-valid
    ("1.2.3", "bad_char", {}),
    ("1-2", "bad_char", {"signed": True}),
    ("0x10", "bad_char", {}),
    (b"1\xff", "bad_char", {}),
    ("1\x00", "bad_char", {}),
    ("1.23456789", "excess_precision", {}),
    ("0.0000000000000000001", "excess_precision", {}),
    ("1e5", "exponent", {}),
    ("1E5", "exponent", {}),
    ("1.5e-3", "exponent", {}),
    ("-2e+10", "exponent", {"signed": True}),
    ("nan", "not_finite", {}),
    ("NaN", "not_finite", {}),
    ("sNaN", "not_finite", {}),
    ("inf", "not_finite", {}),
    ("-Infinity", "not_finite", {"signed": True}),
    ("INFINITY", "not_finite", {}),
    (b"Inf", "not_finite", {}),
    ("-1", "sign_not_allowed", {}),
    ("+1", "sign_not_allowed", {}),
    ("+1", "sign_not_allowed", {"signed": True}),
    (b"-1", "sign_not_allowed", {}),
    ("1" * 40, "out_of_range", {}),
    ("5.", "missing_digits", {}),
    (".5", "missing_digits", {}),
    (".", "missing_digits", {}),
    ("-", "missing_digits", {"signed": True}),
    ("-.5", "missing_digits", {"signed": True}),
    (" 1", "whitespace", {}),
    ("1 ", "whitespace", {}),
    ("1 000", "whitespace", {}),
    ("1\t", "whitespace", {}),
    ("\n", "whitespace", {}),
    ("1\u00a0", "whitespace", {}),
    (b" 1", "whitespace", {}),
])
def test_error_codes(text, code, kw):
    with pytest.raises(FixedPointError) as info:
        parse_scaled(text, 6, **kw)
    assert info.value.code == code
    assert isinstance(info.value, ValueError)
    assert repr(text) in str(info.value)


def test_error_message_truncates_long_input():
    text = "9" * 10_000
    with pytest.raises(FixedPointError) as info:
        parse_scaled(text, 0)
    assert info.value.code == "out_of_range"
    assert len(str(info.value)) < 300
    assert repr("9" * 64) in str(info.value)
    assert "10000 chars" in str(info.value)


def test_error_survives_pickling():
    with pytest.raises(FixedPointError) as info:
        parse_scaled("1e5", 2)
    clone = pickle.loads(pickle.dumps(info.value))
    assert clone.code == "exponent"
    assert str(clone) == str(info.value)


# --- types and arguments ----------------------------------------------------

@pytest.mark.parametrize("value", [1.5, 65000.5, 0.0, float("nan"), 1, Decimal("1.5"), None,
                                   bytearray(b"1"), memoryview(b"1")])
def test_non_string_input_is_type_error(value):
    with pytest.raises(TypeError, match="decimal strings are required"):
        parse_scaled(value, 18)


def test_float_message_says_floats_are_never_accepted():
    with pytest.raises(TypeError) as info:
        parse_scaled(0.1, 18)
    assert "float" in str(info.value)
    assert not isinstance(info.value, FixedPointError)


@pytest.mark.parametrize("value", [1.0, Decimal(1), "1", True])
def test_format_and_rescale_take_ints_only(value):
    with pytest.raises(TypeError):
        format_scaled(value, 2)
    with pytest.raises(TypeError):
        rescale(value, 2, 3)


@pytest.mark.parametrize("decimals", [-1, 78])
def test_decimals_range(decimals):
    for call in (lambda: parse_scaled("1", decimals), lambda: format_scaled(1, decimals),
                 lambda: rescale(1, decimals, 0), lambda: rescale(1, 0, decimals)):
        with pytest.raises(ValueError) as info:
            call()
        assert not isinstance(info.value, FixedPointError)


def test_decimals_bounds_accepted():
    assert parse_scaled("1", 77, max_value=10**77) == 10**77
    assert parse_scaled("1", 0) == 1
    assert format_scaled(10**77, 77) == "1"


@pytest.mark.parametrize("max_value, exc", [(-1, ValueError), (1.5, TypeError), ("10", TypeError)])
def test_bad_max_value(max_value, exc):
    with pytest.raises(exc):
        parse_scaled("1", 0, max_value=max_value)


# --- long inputs finish in linear time --------------------------------------

LONG_INPUTS = """
from gateway._core.fixedpoint import FixedPointError, parse_scaled
for text, kw in [("1" * 1_000_000, {}), ("1" * 1_000_000, {"max_value": 10**3000}),
                 ("1." + "1" * 1_000_000, {}), (" " * 1_000_000, {}), ("1" * 1_000_000 + "x", {}),
                 ("1" * 1_000_000 + "e5", {})]:
    try:
        parse_scaled(text, 18, **kw)
    except FixedPointError as exc:
        print(exc.code)
"""


def test_long_inputs_do_not_hang():
    """Linear work on 1 MB is milliseconds; a bignum or quadratic path would take hours. The
    cases run in a child with a generous timeout (the parser holds the GIL: a thread could not
    be timed out), so a hang fails the test and nothing bounds a slow machine's time."""
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-c", LONG_INPUTS], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["out_of_range", "out_of_range", "excess_precision", "whitespace", "bad_char",
                                  "exponent"]


def test_long_valid_inputs():
    assert parse_scaled("0" * 1_000_000 + "1." + "0" * 1_000_000, 18) == 10**18
    big = (10**5000 - 1) // 9 * 7  # 5000 sevens: past int()'s 4300-digit string guard
    assert parse_scaled("7" * 5000, 0, max_value=big) == big
