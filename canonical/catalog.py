"""Products and prices: what a deal line's product code means in money and billing terms."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from canonical.money import Money


class BillingPeriod(StrEnum):
    MONTH = "month"
    YEAR = "year"

    @property
    def months(self) -> int:
        return 1 if self is BillingPeriod.MONTH else 12


class Product(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: str = Field(pattern=r"^[A-Z0-9-]{2,32}$")
    name: str
    tax_code: str = Field(description="tax engine product code, e.g. SW054000 (SaaS)")
    meter: str | None = Field(
        default=None,
        pattern=r"^[a-z][a-z0-9_]{1,99}$",
        description="usage-priced: the billing meter's event name; its prices are per unit of usage, billed in arrears",
    )


class Price(BaseModel):
    """A list price of a product per billing period in one currency."""

    model_config = ConfigDict(frozen=True)

    product_code: str
    period: BillingPeriod
    unit_amount: Money
    meter: str | None = Field(default=None, description="a metered price: the meter (event name) it bills")

    @property
    def lookup_key(self) -> str:
        """Stable key for the billing system's price (same product/period/currency/amount -> same key)."""
        m = self.unit_amount
        return f"{self.product_code}-{self.period.value}-{m.currency}-{m.amount}".lower()


class Catalog(BaseModel):
    products: list[Product]
    prices: list[Price]

    @property
    def products_by_code(self) -> dict[str, Product]:
        return {product.code: product for product in self.products}

    def product(self, code: str) -> Product:
        for product in self.products:
            if product.code == code:
                return product
        raise KeyError(f"unknown product code {code!r}")

    def price(self, product_code: str, period: BillingPeriod, currency: str) -> Price:
        for price in self.prices:
            if price.product_code == product_code and price.period is period and price.unit_amount.currency == currency:
                return price
        raise KeyError(f"no {period.value}ly {currency} price for product {product_code!r}")
