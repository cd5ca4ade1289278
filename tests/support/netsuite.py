"""The NetSuite emulator as the connector tests read it: its state with exact decimals, the connector pointed at it,
and the records the fuzz tests post."""

from __future__ import annotations

import json
import uuid
from datetime import date
from decimal import Decimal
from typing import Any

import httpx

from canonical import Address, Customer, Invoice, InvoiceLine, Money
from connectors.netsuite import NetSuiteErp

CLIENT_ID = "c2c-integration"


async def sandbox_state(http: httpx.AsyncClient, base_url: str) -> dict[str, Any]:
    response = await http.get(f"{base_url}/_sandbox/state")
    state: dict[str, Any] = json.loads(response.content, parse_float=Decimal)
    return state


def erp_connector(http: httpx.AsyncClient, base_url: str) -> NetSuiteErp:
    """The connector with the tests' credentials."""
    return NetSuiteErp(http, base_url, CLIENT_ID, "s3cret")


def ns_customer() -> Customer:
    return Customer(
        golden_id=f"gc_{uuid.uuid4().hex[:10]}",
        legal_name="Fuzz Corp",
        address=Address(line1="1 Main St", city="Austin", region="TX", postal_code="78701", country="US"),
    )


def ns_invoice(billing_id: str) -> Invoice:
    unit = Money(amount=49_00, currency="USD")
    return Invoice(
        golden_customer_id="gc_1",
        legal_entity="US01",
        currency="USD",
        issue_date=date(2026, 3, 1),
        due_date=date(2026, 3, 31),
        lines=[
            InvoiceLine(
                product_code="PLAT-SEAT", description="Seat", quantity=2, unit_amount=unit, amount=unit.times(2)
            )
        ],
        tax=Money(amount=8_58, currency="USD"),
        tax_document_code="doc-fuzz",
        number="INV-FUZZ",
        external_refs={"stripe": billing_id},
    )
