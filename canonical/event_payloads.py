"""The payload (`data`) of each business event type, version 1: what a subscriber may rely on.

Every payload says where the fact comes from: `source_system` (the system that did it) and `source_time` (when
that system says it happened: Stripe's charge time, the invoice's finalization, the CRM change's last-modified
stamp), next to the envelope's `time` (when c2c recorded it). `source_time` is null where the source did not say
(an event recorded before the field existed, or a system that returns no time).

A published version never changes incompatibly (tests/canonical/test_event_contracts.py): add an optional field
in place; anything else is a new model (`…V2`) registered in canonical/event_contracts.py.
"""

from __future__ import annotations

from datetime import date

from pydantic import AwareDatetime, BaseModel, Field

from canonical.contract import DealLine
from canonical.money import Money


class Payload(BaseModel):
    # Open schemas (no additionalProperties: false): a reader of v1 ignores a field added later, which is what
    # makes adding an optional field compatible. The writer refuses unknown fields (event_contracts.validated).
    source_system: str | None = Field(default=None, description="the system that did it (e.g. stripe, netsuite)")
    source_time: AwareDatetime | None = Field(default=None, description="when that system says it happened")


class CustomerCreatedV1(Payload):
    golden_id: str = Field(description="c2c's own customer id")
    refs: dict[str, str] = Field(description="the customer's id in each system (system -> id)")


class SubscriptionActivatedV1(Payload):
    subscription_id: str
    current_period_end: AwareDatetime | None = None


class TaxQuotedV1(Payload):
    document: str
    tax: int = Field(description="minor units of the deal's currency")


class InvoiceIssuedV1(Payload):
    invoice: str
    number: str | None = None


class InvoicePostedV1(Payload):
    invoice: str | None = Field(default=None, description="the billing invoice")
    erp_invoice: str
    period: int = Field(default=1, description="the subscription's billing period (1: the deal's first invoice)")
    number: str | None = None
    total: Money | None = None


class InvoiceSentV1(Payload):
    invoice: str
    due_date: date


class PaymentReminderV1(Payload):
    invoice: str
    reminder: int
    of: int
    period: int = 1
    last_outcome: str | None = None


class InvoiceUncollectibleV1(Payload):
    invoice: str
    erp_journal: str
    period: int = 1


class PaymentSettledV1(Payload):
    payment: str = Field(description="the billing system's payment id")
    invoice: str | None = None
    amount: Money
    fee: Money | None = None
    period: int = 1


class PaymentAppliedV1(Payload):
    erp_payment: str


class SagaParkedV1(Payload):
    stage: str
    code: str


class SagaCancelledV1(Payload):
    undone: list[str]


class CreditMemoAppliedV1(Payload):
    invoice_id: str
    credit_note_id: str
    erp_credit_memo_id: str | None = None
    amount: Money
    reason: str


class SubscriptionAmendedV1(Payload):
    subscription_id: str
    amendment: str = Field(description="the CRM change (won opportunity) applied")
    effective: AwareDatetime
    lines_before: list[DealLine]
    lines: list[DealLine]


class SubscriptionRenewedV1(Payload):
    subscription_id: str
    renewal: str = Field(description="the CRM renewal applied, or auto-<term end> for an automatic renewal")
    term_end_before: AwareDatetime
    term_end: AwareDatetime


class SubscriptionEndedV1(Payload):
    subscription_id: str
    reason: str = Field(description="lapsed, cancelled, or ended in billing")
    ended_at: AwareDatetime


class RefundIssuedV1(Payload):
    invoice_id: str = Field(description="billing's id of the refunded invoice")
    refund_id: str = Field(description="billing's refund id (the ERP customer refund's external id)")
    credit_note_id: str | None = Field(default=None, description="billing's credit note, when c2c made the refund")
    erp_credit_memo_id: str
    erp_customer_refund_id: str
    amount: Money = Field(description="what the customer got back, tax included")
    tax: Money = Field(description="the part of it that is tax")
    origin: str = Field(description="finance (through c2c) or billing (its dashboard or API)")
    reason: str
    actor: str = Field(description="who asked for it")
