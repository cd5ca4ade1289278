"""What the emulated AvaTax account holds: seeded companies and saved transactions, in memory."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sandbox.avatax.models import AddressLocationInfo

FIRST_DOCUMENT_ID = 85_000_000_001


@dataclass(frozen=True)
class Company:
    id: int
    code: str
    name: str
    location: AddressLocationInfo


COMPANIES: dict[str, Company] = {
    company.code: company
    for company in [
        Company(
            1_000_101,
            "US01",
            "c2c Software Inc.",
            AddressLocationInfo(
                line1="100 Market St", city="San Francisco", region="CA", postalCode="94105", country="US"
            ),
        ),
        Company(
            1_000_102,
            "DE01",
            "c2c Software GmbH",
            AddressLocationInfo(line1="Torstrasse 1", city="Berlin", postalCode="10119", country="DE"),
        ),
    ]
}
# A request without companyCode goes to the account's default company, as in AvaTax.
DEFAULT_COMPANY = "US01"


@dataclass
class Document:
    """A saved transaction; `body` is its last calculation, status and version live beside it."""

    id: int
    company_code: str
    code: str
    type: str
    status: str
    version: int
    body: dict[str, Any]
    adjustment_reason: str = "NotAdjusted"
    modified: datetime = field(default_factory=lambda: datetime.now(UTC))

    def touch(self) -> None:
        self.modified = datetime.now(UTC)

    def model(self) -> dict[str, Any]:
        """The TransactionModel as the API returns it."""
        lines = [{**line, "transactionId": self.id} for line in self.body["lines"]]
        return {
            "id": self.id,
            **self.body,
            "code": self.code,
            "status": self.status,
            "version": self.version,
            "adjustmentReason": self.adjustment_reason,
            "modifiedDate": self.modified.isoformat().replace("+00:00", "Z"),
            "lines": lines,
        }

    def summary(self) -> dict[str, Any]:
        body = self.body
        return {
            "id": self.id,
            "companyCode": self.company_code,
            "code": self.code,
            "type": self.type,
            "status": self.status,
            "version": self.version,
            "customerCode": body["customerCode"],
            "date": body["date"],
            "currencyCode": body["currencyCode"],
            "totalAmount": body["totalAmount"],
            "totalTaxable": body["totalTaxable"],
            "totalExempt": body["totalExempt"],
            "totalTax": body["totalTax"],
        }


@dataclass
class AvaTaxState:
    documents: dict[tuple[str, str], Document] = field(default_factory=dict)
    next_id: int = FIRST_DOCUMENT_ID
    # Held across lookup-and-write so concurrent calls for one code cannot both create it.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def reset(self) -> None:
        self.documents.clear()
        self.next_id = FIRST_DOCUMENT_ID

    def dump(self) -> dict[str, Any]:
        return {
            "companies": [
                {"id": c.id, "companyCode": c.code, "name": c.name, **c.location.model_dump(exclude_none=True)}
                for c in COMPANIES.values()
            ],
            "documents": [doc.summary() for doc in self.documents.values()],
        }
