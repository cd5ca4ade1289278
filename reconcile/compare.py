"""The comparison itself: snapshots of every system in, mismatches out. Pure (no I/O, no clock), so it is
unit-tested on hand-made snapshots and gives the same answer however often it runs.

The population is the CRM's closed-won deals of the window. Each deal is joined to the other systems by the
business keys the saga writes: workflow id `c2c:{crm}:{deal}`; billing subscription metadata `deal_id`; the
subscription's invoices; ERP invoice external id = billing invoice id (and `otherRefNum` = its number); ERP
payment external id = billing payment id; tax document code = the invoice's `tax_document_code` metadata.

A second population covers every billing period: each issued invoice of a c2c subscription (billing metadata
`deal_id`) read in the window that no window deal's saga owns (later periods, billed by the subscription's
lifecycle `c2c:{crm}:{deal}:subscription`, and first periods of deals outside the window), each c2c credit note
(ERP credit memo external id = credit note id) and each c2c subscription against its CRM contract. A third covers
refunds: each c2c refund in billing against the ERP's customer refund of the same id (reconcile/refunds.py).
What each mismatch kind means, and which ones repair may act on, is in docs/reconciliation.md.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import timedelta

from canonical import ids
from canonical.records import BillingInvoice, CrmDeal, SagaRecord, Snapshots
from reconcile.deferred import deferred_revenue
from reconcile.findings import (
    CONTRACT_AFTER,
    ENDED_OK,
    NOT_ISSUED,
    WAITING_STAGES,
    Finding,
    Index,
    Mismatch,
    MismatchKind,
    RepairAction,
    check_invoice,
    is_later_period,
    money,
)
from reconcile.periods import Periods
from reconcile.refunds import check_refunds

__all__ = ["NOT_ISSUED", "Index", "Mismatch", "MismatchKind", "RepairAction", "compare"]


def compare(
    snap: Snapshots,
    *,
    crm: str = "salesforce",
    stuck_after: timedelta = timedelta(hours=2),
    contract_after: timedelta = CONTRACT_AFTER,
) -> list[Mismatch]:
    """Every mismatch of the window, in a stable order: by deal, then kind; then every period's invoice, credit
    note and CRM contract that no deal's saga owns; then refunds billing made that the ERP lacks; then duplicate
    customers."""
    index = Index(snap)
    found: list[Mismatch] = []
    owned: set[str] = set()  # invoices a window deal's saga answers for (checked, or waiting with the saga)
    window_deals = {deal.deal_id for deal in snap.crm.deals}
    busy: set[str] = set()  # window deals whose saga is not completed: their records are the saga's business
    for deal in sorted(snap.crm.deals, key=lambda d: d.deal_id):
        if deal.contract_id is not None:
            continue  # a change to a contract: its subscription's lifecycle applies it (contracts are checked below)
        saga_id = ids.saga_id(crm, deal.deal_id)
        owned.update(i.invoice_id for i in index.invoices_of(deal.deal_id, saga_id) if not is_later_period(i, saga_id))
        finding = Finding(deal.deal_id, saga_id, found)
        saga = index.sagas.get(deal.deal_id)
        if saga is None:
            busy.add(deal.deal_id)
            finding.add(
                MismatchKind.MISSING_SAGA, "c2c", "a saga for the closed-won deal", "none", RepairAction.START_SAGA
            )
            continue
        if not check_saga(finding, saga, snap, stuck_after):
            busy.add(deal.deal_id)
            continue
        check_completed(finding, deal, index)
    periods = Periods(index, crm, stuck_after, found)
    periods.check_invoices(owned, busy)
    periods.check_credit_notes(busy & window_deals)
    if snap.crm.contracts is not None:  # None: a run that did not read them (recorded before the read existed)
        periods.check_contracts(busy, contract_after)
    found.extend(check_refunds(snap, index, grace=stuck_after))
    found.extend(duplicate_customers(snap))
    if snap.erp.revenue is not None:  # None: a run that did not read it (recorded before the read existed)
        found.extend(deferred_revenue(snap.erp.revenue, snap.erp.system_of))
    return found


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


def check_completed(finding: Finding, deal: CrmDeal, index: Index) -> None:
    """A completed saga: one subscription and one paid first-period invoice in billing, a committed tax document
    with the same tax, the invoice in the ERP with the same total, the payment applied there in full. (Later
    periods' invoices are the lifecycle's: `Periods` checks them.)"""
    billing = index.snap.billing.system_of(deal.legal_entity)
    subscriptions = index.subscriptions[deal.deal_id]
    live = [s for s in subscriptions if s.status != "canceled"]
    if not subscriptions:
        finding.add(MismatchKind.MISSING_IN_BILLING, billing, "1 subscription for the deal", "none")
        return
    if len(live) > 1:
        listed = ", ".join(s.subscription_id for s in live)
        finding.add(MismatchKind.DUPLICATE, billing, "1 subscription for the deal", f"{len(live)}: {listed}")
    finding.subscription_id = (live or subscriptions)[0].subscription_id
    invoices = [i for i in index.invoices_of(deal.deal_id, finding.saga_id) if not is_later_period(i, finding.saga_id)]
    issued = [i for i in invoices if i.status not in NOT_ISSUED]
    paid = [i for i in issued if i.status == "paid"]
    if not paid:
        statuses = ", ".join(f"{i.invoice_id} {i.status}" for i in invoices) or "none"
        finding.add(MismatchKind.MISSING_IN_BILLING, billing, "a paid invoice for the deal", statuses)
        return
    if len(issued) > 1:
        listed = ", ".join(i.invoice_id for i in issued)
        finding.add(MismatchKind.DUPLICATE, billing, "1 issued invoice for the deal", f"{len(issued)}: {listed}")
    invoice = next((i for i in paid if i.saga_id == finding.saga_id), paid[0])
    check_deal_amount(finding, deal, invoice, billing)
    check_invoice(finding, index, invoice, payment=True)


def check_deal_amount(finding: Finding, deal: CrmDeal, invoice: BillingInvoice, billing: str) -> None:
    if deal.amount is None or deal.currency is None:
        return
    # A usage-priced line is in the CRM as 1 x its price per unit (canonical.rules), billed later from the meter.
    subtotal = invoice.total - invoice.tax + sum(u.unit_amount for u in invoice.usage)
    if invoice.currency.upper() != deal.currency.upper() or subtotal != deal.amount:
        finding.add(
            MismatchKind.AMOUNT_DIFFERS,
            billing,
            f"{money(deal.amount, deal.currency)} before tax (CRM)",
            f"{money(subtotal, invoice.currency)} on {invoice.invoice_id}",
            invoice_id=invoice.invoice_id,
        )


def duplicate_customers(snap: Snapshots) -> Iterable[Mismatch]:
    """One billing customer per golden customer in each billing system (the golden id is in the customer's metadata);
    a customer of entities billed in two systems has one in each."""
    by_golden: dict[tuple[str, str], list[str]] = defaultdict(list)
    for customer in snap.billing.customers:
        if customer.golden_id:
            by_golden[customer.system or snap.billing.system_of(None), customer.golden_id].append(customer.customer_id)
    for (system, golden_id), customer_ids in sorted(by_golden.items()):
        if len(set(customer_ids)) > 1:
            yield Mismatch(
                kind=MismatchKind.DUPLICATE,
                system=system,
                subject=golden_id,
                expected="1 billing customer for the golden customer",
                found=f"{len(set(customer_ids))}: {', '.join(sorted(set(customer_ids)))}",
            )
