"""The Xero connector pointed at an emulator, and canonical records of the UK entity for its tests."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import httpx

from canonical import Address, Customer, Invoice, InvoiceLine, Money
from canonical.reference import LEGAL_ENTITIES
from connectors.xero import XeroCredentials, XeroErp
from sandbox.xero.app import CLIENT_ID, CLIENT_SECRET
from sandbox.xero.state import DEFAULT_TENANTS

TENANT = next(iter(DEFAULT_TENANTS))
ENTITY = LEGAL_ENTITIES["UK01"]
CREDENTIALS = XeroCredentials(CLIENT_ID, CLIENT_SECRET, {"UK01": TENANT})


def xero_connector(http: httpx.AsyncClient, url: str, **options: Any) -> XeroErp:
    return XeroErp(http, url, CREDENTIALS, **options)


def uk_customer(golden_id: str | None = None, **changes: Any) -> Customer:
    address = Address(line1="10 Downing St", city="London", postal_code="SW1A 2AA", country="GB")
    fields: dict[str, Any] = {
        "golden_id": golden_id or f"gc_{uuid.uuid4().hex[:10]}",
        "legal_name": f"Brit Ltd {uuid.uuid4().hex[:6]}",
        "email": "ap@brit.test",
        "address": address,
        "tax_id": "GB123456789",
    }
    return Customer(**(fields | changes))


def uk_invoice(billing_id: str | None = None, tax: int = 117_80, golden_id: str = "gc_brit") -> Invoice:
    def line(code: str, quantity: int, unit: int) -> InvoiceLine:
        return InvoiceLine(
            product_code=code,
            description=f"{code} monthly",
            quantity=quantity,
            unit_amount=Money(amount=unit, currency="GBP"),
            amount=Money(amount=unit * quantity, currency="GBP"),
            period_start=date(2025, 3, 1),
            period_end=date(2025, 4, 1),
        )

    return Invoice(
        golden_customer_id=golden_id,
        legal_entity="UK01",
        currency="GBP",
        issue_date=date(2025, 3, 1),
        due_date=date(2025, 3, 31),
        lines=[line("PLAT-SEAT", 10, 39_00), line("ANALYTICS", 1, 199_00)],
        tax=Money(amount=tax, currency="GBP"),
        tax_document_code="c2c-006UK-1",
        number="UK-0001",
        external_refs={"stripe": billing_id or f"in_{uuid.uuid4().hex[:14]}"},
    )


async def xero_state(http: httpx.AsyncClient, url: str) -> dict[str, Any]:
    response = await http.get(f"{url}/_sandbox/state")
    response.raise_for_status()
    state: dict[str, Any] = response.json()[TENANT]
    return state
