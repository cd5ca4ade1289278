"""One Protocol per role; activities depend on these, a factory picks the vendor from settings.

Every write takes an `idempotency_key` (`{workflow_id}:{step}`) or upserts by an external id that the
caller derives deterministically, so a retried activity never creates a second record.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Protocol

from canonical import (
    DEFAULT_VENDORS,
    AccountSnapshot,
    Amendment,
    Contract,
    CreditNote,
    Customer,
    Deal,
    DealLine,
    Invoice,
    JournalEntry,
    LegalEntity,
    Money,
    Payment,
    Price,
    RenewalInvoice,
    Subscription,
    SubscriptionEnd,
    TaxQuote,
    TaxRequest,
)
from canonical.records import (
    BillingCreditNote,
    BillingCustomer,
    BillingInvoice,
    BillingSubscription,
    CrmAccount,
    CrmContract,
    CrmDeal,
    ErpCreditMemo,
    ErpCustomer,
    ErpInvoice,
    ErpPayment,
    TaxDocument,
)
from canonical.refunds import BillingDispute, BillingRefund, CustomerRefund, ErpInvoiceRef, ErpRefund, RefundableInvoice
from canonical.revenue import PostedRecognition, RevenueLedger
from canonical.usage import ReportedUsage, UsageReport

if TYPE_CHECKING:  # the webhook's notice shape; a type only, so the roles stay free of vendor code at run time
    from connectors.stripe.webhooks import PaymentNotice


class CrmSystem(Protocol):
    system: str

    async def get_deal(self, deal_id: str) -> Deal:
        """The opportunity with its account (as Customer, external_refs[system] = account id) and lines.

        Raises BusinessRuleError(code='deal_not_found') for an unknown id."""
        ...

    async def get_account(self, account_id: str) -> AccountSnapshot:
        """The CRM account as a Customer (external_refs[system] = account id) and the time of its last change.

        Raises BusinessRuleError(code='account_not_found') / 'invalid_account'."""
        ...

    async def write_back_account(self, account_id: str, refs: dict[str, str]) -> None:
        """Store our ids on the CRM account; `refs` keys: golden_id, billing_id, erp_id. Idempotent."""
        ...

    async def upsert_contract(self, deal: Deal, subscription_id: str, start: date, term_months: int) -> str:
        """The CRM contract of the deal's subscription, upserted by the deal's id (one per deal), activated, on the
        deal's account (`deal.customer.external_refs[system]`), from `start` for `term_months`, with billing's
        subscription id; its CRM id. Idempotent: a repeat finds the same contract.

        Amendments, renewals and cancellations won in the CRM reference it."""
        ...

    async def update_contract(
        self, deal_id: str, *, term_months: int | None = None, ended_on: date | None = None, terminated: bool = False
    ) -> None:
        """Move the deal's contract on: a renewed term (total months from its start), the last day a subscription
        that ended early serves, and its end. Repeatable. PermanentError 'contract_not_found' without one."""
        ...

    async def get_amendment(self, deal_id: str) -> Amendment | None:
        """The opportunity as a change to a contract c2c made, or None when it references no contract (a new deal).

        Raises BusinessRuleError 'deal_not_found', 'deal_not_closed' (a contract is referenced but the opportunity
        is not won), 'contract_not_found' (no such contract, or one c2c did not make) or 'invalid_amendment'
        (naming the field: an unknown type, a fractional quantity, a price the currency cannot hold, a missing
        date or renewal term ...)."""
        ...

    # reads for reconciliation and the missed-trigger sweep

    async def closed_won_deals(self, modified_since: datetime) -> list[CrmDeal]:
        """Closed-won deals last modified at or after `modified_since` (closing a deal modifies it)."""
        ...

    async def accounts(self, account_ids: list[str], golden_ids: list[str]) -> list[CrmAccount]:
        """These accounts plus every account linked to these golden customers, each once."""
        ...

    async def contracts_of(self, subscription_ids: list[str], deal_ids: list[str]) -> list[CrmContract]:
        """The contracts c2c wrote for these billing subscriptions or deals (its subscription / deal fields), each
        once."""
        ...


class BillingSystem(Protocol):
    system: str

    async def create_customer(self, golden_id: str, legal_name: str, *, idempotency_key: str) -> str:
        """The one billing customer of a golden customer: found by golden id, else created.

        Sagas of one customer run concurrently: the caller derives the key from the golden id and
        passes the golden record's name, so concurrent calls send the same request and get one customer."""
        ...

    async def upsert_customer(self, customer: Customer, *, idempotency_key: str) -> str:
        """Update the billing customer in `customer.external_refs` (else create it); returns its id.

        `customer.golden_id` is stored in the customer's metadata."""
        ...

    async def ensure_price(self, price: Price, product_name: str, *, idempotency_key: str) -> str:
        """The billing price id for `price.lookup_key`, creating product and price when missing."""
        ...

    async def create_subscription(
        self, customer_id: str, contract: Contract, price_ids: dict[str, str], *, idempotency_key: str
    ) -> Subscription:
        """Subscription for the contract's lines; `price_ids` maps product code -> billing price id."""
        ...

    async def create_invoice(
        self, customer_id: str, subscription_id: str, invoice: Invoice, *, idempotency_key: str
    ) -> Invoice:
        """Complete the subscription's first (draft) invoice: check it bills the canonical lines, add one tax
        line and our metadata; returns it with external_refs set. `invoice_mismatch` if it bills anything else."""
        ...

    async def finalize_invoice(self, invoice_id: str, *, idempotency_key: str) -> Invoice: ...

    async def renewal_invoices(self, subscription_id: str) -> list[RenewalInvoice]:
        """The invoices billing made at period ends for later periods of the subscription, oldest first. Read-only."""
        ...

    async def subscription_end(self, subscription_id: str) -> SubscriptionEnd | None:
        """When billing ended the subscription, if it has (else None). Read-only."""
        ...

    async def renewal_invoice(self, invoice_id: str) -> RenewalInvoice | None:
        """That invoice as billing has it now when it is a renewal, else None. Read-only."""
        ...

    async def complete_renewal_invoice(
        self, customer_id: str, invoice_id: str, invoice: Invoice, *, idempotency_key: str
    ) -> Invoice:
        """Hold a renewal draft, check it bills the canonical lines, add the tax line and our metadata.

        Already finalized: returned as it is when its tax matches, else BusinessRuleError
        'renewal_finalized_without_tax'."""
        ...

    async def update_subscription(
        self,
        subscription_id: str,
        lines: list[DealLine],
        price_ids: dict[str, str],
        effective: datetime,
        *,
        idempotency_key: str,
    ) -> None:
        """Amend from `effective` (inside the current period) to exactly `lines` (the whole new line set, each
        with its new quantity and price; an item whose product is not on it is removed, one whose price changed
        moves to `price_ids[product_code]`). Prorated as billing does (Stripe: `create_prorations` at
        `proration_date` = effective), the prorations billed on the next period's invoice.

        Setting absolute quantities makes a repeat (even one whose key billing forgot) change nothing more."""
        ...

    async def invoice_prorations(
        self, customer_id: str, subscription_id: str, *, idempotency_key: str
    ) -> RenewalInvoice | None:
        """Bill the subscription's pending prorations now, on an invoice of their own (a draft, completed, taxed
        and collected like a renewal invoice), when they net to a charge; None when nothing is pending or they net
        to a credit (it stays for the next period's invoice). A repeat with the same key finds the same invoice."""
        ...

    async def set_term_end(self, subscription_id: str, end: datetime | None, *, idempotency_key: str) -> None:
        """The subscription ends at `end` (a period end: no proration), or never (None). A renewal moves it on; a
        cancellation at period end sets it to the current period's end. Repeatable."""
        ...

    async def issue_credit_note(self, credit: CreditNote, *, idempotency_key: str) -> CreditNote:
        """A credit note on `credit.invoice_id` for `credit.total` (refunded where the invoice is paid, else taken
        off what is due); returned with external_refs[system] = its id. Exactly once, also after billing forgot
        the key. BusinessRuleError 'credit_exceeds_invoice' when more than the invoice's remaining total."""
        ...

    async def collect_payment(self, invoice_id: str, *, idempotency_key: str) -> Payment:
        """Charge the customer's default payment method for the invoice.

        A decline raises BusinessRuleError(code='card_declined' or the vendor's decline code)."""
        ...

    async def payment_for_invoice(self, invoice_id: str) -> Payment:
        """The invoice's payment as the billing system reports it now: SUCCEEDED (with fee), PENDING or FAILED.

        Read-only. An asynchronous method (bank debit) makes `collect_payment` return PENDING; when a webhook
        says the payment changed, this reads the outcome (the webhook notifies, the API is the truth)."""
        ...

    async def complete_notice(self, notice: PaymentNotice) -> PaymentNotice:
        """A webhook's payment notice with what its event did not carry (invoice, payment intent, saga id) read
        from the billing API; fields stay None when billing has none. Read-only."""
        ...

    async def send_invoice(self, invoice_id: str, *, idempotency_key: str) -> None:
        """Send the finalized invoice to the customer: the pivot (undoing it afterwards needs `credit_invoice`).

        Already sent (same key) or paid counts as done; a draft or void invoice raises PermanentError."""
        ...

    async def mark_uncollectible(self, invoice_id: str, *, idempotency_key: str) -> None:
        """Write an unpaid invoice off as bad debt at the end of dunning (it can still be paid later).

        Repeatable; a paid invoice raises BusinessRuleError(code='invoice_paid'), a void one PermanentError."""
        ...

    async def credit_invoice(self, invoice_id: str, reason: str, *, idempotency_key: str) -> str | None:
        """Undo after the pivot: a credit note for all that is still due on an open/uncollectible invoice; its id.

        None when nothing is due or the invoice is a draft (void it instead) or void. Exactly once, even after the
        vendor forgot the key. A paid invoice raises BusinessRuleError(code='invoice_paid') (refunds are a finance
        decision); a payment still in flight BusinessRuleError(code='payment_processing')."""
        ...

    async def void_invoice(self, invoice_id: str, *, idempotency_key: str) -> None: ...

    async def cancel_subscription(self, subscription_id: str, *, idempotency_key: str) -> None: ...

    async def refund(self, payment_id: str, amount: Money | None, *, idempotency_key: str) -> str: ...

    async def create_credit_note(self, invoice_id: str, amount: Money, reason: str, *, idempotency_key: str) -> str:
        """A credit note for `amount` on a finalized invoice; its id. Exactly once per key."""
        ...

    # reads for reconciliation

    async def invoices_created_since(self, since: datetime) -> list[BillingInvoice]: ...

    async def subscriptions_created_since(self, since: datetime) -> list[BillingSubscription]:
        """Cancelled ones included."""
        ...

    async def customers_of(self, golden_ids: list[str]) -> list[BillingCustomer]:
        """Every billing customer of these golden customers (more than one per golden customer is a duplicate)."""
        ...

    async def subscriptions_by_id(self, subscription_ids: list[str]) -> list[BillingSubscription]:
        """These subscriptions (those billing does not know are left out)."""
        ...

    async def credit_notes_created_since(self, since: datetime) -> list[BillingCreditNote]: ...

    # refunds of paid invoices (workflows/refund.py)

    async def refundable_invoice(self, invoice_id: str) -> RefundableInvoice:
        """The invoice, what was paid and what was already given back on it. Read-only; PermanentError
        'resource_missing' for an unknown id."""
        ...

    async def credit_note_refund(self, credit_note_id: str) -> str | None:
        """The refund a credit note made (`refund_amount`), or None."""
        ...

    async def billing_refund(self, refund_id: str) -> BillingRefund:
        """A refund with its invoice and the credit note (and c2c key) that made it, if any."""
        ...

    async def refunds_of_charge(self, charge_id: str) -> list[BillingRefund]:
        """Every refund of a charge, oldest first (what a `charge.refunded` webhook says to look at)."""
        ...

    async def refunds_created_since(self, since: datetime) -> list[BillingRefund]:
        """Refunds created from `since` on (reconciliation)."""
        ...

    async def report_usage(self, report: UsageReport, *, idempotency_key: str) -> ReportedUsage:
        """Report a usage event to the meter of its usage-priced product, identified by its event id (counted once);
        in the period billing has open (a late one, whose period closed meanwhile, at that period's start)."""
        ...

    async def usage_of_period(self, event_name: str, customer_id: str, start: datetime, end: datetime) -> int:
        """The meter's usage for the customer over `[start, end)` as billing summarizes it. Read-only."""
        ...

    async def billing_dispute(self, dispute_id: str) -> BillingDispute:
        """A dispute of a charge, with the invoice the charge paid (what a `charge.dispute.created` webhook says
        to look at); PermanentError 'resource_missing' for an unknown id."""
        ...


