"""Activity names and their input/output models: the only part of activities/ that workflows import.

Pure pydantic over canonical; no I/O, so the workflow sandbox can pass it through.
Each activity runs on the task queue of the system it calls: `{workflow queue}-{QUEUE}`.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from pydantic import BaseModel, Field

from canonical import (
    DEFAULT_VENDORS,
    Contract,
    CreditNote,
    Customer,
    Deal,
    DealLine,
    Invoice,
    JournalEntry,
    LegalEntity,
    Payment,
    Price,
    TaxRequest,
)
from canonical.records import Snapshots
from canonical.refunds import CustomerRefund
from canonical.usage import UsageReport
from reconcile.compare import Mismatch

# Task-queue suffixes, one per external system (so each vendor's rate limit is enforced across workers).
CRM_QUEUE = "crm"
BILLING_QUEUE = "billing"
TAX_QUEUE = "tax"
ERP_QUEUE = "erp"
HUB_QUEUE = "hub"


class Names:
    """Registered activity names (the workflow calls activities by these)."""

    FETCH_DEAL = "crm.fetch_deal"
    WRITE_BACK = "crm.write_back_account"
    RESOLVE_CUSTOMER = "hub.resolve_customer"
    LINK_REFS = "hub.link_refs"
    RECORD_EVENT = "hub.record_event"
    RECORD_FACT = "hub.record_fact"
    CREATE_BILLING_CUSTOMER = "billing.create_customer"
    BILLING_CUSTOMER = "billing.upsert_customer"
    ENSURE_PRICES = "billing.ensure_prices"
    CREATE_SUBSCRIPTION = "billing.create_subscription"
    CREATE_INVOICE = "billing.create_invoice"
    FINALIZE_INVOICE = "billing.finalize_invoice"
    RENEWAL_INVOICES = "billing.renewal_invoices"
    COMPLETE_RENEWAL_INVOICE = "billing.complete_renewal_invoice"
    SEND_INVOICE = "billing.send_invoice"
    COLLECT_PAYMENT = "billing.collect_payment"
    MARK_UNCOLLECTIBLE = "billing.mark_uncollectible"
    VOID_INVOICE = "billing.void_invoice"
    CREDIT_INVOICE = "billing.credit_invoice"
    CANCEL_SUBSCRIPTION = "billing.cancel_subscription"
    # subscription lifecycle: the CRM contract, amendments, renewals, cancellations
    UPSERT_CONTRACT = "crm.upsert_contract"
    UPDATE_CONTRACT = "crm.update_contract"
    UPDATE_SUBSCRIPTION = "billing.update_subscription"
    INVOICE_PRORATIONS = "billing.invoice_prorations"
    SET_TERM_END = "billing.set_term_end"
    ISSUE_CREDIT_NOTE = "billing.issue_credit_note"
    POST_CREDIT_NOTE = "erp.post_credit_note"
    QUOTE_TAX = "tax.quote"
    COMMIT_TAX = "tax.commit"
    VOID_TAX = "tax.void"
    ERP_CUSTOMER = "erp.upsert_customer"
    POST_INVOICE = "erp.post_invoice"
    APPLY_PAYMENT = "erp.apply_payment"
    POST_JOURNAL = "erp.post_journal_entry"
    POST_CREDIT_MEMO = "erp.post_credit_memo"
    # customer master (CustomerMaster workflow)
    FETCH_ACCOUNT = "crm.fetch_account"
    CUSTOMER_REFS = "hub.customer_refs"
    SYNC_CUSTOMER_MASTER = "hub.sync_customer_master"
    ERP_UPDATE_CUSTOMER = "erp.update_customer"
    # reconciliation (Reconciliation workflow): one read per system, then compare and repair on the hub
    RECONCILE_READ_CRM = "reconcile.read_crm"
    RECONCILE_READ_BILLING = "reconcile.read_billing"
    RECONCILE_READ_TAX = "reconcile.read_tax"
    RECONCILE_READ_ERP = "reconcile.read_erp"
    RECONCILE_READ_SAGAS = "reconcile.read_sagas"
    RECONCILE_COMPARE = "reconcile.compare"
    RECONCILE_REPAIR = "reconcile.repair"
    RECONCILE_READ_CONTRACTS = "reconcile.read_contracts"
    # missed-trigger sweep (MissedDealSweep workflow)
    SWEEP_CLOSED_WON = "sweep.closed_won_since"
    SWEEP_READ_WATERMARK = "sweep.read_watermark"
    SWEEP_ADVANCE_WATERMARK = "sweep.advance_watermark"
    SWEEP_START_SAGAS = "sweep.start_sagas"
    # revenue recognition (RevenueRecognition workflow), on the ERP's queue
    REVENUE_LEDGER = "erp.revenue_ledger"
    POST_RECOGNITION = "erp.post_recognition"
    # refunds of paid invoices (Refund workflow)
    REFUNDABLE_INVOICE = "billing.refundable_invoice"
    CREDIT_NOTE_REFUND = "billing.credit_note_refund"
    ERP_INVOICE_OF = "erp.invoice_of"
    REFUND_CUSTOMER = "erp.refund_customer"
    # usage of usage-priced products (UsageReporting workflow)
    REPORT_USAGE = "billing.report_usage"
    RECORD_USAGE_REPORTED = "hub.record_usage_reported"


class ErpCall(BaseModel):
    """An input to an ERP activity: which vendor plays the ERP for the record's legal entity (the saga's
    `vendors.erp`). Inputs recorded before routing by entity carry none and meant the default."""

    erp: str = Field(default=DEFAULT_VENDORS.erp, description="the vendor whose connector the call goes to")


class BillingCall(BaseModel):
    """An input to a billing activity: which vendor bills the record's legal entity (the saga's `vendors.billing`).
    Inputs recorded before billing routed by entity carry none and meant the default."""

    billing: str = Field(default=DEFAULT_VENDORS.billing, description="the vendor whose connector the call goes to")


class CrmCall(BaseModel):
    """An input to a CRM activity: which CRM the saga's deal came from (its `crm`; two CRMs can serve one deployment).
    Inputs recorded before that carry none and meant the worker's default CRM (C2C_CRM)."""

    crm: str | None = Field(default=None, description="the CRM whose connector the call goes to (None: the default)")


