"""Shadow mode of an ERP migration (docs/decisions.md, "Issue 15: migration and shadow mode"): what an ERP's
connector would write, in canonical terms, so that two ERPs' versions of one write can be compared field by field.

Each ERP connector builds its vendor payload with its own mapping and reads it back into a `PlannedRecord`
(`plan_*` on the connector): a difference between the current ERP's record and the new one's is a difference in
what the two mappings (tax lines, rounding, accounts, currencies, references) would book."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, Field


class PlannedKind(StrEnum):
    CUSTOMER = "customer"
    INVOICE = "invoice"
    PAYMENT = "payment"
    CREDIT_MEMO = "credit_memo"  # a full reversal of an invoice
    CREDIT_NOTE = "credit_note"  # billing's credit note on an invoice


class PlannedLine(BaseModel):
    """One document line: the product (None: not a product line), the quantity, the amount, what it posts to."""

    product: str | None = None
    quantity: Decimal = Decimal(1)
    amount: Decimal
    posting: str = Field(description="revenue, deferred or tax")


class PlannedRecord(BaseModel):
    """A write an ERP would make, in canonical terms (vendor ids and free-text descriptions left out)."""

    kind: PlannedKind
    key: str = Field(description="what the write is upserted by: billing's id, or {golden}-{entity} for a customer")
    legal_entity: str
    currency: str | None = None
    day: str | None = Field(default=None, description="the document's date (ISO), when the payload carries it")
    customer: str | None = Field(default=None, description="the customer's name, tax id and country")
    lines: list[PlannedLine] = Field(default_factory=list)
    total: Decimal | None = None


class ShadowDifference(BaseModel):
    """One field where the new ERP would book otherwise than the current one did."""

    field: str
    current: str
    shadow: str


def _lines(record: PlannedRecord) -> dict[str, str]:
    return {
        f"lines[{index}]": f"{line.product or '-'} x{line.quantity.normalize()} {line.amount:.2f} {line.posting}"
        for index, line in enumerate(record.lines)
    }


def _fields(record: PlannedRecord) -> dict[str, str]:
    fields = {
        "key": record.key,
        "currency": record.currency or "",
        "day": record.day or "",
        "customer": record.customer or "",
        "total": "" if record.total is None else f"{record.total:.2f}",
        "line count": str(len(record.lines)),
    }
    return fields | _lines(record)


def differences(current: PlannedRecord, shadow: PlannedRecord) -> list[ShadowDifference]:
    """Every field the two records disagree on (a field one record does not carry is not compared)."""
    mine, theirs = _fields(current), _fields(shadow)
    found = []
    for name in sorted(set(mine) | set(theirs)):
        left, right = mine.get(name, "(none)"), theirs.get(name, "(none)")
        if name in ("day", "customer", "currency") and "" in (left, right):
            continue
        if left != right:
            found.append(ShadowDifference(field=name, current=left, shadow=right))
    return found
