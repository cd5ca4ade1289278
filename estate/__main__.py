"""`python -m estate deal ...`: close a new deal by hand in the running estate's CRM (`make up`), as a sales rep does.

Upserts an account, an opportunity and its lines in the Salesforce emulator (C2C_SALESFORCE_URL, the sandbox's port
8701 by default) and closes it won; the CRM's closed-won webhook then starts the deal's saga by itself. Prints the
deal id and the commands to watch it. Input is checked before anything is written: a bad line, product, entity,
currency or period is a one-line error (exit 2) and the CRM is left as it was. Nothing imports this file.

    python -m estate deal --company "Initech" --country US --entity US01 --currency USD \\
        --line PLAT-SEAT:10:49.00 --line ANALYTICS:1:199
"""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import NoReturn

import httpx
import typer

from canonical import ids
from canonical.money import exponent
from canonical.reference import CATALOG, LEGAL_ENTITIES
from connectors.errors import ConnectorError
from connectors.salesforce import SalesforceCrm
from estate.book import AccountSpec, DealSpec
from estate.deals import seed_deal
from estate.processes import TEMPORAL_UI_PORT
from settings import get_settings

cli = typer.Typer(add_completion=False)

PERIODS = ("Monthly", "Annual")  # the Salesforce picklist Billing_Period__c
# An address the tax engine places, per billing country, for accounts given without one (--street etc. override).
ADDRESSES: dict[str, tuple[str, str, str, str | None]] = {
    "US": ("500 Howard St", "San Francisco", "94105", "CA"),
    "DE": ("Friedrichstrasse 43", "Berlin", "10117", None),
    "FR": ("10 Rue de Rivoli", "Paris", "75001", None),
    "NL": ("Damrak 1", "Amsterdam", "1012 LG", None),
    "JP": ("1-1 Marunouchi", "Tokyo", "100-0005", None),
}
LINE = re.compile(r"^(?P<product>[^:]+):(?P<quantity>[^:]+):(?P<price>[^:]+)$")


@cli.callback()
def main() -> None:
    """Tools for the running estate (`make up`)."""


class DealError(ValueError):
    """Input that cannot make a deal; the message names the problem in one line."""


def parse_line(text: str, currency: str) -> tuple[str, int, Decimal]:
    """`PRODUCT:QUANTITY:UNIT_PRICE` (a whole quantity above 0; a price in the currency's major units)."""
    match = LINE.match(text.strip())
    if match is None:
        raise DealError(f"bad --line {text!r}: expected PRODUCT:QUANTITY:UNIT_PRICE, e.g. PLAT-SEAT:10:49.00")
    product = match["product"].strip().upper()
    known = sorted(p.code for p in CATALOG.products)
    if product not in known:
        raise DealError(f"unknown product {product!r} in --line {text!r}: known {', '.join(known)}")
    if not match["quantity"].strip().isdigit() or int(match["quantity"]) <= 0:
        raise DealError(f"bad quantity {match['quantity']!r} in --line {text!r}: a whole number above 0")
    try:
        price = Decimal(match["price"].strip())
    except InvalidOperation:
        price = Decimal("NaN")
    if not price.is_finite() or price < 0:
        raise DealError(f"bad unit price {match['price']!r} in --line {text!r}: a number of at least 0")
    if price != price.quantize(Decimal(1).scaleb(-exponent(currency))):
        raise DealError(
            f"bad unit price {match['price']!r} in --line {text!r}: {currency} has {exponent(currency)} decimals"
        )
    return product, int(match["quantity"]), price


