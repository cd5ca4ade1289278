"""Money: exponent-aware conversion, half-even rounding, one currency at a time, no floats."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from canonical import Money
from canonical.money import CURRENCY_EXPONENTS, total


@pytest.mark.parametrize(
    ("major", "currency", "minor"),
    [
        ("10.50", "USD", 1050),
        ("1050", "JPY", 1050),
        ("1.050", "BHD", 1050),
        ("0.01", "USD", 1),
        ("-3.20", "EUR", -320),
        ("1234567.891", "KWD", 1234567891),
    ],
)
def test_from_decimal_and_to_decimal_follow_the_currency_exponent(major: str, currency: str, minor: int) -> None:
    money = Money.from_decimal(Decimal(major), currency)

    assert money == Money(amount=minor, currency=currency)
    assert money.to_decimal() == Decimal(major)
    assert str(money.to_decimal()) == major


@pytest.mark.parametrize(
    ("major", "currency", "minor"),
    [
        ("10.505", "USD", 1050),  # tie -> even
        ("10.515", "USD", 1052),
        ("10.5051", "USD", 1051),  # not a tie
        ("0.5", "JPY", 0),
        ("1.5", "JPY", 2),
        ("2.5", "JPY", 2),
        ("-2.5", "JPY", -2),
        ("1.0005", "BHD", 1000),
        ("1.0015", "BHD", 1002),
    ],
)
def test_from_decimal_rounds_half_even_to_the_minor_unit(major: str, currency: str, minor: int) -> None:
    assert Money.from_decimal(major, currency).amount == minor


def test_to_decimal_keeps_the_currency_scale() -> None:
    assert str(Money(amount=1000, currency="USD").to_decimal()) == "10.00"
    assert str(Money(amount=1000, currency="JPY").to_decimal()) == "1000"
    assert str(Money(amount=5, currency="BHD").to_decimal()) == "0.005"


@pytest.mark.parametrize(
    ("amount", "rate", "expected"),
    [
        (1, "0.5", 0),  # 0.5 minor units -> 0
        (3, "0.5", 2),  # 1.5 minor units -> 2
        (5, "0.5", 2),  # 2.5 minor units -> 2
        (10000, "0.0725", 725),
        (1999, "0.0725", 145),  # 144.9275
        (-3, "0.5", -2),
    ],
)
def test_scale_rounds_half_even_to_whole_minor_units(amount: int, rate: str, expected: int) -> None:
    assert Money(amount=amount, currency="USD").scale(Decimal(rate)) == Money(amount=expected, currency="USD")


def test_arithmetic_across_currencies_is_refused() -> None:
    usd, eur = Money(amount=100, currency="USD"), Money(amount=100, currency="EUR")
    with pytest.raises(ValueError, match="currency mismatch: USD vs EUR"):
        usd + eur
    with pytest.raises(ValueError, match="currency mismatch"):
        usd - eur
    with pytest.raises(ValueError, match="currency mismatch"):
        _ = usd < eur
    with pytest.raises(ValueError, match="currency mismatch"):
        total([usd, eur], "USD")


def test_same_amount_in_another_currency_is_not_equal() -> None:
    assert Money(amount=100, currency="USD") != Money(amount=100, currency="EUR")


@pytest.mark.parametrize("currency", ["XYZ", "usd", "US", "BTC"])
def test_unknown_currency_is_rejected(currency: str) -> None:
    with pytest.raises(ValidationError):
        Money(amount=1, currency=currency)
    with pytest.raises(ValueError, match="unsupported currency"):
        Money.from_decimal("1", currency)


def test_floats_are_refused() -> None:
    with pytest.raises(TypeError, match="floats are not accepted"):
        Money.from_decimal(0.1, "USD")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Money(amount=100, currency="USD").scale(0.5)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        Money(amount=10.5, currency="USD")  # type: ignore[arg-type]


def test_whole_floats_are_refused_as_amounts() -> None:
    with pytest.raises(ValidationError):
        Money(amount=10.0, currency="USD")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        Money.model_validate_json('{"amount": 10.0, "currency": "USD"}')


def test_times_negation_and_zero() -> None:
    price = Money(amount=4900, currency="USD")
    assert price.times(3) == Money(amount=14700, currency="USD")
    assert -price == Money(amount=-4900, currency="USD")
    assert (-price).is_negative
    assert Money.zero("JPY") == Money(amount=0, currency="JPY")
    assert total([], "BHD") == Money.zero("BHD")
    assert str(Money(amount=123456, currency="USD")) == "USD 1,234.56"


def test_money_is_immutable() -> None:
    with pytest.raises(ValidationError):
        Money(amount=1, currency="USD").amount = 2  # type: ignore[misc]


currencies = st.sampled_from(sorted(CURRENCY_EXPONENTS))
amounts = st.integers(min_value=-(10**15), max_value=10**15)


@st.composite
def same_currency(draw: st.DrawFn, n: int) -> list[Money]:
    currency = draw(currencies)
    return [Money(amount=draw(amounts), currency=currency) for _ in range(n)]


@given(amount=amounts, currency=currencies)
def test_to_decimal_round_trips_through_from_decimal(amount: int, currency: str) -> None:
    money = Money(amount=amount, currency=currency)
    assert Money.from_decimal(money.to_decimal(), currency) == money


@given(same_currency(3))
def test_addition_is_associative(values: list[Money]) -> None:
    a, b, c = values
    assert (a + b) + c == a + (b + c)


@given(same_currency(2))
def test_addition_is_commutative_and_subtraction_undoes_it(values: list[Money]) -> None:
    a, b = values
    assert a + b == b + a
    assert (a + b) - b == a


@given(amount=amounts, currency=currencies)
def test_scaling_by_one_is_the_identity(amount: int, currency: str) -> None:
    money = Money(amount=amount, currency=currency)
    assert money.scale(Decimal(1)) == money
    assert money.scale(Decimal("1.000")) == money


@pytest.mark.parametrize("text", ["abc", "NaN", "Infinity", ""])
def test_unreadable_amounts_are_value_errors(text: str) -> None:
    with pytest.raises(ValueError, match="amount"):
        Money.from_decimal(text, "USD")


def test_money_orders_within_one_currency() -> None:
    small, big = Money(amount=1, currency="EUR"), Money(amount=2, currency="EUR")
    assert small < big <= big
    assert big >= small
    assert not big <= small
    with pytest.raises(ValueError, match="currency mismatch"):
        assert small <= Money(amount=2, currency="USD")
