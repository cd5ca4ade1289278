"""Payments collected against invoices."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from canonical.money import Money
from canonical.party import ExternalRefs


class PaymentStatus(StrEnum):
    SUCCEEDED = "succeeded"
    PENDING = "pending"
    FAILED = "failed"


class Payment(BaseModel):
    """Money received for one invoice; `external_refs['stripe']` is the payment id downstream keys on."""

    invoice_id: str
    amount: Money
    fee: Money | None = None
    status: PaymentStatus
    external_refs: ExternalRefs = {}
    settled_at: datetime | None = Field(default=None, description="when the billing system took the money")