def build_deal(
    *,
    company: str,
    country: str,
    entity: str,
    currency: str,
    lines: list[str],
    term: int = 12,
    period: str = "Monthly",
    key: str | None = None,
    street: str | None = None,
    city: str | None = None,
    postal_code: str | None = None,
    state: str | None = None,
    tax_id: str | None = None,
    email: str | None = None,
) -> DealSpec:
    """The deal to write, checked against the legal entities, their currencies and the catalog; DealError if not."""
    entity, currency, country = entity.upper(), currency.upper(), country.upper()
    if not company.strip():
        raise DealError("--company is empty")
    legal = LEGAL_ENTITIES.get(entity)
    if legal is None:
        raise DealError(f"unknown legal entity {entity!r}: known {', '.join(sorted(LEGAL_ENTITIES))}")
    if currency not in legal.currencies:
        raise DealError(f"{entity} does not sell in {currency!r}: it sells in {', '.join(legal.currencies)}")
    if period not in PERIODS:
        raise DealError(f"unknown billing period {period!r}: {' or '.join(PERIODS)}")
    if term <= 0:
        raise DealError(f"bad --term {term}: a whole number of months above 0")
    if not lines:
        raise DealError("no --line: a deal needs at least one, e.g. --line PLAT-SEAT:10:49.00")
    parsed = [parse_line(line, currency) for line in lines]
    default = ADDRESSES.get(country)
    if default is None and not (street and city and postal_code):
        raise DealError(f"no default address for country {country!r}: give --street, --city and --postal-code")
    d_street, d_city, d_postal, d_state = default or ("", "", "", None)
    key = key or f"H-{datetime.now(UTC):%Y%m%d%H%M%S}-{uuid.uuid4().hex[:6]}"
    account = AccountSpec(
        key=f"{key}-account",
        name=company.strip(),
        street=street or d_street,
        city=city or d_city,
        postal_code=postal_code or d_postal,
        country=country,
        state=state if state is not None else (d_state if street is None else None),
        tax_id=tax_id,
        email=email,
    )
    return DealSpec(key, account, entity, currency, parsed, term, period)


async def close_new_deal(crm: SalesforceCrm, spec: DealSpec) -> str:
    """Upsert the deal's account, opportunity and lines, close it won; the opportunity id (the deal id)."""
    return await seed_deal(crm, spec, close=True)


@cli.command()
def deal(
    company: str = typer.Option(..., help="the customer's legal name (a new CRM account)"),
    country: str = typer.Option(..., help="billing country, ISO 3166 alpha-2 (US, DE, FR, NL, JP have an address)"),
    entity: str = typer.Option(..., help="the legal entity that sells: US01 (USD, JPY) or DE01 (EUR)"),
    currency: str = typer.Option(..., help="the deal's currency, one the entity sells in"),
    line: list[str] = typer.Option(..., help="PRODUCT:QUANTITY:UNIT_PRICE per period, repeatable"),
    term: int = typer.Option(12, help="term in months"),
    period: str = typer.Option("Monthly", help="billing period: Monthly or Annual"),
    key: str | None = typer.Option(None, help="the deal's external key (default: a new one); same key = same deal"),
    street: str | None = typer.Option(None, help="billing street (default: one in --country)"),
    city: str | None = typer.Option(None),
    postal_code: str | None = typer.Option(None),
    state: str | None = typer.Option(None, help="US state / region"),
    tax_id: str | None = typer.Option(None),
    email: str | None = typer.Option(None, help="billing email"),
) -> None:
    """Create a deal in the CRM and close it won: its saga starts from the CRM's webhook."""
    try:
        spec = build_deal(
            company=company,
            country=country,
            entity=entity,
            currency=currency,
            lines=line,
            term=term,
            period=period,
            key=key,
            street=street,
            city=city,
            postal_code=postal_code,
            state=state,
            tax_id=tax_id,
            email=email,
        )
    except DealError as error:
        fail(str(error))
    settings = get_settings()

    async def run() -> str:
        async with httpx.AsyncClient(timeout=settings.http_timeout) as http:
            await http.get(settings.salesforce_url, timeout=3)  # any answer will do; none fails now, not after retries
            secret = settings.salesforce_client_secret.get_secret_value()
            crm = SalesforceCrm(http, settings.salesforce_url, settings.salesforce_client_id, secret)
            return await close_new_deal(crm, spec)

    try:
        deal_id = asyncio.run(run())
    except (httpx.TransportError, ConnectorError) as error:
        fail(f"the CRM at {settings.salesforce_url} refused or did not answer ({error}): is `make up` running?")
    typer.echo(f"closed won: deal {deal_id} (key {spec.key}, {spec.account.name}, {spec.legal_entity} {spec.currency})")
    typer.echo(f"saga {ids.saga_id(settings.crm, deal_id)} starts from the CRM's webhook; watch it with")
    typer.echo(f"  python starter.py show {deal_id}")
    typer.echo(f"  python starter.py subscription {deal_id}   # once its first invoice is paid")
    typer.echo(f"  http://localhost:{TEMPORAL_UI_PORT}   # Temporal UI: workflow {ids.saga_id(settings.crm, deal_id)}")


def fail(message: str) -> NoReturn:
    """One line on stderr, exit 2 (bad input or an unreachable CRM)."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


if __name__ == "__main__":
    cli()
