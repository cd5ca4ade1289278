"""The Chargebee emulator for tests: the official SDK pointed at it, and a connector on a fresh site."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from sandbox.chargebee.app import API_KEY, SITE


@pytest.fixture(name="url")
def fresh_site(emulators: Any) -> Iterator[str]:
    """`url`: the session's Chargebee emulator, reset before and after the test (a test module imports it)."""
    site: str = emulators.url("chargebee")
    reset(site)
    yield site
    reset(site)


def sdk(url: str, monkeypatch: Any) -> Any:
    """Chargebee's official Python SDK (v3) talking plain HTTP to the emulator at `url`."""
    from chargebee import Chargebee

    # The SDK builds https://{site}.chargebee.com/api/v2 and picks the scheme from a class attribute.
    monkeypatch.setattr(Chargebee, "verify_ca_certs", False)
    client = Chargebee(api_key=API_KEY, site=SITE, protocol="http")
    client.env.api_endpoint = f"{url}/api/v2"
    return client


def reset(url: str) -> None:
    httpx.post(f"{url}/_sandbox/reset").raise_for_status()
    httpx.delete(f"{url}/_sandbox/faults").raise_for_status()


def state(url: str) -> dict[str, Any]:
    answer: dict[str, Any] = httpx.get(f"{url}/_sandbox/state").json()
    return answer


def arm(url: str, **rule: Any) -> None:
    httpx.post(f"{url}/_sandbox/faults", json=rule).raise_for_status()


def connector(http: Any, url: str, payment_method: str | None = "tok_visa") -> Any:
    from connectors.chargebee import ChargebeeBilling

    return ChargebeeBilling(http, url, API_KEY, payment_method=payment_method)


def de_customer(golden_id: str, **changes: Any) -> Any:
    from canonical import Address, Customer

    customer = Customer(
        golden_id=golden_id,
        legal_name="Beispiel GmbH",
        tax_id="DE123456789",
        email="billing@beispiel.example",
        address=Address(line1="Hauptstr. 1", city="Berlin", postal_code="10115", country="DE"),
    )
    return customer.model_copy(update=changes)


def de_contract(deal_id: str, golden_id: str, seats: int = 10) -> Any:
    from datetime import date

    from canonical import BillingPeriod, Contract, DealLine, Money

    return Contract(
        deal_id=deal_id,
        golden_customer_id=golden_id,
        legal_entity="DE01",
        currency="EUR",
        start_date=date(2026, 12, 1),
        term_months=12,
        billing_period=BillingPeriod.MONTH,
        lines=[
            DealLine(product_code="PLAT-SEAT", quantity=seats, unit_price=Money(amount=45_00, currency="EUR")),
            DealLine(product_code="ANALYTICS", quantity=1, unit_price=Money(amount=199_00, currency="EUR")),
        ],
    )


def de_invoice(contract: Any, tax: int = 123_12, document: str = "c2c-salesforce-D1") -> Any:
    from datetime import date

    from canonical import Invoice, InvoiceLine, Money

    lines = [
        InvoiceLine(
            product_code=line.product_code,
            description=line.product_code,
            quantity=line.quantity,
            unit_amount=line.unit_price,
            amount=Money(amount=line.unit_price.amount * line.quantity, currency="EUR"),
        )
        for line in contract.lines
    ]
    return Invoice(
        golden_customer_id=contract.golden_customer_id,
        legal_entity="DE01",
        currency="EUR",
        issue_date=date(2026, 12, 1),
        due_date=date(2026, 12, 31),
        lines=lines,
        tax=Money(amount=tax, currency="EUR"),
        tax_document_code=document,
    )


async def price_ids(billing: Any, contract: Any, key: str) -> dict[str, str]:
    from canonical import Price

    ids = {}
    for line in contract.lines:
        price = Price(product_code=line.product_code, period=contract.billing_period, unit_amount=line.unit_price)
        ids[line.product_code] = await billing.ensure_price(
            price, line.product_code, idempotency_key=f"{key}:{line.product_code}"
        )
    return ids
