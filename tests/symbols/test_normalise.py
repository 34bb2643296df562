"""Tests of symbol normalisation (hkticks.symbols.universe.normalise / normalise_all).

Every command turns what the user typed into the five-digit HK code through
these functions, so every documented form must work and anything else must
be a UsageError that names the bad input.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hkticks.alltick import protocol as alltick
from hkticks.errors import HkticksError, UsageError
from hkticks.symbols.universe import normalise, normalise_all, try_normalise


@pytest.mark.parametrize(
    "text",
    [
        "700",
        "0700",
        "00700",
        "0700.HK",
        "700.HK",
        "HK.00700",
        "00700.HK",
        "700.hk",
        "hk.700",
        "HK:700",
        "HK00700",
        " 700 ",
        "\t00700.HK\n",
    ],
)
def test_forms_of_00700(text: str) -> None:
    assert normalise(text) == "00700"
    assert try_normalise(text) == "00700"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("5", "00005"),
        ("9988.HK", "09988"),
        ("HK.1", "00001"),
        ("99999", "99999"),
        ("10000", "10000"),
    ],
)
def test_other_codes(text: str, code: str) -> None:
    assert normalise(text) == code


BAD = [
    "",
    "   ",
    "0",
    "00000",
    "0.HK",
    "123456",
    "000700",
    "700.US",
    "AAPL",
    "AAPL.US",
    "700.HK.HK",
    "HK.",
    ".HK",
    "HK",
    "7 00",
    "70a",
    "-700",
    "+700",
    "700.0",
    "7e2",
    "0x1F",
    "HK-700",
    "SH.600000",
    "\u0667\u0660\u0660",  # Arabic-Indic digits: \\d would accept them
    "\uff17\uff10\uff10",  # full-width digits
    "\uff17\uff10\uff10.HK",
    "HK.\u0967\u0966\u0966",  # Devanagari digits
    "700\x00",
]


@pytest.mark.parametrize("text", BAD)
def test_bad_inputs_raise_a_usage_error_naming_them(text: str) -> None:
    assert try_normalise(text) is None
    with pytest.raises(UsageError) as exc:
        normalise(text)
    message = str(exc.value)
    assert repr(text) in message
    assert "00700" in message  # says what a good code looks like
    assert "\n" not in message
    assert isinstance(exc.value, HkticksError) and exc.value.exit_code == 2


def test_normalise_all_dedupes_keeping_first_seen_order() -> None:
    texts = ["9988", "700", "00700", "0700.HK", "5", "HK.09988", "00005.HK", "1"]
    assert normalise_all(texts) == ["09988", "00700", "00005", "00001"]


def test_normalise_all_accepts_any_iterable() -> None:
    assert normalise_all(s for s in ["700", "700"]) == ["00700"]
    assert normalise_all([]) == []


def test_normalise_all_names_every_bad_input() -> None:
    with pytest.raises(UsageError) as exc:
        normalise_all(["700", "bad1", "9988", "AAPL"])
    message = str(exc.value)
    assert message.startswith("invalid symbols 'bad1', 'AAPL':")
    assert "'700'" not in message and "'9988'" not in message


def test_normalise_all_singular_message() -> None:
    with pytest.raises(UsageError, match=r"^invalid symbol 'x':"):
        normalise_all(["700", "x"])


def test_normalise_all_caps_the_list_of_bad_inputs() -> None:
    bad = [f"bad{i}" for i in range(8)]
    with pytest.raises(UsageError) as exc:
        normalise_all(bad)
    message = str(exc.value)
    assert all(repr(b) in message for b in bad[:5])
    assert "'bad5'" not in message
    assert "and 3 more" in message


FORMS: list[Callable[[int], str]] = [
    lambda n: str(n),
    lambda n: f"{n:05d}",
    lambda n: f"{n:04d}" if n < 10_000 else str(n),
    lambda n: f"{n}.HK",
    lambda n: f"{n:05d}.HK",
    lambda n: f"{n}.hk",
    lambda n: f"HK.{n:05d}",
    lambda n: f"HK.{n}",
    lambda n: f"hk:{n}",
    lambda n: f"HK{n:05d}",
]


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 99999), st.sampled_from(FORMS), st.sampled_from(["", " ", "\t"]))
def test_property_every_form_of_every_code(
    number: int, form: Callable[[int], str], pad: str
) -> None:
    code = f"{number:05d}"
    text = pad + form(number) + pad
    assert normalise(text) == code
    assert normalise(code) == code  # idempotent
    assert alltick.from_alltick(alltick.to_alltick(normalise(text))) == code


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=12))
def test_property_anything_is_a_code_or_a_usage_error(text: str) -> None:
    try:
        code = normalise(text)
    except UsageError as exc:
        assert repr(text) in str(exc)
        return
    assert len(code) == 5 and code.isascii() and code.isdigit() and code != "00000"
    assert alltick.to_alltick(code)  # every code it returns converts for the provider