class TaxEngine(Protocol):
    system: str

    async def quote(self, request: TaxRequest) -> TaxQuote:
        """Create-or-adjust an uncommitted document `request.document_code`.

        An address the engine cannot place raises BusinessRuleError(code='invalid_address')."""
        ...

    async def commit(self, company_code: str, document_code: str) -> None: ...

    async def void(self, company_code: str, document_code: str) -> None:
        """Void a saved or committed document; one already voided or never created counts as done."""
        ...

    async def documents_since(self, company_codes: list[str], since: date) -> list[TaxDocument]:
        """Every document of these companies dated on or after `since` (for reconciliation)."""
        ...


class Erp(Protocol):
    system: str

    async def upsert_customer(self, customer: Customer, entity: LegalEntity, currency: str) -> str:
        """Upsert by external id = customer.golden_id; returns the ERP internal id."""
        ...

    async def update_customer(self, customer: Customer, entity: LegalEntity) -> str:
        """Name, address and tax id of the existing customer `{golden_id}-{entity}`; subsidiary and currency stay.

        Raises PermanentError(code='customer_not_found') when there is none (onboarding creates it)."""
        ...

    async def post_invoice(
        self, invoice: Invoice, customer_erp_id: str, *, billing_system: str = DEFAULT_VENDORS.billing
    ) -> str:
        """Upsert the AR invoice by external id = invoice.external_refs[billing_system]; returns internal id."""
        ...

    async def apply_payment(
        self,
        payment: Payment,
        customer_erp_id: str,
        invoice_erp_id: str,
        *,
        billing_system: str = DEFAULT_VENDORS.billing,
        legal_entity: str | None = None,
    ) -> str:
        """Upsert a customer payment by external id = payment.external_refs[billing_system], applied to the invoice.
        `legal_entity`: the invoice's (an ERP with a book per entity looks there; None: an input recorded without
        it)."""
        ...

    async def post_journal_entry(self, entry: JournalEntry) -> str:
        """Upsert by external id = entry.external_id; returns internal id. Dated entry.date, or the first day of
        the next open period when that one is closed (BusinessRuleError 'no_open_period' after 24 months)."""
        ...

    async def post_credit_memo(
        self,
        invoice: Invoice,
        invoice_erp_id: str,
        customer_erp_id: str,
        *,
        billing_system: str = DEFAULT_VENDORS.billing,
    ) -> str:
        """Reverse a posted invoice (external id = 'cm-' + its id in `billing_system`); returns internal id.

        Dated like the ERP's invoice, or in the next open period when that one is closed; a retry finds a memo
        whose answer was lost. PermanentError 'invoice_not_found' / 'invoice_mismatch' writes nothing."""
        ...

    async def post_credit_note(
        self,
        credit: CreditNote,
        invoice_erp_id: str,
        customer_erp_id: str,
        *,
        billing_system: str = DEFAULT_VENDORS.billing,
    ) -> str:
        """Post billing's credit note as a credit memo (external id = credit.external_refs[billing_system]) created
        from the ERP invoice and applied to what it still has due (the rest stays unapplied, for a refund: all of it
        on a paid invoice); its lines, then one tax line when it credits tax. Dated like the credit, or on the first
        day of the next open period (BusinessRuleError 'no_open_period' after 24 months). Returns the internal id.

        A retry upserts the same memo, and finds one whose answer was lost. PermanentError 'invoice_not_found',
        'invoice_mismatch' (`invoice_erp_id` is another billing invoice than credit.invoice_id) or
        'currency_mismatch' (the credit is not in the invoice's currency) writes nothing."""
        ...

    # reads for reconciliation

    async def invoices_modified_since(self, since: date) -> list[ErpInvoice]: ...

    async def payments_modified_since(self, since: date) -> list[ErpPayment]: ...

    async def customers_by_external_id(self, external_ids: list[str]) -> list[ErpCustomer]:
        """The customers `{golden}-{entity}` that exist."""
        ...

    async def credit_memos_modified_since(self, since: date) -> list[ErpCreditMemo]:
        """Credit memos modified on or after the day `since` (reversals and billing's credit notes alike)."""
        ...

    # revenue recognition (canonical/revenue.py)

    async def revenue_ledger(self, legal_entity: str) -> RevenueLedger:
        """The entity's deferred revenue in the books: every line posted to it (invoices +, credit memos -, with
        their service periods), the recognition journals and the account's balance per currency."""
        ...

    async def recognition(self, legal_entity: str, external_id: str) -> PostedRecognition | None:
        """The recognition journal with this external id, or None (check before posting)."""
        ...

    async def erp_invoice_of(self, billing_invoice_id: str, legal_entity: str | None = None) -> ErpInvoiceRef:
        """The ERP invoice of a billing invoice (external id); PermanentError 'invoice_not_found'."""
        ...

    async def refund_customer(self, refund: CustomerRefund, legal_entity: str | None = None) -> str:
        """The customer refund paying `refund.amount` out of its credit memo, upserted by billing's refund id."""
        ...

    async def customer_refunds_modified_since(self, since: date) -> list[ErpRefund]:
        """Customer refunds modified on or after the day `since` (reconciliation)."""
        ...
