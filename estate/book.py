"""The demo's book of business: accounts and deals to create and close in the CRM (demo, bench and tests).

Covers USD and JPY (sold by US01), EUR (sold by DE01) and GBP (sold by UK01, which in the demo bills in Chargebee and
books in Xero), monthly and annual billing, deals sold in Salesforce and four in HubSpot (one deployment serves both;
one of them UK01's), repeat customers (the golden record is reused) and two deals whose address the tax engine rejects:
they park, and finance resolves one with a corrected address and cancels the other (its subscription is unwound).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal


@dataclass(frozen=True)
class AccountSpec:
    key: str
    name: str
    street: str
    city: str
    postal_code: str
    country: str
    state: str | None = None
    tax_id: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class DealSpec:
    key: str
    account: AccountSpec
    legal_entity: str
    currency: str
    lines: list[tuple[str, int, Decimal]]  # product code, quantity, unit price (major units, per period)
    term_months: int = 12
    billing_period: str = "Monthly"  # Salesforce picklist: Monthly | Annual
    # Today (UTC) unless given: the subscription's term (Stripe's cancel_at) must end in the future.
    close_date: str = field(default_factory=lambda: datetime.now(UTC).date().isoformat())
    expect_park: str | None = None  # exception code the saga should park with
    finance: FinanceStep | None = None  # what finance does once it has parked
    extra: dict[str, str] = field(default_factory=dict)
    crm: str = "salesforce"  # where the rep sells it: the demo closes a few deals in HubSpot (issue 15)


@dataclass(frozen=True)
class FinanceStep:
    """Finance's decision on a parked demo deal: `retry_with_address` (with `address`) or `cancel`."""

    action: str
    note: str
    address: dict[str, str] | None = None


ACME = AccountSpec(
    "acme", "Acme Corp", "1 Infinite Loop", "Cupertino", "95014", "US", "CA", "US-94-1111111", "ap@acme.test"
)
GLOBEX = AccountSpec("globex", "Globex, Inc.", "500 5th Ave", "New York", "10110", "US", "NY", "US-13-2222222")
INITECH = AccountSpec("initech", "Initech LLC", "4120 Freidrich Ln", "Austin", "78744", "US", "TX")
UMBRELLA = AccountSpec("umbrella", "Umbrella Corporation", "1 Raccoon Way", "Seattle", "98101", "US", "WA")
HOOLI = AccountSpec("hooli", "Hooli KK", "1-1 Marunouchi", "Tokyo", "100-0005", "JP", None, "JP-T1234567890123")
SONIC = AccountSpec("sonic", "Sonic Systems KK", "2-3 Umeda", "Osaka", "530-0001", "JP")
MULLER = AccountSpec(
    "mueller", "Müller Maschinenbau GmbH", "Hauptstrasse 5", "München", "80331", "DE", None, "DE123456789"
)
BERLIN = AccountSpec(
    "spree", "Spree Analytics GmbH", "Friedrichstrasse 43", "Berlin", "10117", "DE", None, "DE987654321"
)
PARIS = AccountSpec("lumiere", "Lumière SAS", "10 Rue de Rivoli", "Paris", "75001", "FR", None, "FR40303265045")
AMSTERDAM = AccountSpec("gracht", "Gracht BV", "Damrak 1", "Amsterdam", "1012 LG", "NL", None, "NL859876543B01")
# The same company entered twice in the CRM (same tax id): resolves to one golden customer.
ACME_DUP = AccountSpec(
    "acme-emea", "ACME Corporation", "1 Infinite Loop", "Cupertino", "95014", "US", "CA", "US-94-1111111"
)
# Sold by UK01, which books in Xero (settings.vendors_by_entity) and in the demo bills in Chargebee.
BRITANNIA = AccountSpec(
    "britannia", "Britannia Analytics Ltd", "10 Finsbury Square", "London", "EC2A 1AF", "GB", None, "GB123456789"
)
THAMES = AccountSpec("thames", "Thames Data Ltd", "1 Canada Square", "London", "E14 5AB", "GB", None, "GB987654321")
NOWHERE = AccountSpec("nowhere", "Phantom Traders Inc", "1 Missing Rd", "Nowhere", "00000", "US", "CA")
NOWHERE_EU = AccountSpec("nirgendwo", "Geister GmbH", "Unbekannt 1", "Nowhere", "00000", "DE")

