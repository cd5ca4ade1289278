"""Refunds in billing against the ERP: money billing gave back on a c2c invoice (finance's refunds through c2c and
refunds made in billing's dashboard; workflows/refund.py books each) is a customer refund in the ERP whose external id
is billing's refund id, for the same amount in the same currency. Pure. Refunds come from every billing system the
entities bill in (Stripe, Chargebee: the reconciliation reads each); a finding names the ERP the refunded invoice's
legal entity books in.

Left out: failed or cancelled refunds (no money moved), refunds of invoices c2c did not bill (no c2c saga or
subscription in the read), refunds made by a subscription's cancellation credit note (its c2c key is not a Refund
workflow's: the credit-note comparison checks its credit memo) and refunds younger than the grace (their Refund
workflow may still be booking them). Chargebacks are not billing refunds: their ERP records carry the dispute id.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from canonical import ids
from canonical.records import Snapshots
from canonical.refunds import BillingRefund
from reconcile.findings import Index, Mismatch, MismatchKind, money

NO_MONEY_MOVED = frozenset({"failed", "canceled"})
REFUND_WORKFLOW_PREFIX = f"{ids.SAGA_PREFIX}:refund:"  # the Refund workflow's ids (canonical.ids.refund_id)


def check_refunds(snap: Snapshots, index: Index, *, grace: timedelta) -> Iterable[Mismatch]:
    """A finding per c2c refund in billing with no ERP customer refund, or one for another amount or currency."""
    if snap.billing.refunds is None or snap.erp.refunds is None:
        return  # a run that did not read them (recorded before the read existed)
    in_erp = {refund.external_id: refund for refund in snap.erp.refunds if refund.external_id}
    for refund in sorted(snap.billing.refunds, key=lambda r: r.refund_id):
        invoice = index.invoices_by_id.get(refund.invoice_id or "")
        deal_id = index.deal_of(invoice) if invoice is not None else None
        if deal_id is None or not _booked_by_refund_workflow(refund, snap, grace):
            continue
        found = in_erp.get(refund.refund_id)
        expected = f"a customer refund of {money(refund.amount.amount, refund.amount.currency)}"
        common = {
            "system": index.erp_system(invoice),  # the ERP the invoice's entity books in, where the refund is missing
            "subject": deal_id,
            "deal_id": deal_id,
            "saga_id": _workflow_of(refund),
            "invoice_id": refund.invoice_id,
            "credit_note_id": refund.credit_note_id,
            "refund_id": refund.refund_id,
        }
        if found is None:
            yield Mismatch(
                kind=MismatchKind.MISSING_REFUND_IN_ERP,
                expected=f"{expected} (external id {refund.refund_id})",
                found="none",
                **common,
            )
        elif found.amount != refund.amount:
            yield Mismatch(
                kind=MismatchKind.REFUND_DIFFERS,
                expected=expected,
                found=f"{money(found.amount.amount, found.amount.currency)} on ERP customer refund {found.erp_id}",
                erp_id=found.erp_id,
                **common,
            )


def _workflow_of(refund: BillingRefund) -> str:
    """The Refund workflow that books it: named by its credit note's key (`{workflow}:credit`), else by the refund."""
    if refund.c2c_key:
        return refund.c2c_key.split(":credit")[0]
    return ids.refund_id(refund.invoice_id or "", refund.refund_id)


def _booked_by_refund_workflow(refund: BillingRefund, snap: Snapshots, grace: timedelta) -> bool:
    if refund.status in NO_MONEY_MOVED or snap.taken_at - refund.created_at < grace:
        return False
    return refund.c2c_key is None or refund.c2c_key.startswith(REFUND_WORKFLOW_PREFIX)