class FetchDeal(CrmCall):
    deal_id: str


class FetchAccount(CrmCall):
    account_id: str


class CustomerRefs(BaseModel):
    golden_id: str


class AccountChange(BaseModel):
    """A notice that a CRM account changed (webhook), or an onboarding saga asking CustomerMaster for a sync."""

    crm: str
    account_id: str
    event_id: str
    modified_at: datetime | None = Field(default=None, description="the CRM's modification stamp, if known")


class SyncCustomerMaster(BaseModel):
    golden_id: str
    change: AccountChange


class UpdateErpCustomer(ErpCall):
    """Name, address and tax id of an existing ERP customer (subsidiary and currency never change)."""

    customer: Customer
    legal_entity: LegalEntity


class WriteBack(CrmCall):
    account_id: str
    refs: dict[str, str]


class ResolveCustomer(BaseModel):
    crm: str
    customer: Customer
    golden_id: str | None = Field(default=None, description="finance's pick after customer_ambiguous")


class ResolvedCustomer(BaseModel):
    golden_id: str
    legal_name: str = Field(description="the golden record's name (fixed when it was created)")
    created: bool
    refs: dict[str, str] = Field(description="system -> id already known for this golden customer")


class LinkRefs(BaseModel):
    golden_id: str
    refs: dict[str, str]


class SagaFactInput(BaseModel):
    workflow_id: str
    deal_id: str
    legal_entity: str
    currency: str
    total_minor: int
    status: str


class CreateBillingCustomer(BillingCall):
    golden_id: str
    legal_name: str
    idempotency_key: str


class UpsertBillingCustomer(BillingCall):
    customer: Customer
    idempotency_key: str


class PriceRequest(BaseModel):
    price: Price
    product_name: str


class EnsurePrices(BillingCall):
    prices: list[PriceRequest]
    idempotency_key: str


class CreateSubscription(BillingCall):
    customer_id: str
    contract: Contract
    price_ids: dict[str, str]
    idempotency_key: str


class CreateInvoice(BillingCall):
    customer_id: str
    subscription_id: str
    invoice: Invoice
    idempotency_key: str


class RenewalInvoices(BillingCall):
    """The subscription's renewal invoices (the lifecycle's backstop when no webhook came)."""

    subscription_id: str


class CompleteRenewalInvoice(BillingCall):
    customer_id: str
    invoice_id: str
    invoice: Invoice
    idempotency_key: str


class InvoiceAction(BillingCall):
    """Finalize, send, collect, mark uncollectible or void one billing invoice."""

    invoice_id: str
    idempotency_key: str


class CreditInvoice(BillingCall):
    """Credit what is still due on a sent invoice (the undo after the pivot, instead of a void)."""

    invoice_id: str
    reason: str
    idempotency_key: str


class CancelSubscription(BillingCall):
    subscription_id: str
    idempotency_key: str


class UpsertContract(CrmCall):
    deal: Deal
    subscription_id: str
    start: date
    term_months: int


