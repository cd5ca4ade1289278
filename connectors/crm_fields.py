"""Readers of CRM record fields that every CRM connector's mapping shares (Salesforce, HubSpot): each refusal is an
UnmappableRecord whose message names the field (`where`), never a rounding or a crash."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from canonical import Money
from canonical.money import exponent

COUNTRY = re.compile(r"^[A-Z]{2}$")  # ISO-3166 alpha-2


class UnmappableRecord(ValueError):
    """A CRM record that cannot become a canonical object; the message names the field at fault."""


def required(value: str | None, where: str) -> str:
    if value is None or not value.strip():
        raise UnmappableRecord(f"{where} is empty")
    return value


def whole(value: Decimal | None, where: str) -> int:
    if value is None:
        raise UnmappableRecord(f"{where} is empty")
    if not value.is_finite() or value != value.to_integral_value():
        raise UnmappableRecord(f"{where} must be a whole number, got {value}")
    return int(value)


def money(value: Decimal | None, currency: str, where: str) -> Money:
    """Major units to Money; more decimals than the currency has is refused, never rounded away."""
    if value is None:
        raise UnmappableRecord(f"{where} is empty")
    try:
        exact = value.quantize(Decimal(1).scaleb(-exponent(currency)))
        amount = Money.from_decimal(value, currency)
    except (InvalidOperation, ValueError):  # beyond the decimal context: no real deal amount
        raise UnmappableRecord(f"{where} {value} is too large") from None
    if value != exact:
        raise UnmappableRecord(f"{where} {value} has more decimals than {currency} allows")
    return amount


def currency(value: str | None, where: str) -> str:
    """A currency code c2c knows (its minor-unit exponent), refused naming `where` otherwise."""
    code = required(value, where)
    try:
        exponent(code)
    except ValueError:
        raise UnmappableRecord(f"{where}: unsupported currency {code!r}") from None
    return code
