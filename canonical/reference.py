"""Reference data the saga needs: our legal entities and the product catalog."""

from __future__ import annotations

from canonical.catalog import BillingPeriod, Catalog, Price, Product
from canonical.money import Money
from canonical.party import Address, LegalEntity
from canonical.revenue import RevenueAccounts

LEGAL_ENTITIES: dict[str, LegalEntity] = {
    entity.code: entity
    for entity in [
        LegalEntity(
            code="US01",
            name="c2c Software Inc.",
            country="US",
            functional_currency="USD",
            currencies=("USD", "JPY"),
            address=Address(
                line1="100 Market St", city="San Francisco", region="CA", postal_code="94105", country="US"
            ),
        ),
        LegalEntity(
            code="DE01",
            name="c2c Software GmbH",
            country="DE",
            functional_currency="EUR",
            currencies=("EUR",),
            address=Address(line1="Torstrasse 1", city="Berlin", postal_code="10119", country="DE"),
        ),
        # Books in Xero (settings: C2C_VENDORS_BY_ENTITY, C2C_XERO_TENANTS), like an acquired subsidiary would.
        LegalEntity(
            code="UK01",
            name="c2c Software Ltd",
            country="GB",
            functional_currency="GBP",
            currencies=("GBP",),
            address=Address(line1="1 Finsbury Avenue", city="London", postal_code="EC2M 2PP", country="GB"),
        ),
    ]
}

SUPPORTED_CURRENCIES: frozenset[str] = frozenset(c for e in LEGAL_ENTITIES.values() for c in e.currencies)


def _prices(code: str, monthly: dict[str, int]) -> list[Price]:
    """Monthly list prices per currency; a yearly price is ten months (two months free)."""
    prices = []
    for currency, amount in monthly.items():
        prices.append(
            Price(
                product_code=code,
                period=BillingPeriod.MONTH,
                unit_amount=Money(amount=amount, currency=currency),
            )
        )
        prices.append(
            Price(
                product_code=code,
                period=BillingPeriod.YEAR,
                unit_amount=Money(amount=amount * 10, currency=currency),
            )
        )
    return prices


def _usage_prices(code: str, per_unit: dict[str, int]) -> list[Price]:
    """A usage-priced product's list price per unit of usage: the same per unit whatever the billing period."""
    return [
        Price(product_code=code, period=period, unit_amount=Money(amount=amount, currency=currency))
        for currency, amount in per_unit.items()
        for period in BillingPeriod
    ]


CATALOG = Catalog(
    products=[
        Product(code="PLAT-SEAT", name="Platform seat", tax_code="SW054000"),
        Product(code="ANALYTICS", name="Analytics add-on", tax_code="SW054000"),
        Product(code="SUPPORT-PREM", name="Premium support", tax_code="SW050000"),
        Product(code="API-CALLS", name="API calls", tax_code="SW054000", meter="api_calls"),
    ],
    prices=[
        *_prices("PLAT-SEAT", {"USD": 49_00, "EUR": 45_00, "JPY": 7_200, "GBP": 39_00}),
        *_prices("ANALYTICS", {"USD": 199_00, "EUR": 185_00, "JPY": 29_000, "GBP": 159_00}),
        *_prices("SUPPORT-PREM", {"USD": 499_00, "EUR": 460_00, "JPY": 73_000, "GBP": 399_00}),
        *_usage_prices("API-CALLS", {"USD": 2, "EUR": 2, "JPY": 3, "GBP": 2}),
    ],
)

# General-ledger accounts the saga books to (account numbers, same chart in every legal entity).
GL_ACCOUNTS: dict[str, str] = {
    "accounts_receivable": "1100",
    "undeposited_funds": "1050",
    "merchant_fees": "6150",
    "bad_debt_expense": "6200",
    "allowance_doubtful_accounts": "1110",  # contra-asset: AR written down, the invoice itself stays open
}

# Where revenue is booked, per legal entity (docs/revenue.md, "Posting rules"): subscription lines are billed into
# deferred revenue and moved to revenue month by month by the recognition journals.
REVENUE_ACCOUNTS: dict[str, RevenueAccounts] = {
    "US01": RevenueAccounts(deferred_revenue="2400", subscription_revenue="4000"),
    "DE01": RevenueAccounts(deferred_revenue="2400", subscription_revenue="4000"),
    # Xero's chart (connectors/xero/revenue.py reads the service period from the line description).
    "UK01": RevenueAccounts(deferred_revenue="2400", subscription_revenue="4000"),
}
