"""The vocabulary of a reconciliation's findings (kinds, the Mismatch model, the join index) and the checks of
one billing invoice (a period) that the deal-level and the period-level comparisons share. Pure."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from enum import StrEnum

from pydantic import BaseModel, Field

from canonical import Money, ids
from canonical.records import (
    BillingInvoice,
    BillingSubscription,
    CrmContract,
    ErpCreditMemo,
    ErpInvoice,
    Snapshots,
    TaxDocument,
)


class MismatchKind(StrEnum):
    MISSING_SAGA = "missing_saga"  # a closed-won deal no saga was started for (a lost trigger)
    STUCK = "stuck"  # a saga that stopped moving: parked as `unavailable`, or running too long outside a wait
    SAGA_FAILED = "saga_failed"  # a saga that ended without completing or cancelling (failed, terminated)
    MISSING_IN_BILLING = "missing_in_billing"  # completed saga, but no subscription / paid invoice in billing
    MISSING_IN_ERP = "missing_in_erp"  # completed saga, but the billing invoice is not in the ERP
    MISSING_TAX_DOCUMENT = "missing_tax_document"  # no committed tax document for the invoice
    AMOUNT_DIFFERS = "amount_differs"  # CRM, billing, tax engine or ERP disagree on an amount
    PAYMENT_UNAPPLIED = "payment_unapplied"  # billing was paid, the ERP has not applied that payment in full
    DUPLICATE = "duplicate"  # more than one subscription, invoice or customer where there must be one
    MISSING_CREDIT_MEMO = "missing_credit_memo"  # a c2c credit note in billing with no credit memo in the ERP
    CREDIT_MEMO_DIFFERS = "credit_memo_differs"  # the ERP credit memo's total, currency or invoice is not billing's
    MISSING_CONTRACT = "missing_contract"  # a c2c subscription (past the grace) with no CRM contract
    CONTRACT_NOT_ENDED = "contract_not_ended"  # ended in billing, the CRM contract Activated past today
    CONTRACT_END_DIFFERS = "contract_end_differs"  # the contract's EndDate is not the last day billing serves
    DEFERRED_REVENUE_DIFFERS = "deferred_revenue_differs"  # ERP deferred revenue != invoiced - recognized
    USAGE_UNBILLED = "usage_unbilled"  # usage c2c accepted that no invoice bills (never reported, or its period missed)
    USAGE_BILLED_DIFFERS = "usage_billed_differs"  # a period's metered line bills other usage than was reported
    MISSING_REFUND_IN_ERP = "missing_refund_in_erp"  # billing gave money back on a c2c invoice, the ERP has no refund
    REFUND_DIFFERS = "refund_differs"  # the ERP customer refund's amount or currency is not billing's refund's


class RepairAction(StrEnum):
    START_SAGA = "start_saga"  # the trigger's own path: validate the deal, start c2c:{crm}:{deal} (idempotent)
    RESUME_SAGA = "resume_saga"  # the saga's `resume` signal: retry the parked stage with the same keys


class Mismatch(BaseModel):
    kind: MismatchKind
    system: str = Field(description="where the difference shows: c2c, or the vendor (the entity's, for its ERP)")
    subject: str = Field(description="the deal id, or the golden customer id for customer-level findings")
    deal_id: str | None = None
    saga_id: str | None = Field(default=None, description="the saga's workflow id")
    expected: str
    found: str
    repair: RepairAction | None = Field(default=None, description="set only when an automatic repair is safe")
    subscription_id: str | None = Field(default=None, description="the billing subscription")
    invoice_id: str | None = Field(default=None, description="the billing invoice (the period) it is about")
    credit_note_id: str | None = Field(default=None, description="the billing credit note it is about")
    erp_id: str | None = Field(default=None, description="the ERP record found (invoice, payment or credit memo)")
    contract_id: str | None = Field(default=None, description="the CRM contract")
    refund_id: str | None = Field(default=None, description="billing's refund (a chargeback: the dispute) id")

    @property
    def record(self) -> str | None:
        """The one record the finding is about, below the deal (a period's invoice, a credit note, ...)."""
        return self.refund_id or self.credit_note_id or self.invoice_id or self.contract_id or self.subscription_id

    @property
    def key(self) -> str:
        """Identifies the finding across runs (for reports and repairs)."""
        base = f"{self.kind}:{self.system}:{self.subject}"
        return f"{base}:{self.record}" if self.record else base


# A running saga in these stages is waiting by design (for finance, a payment or the dunning calendar).
WAITING_STAGES = frozenset({"needs_attention", "settle", "dunning"})
ENDED_OK = frozenset({"completed", "cancelled"})
NOT_ISSUED = frozenset({"draft", "void"})
# Invoices billing makes for a period after the first (or mid-period), never the saga's own first invoice.
LATER_PERIOD_REASONS = frozenset({"subscription_cycle", "subscription_update", "subscription_threshold"})
CONTRACT_ACTIVATED = "Activated"
SUBSCRIPTION_ENDED = "canceled"
# A c2c subscription's lifecycle writes its CRM contract once the first period is applied: allow this long.
CONTRACT_AFTER = timedelta(hours=24)


def money(amount: int, currency: str) -> str:
    try:
        return str(Money(amount=amount, currency=currency.upper()))
    except ValueError:
        return f"{currency.upper()} {amount} (minor units)"


class Index:
    """The snapshots keyed by the join keys compare needs."""

    def __init__(self, snap: Snapshots) -> None:
        self.snap = snap
        self.sagas = {saga.deal_id: saga for saga in snap.sagas.sagas}
        self.subscriptions: dict[str, list[BillingSubscription]] = defaultdict(list)
        for subscription in snap.billing.subscriptions:
            if subscription.deal_id:
                self.subscriptions[subscription.deal_id].append(subscription)
        self.invoices_by_subscription: dict[str, list[BillingInvoice]] = defaultdict(list)
        self.invoices_by_saga: dict[str, list[BillingInvoice]] = defaultdict(list)
        for invoice in snap.billing.invoices:
            if invoice.subscription_id:
                self.invoices_by_subscription[invoice.subscription_id].append(invoice)
            if invoice.saga_id:
                self.invoices_by_saga[invoice.saga_id].append(invoice)
        self.tax = {doc.code: doc for doc in snap.tax.documents}
        self.erp_by_external: dict[str, list[ErpInvoice]] = defaultdict(list)
        self.erp_by_reference: dict[str, list[ErpInvoice]] = defaultdict(list)
        for erp_invoice in snap.erp.invoices:
            if erp_invoice.external_id:
                self.erp_by_external[erp_invoice.external_id].append(erp_invoice)
            if erp_invoice.reference:
                self.erp_by_reference[erp_invoice.reference].append(erp_invoice)
        self.erp_payments = {p.external_id: p for p in snap.erp.payments if p.external_id}
        self.subscriptions_by_id = {s.subscription_id: s for s in snap.billing.subscriptions}
        self.invoices_by_id = {i.invoice_id: i for i in snap.billing.invoices}
        self.credit_memos: dict[str, list[ErpCreditMemo]] = defaultdict(list)
        for memo in snap.erp.credit_memos:
            if memo.external_id:
                self.credit_memos[memo.external_id].append(memo)
        self.contracts_by_subscription: dict[str, CrmContract] = {}
        self.contracts_by_deal: dict[str, CrmContract] = {}
        for contract in sorted(snap.crm.contracts or [], key=lambda c: c.contract_id):
            if contract.subscription_id:
                self.contracts_by_subscription.setdefault(contract.subscription_id, contract)
            if contract.deal_id:
                self.contracts_by_deal.setdefault(contract.deal_id, contract)

    def tax_system(self, invoice: BillingInvoice, document: TaxDocument | None = None) -> str:
        """The vendor of the tax engine the invoice's legal entity is configured with (the entity: the invoice's,
        else the company code of its tax document)."""
        return self.snap.tax.system_of(invoice.legal_entity or (document.company_code if document else None))

    def erp_system(self, invoice: BillingInvoice | None) -> str:
        """The vendor of the ERP the invoice's legal entity books in."""
        return self.snap.erp.system_of(invoice.legal_entity if invoice else None)

    def deal_of(self, invoice: BillingInvoice) -> str | None:
        """The deal of a c2c invoice (its subscription's metadata, else the workflow id the invoice names); None
        for an invoice c2c did not make."""
        subscription = self.subscriptions_by_id.get(invoice.subscription_id or "")
        if subscription is not None and subscription.deal_id:
            return subscription.deal_id
        return deal_of_workflow(invoice.saga_id)

    def contract_of(self, subscription: BillingSubscription) -> CrmContract | None:
        found = self.contracts_by_subscription.get(subscription.subscription_id)
        if found is None and subscription.deal_id:
            found = self.contracts_by_deal.get(subscription.deal_id)
        return found

    def invoices_of(self, deal_id: str, saga_id: str) -> list[BillingInvoice]:
        """The deal's billing invoices: those of its subscriptions, and any the saga marked as its own."""
        found = {
            i.invoice_id: i
            for s in self.subscriptions[deal_id]
            for i in self.invoices_by_subscription[s.subscription_id]
        }
        found.update({i.invoice_id: i for i in self.invoices_by_saga[saga_id]})
        return sorted(found.values(), key=lambda invoice: (invoice.created, invoice.invoice_id))

    def erp_invoices_of(self, invoice: BillingInvoice) -> list[ErpInvoice]:
        found = {e.internal_id: e for e in self.erp_by_external[invoice.invoice_id]}
        if invoice.number:
            found.update({e.internal_id: e for e in self.erp_by_reference[invoice.number]})
        return sorted(
            found.values(),
            key=lambda erp_invoice: int(erp_invoice.internal_id) if erp_invoice.internal_id.isdigit() else 0,
        )


def deal_of_workflow(workflow_id: str | None) -> str | None:
    """The deal of a saga or lifecycle workflow id; None for anything else."""
    if not workflow_id:
        return None
    for parse in (ids.parse_subscription_id, ids.parse_saga_id):
        try:
            return parse(workflow_id)[1]
        except ValueError:
            continue
    return None


def is_later_period(invoice: BillingInvoice, saga_id: str) -> bool:
    """Billed by the subscription's lifecycle (or by billing mid-term), not by the deal's saga."""
    if invoice.billing_reason in LATER_PERIOD_REASONS:
        return True
    return invoice.saga_id is not None and invoice.saga_id != saga_id


class Finding:
    """Collects the mismatches of one deal (or of one of its subscription's records)."""

    def __init__(self, deal_id: str, saga_id: str, into: list[Mismatch], *, subscription_id: str | None = None) -> None:
        self.deal_id, self.saga_id, self.into, self.subscription_id = deal_id, saga_id, into, subscription_id

    def add(
        self,
        kind: MismatchKind,
        system: str,
        expected: str,
        found: str,
        repair: RepairAction | None = None,
        *,
        invoice_id: str | None = None,
        credit_note_id: str | None = None,
        erp_id: str | None = None,
        contract_id: str | None = None,
    ) -> None:
        self.into.append(
            Mismatch(
                kind=kind,
                system=system,
                subject=self.deal_id,
                deal_id=self.deal_id,
                saga_id=self.saga_id,
                expected=expected,
                found=found,
                repair=repair,
                subscription_id=self.subscription_id,
                invoice_id=invoice_id,
                credit_note_id=credit_note_id,
                erp_id=erp_id,
                contract_id=contract_id,
            )
        )


def check_invoice(finding: Finding, index: Index, invoice: BillingInvoice, *, payment: bool) -> None:
    """One issued invoice (a period): its tax document, its ERP invoice and, when `payment`, its payment applied."""
    check_tax(finding, index, invoice)
    erp_invoice = check_erp_invoice(finding, index, invoice)
    if payment:
        check_payment(finding, index, invoice, erp_invoice)


def check_tax(finding: Finding, index: Index, invoice: BillingInvoice) -> None:
    code = invoice.tax_document_code
    if code is None:
        if invoice.tax:
            finding.add(
                MismatchKind.MISSING_TAX_DOCUMENT,
                index.tax_system(invoice),
                "a committed tax document",
                "no document code",
                invoice_id=invoice.invoice_id,
            )
        return
    document = index.tax.get(code)
    if document is None or document.status != "Committed":
        found = "none" if document is None else document.status
        finding.add(
            MismatchKind.MISSING_TAX_DOCUMENT,
            index.tax_system(invoice, document),
            f"committed document {code}",
            found,
            invoice_id=invoice.invoice_id,
        )
        return
    if document.total_tax != invoice.tax or document.currency.upper() != invoice.currency.upper():
        finding.add(
            MismatchKind.AMOUNT_DIFFERS,
            index.tax_system(invoice, document),
            f"tax {money(invoice.tax, invoice.currency)} (billing)",
            f"{money(document.total_tax, document.currency)} on {code}",
            invoice_id=invoice.invoice_id,
        )


def check_erp_invoice(finding: Finding, index: Index, invoice: BillingInvoice) -> ErpInvoice | None:
    candidates = index.erp_invoices_of(invoice)
    if len(candidates) > 1:
        listed = ", ".join(e.internal_id for e in candidates)
        finding.add(
            MismatchKind.DUPLICATE,
            index.erp_system(invoice),
            f"1 ERP invoice for {invoice.invoice_id}",
            f"{len(candidates)}: {listed}",
            invoice_id=invoice.invoice_id,
        )
    erp_invoice = next((e for e in candidates if e.external_id == invoice.invoice_id), None)
    if erp_invoice is None:
        finding.add(
            MismatchKind.MISSING_IN_ERP,
            index.erp_system(invoice),
            f"ERP invoice with external id {invoice.invoice_id}",
            "none",
            invoice_id=invoice.invoice_id,
        )
        return None
    if erp_invoice.total != invoice.total or erp_invoice.currency.upper() != invoice.currency.upper():
        finding.add(
            MismatchKind.AMOUNT_DIFFERS,
            index.erp_system(invoice),
            f"{money(invoice.total, invoice.currency)} (billing total)",
            f"{money(erp_invoice.total, erp_invoice.currency)} on ERP invoice {erp_invoice.internal_id}",
            invoice_id=invoice.invoice_id,
            erp_id=erp_invoice.internal_id,
        )
    return erp_invoice


def check_payment(finding: Finding, index: Index, invoice: BillingInvoice, erp_invoice: ErpInvoice | None) -> None:
    if invoice.amount_paid <= 0 or invoice.payment_id is None:
        return  # settled by credit notes, nothing was charged
    payment = index.erp_payments.get(invoice.payment_id)
    expected = f"{money(invoice.amount_paid, invoice.currency)} applied from {invoice.payment_id}"
    if payment is None:
        finding.add(
            MismatchKind.PAYMENT_UNAPPLIED,
            index.erp_system(invoice),
            expected,
            "no ERP payment",
            invoice_id=invoice.invoice_id,
        )
        return
    if erp_invoice is None:
        return  # missing_in_erp already says it; there is nothing to apply the payment to
    applied = payment.applied.get(erp_invoice.internal_id, 0)
    if applied < invoice.amount_paid:
        finding.add(
            MismatchKind.PAYMENT_UNAPPLIED,
            index.erp_system(invoice),
            expected,
            f"{money(applied, payment.currency)} applied to ERP invoice {erp_invoice.internal_id}",
            invoice_id=invoice.invoice_id,
            erp_id=payment.internal_id,
        )
