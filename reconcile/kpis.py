"""The integration KPIs, computed from the same snapshots as the mismatches (pure).

Definitions (also in docs/reconciliation.md):

- **Invoice posting latency**: for each billing invoice of a window deal that was finalized and has its ERP
  invoice (external id = billing invoice id), ERP `createdDate` minus billing `status_transitions.finalized_at`,
  both as the vendors stamped them (seconds; a negative difference from clock skew counts as 0). Reported as
  p50 and p95 (nearest rank) over those invoices.
- **Payment application success rate**: settled billing payments (a window deal's invoice that is `paid` with
  money received through a payment) whose ERP customer payment (external id = billing payment id) is applied to
  that invoice's ERP invoice for at least the amount paid, divided by all settled billing payments.
- **Customer master sync accuracy**: golden customers of the window's deals whose name, billing address and tax
  id agree in the CRM, billing and the ERP, divided by all of them. "Agree": one of the golden customer's CRM
  accounts (duplicates join one golden customer) has the same values as its billing customer and as each of its
  ERP customers (one per legal entity); compared case- and whitespace-insensitively, tax ids without punctuation.
- **Billing periods** per legal entity and currency: every issued invoice of a c2c subscription in the read (first
  and later periods) counted as billed, posted (its ERP invoice exists), paid through a payment, and applied (that
  payment applied in full in the ERP); c2c credit notes counted and summed, and those with their ERP credit memo.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict

from pydantic import BaseModel, Field, computed_field

from canonical import ids
from canonical.records import BillingInvoice, CustomerFields, Snapshots
from reconcile.findings import NOT_ISSUED, Index
from reconcile.periods import deal_of_key


class Latency(BaseModel):
    samples: int
    p50_seconds: float | None = None
    p95_seconds: float | None = None


class Rate(BaseModel):
    numerator: int
    denominator: int

    @computed_field  # type: ignore[prop-decorator]
    @property
    def rate(self) -> float | None:
        """numerator / denominator; None when there is nothing to measure."""
        return self.numerator / self.denominator if self.denominator else None


class CustomerDisagreement(BaseModel):
    golden_id: str
    fields: list[str] = Field(description="which of name / address / tax_id differ, or the system that lacks it")


class CustomerSync(Rate):
    disagreeing: list[CustomerDisagreement] = Field(default_factory=list)


class PeriodCounts(BaseModel):
    legal_entity: str = Field(description="the legal entity billing's metadata names, '?' when none")
    currency: str
    erp: str | None = Field(default=None, description="the vendor of the ERP the entity books in")
    billed: int = Field(default=0, description="issued invoices of c2c subscriptions (one per period)")
    posted: int = Field(default=0, description="of those, with an ERP invoice (external id = billing invoice id)")
    paid: int = Field(default=0, description="of those, paid through a payment")
    applied: int = Field(default=0, description="of the paid, whose ERP payment applies the amount paid in full")
    credits: int = Field(default=0, description="c2c credit notes (not void)")
    credited: int = Field(default=0, description="their total, minor units")
    credit_memos: int = Field(default=0, description="of the credit notes, with their ERP credit memo")


class EventBacklog(BaseModel):
    """The business events waiting in the outbox for the broker (docs/events.md): grows while NATS is down."""

    pending: int = Field(ge=0)
    oldest_seconds: float | None = Field(default=None, description="age of the oldest waiting event")


class Kpis(BaseModel):
    invoice_posting_latency: Latency
    payment_application: Rate
    customer_master_sync: CustomerSync
    periods: list[PeriodCounts] = Field(default_factory=list, description="per legal entity and currency")
    events: EventBacklog | None = Field(default=None, description="the outbox's lag when it was read")


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0-100) of `values`; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def compute(snap: Snapshots, *, crm: str = "salesforce") -> Kpis:
    index = Index(snap)
    invoices = [
        invoice
        for deal in snap.crm.deals
        for invoice in index.invoices_of(deal.deal_id, ids.saga_id(crm, deal.deal_id))
        if invoice.status not in NOT_ISSUED
    ]
    return Kpis(
        invoice_posting_latency=posting_latency(index, invoices),
        payment_application=payment_application(index, invoices),
        customer_master_sync=customer_sync(snap),
        periods=period_counts(index),
    )


def period_counts(index: Index) -> list[PeriodCounts]:
    counts: dict[tuple[str, str], PeriodCounts] = {}

    def row(entity: str | None, currency: str) -> PeriodCounts:
        key = (entity or "?", currency.upper())
        erp = index.snap.erp.system_of(entity)
        return counts.setdefault(key, PeriodCounts(legal_entity=key[0], currency=key[1], erp=erp))

    def entity_of(invoice: BillingInvoice) -> str | None:
        subscription = index.subscriptions_by_id.get(invoice.subscription_id or "")
        return invoice.legal_entity or (subscription.legal_entity if subscription else None)

    for invoice in index.snap.billing.invoices:
        if invoice.status in NOT_ISSUED or index.deal_of(invoice) is None:
            continue
        counts_of = row(entity_of(invoice), invoice.currency)
        counts_of.billed += 1
        erp = next(iter(index.erp_by_external[invoice.invoice_id]), None)
        counts_of.posted += erp is not None
        if invoice.status == "paid" and invoice.amount_paid > 0 and invoice.payment_id:
            counts_of.paid += 1
            payment = index.erp_payments.get(invoice.payment_id)
            if payment is not None and erp is not None:
                counts_of.applied += payment.applied.get(erp.internal_id, 0) >= invoice.amount_paid
    for note in index.snap.billing.credit_notes:
        credited = index.invoices_by_id.get(note.invoice_id)
        ours = (credited is not None and index.deal_of(credited) is not None) or deal_of_key(note.key) is not None
        if note.status == "void" or not ours:
            continue
        counts_of = row(entity_of(credited) if credited else None, note.currency)
        counts_of.credits += 1
        counts_of.credited += note.total
        counts_of.credit_memos += bool(index.credit_memos[note.credit_note_id])
    return [counts[key] for key in sorted(counts)]


def posting_latency(index: Index, invoices: list[BillingInvoice]) -> Latency:
    samples: list[float] = []
    for invoice in invoices:
        erp = next((e for e in index.erp_by_external[invoice.invoice_id] if e.created_at), None)
        if invoice.finalized_at is None or erp is None or erp.created_at is None:
            continue
        samples.append(max(0.0, (erp.created_at - invoice.finalized_at).total_seconds()))
    return Latency(samples=len(samples), p50_seconds=percentile(samples, 50), p95_seconds=percentile(samples, 95))


def payment_application(index: Index, invoices: list[BillingInvoice]) -> Rate:
    settled = [i for i in invoices if i.status == "paid" and i.amount_paid > 0 and i.payment_id]
    applied = 0
    for invoice in settled:
        payment = index.erp_payments.get(invoice.payment_id or "")
        erp = next(iter(index.erp_by_external[invoice.invoice_id]), None)
        if payment is not None and erp is not None and payment.applied.get(erp.internal_id, 0) >= invoice.amount_paid:
            applied += 1
    return Rate(numerator=applied, denominator=len(settled))


def _text(value: str | None) -> str:
    return " ".join((value or "").split()).casefold()


def _tax_id(value: str | None) -> str:
    return re.sub(r"[^0-9A-Za-z]", "", value or "").upper()


def differences(a: CustomerFields, b: CustomerFields) -> list[str]:
    """The master-data fields on which two systems' records of one customer disagree."""
    diff = []
    if _text(a.name) != _text(b.name):
        diff.append("name")
    if _address(a) != _address(b):
        diff.append("address")
    if _tax_id(a.tax_id) != _tax_id(b.tax_id):
        diff.append("tax_id")
    return diff


