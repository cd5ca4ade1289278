"""Tax: what we ask the tax engine and what it answers."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pydantic import BaseModel, Field, model_validator

from canonical.money import CurrencyCode, Money, total
from canonical.party import Address


class TaxRequestLine(BaseModel):
    number: int = Field(ge=1)
    product_code: str
    tax_code: str
    quantity: int = Field(gt=0)
    amount: Money = Field(description="line net amount (quantity x unit price)")


class TaxRequest(BaseModel):
    """An invoice-to-be, for the tax engine; `document_code` makes the request idempotent."""

    document_code: str = Field(min_length=1, max_length=50)
    company_code: str = Field(description="our legal entity code")
    customer_code: str
    customer_tax_id: str | None = None
    date: date
    currency: CurrencyCode
    ship_from: Address
    ship_to: Address
    lines: list[TaxRequestLine] = Field(min_length=1)


class TaxLine(BaseModel):
    number: int
    taxable: Money
    tax: Money
    rate: Decimal = Field(description="combined rate, e.g. 0.0725")


class TaxQuote(BaseModel):
    document_code: str
    currency: CurrencyCode
    lines: list[TaxLine]
    total_taxable: Money
    total_tax: Money
    committed: bool = False

    @model_validator(mode="after")
    def _totals_add_up(self) -> TaxQuote:
        if total([line.tax for line in self.lines], self.currency) != self.total_tax:
            raise ValueError("tax lines do not add up to total_tax")
        return self
