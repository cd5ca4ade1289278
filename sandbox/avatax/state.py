"""What the emulated AvaTax account holds: seeded companies and saved transactions, in memory."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sandbox.avatax.models import AddressLocationInfo


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
        Company(
            1_000_103,
            "UK01",
            "c2c Software Ltd",
            AddressLocationInfo(line1="1 Finsbury Avenue", city="London", postalCode="EC2M 2PP", country="GB"),
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
    # The last document id handed out. Ids follow the wall clock (microseconds since 1970: 16 digits, int64 and exact
    # as JSON numbers until 2255): documents live in memory, but c2c's histories keep the ids, so a restarted
    # emulator must start above every id an earlier process gave out. That holds unless the earlier one ran ahead
    # of the clock (more than one document per microsecond) by more than the time between them, or the clock was
    # set back. A reset keeps the sequence, so an id is never reused within a process either.
    last_id: int = 0
    # Held across lookup-and-write so concurrent calls for one code cannot both create it.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def new_id(self) -> int:
        self.last_id = max(self.last_id + 1, time.time_ns() // 1_000)
        return self.last_id

    def reset(self) -> None:
        self.documents.clear()

    def dump(self) -> dict[str, Any]:
        return {
            "companies": [
                {"id": c.id, "companyCode": c.code, "name": c.name, **c.location.model_dump(exclude_none=True)}
                for c in COMPANIES.values()
            ],
            "documents": [doc.summary() for doc in self.documents.values()],
        }
