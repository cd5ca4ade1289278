"""The AvaTax emulator's credentials and tax requests as the AvaTax connector tests build them."""

from __future__ import annotations

import uuid
from datetime import date

from canonical import Address, Money, TaxRequest, TaxRequestLine
from canonical.reference import LEGAL_ENTITIES

ACCOUNT_ID = "2000123456"
LICENSE_KEY = "sandbox-license"


def tax_request(
    company: str,
    ship_to: Address,
    currency: str,
    amounts: list[int],
    *,
    tax_id: str | None = None,
    code: str | None = None,
) -> TaxRequest:
    """A request with one line per amount (minor units), shipped from the legal entity's address."""
    return TaxRequest(
        document_code=code or f"c2c-test-{uuid.uuid4().hex[:16]}",
        company_code=company,
        customer_code="CUST-0001",
        customer_tax_id=tax_id,
        date=date(2024, 5, 1),
        currency=currency,
        ship_from=LEGAL_ENTITIES[company].address,
        ship_to=ship_to,
        lines=[
            TaxRequestLine(
                number=n,
                product_code="PLAT-SEAT",
                tax_code="SW054000",
                quantity=1,
                amount=Money(amount=amount, currency=currency),
            )
            for n, amount in enumerate(amounts, start=1)
        ],
    )
