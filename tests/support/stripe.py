"""Builders and sandbox helpers shared by the Stripe connector tests."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import httpx

from canonical import (
    Address,
    BillingPeriod,
    Contract,
    Customer,
    DealLine,
    Invoice,
    InvoiceLine,
    Money,
    Price,
    Subscription,
)
from connectors.stripe import (
    StripeBilling,
)

API_KEY = "sk_test_c2c_connector"
SECRET = "whsec_test"  # a webhook signing secret


def make_customer(golden_id: str = "gc_acme", **changes: Any) -> Customer:
    address = Address(line1="1 Main St", city="Austin", region="TX", postal_code="78701", country="US")
    fields: dict[str, Any] = {
        "golden_id": golden_id,
        "legal_name": "Acme Corp",
        "email": "ap@acme.test",
        "address": address,
    }
    return Customer(**(fields | changes))


def make_contract(currency: str = "USD", start: date | None = None) -> Contract:
    return Contract(
        deal_id="006DEAL1",
        golden_customer_id="gc_acme",
        legal_entity="US01",
        currency=currency,
        start_date=start or datetime.now(UTC).date(),
        term_months=12,
        billing_period=BillingPeriod.MONTH,
        lines=[
            DealLine(product_code="PLAT-SEAT", quantity=10, unit_price=Money(amount=49_00, currency=currency)),
            DealLine(product_code="ANALYTICS", quantity=1, unit_price=Money(amount=199_00, currency=currency)),
        ],
    )


def make_invoice(currency: str = "USD", tax: int = 68_70) -> Invoice:
    def line(code: str, quantity: int, unit: int) -> InvoiceLine:
        return InvoiceLine(
            product_code=code,
            description=f"{code} monthly",
            quantity=quantity,
            unit_amount=Money(amount=unit, currency=currency),
            amount=Money(amount=unit * quantity, currency=currency),
        )

    return Invoice(
        golden_customer_id="gc_acme",
        legal_entity="US01",
        currency=currency,
        issue_date=date(2025, 3, 1),
        due_date=date(2025, 3, 31),
        lines=[line("PLAT-SEAT", 10, 49_00), line("ANALYTICS", 1, 199_00)],
        tax=Money(amount=tax, currency=currency),
        tax_document_code="c2c-006DEAL1-1",
    )


def price(code: str = "PLAT-SEAT", amount: int = 49_00, currency: str = "USD") -> Price:
    return Price(product_code=code, period=BillingPeriod.MONTH, unit_amount=Money(amount=amount, currency=currency))


async def sandbox_state(http: httpx.AsyncClient, url: str) -> dict[str, Any]:
    response = await http.get(f"{url}/_sandbox/state")
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


async def arm(http: httpx.AsyncClient, url: str, **rule: Any) -> None:
    (await http.post(f"{url}/_sandbox/faults", json=rule)).raise_for_status()


async def subscribe(billing: StripeBilling, key: str, customer: Customer | None = None) -> tuple[str, Subscription]:
    """Customer, prices and subscription (whose first invoice Stripe drafts): the saga up to `invoice`."""
    # One golden customer per key: c2c keeps one billing customer per golden customer (looked up before creating).
    customer = customer or make_customer(f"gc_{key.replace(':', '_')}")
    customer_id = await billing.upsert_customer(customer, idempotency_key=f"{key}:customer")
    price_ids = {
        "PLAT-SEAT": await billing.ensure_price(price(), "Platform seat", idempotency_key=f"{key}:p1"),
        "ANALYTICS": await billing.ensure_price(price("ANALYTICS", 199_00), "Analytics", idempotency_key=f"{key}:p2"),
    }
    subscription = await billing.create_subscription(
        customer_id, make_contract(), price_ids, idempotency_key=f"{key}:subscription"
    )
    return customer_id, subscription


async def open_invoice(billing: StripeBilling, key: str, customer: Customer | None = None) -> tuple[str, Invoice]:
    """Customer, prices, subscription, its first invoice completed and finalized: the saga up to `settle`."""
    customer_id, subscription = await subscribe(billing, key, customer)
    draft = await billing.create_invoice(customer_id, subscription.id, make_invoice(), idempotency_key=f"{key}:inv")
    finalized = await billing.finalize_invoice(draft.external_refs["stripe"], idempotency_key=f"{key}:finalize")
    return customer_id, finalized