class UpdateContract(CrmCall):
    deal_id: str
    term_months: int | None = Field(default=None, description="the whole term from the contract's start, renewed")
    ended_on: date | None = Field(default=None, description="the last day served, when it ended otherwise")
    terminated: bool = False


class UpdateSubscription(BillingCall):
    """Amend to exactly `lines` from `effective`, prorated (see BillingSystem.update_subscription)."""

    subscription_id: str
    lines: list[DealLine]
    price_ids: dict[str, str]
    effective: datetime
    idempotency_key: str


class InvoiceProrations(BillingCall):
    """Bill the subscription's pending prorations now (see BillingSystem.invoice_prorations)."""

    customer_id: str
    subscription_id: str
    idempotency_key: str


class SetTermEnd(BillingCall):
    subscription_id: str
    end: datetime | None = Field(description="a period end; None: the subscription never ends by itself")
    idempotency_key: str


class IssueCreditNote(BillingCall):
    credit: CreditNote
    idempotency_key: str


class PostCreditNote(ErpCall):
    credit: CreditNote
    invoice_erp_id: str
    customer_erp_id: str
    billing_system: str = Field(
        default=DEFAULT_VENDORS.billing, description="whose id in external_refs becomes the ERP's external id"
    )


class QuoteTax(BaseModel):
    request: TaxRequest


class TaxDocument(BaseModel):
    company_code: str
    document_code: str


class UpsertErpCustomer(ErpCall):
    customer: Customer
    legal_entity: LegalEntity
    currency: str


class PostInvoice(ErpCall):
    invoice: Invoice
    customer_erp_id: str
    billing_system: str = Field(
        default=DEFAULT_VENDORS.billing, description="whose id in external_refs becomes the ERP's external id"
    )


class ApplyPayment(ErpCall):
    payment: Payment
    customer_erp_id: str
    invoice_erp_id: str
    billing_system: str = Field(
        default=DEFAULT_VENDORS.billing, description="whose id in external_refs becomes the ERP's external id"
    )
    legal_entity: str | None = Field(default=None, description="the invoice's entity; None: recorded without it")


class PostJournal(ErpCall):
    entry: JournalEntry


class RevenueLedgerRequest(ErpCall):
    legal_entity: str


class PostRecognition(ErpCall):
    """A month's recognition journal (canonical.revenue.recognition_entry): posted once, found on a re-run."""

    entry: JournalEntry


class RefundableInvoiceOf(BillingCall):
    invoice_id: str


class CreditNoteRefundOf(BillingCall):
    credit_note_id: str


class ErpInvoiceOf(ErpCall):
    billing_invoice_id: str
    legal_entity: str | None = Field(default=None, description="the invoice's entity; None: recorded without it")


class RefundCustomer(ErpCall):
    refund: CustomerRefund
    legal_entity: str | None = Field(default=None, description="the invoice's entity; None: recorded without it")


class PostCreditMemo(ErpCall):
    invoice: Invoice
    invoice_erp_id: str
    customer_erp_id: str
    billing_system: str = Field(
        default=DEFAULT_VENDORS.billing, description="whose id in external_refs becomes the ERP's external id"
    )


# ---- reconciliation and the missed-trigger sweep ------------------------------------------------------------


class ReadCrm(CrmCall):
    """Closed-won deals modified since `since`, with their accounts and the golden customers' other accounts."""

    since: datetime


class ReadSagas(BaseModel):
    crm: str
    since: datetime
    deal_ids: list[str]


class ReadBilling(BillingCall):
    since: datetime
    golden_ids: list[str]


class ReadTax(BaseModel):
    since: date
    company_codes: list[str]


class ReadErp(ErpCall):
    since: date
    customer_external_ids: list[str] = Field(description="{golden id}-{legal entity} of the window's customers")


class CompareSnapshots(BaseModel):
    snapshots: Snapshots
    crm: str
    stuck_after: timedelta
    repair_requested: bool


class RepairMismatch(BaseModel):
    mismatch: Mismatch


class ClosedWonSince(CrmCall):
    since: datetime


class StartSagas(BaseModel):
    crm: str
    deal_ids: list[str]


class SagaStart(BaseModel):
    """What starting one deal's saga did: started, found it (running or finished), or refused the deal."""

    deal_id: str
    workflow_id: str
    outcome: str = Field(pattern="^(started|exists|refused)$")
    detail: str


class AdvanceWatermark(BaseModel):
    name: str
    value: datetime


class ReadContracts(CrmCall):
    """The CRM contracts of billing's c2c subscriptions (and of their deals)."""

    subscription_ids: list[str]
    deal_ids: list[str] = Field(default_factory=list)


class ReportUsage(BillingCall):
    report: UsageReport
    idempotency_key: str
