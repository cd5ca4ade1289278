"""What the reconciler reads from each system, reduced to the fields it compares (no I/O here).

Connectors fill these from their vendor's list APIs; activities hand them to the workflow; `compare` and
`kpis` read them. Amounts are integer minor units of `currency` (canonical Money rules). Names, addresses and
tax ids travel only to compute customer-master agreement; reports carry codes and ids, never these values.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from canonical import Address
from canonical.refunds import BillingRefund, ErpRefund
from canonical.revenue import RevenueLedger
from canonical.vendors import DEFAULT_VENDORS


class CustomerFields(BaseModel):
    """The master data a golden customer must have alike in every system."""

    name: str | None = None
    address: Address | None = None
    tax_id: str | None = None


class CrmDeal(BaseModel):
    """A closed-won opportunity."""

    deal_id: str
    account_id: str | None = None
    legal_entity: str | None = None
    currency: str | None = None
    amount: int | None = Field(default=None, description="one billing period before tax (the lines' total)")
    close_date: date | None = None
    modified_at: datetime
    contract_id: str | None = Field(
        default=None, description="set on a change to a contract (amendment, renewal, cancellation): no saga of its own"
    )


class CrmAccount(BaseModel):
    account_id: str
    golden_id: str | None = None
    fields: CustomerFields = Field(default_factory=CustomerFields)
    modified_at: datetime | None = None


class CrmContract(BaseModel):
    """The CRM contract c2c wrote for a subscription (Salesforce's standard Contract)."""

    contract_id: str
    deal_id: str | None = Field(default=None, description="C2C_Deal_Id__c: the deal it was made for")
    subscription_id: str | None = Field(default=None, description="C2C_Subscription_Id__c: the billing subscription")
    account_id: str | None = None
    status: str | None = Field(default=None, description="Draft, In Approval Process, Activated, ...")
    start_date: date | None = None
    end_date: date | None = Field(default=None, description="the last day of the contract (inclusive)")
    term_months: int | None = None
    ended_on: date | None = Field(
        default=None, description="C2C_Ended_On__c: the last day served when it ended before EndDate (a cancellation)"
    )


class CrmSnapshot(BaseModel):
    deals: list[CrmDeal] = Field(default_factory=list)
    accounts: list[CrmAccount] = Field(default_factory=list)
    contracts: list[CrmContract] | None = Field(
        default=None, description="the contracts of billing's c2c subscriptions; None when they were not read"
    )


class BillingCustomer(BaseModel):
    customer_id: str
    golden_id: str | None = None
    system: str | None = Field(default=None, description="the billing vendor it is in; None: the default's")
    fields: CustomerFields = Field(default_factory=CustomerFields)


class BillingSubscription(BaseModel):
    subscription_id: str
    deal_id: str | None = None
    customer_id: str
    status: str
    created: datetime
    legal_entity: str | None = None
    cancel_at: datetime | None = Field(default=None, description="when it is set to end (the term end, or earlier)")
    canceled_at: datetime | None = None
    ended_at: datetime | None = Field(default=None, description="when it ended (status canceled)")


class BilledUsage(BaseModel):
    """A metered line of a billing invoice: the usage of `[period_start, period_end)` it bills."""

    product_code: str | None = None
    quantity: int
    unit_amount: int = Field(default=0, description="the metered price per unit, minor units")
    period_start: datetime
    period_end: datetime


class BillingInvoice(BaseModel):
    invoice_id: str
    number: str | None = None
    subscription_id: str | None = None
    customer_id: str
    saga_id: str | None = Field(default=None, description="the workflow id the saga wrote into the metadata")
    status: str
    currency: str
    total: int
    tax: int = Field(description="the tax line c2c added (0 when none)")
    amount_paid: int
    payment_id: str | None = Field(default=None, description="the payment intent that paid it, if any")
    tax_document_code: str | None = None
    created: datetime
    finalized_at: datetime | None = None
    paid_at: datetime | None = None
    billing_reason: str | None = Field(
        default=None, description="subscription_create (the saga's first period), subscription_cycle (later ones), ..."
    )
    legal_entity: str | None = None
    usage: list[BilledUsage] = Field(default_factory=list, description="its metered lines (usage billed in arrears)")


class BillingCreditNote(BaseModel):
    """A credit note on a billing invoice (a cancellation's unused time, or a saga's unwind after the pivot)."""

    credit_note_id: str
    number: str | None = None
    invoice_id: str
    customer_id: str | None = None
    status: str = Field(description="issued or void")
    currency: str
    total: int
    key: str | None = Field(default=None, description="the c2c idempotency key in its metadata (c2c_key)")
    created: datetime


class BillingSnapshot(BaseModel):
    customers: list[BillingCustomer] = Field(default_factory=list)
    subscriptions: list[BillingSubscription] = Field(default_factory=list)
    invoices: list[BillingInvoice] = Field(default_factory=list)
    credit_notes: list[BillingCreditNote] = Field(default_factory=list)
    refunds: list[BillingRefund] | None = Field(default=None, description="None: a run that did not read them")
    billing_by_entity: dict[str, str] = Field(
        default_factory=dict,
        description="the vendor billing each legal entity, whose records this read holds (several billing systems, "
        "one read each); empty: every entity billed in the default (a run recorded before billing routed)",
    )

    def system_of(self, legal_entity: str | None) -> str:
        """The name of the billing system a legal entity bills in (what a finding about its records names)."""
        return self.billing_by_entity.get(legal_entity or "", DEFAULT_VENDORS.billing)


class TaxDocument(BaseModel):
    company_code: str
    code: str
    status: str = Field(description="Saved, Committed, Cancelled, ...")
    currency: str
    total_tax: int
    modified_at: datetime | None = None


class TaxSnapshot(BaseModel):
    documents: list[TaxDocument] = Field(default_factory=list)
    tax_by_entity: dict[str, str] = Field(
        default_factory=dict,
        description="the vendor playing each legal entity's tax engine (its configuration); empty: every entity's "
        "was the default (a run recorded before this, or started without the vendors per entity)",
    )

    def system_of(self, legal_entity: str | None) -> str:
        """The name of the tax engine a legal entity taxes with (what a finding about its documents names)."""
        return self.tax_by_entity.get(legal_entity or "", DEFAULT_VENDORS.tax)


class ErpInvoice(BaseModel):
    internal_id: str
    external_id: str | None = Field(default=None, description="the billing invoice id")
    reference: str | None = Field(default=None, description="otherRefNum: the billing invoice number")
    customer_id: str | None = None
    currency: str
    total: int
    amount_remaining: int
    status: str | None = None
    created_at: datetime | None = None


class ErpPayment(BaseModel):
    internal_id: str
    external_id: str | None = Field(default=None, description="the billing payment id")
    currency: str
    amount: int
    applied: dict[str, int] = Field(default_factory=dict, description="ERP invoice internal id -> amount applied")
    created_at: datetime | None = None


class ErpCreditMemo(BaseModel):
    internal_id: str
    external_id: str | None = None
    created_from: str | None = Field(default=None, description="the ERP invoice it reverses")
    currency: str
    total: int


class ErpCustomer(BaseModel):
    internal_id: str
    external_id: str = Field(description="{golden id}-{legal entity}")
    golden_id: str
    legal_entity: str
    fields: CustomerFields = Field(default_factory=CustomerFields)


class ErpSnapshot(BaseModel):
    invoices: list[ErpInvoice] = Field(default_factory=list)
    payments: list[ErpPayment] = Field(default_factory=list)
    credit_memos: list[ErpCreditMemo] = Field(default_factory=list)
    customers: list[ErpCustomer] = Field(default_factory=list)
    revenue: list[RevenueLedger] | None = Field(
        default=None, description="each legal entity's deferred revenue; None: a run that did not read it"
    )
    erp_by_entity: dict[str, str] = Field(
        default_factory=dict,
        description="the vendor playing each legal entity's ERP, whose records this read holds (several ERPs, one "
        "read each); empty: every entity's ERP was the default (a run recorded before routing by entity)",
    )

    def system_of(self, legal_entity: str | None) -> str:
        """The name of the ERP a legal entity books in (what a finding about its records names)."""
        return self.erp_by_entity.get(legal_entity or "", DEFAULT_VENDORS.erp)

    refunds: list[ErpRefund] | None = Field(default=None, description="customer refunds; None: not read")


class SagaRecord(BaseModel):
    """One deal's saga as Temporal (or, after retention, the store) knows it."""

    workflow_id: str
    deal_id: str
    status: str = Field(description="Temporal's execution status: RUNNING, COMPLETED, FAILED, TERMINATED, ...")
    stage: str | None = Field(default=None, description="C2CStage, or the outcome the store recorded")
    exception: str | None = Field(default=None, description="C2CException of a parked saga")
    started_at: datetime | None = None
    closed_at: datetime | None = None
    source: str = Field(default="temporal", description="temporal, or store when Temporal no longer has it")

    @property
    def running(self) -> bool:
        return self.status == "RUNNING"


class SagaSnapshot(BaseModel):
    sagas: list[SagaRecord] = Field(default_factory=list)


class Snapshots(BaseModel):
    """Everything one reconciliation read, with the window it read."""

    since: datetime
    taken_at: datetime
    crm: CrmSnapshot
    sagas: SagaSnapshot
    billing: BillingSnapshot
    tax: TaxSnapshot
    erp: ErpSnapshot
