"""One CRM's share of what billing holds (pure): a reconciliation reconciles one CRM's deals, and with two CRMs side
by side (C2C_CRMS) billing, tax and the ERPs hold both CRMs' records. Every comparison of a run must see only the
records of its own CRM's sagas, or a HubSpot deal's later period is checked (and reported) as a Salesforce deal's.

Billing does not record a CRM, but c2c writes the workflow id (which names the CRM, `c2c:{crm}:{deal}[...]`) on
what it bills, and that is what tells a record's CRM:
- an invoice: its `c2c_saga` metadata (Stripe: the saga's id on the first period, the subscription lifecycle's
  `c2c:{crm}:{deal}:subscription` on later ones; Chargebee: the subscription's, read onto each of its invoices);
- a subscription: the CRM its invoices in the read name;
- an invoice without the metadata (e.g. billing's own mid-period invoice): its subscription's;
- a credit note: its invoice's, else its c2c idempotency key's (`{workflow id}:{step}`);
- a refund: its invoice's.
A record none of these place (nothing c2c wrote is on it or on its subscription's invoices in the read) is kept in
every CRM's run: that is what a single-CRM estate always did, and dropping it could hide a real mismatch.
"""

from __future__ import annotations

from canonical import ids
from canonical.records import BillingInvoice, BillingSnapshot

# Workflow ids under the c2c prefix that are not a deal's (their second part is not a CRM).
NOT_A_CRM = frozenset({"customer", "refund", "usage"})


def crm_of_workflow(workflow_id: str | None) -> str | None:
    """The CRM a saga or subscription lifecycle id (or an idempotency key starting with one) names; None else."""
    if not workflow_id:
        return None
    parts = workflow_id.split(":")
    if len(parts) < 3 or parts[0] != ids.SAGA_PREFIX or parts[1] in NOT_A_CRM or not parts[1] or not parts[2]:
        return None
    return parts[1]


class Owners:
    """The CRM of each billing record of a snapshot, where c2c's workflow ids tell it."""

    def __init__(self, billing: BillingSnapshot) -> None:
        self.subscription_crm: dict[str, str] = {}
        # Sorted, so a subscription whose invoices name two CRMs (never written by c2c) gets the same answer each run.
        for invoice in sorted(billing.invoices, key=lambda i: (i.created, i.invoice_id)):
            crm = crm_of_workflow(invoice.saga_id)
            if crm is not None and invoice.subscription_id:
                self.subscription_crm.setdefault(invoice.subscription_id, crm)
        self.invoice_crm = {i.invoice_id: crm for i in billing.invoices if (crm := self.of_invoice(i)) is not None}

    def of_invoice(self, invoice: BillingInvoice) -> str | None:
        return crm_of_workflow(invoice.saga_id) or self.subscription_crm.get(invoice.subscription_id or "")

    def of_subscription(self, subscription_id: str) -> str | None:
        return self.subscription_crm.get(subscription_id)

    def of_credit_note(self, invoice_id: str, key: str | None) -> str | None:
        return self.invoice_crm.get(invoice_id) or crm_of_workflow(key)


def of_crm(billing: BillingSnapshot, crm: str) -> BillingSnapshot:
    """The billing snapshot without the records that belong to another CRM's sagas (customers are already read per
    CRM: those of its accounts' golden ids)."""
    owners = Owners(billing)

    def ours(owner: str | None) -> bool:
        return owner is None or owner == crm

    refunds = billing.refunds
    return billing.model_copy(
        update={
            "subscriptions": [s for s in billing.subscriptions if ours(owners.of_subscription(s.subscription_id))],
            "invoices": [i for i in billing.invoices if ours(owners.of_invoice(i))],
            "credit_notes": [n for n in billing.credit_notes if ours(owners.of_credit_note(n.invoice_id, n.key))],
            "refunds": None
            if refunds is None
            else [r for r in refunds if ours(owners.invoice_crm.get(r.invoice_id or ""))],
        }
    )