D = Decimal
DEALS: list[DealSpec] = [
    DealSpec("D-001", ACME, "US01", "USD", [("PLAT-SEAT", 25, D("49.00")), ("ANALYTICS", 1, D("199.00"))]),
    # usage-priced API calls besides the seats: the demo reports usage for it every month (demo/usage.py)
    DealSpec(
        "D-002", GLOBEX, "US01", "USD", [("PLAT-SEAT", 10, D("45.50")), ("API-CALLS", 1, D("0.02"))], 24, "Monthly"
    ),
    DealSpec("D-003", INITECH, "US01", "USD", [("PLAT-SEAT", 120, D("490.00"))], 12, "Annual"),
    DealSpec("D-004", UMBRELLA, "US01", "USD", [("SUPPORT-PREM", 1, D("499.00")), ("PLAT-SEAT", 3, D("49.00"))]),
    DealSpec("D-005", ACME, "US01", "USD", [("SUPPORT-PREM", 1, D("4990.00"))], 12, "Annual"),
    DealSpec("D-006", ACME_DUP, "US01", "USD", [("ANALYTICS", 2, D("199.00"))]),
    DealSpec("D-007", GLOBEX, "US01", "USD", [("ANALYTICS", 1, D("1990.00"))], 24, "Annual", crm="hubspot"),
    DealSpec("D-008", HOOLI, "US01", "JPY", [("PLAT-SEAT", 40, D("7200")), ("ANALYTICS", 1, D("29000"))]),
    DealSpec("D-009", SONIC, "US01", "JPY", [("PLAT-SEAT", 12, D("72000"))], 12, "Annual", crm="hubspot"),
    DealSpec("D-010", HOOLI, "US01", "JPY", [("SUPPORT-PREM", 1, D("73000"))]),
    DealSpec("D-011", SONIC, "US01", "JPY", [("ANALYTICS", 3, D("27500"))], 6, "Monthly"),
    DealSpec("D-012", MULLER, "DE01", "EUR", [("PLAT-SEAT", 50, D("45.00")), ("SUPPORT-PREM", 1, D("460.00"))]),
    DealSpec("D-013", BERLIN, "DE01", "EUR", [("ANALYTICS", 2, D("185.00"))]),
    DealSpec("D-014", PARIS, "DE01", "EUR", [("PLAT-SEAT", 8, D("450.00"))], 12, "Annual", crm="hubspot"),
    DealSpec("D-015", BRITANNIA, "UK01", "GBP", [("PLAT-SEAT", 15, D("37.50"))]),  # UK01: Chargebee and Xero
    DealSpec("D-016", MULLER, "DE01", "EUR", [("ANALYTICS", 1, D("1850.00"))], 12, "Annual"),
    DealSpec("D-017", BERLIN, "DE01", "EUR", [("SUPPORT-PREM", 1, D("460.00")), ("PLAT-SEAT", 5, D("45.00"))]),
    DealSpec("D-018", INITECH, "US01", "USD", [("SUPPORT-PREM", 1, D("499.00"))], 3, "Monthly"),
    DealSpec("D-019", UMBRELLA, "US01", "USD", [("PLAT-SEAT", 200, D("39.99"))], 36, "Monthly"),
    DealSpec("D-020", THAMES, "UK01", "GBP", [("ANALYTICS", 1, D("159.00"))], crm="hubspot"),  # the other estate
    DealSpec(
        "D-021",
        NOWHERE,
        "US01",
        "USD",
        [("PLAT-SEAT", 5, D("49.00"))],
        expect_park="invalid_address",
        finance=FinanceStep(
            "retry_with_address",
            "customer confirmed their billing address by phone",
            {"line1": "1 Market St", "city": "San Francisco", "region": "CA", "postal_code": "94105", "country": "US"},
        ),
    ),
    DealSpec(
        "D-022",
        NOWHERE_EU,
        "DE01",
        "EUR",
        [("PLAT-SEAT", 5, D("45.00"))],
        expect_park="invalid_address",
        finance=FinanceStep("cancel", "no such company at that address: the deal was entered by mistake"),
    ),
]
