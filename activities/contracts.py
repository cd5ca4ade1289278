"""Activity names and their input/output models: the only part of activities/ that workflows import.

Pure pydantic over canonical; no I/O, so the workflow sandbox can pass it through.
Each activity runs on the task queue of the system it calls: `{workflow queue}-{QUEUE}`.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from canonical import Contract, Customer, Invoice, JournalEntry, LegalEntity, Payment, Price, TaxRequest

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
    COLLECT_PAYMENT = "billing.collect_payment"
    VOID_INVOICE = "billing.void_invoice"
    CANCEL_SUBSCRIPTION = "billing.cancel_subscription"
    QUOTE_TAX = "tax.quote"
    COMMIT_TAX = "tax.commit"
    VOID_TAX = "tax.void"
    ERP_CUSTOMER = "erp.upsert_customer"
    POST_INVOICE = "erp.post_invoice"
    APPLY_PAYMENT = "erp.apply_payment"
    POST_JOURNAL = "erp.post_journal_entry"
    POST_CREDIT_MEMO = "erp.post_credit_memo"


class FetchDeal(BaseModel):
    deal_id: str


class WriteBack(BaseModel):
    account_id: str
    refs: dict[str, str]


class ResolveCustomer(BaseModel):
    crm: str
    customer: Customer


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


class CreateBillingCustomer(BaseModel):
    golden_id: str
    legal_name: str
    idempotency_key: str


class UpsertBillingCustomer(BaseModel):
    customer: Customer
    idempotency_key: str


class PriceRequest(BaseModel):
    price: Price
    product_name: str


class EnsurePrices(BaseModel):
    prices: list[PriceRequest]
    idempotency_key: str


class CreateSubscription(BaseModel):
    customer_id: str
    contract: Contract
    price_ids: dict[str, str]
    idempotency_key: str


class CreateInvoice(BaseModel):
    customer_id: str
    subscription_id: str
    invoice: Invoice
    idempotency_key: str


class InvoiceAction(BaseModel):
    """Finalize, collect or void one billing invoice."""

    invoice_id: str
    idempotency_key: str


class CancelSubscription(BaseModel):
    subscription_id: str
    idempotency_key: str


class QuoteTax(BaseModel):
    request: TaxRequest


class TaxDocument(BaseModel):
    company_code: str
    document_code: str


class UpsertErpCustomer(BaseModel):
    customer: Customer
    legal_entity: LegalEntity
    currency: str


class PostInvoice(BaseModel):
    invoice: Invoice
    customer_erp_id: str


class ApplyPayment(BaseModel):
    payment: Payment
    customer_erp_id: str
    invoice_erp_id: str


class PostJournal(BaseModel):
    entry: JournalEntry


class PostCreditMemo(BaseModel):
    invoice: Invoice
    invoice_erp_id: str
    customer_erp_id: str