def _address(fields: CustomerFields) -> tuple[str, ...]:
    a = fields.address
    if a is None:
        return ()
    return tuple(_text(part) for part in (a.line1, a.line2, a.city, a.region, a.postal_code, a.country))


def customer_sync(snap: Snapshots) -> CustomerSync:
    accounts = {account.account_id: account for account in snap.crm.accounts}
    golden_ids = sorted(
        {
            accounts[deal.account_id].golden_id or ""
            for deal in snap.crm.deals
            if deal.account_id in accounts and accounts[deal.account_id].golden_id
        }
    )
    crm_by_golden: dict[str, list[CustomerFields]] = defaultdict(list)
    for account in snap.crm.accounts:
        if account.golden_id:
            crm_by_golden[account.golden_id].append(account.fields)
    billing = {c.golden_id: c.fields for c in snap.billing.customers if c.golden_id}
    erp: dict[str, list[CustomerFields]] = defaultdict(list)
    for customer in snap.erp.customers:
        erp[customer.golden_id].append(customer.fields)
    disagreeing = []
    for golden_id in golden_ids:
        problem = _disagreement(crm_by_golden[golden_id], billing.get(golden_id), erp[golden_id])
        if problem:
            disagreeing.append(CustomerDisagreement(golden_id=golden_id, fields=problem))
    return CustomerSync(
        numerator=len(golden_ids) - len(disagreeing), denominator=len(golden_ids), disagreeing=disagreeing
    )


def _disagreement(crm: list[CustomerFields], billing: CustomerFields | None, erp: list[CustomerFields]) -> list[str]:
    """[] when one CRM account agrees with billing and every ERP customer; else what differs (fewest first)."""
    missing = [name for name, absent in (("billing", billing is None), ("erp", not erp)) if absent]
    if missing:
        return [f"missing in {name}" for name in missing]
    assert billing is not None
    best: list[str] | None = None
    for account in crm:
        diff = sorted(set(differences(account, billing)).union(*(differences(account, e) for e in erp)))
        if best is None or len(diff) < len(best):
            best = diff
    return best if best is not None else ["missing in crm"]
