"""The comparison itself: snapshots of every system in, mismatches out. Pure (no I/O, no clock), so it is
unit-tested on hand-made snapshots and gives the same answer however often it runs.

The population is the CRM's closed-won deals of the window. Each deal is joined to the other systems by the
business keys the saga writes: workflow id `c2c:{crm}:{deal}`; billing subscription metadata `deal_id`; the
subscription's invoices; ERP invoice external id = billing invoice id (and `otherRefNum` = its number); ERP
payment external id = billing payment id; tax document code = the invoice's `tax_document_code` metadata.
What each mismatch kind means, and which ones repair may act on, is in docs/reconciliation.md.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import timedelta
from enum import StrEnum

from pydantic import BaseModel, Field

from canonical import Money, ids
from canonical.records import (
    BillingInvoice,
    BillingSubscription,
    CrmDeal,
    ErpInvoice,
    SagaRecord,
    Snapshots,
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


class RepairAction(StrEnum):
    START_SAGA = "start_saga"  # the trigger's own path: validate the deal, start c2c:{crm}:{deal} (idempotent)
    RESUME_SAGA = "resume_saga"  # the saga's `resume` signal: retry the parked stage with the same keys


class Mismatch(BaseModel):
    kind: MismatchKind
    system: str = Field(description="where the difference shows: c2c, salesforce, stripe, avatax or netsuite")
    subject: str = Field(description="the deal id, or the golden customer id for customer-level findings")
    deal_id: str | None = None
    saga_id: str | None = Field(default=None, description="the saga's workflow id")
    expected: str
    found: str
    repair: RepairAction | None = Field(default=None, description="set only when an automatic repair is safe")

    @property
    def key(self) -> str:
        """Identifies the finding across runs (for reports and repairs)."""
        return f"{self.kind}:{self.system}:{self.subject}"


# A running saga in these stages is waiting by design (for finance, a payment or the dunning calendar).
WAITING_STAGES = frozenset({"needs_attention", "settle", "dunning"})
ENDED_OK = frozenset({"completed", "cancelled"})
NOT_ISSUED = frozenset({"draft", "void"})


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


def compare(snap: Snapshots, *, crm: str = "salesforce", stuck_after: timedelta = timedelta(hours=2)) -> list[Mismatch]:
    """Every mismatch of the window, in a stable order (by deal, then kind)."""
    index = Index(snap)
    found: list[Mismatch] = []
    for deal in sorted(snap.crm.deals, key=lambda d: d.deal_id):
        saga_id = ids.saga_id(crm, deal.deal_id)
        finding = Finding(deal, saga_id, found)
        saga = index.sagas.get(deal.deal_id)
        if saga is None:
            finding.add(
                MismatchKind.MISSING_SAGA, "c2c", "a saga for the closed-won deal", "none", RepairAction.START_SAGA
            )
            continue
        if not check_saga(finding, saga, snap, stuck_after):
            continue
        check_completed(finding, index)
    found.extend(duplicate_customers(snap))
    return found


class Finding:
    """Collects the mismatches of one deal."""

    def __init__(self, deal: CrmDeal, saga_id: str, into: list[Mismatch]) -> None:
        self.deal, self.saga_id, self.into = deal, saga_id, into

    def add(
        self, kind: MismatchKind, system: str, expected: str, found: str, repair: RepairAction | None = None
    ) -> None:
        self.into.append(
            Mismatch(
                kind=kind,
                system=system,
                subject=self.deal.deal_id,
                deal_id=self.deal.deal_id,
                saga_id=self.saga_id,
                expected=expected,
                found=found,
                repair=repair,
            )
        )


def check_saga(finding: Finding, saga: SagaRecord, snap: Snapshots, stuck_after: timedelta) -> bool:
    """Flag a saga that is stuck or ended badly; True when it completed, so the systems must agree."""
    if saga.running:
        if saga.stage == "needs_attention" and saga.exception == "unavailable":
            # Parked because a vendor stayed down past the retry policy: retrying with the same keys is safe.
            finding.add(MismatchKind.STUCK, "c2c", "saga moving", "parked: unavailable", RepairAction.RESUME_SAGA)
        elif saga.stage not in WAITING_STAGES and saga.started_at and snap.taken_at - saga.started_at > stuck_after:
            hours = (snap.taken_at - saga.started_at).total_seconds() / 3600
            finding.add(MismatchKind.STUCK, "c2c", f"done within {stuck_after}", f"in {saga.stage} after {hours:.1f} h")
        return False
    if saga.stage not in ENDED_OK:
        finding.add(MismatchKind.SAGA_FAILED, "c2c", "completed or cancelled", f"{saga.status} ({saga.stage})")
        return False
    return saga.stage == "completed"


def check_completed(finding: Finding, index: Index) -> None:
    """A completed saga: one subscription and one paid invoice in billing, a committed tax document with the same
    tax, the invoice in the ERP with the same total, the payment applied there in full."""
    deal = finding.deal
    subscriptions = index.subscriptions[deal.deal_id]
    live = [s for s in subscriptions if s.status != "canceled"]
    if not subscriptions:
        finding.add(MismatchKind.MISSING_IN_BILLING, "stripe", "1 subscription for the deal", "none")
        return
    if len(live) > 1:
        ids = ", ".join(s.subscription_id for s in live)
        finding.add(MismatchKind.DUPLICATE, "stripe", "1 subscription for the deal", f"{len(live)}: {ids}")
    invoices = index.invoices_of(deal.deal_id, finding.saga_id)
    issued = [i for i in invoices if i.status not in NOT_ISSUED]
    paid = [i for i in issued if i.status == "paid"]
    if not paid:
        statuses = ", ".join(f"{i.invoice_id} {i.status}" for i in invoices) or "none"
        finding.add(MismatchKind.MISSING_IN_BILLING, "stripe", "a paid invoice for the deal", statuses)
        return
    if len(issued) > 1:
        ids = ", ".join(i.invoice_id for i in issued)
        finding.add(MismatchKind.DUPLICATE, "stripe", "1 issued invoice for the deal", f"{len(issued)}: {ids}")
    invoice = next((i for i in paid if i.saga_id == finding.saga_id), paid[0])
    check_deal_amount(finding, invoice)
    check_tax(finding, index, invoice)
    erp_invoice = check_erp_invoice(finding, index, invoice)
    check_payment(finding, index, invoice, erp_invoice)


def check_deal_amount(finding: Finding, invoice: BillingInvoice) -> None:
    deal = finding.deal
    if deal.amount is None or deal.currency is None:
        return
    subtotal = invoice.total - invoice.tax
    if invoice.currency.upper() != deal.currency.upper() or subtotal != deal.amount:
        finding.add(
            MismatchKind.AMOUNT_DIFFERS,
            "stripe",
            f"{money(deal.amount, deal.currency)} before tax (CRM)",
            f"{money(subtotal, invoice.currency)} on {invoice.invoice_id}",
        )


def check_tax(finding: Finding, index: Index, invoice: BillingInvoice) -> None:
    code = invoice.tax_document_code
    if code is None:
        if invoice.tax:
            finding.add(MismatchKind.MISSING_TAX_DOCUMENT, "avatax", "a committed tax document", "no document code")
        return
    document = index.tax.get(code)
    if document is None or document.status != "Committed":
        found = "none" if document is None else document.status
        finding.add(MismatchKind.MISSING_TAX_DOCUMENT, "avatax", f"committed document {code}", found)
        return
    if document.total_tax != invoice.tax or document.currency.upper() != invoice.currency.upper():
        finding.add(
            MismatchKind.AMOUNT_DIFFERS,
            "avatax",
            f"tax {money(invoice.tax, invoice.currency)} (billing)",
            f"{money(document.total_tax, document.currency)} on {code}",
        )


def check_erp_invoice(finding: Finding, index: Index, invoice: BillingInvoice) -> ErpInvoice | None:
    candidates = index.erp_invoices_of(invoice)
    if len(candidates) > 1:
        ids = ", ".join(e.internal_id for e in candidates)
        finding.add(
            MismatchKind.DUPLICATE, "netsuite", f"1 ERP invoice for {invoice.invoice_id}", f"{len(candidates)}: {ids}"
        )
    erp_invoice = next((e for e in candidates if e.external_id == invoice.invoice_id), None)
    if erp_invoice is None:
        finding.add(
            MismatchKind.MISSING_IN_ERP, "netsuite", f"ERP invoice with external id {invoice.invoice_id}", "none"
        )
        return None
    if erp_invoice.total != invoice.total or erp_invoice.currency.upper() != invoice.currency.upper():
        finding.add(
            MismatchKind.AMOUNT_DIFFERS,
            "netsuite",
            f"{money(invoice.total, invoice.currency)} (billing total)",
            f"{money(erp_invoice.total, erp_invoice.currency)} on ERP invoice {erp_invoice.internal_id}",
        )
    return erp_invoice


def check_payment(finding: Finding, index: Index, invoice: BillingInvoice, erp_invoice: ErpInvoice | None) -> None:
    if invoice.amount_paid <= 0 or invoice.payment_id is None:
        return  # settled by credit notes, nothing was charged
    payment = index.erp_payments.get(invoice.payment_id)
    expected = f"{money(invoice.amount_paid, invoice.currency)} applied from {invoice.payment_id}"
    if payment is None:
        finding.add(MismatchKind.PAYMENT_UNAPPLIED, "netsuite", expected, "no ERP payment")
        return
    if erp_invoice is None:
        return  # missing_in_erp already says it; there is nothing to apply the payment to
    applied = payment.applied.get(erp_invoice.internal_id, 0)
    if applied < invoice.amount_paid:
        finding.add(
            MismatchKind.PAYMENT_UNAPPLIED,
            "netsuite",
            expected,
            f"{money(applied, payment.currency)} applied to ERP invoice {erp_invoice.internal_id}",
        )


def duplicate_customers(snap: Snapshots) -> Iterable[Mismatch]:
    """One billing customer per golden customer (the golden id is in the customer's metadata)."""
    by_golden: dict[str, list[str]] = defaultdict(list)
    for customer in snap.billing.customers:
        if customer.golden_id:
            by_golden[customer.golden_id].append(customer.customer_id)
    for golden_id, customer_ids in sorted(by_golden.items()):
        if len(set(customer_ids)) > 1:
            yield Mismatch(
                kind=MismatchKind.DUPLICATE,
                system="stripe",
                subject=golden_id,
                expected="1 billing customer for the golden customer",
                found=f"{len(set(customer_ids))}: {', '.join(sorted(set(customer_ids)))}",
            )
