"""The chaos run's book of business: N seeded deals across entities, currencies and repeat customers.

Like estate/book.py, but generated: accounts in the US, Japan, the EU and the UK (each sold by the entity that
invoices its currency; UK01 bills in Chargebee and books in Xero, chaos/run.py), every other UK account sold in
HubSpot instead of Salesforce (both estates in one run), about four deals per account, a few companies entered
twice in the CRM under another name with the same tax id (one golden customer), a few addresses the tax engine
cannot place (those deals park with `invalid_address`) and a few US customers who switch to bank debit after their
first deal.

The deals close in three waves (see chaos/run.py): `first` holds each bank-debit customer's first deal (it
creates the billing customer whose payment method then changes), `main` most deals, `late` the rest, including
every later deal of a bank-debit customer, so that their settlement webhooks arrive after the Temporal restart.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from decimal import Decimal

from estate.book import NOWHERE, NOWHERE_EU, AccountSpec, DealSpec

# (city, state, postal code) per country; every one of them geocodes in the tax sandbox.
US_PLACES = [
    ("San Francisco", "CA", "94105"),
    ("New York", "NY", "10001"),
    ("Austin", "TX", "78701"),
    ("Seattle", "WA", "98101"),
    ("Chicago", "IL", "60601"),
    ("Boston", "MA", "02110"),
    ("Denver", "CO", "80202"),
    ("Atlanta", "GA", "30303"),
    ("Miami", "FL", "33131"),
    ("Portland", "OR", "97204"),
    ("Philadelphia", "PA", "19103"),
    ("Minneapolis", "MN", "55401"),
]
JP_PLACES = [("Tokyo", None, "100-0005"), ("Osaka", None, "530-0001"), ("Nagoya", None, "450-0002")]
EU_PLACES = {
    "DE": [("Berlin", "10117"), ("München", "80331"), ("Hamburg", "20095")],
    "FR": [("Paris", "75001"), ("Lyon", "69001")],
    "NL": [("Amsterdam", "1012 LG"), ("Rotterdam", "3011 AA")],
}
# UK01 books in Xero: its deals check the other estate (C2C_VENDORS_BY_ENTITY's sandbox default).
UK_PLACES = [("London", "EC2A 1AF"), ("Manchester", "M1 1AE"), ("Edinburgh", "EH1 1YZ")]
NAMES = ["Northwind", "Contoso", "Fabrikam", "Tailspin", "Wingtip", "Litware", "Adatum", "Proseware", "Lucerne"]
SUFFIX = {"US": "Inc.", "JP": "KK", "DE": "GmbH", "FR": "SAS", "NL": "BV", "GB": "Ltd"}
# (product code, unit price in major units per billing period) by currency; the deal's own prices vary around them.
PRODUCTS = {
    "USD": [("PLAT-SEAT", 49), ("ANALYTICS", 199), ("SUPPORT-PREM", 499)],
    "EUR": [("PLAT-SEAT", 45), ("ANALYTICS", 185), ("SUPPORT-PREM", 460)],
    "JPY": [("PLAT-SEAT", 7200), ("ANALYTICS", 29000), ("SUPPORT-PREM", 73000)],
    "GBP": [("PLAT-SEAT", 39), ("ANALYTICS", 159), ("SUPPORT-PREM", 399)],
}


@dataclass(frozen=True)
class Customer:
    account: AccountSpec
    legal_entity: str
    currency: str
    bank_debit: bool = False
    crm: str = "salesforce"  # where its deals are sold


@dataclass
class Book:
    deals: list[DealSpec]
    waves: dict[str, list[DealSpec]]
    bank_debit_accounts: set[str] = field(default_factory=set)  # account keys

    @property
    def parking(self) -> list[DealSpec]:
        return [deal for deal in self.deals if deal.expect_park]


def _customer(rng: random.Random, n: int) -> Customer:
    """Customer number n: every sixth from the second UK (GBP, UK01: the other estate, Chargebee + Xero), every
    other one of those sold in HubSpot (from the second: a run of any size has a HubSpot customer); the others
    about half US (USD), a quarter Japan (JPY, sold by US01), a quarter EU (EUR, DE01)."""
    roll = rng.random()
    name = f"{rng.choice(NAMES)} {n:03d}"
    if n % 6 == 2:
        city, postal = rng.choice(UK_PLACES)
        account = AccountSpec(
            f"chaos-{n:03d}", f"{name} {SUFFIX['GB']}", f"{n} High St", city, postal, "GB", None,
            f"GB{rng.randrange(10**8, 10**9)}",
        )  # fmt: skip
        return Customer(account, "UK01", "GBP", crm="hubspot" if n % 12 == 2 else "salesforce")
    if roll < 0.5:
        city, state, postal = rng.choice(US_PLACES)
        account = AccountSpec(
            f"chaos-{n:03d}", f"{name} {SUFFIX['US']}", f"{n} Main St", city, postal, "US", state,
            f"US-{n:02d}-{rng.randrange(10**6, 10**7)}", f"ap{n}@example.test",
        )  # fmt: skip
        return Customer(account, "US01", "USD")
    if roll < 0.75:
        city, _, postal = rng.choice(JP_PLACES)
        account = AccountSpec(f"chaos-{n:03d}", f"{name} {SUFFIX['JP']}", f"{n}-1 Chuo", city, postal, "JP")
        return Customer(account, "US01", "JPY")
    country = rng.choice(sorted(EU_PLACES))
    city, postal = rng.choice(EU_PLACES[country])
    account = AccountSpec(
        f"chaos-{n:03d}", f"{name} {SUFFIX[country]}", f"Hauptstrasse {n}", city, postal, country, None,
        f"{country}{rng.randrange(10**8, 10**9)}",
    )  # fmt: skip
    return Customer(account, "DE01", "EUR")


def _deal(rng: random.Random, key: str, customer: Customer) -> DealSpec:
    products = rng.sample(PRODUCTS[customer.currency], k=rng.choice((1, 1, 2)))
    lines = []
    for code, price in products:
        quantity = 1 if code == "SUPPORT-PREM" else rng.randint(1, 60)
        # A negotiated price: the list price give or take 20 %, in whole minor units of the currency.
        factor = Decimal(rng.randint(80, 120)) / 100
        unit = (Decimal(price) * factor).quantize(Decimal(1) if customer.currency == "JPY" else Decimal("0.01"))
        lines.append((code, quantity, unit))
    period = rng.choice(("Monthly", "Monthly", "Annual"))
    term = rng.choice((12, 24, 36)) if period == "Annual" else rng.choice((3, 6, 12, 24))
    return DealSpec(
        key, customer.account, customer.legal_entity, customer.currency, lines, term, period, crm=customer.crm
    )


def _customers(rng: random.Random, count: int) -> list[Customer]:
    customers = [_customer(rng, n) for n in range(1, count + 1)]
    # The same company entered twice (another name, same tax id): one golden customer, never two. Within one CRM:
    # matching a company across CRMs is not what this run tests.
    twinned = [c for c in customers if c.account.tax_id and c.crm == "salesforce"][: max(1, count // 12)]
    for original in twinned:
        twin = replace(original.account, key=f"{original.account.key}-dup", name=original.account.name.upper())
        customers.append(Customer(twin, original.legal_entity, original.currency, crm=original.crm))
    # A few US customers switch to bank debit after their first deal (not a twinned company: the twin's deals
    # share its billing customer and would not wait for the late wave).
    us = [
        i for i, c in enumerate(customers) if c.currency == "USD" and c not in twinned and "-dup" not in c.account.key
    ]
    for i in rng.sample(us, k=min(len(us), max(1, count // 10))):
        customers[i] = replace(customers[i], bank_debit=True)
    return customers


def build_book(deals: int, seed: int) -> Book:
    """`deals` deals from `seed`: the same arguments always give the same book."""
    if deals < 6:
        raise ValueError("a chaos book needs at least 6 deals")
    rng = random.Random(seed)
    customers = _customers(rng, max(3, deals // 4))
    parking = max(1, deals // 50)
    specs: list[DealSpec] = []
    for n in range(1, deals - parking + 1):
        # The first deals give every customer one; the rest pick customers at random: many repeat customers.
        customer = customers[n - 1] if n <= len(customers) else rng.choice(customers)
        specs.append(_deal(rng, f"C-{n:04d}", customer))
    for n in range(deals - parking + 1, deals + 1):
        nowhere = rng.choice((NOWHERE, NOWHERE_EU))
        entity, currency = ("US01", "USD") if nowhere is NOWHERE else ("DE01", "EUR")
        account = replace(nowhere, key=f"{nowhere.key}-{n:04d}")
        park = _deal(rng, f"C-{n:04d}", Customer(account, entity, currency))
        specs.append(replace(park, expect_park="invalid_address"))
    rng.shuffle(specs)
    return _waves(rng, specs, customers)


def _waves(rng: random.Random, specs: list[DealSpec], customers: list[Customer]) -> Book:
    debit_accounts = {c.account.key for c in customers if c.bank_debit}
    first: list[DealSpec] = []
    main: list[DealSpec] = []
    late: list[DealSpec] = []
    seen: set[str] = set()
    for spec in specs:
        key = spec.account.key
        if key in debit_accounts:
            (late if key in seen else first).append(spec)
            seen.add(key)
        elif rng.random() < 0.7:
            main.append(spec)
        else:
            late.append(spec)
    # Only accounts that have a first deal can switch; the later deals of the others pay by card like anyone.
    return Book(specs, {"first": first, "main": main, "late": late}, debit_accounts & seen)
