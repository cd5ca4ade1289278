"""Money as integer minor units of an ISO-4217 currency; no floats anywhere money flows."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from functools import total_ordering
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Exponent = number of minor-unit digits (ISO 4217). Only currencies listed here are accepted.
CURRENCY_EXPONENTS: dict[str, int] = {
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "CHF": 2,
    "CAD": 2,
    "AUD": 2,
    "SEK": 2,
    "JPY": 0,
    "KRW": 0,
    "BHD": 3,
    "KWD": 3,
}

CurrencyCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO-4217 alphabetic code")]


def exponent(currency: str) -> int:
    """Minor-unit digits of a currency; raises ValueError for a currency we do not know."""
    try:
        return CURRENCY_EXPONENTS[currency]
    except KeyError:
        raise ValueError(f"unsupported currency {currency!r}") from None


@total_ordering
class Money(BaseModel):
    """An amount in minor units (cents, yen, fils) of one currency."""

    model_config = ConfigDict(frozen=True)

    # strict: 10.0 is refused, not coerced; money never passes through a float
    amount: int = Field(strict=True, description="minor units, e.g. 1050 = USD 10.50, 1050 = JPY 1050")
    currency: CurrencyCode

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        exponent(value)
        return value

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(amount=0, currency=currency)

    @classmethod
    def from_decimal(cls, value: Decimal | str | int, currency: str) -> Money:
        """Major units (e.g. Decimal('10.505') USD) to Money, rounding half-even to the minor unit."""
        if isinstance(value, float):  # pragma: no cover - guarded by the type, kept for callers without mypy
            raise TypeError("floats are not accepted for money; pass a Decimal or str")
        quantum = Decimal(1).scaleb(-exponent(currency))
        try:
            exact = Decimal(value)
        except InvalidOperation:
            raise ValueError(f"not a decimal amount: {value!r}") from None
        if not exact.is_finite():
            raise ValueError(f"not a finite amount: {value!r}")
        try:
            major = exact.quantize(quantum, rounding=ROUND_HALF_EVEN)
        except InvalidOperation:  # more digits than the decimal context holds: no real invoice amount
            raise ValueError(f"amount {value!r} is too large") from None
        return cls(amount=int(major.scaleb(exponent(currency))), currency=currency)

    def to_decimal(self) -> Decimal:
        """Major units as an exact Decimal with the currency's scale (JPY 1050 -> 1050, USD 1050 -> 10.50)."""
        return Decimal(self.amount).scaleb(-exponent(self.currency))

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValueError(f"currency mismatch: {self.currency} vs {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(amount=self.amount + other.amount, currency=self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(amount=self.amount - other.amount, currency=self.currency)

    def __neg__(self) -> Money:
        return Money(amount=-self.amount, currency=self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def times(self, quantity: int) -> Money:
        """Exact multiplication by a whole quantity."""
        return Money(amount=self.amount * quantity, currency=self.currency)

    def scale(self, rate: Decimal) -> Money:
        """Multiply by a rate (e.g. a tax rate), rounding half-even to the minor unit."""
        raw = (Decimal(self.amount) * rate).quantize(Decimal(1), rounding=ROUND_HALF_EVEN)
        return Money(amount=int(raw), currency=self.currency)

    @property
    def is_negative(self) -> bool:
        return self.amount < 0

    def __str__(self) -> str:
        return f"{self.currency} {self.to_decimal():,}"


def total(items: list[Money], currency: str) -> Money:
    """Sum of amounts of one currency (zero for an empty list)."""
    result = Money.zero(currency)
    for item in items:
        result = result + item
    return result
