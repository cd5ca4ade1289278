"""Every billing period beyond the first period of the window's deals (pure): each issued invoice of a c2c
subscription, each c2c credit note against its ERP credit memo, each c2c subscription against its CRM contract.
What is compared and why is in docs/reconciliation.md."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from canonical import ids
from canonical.records import BillingCreditNote, BillingSubscription, CrmContract
from reconcile.findings import (
    CONTRACT_ACTIVATED,
    NOT_ISSUED,
    SUBSCRIPTION_ENDED,
    Finding,
    Index,
    Mismatch,
    MismatchKind,
    check_invoice,
    is_later_period,
    money,
)


def last_day(end: datetime) -> date:
    """The last day (UTC) a subscription ending at instant `end` serves: the day of the instant just before it
    (an end at midnight serves up to the day before, as a contract's inclusive EndDate counts)."""
    return (end.astimezone(UTC) - timedelta(microseconds=1)).date()


def term_last_day(end: datetime) -> date:
    """A contract's inclusive EndDate for a term billing ends at instant `end`: the day before the day it ends on. A
    term runs from its start's time of day to that time on its anniversary (Chargebee's, and Stripe's outside a test
    clock at midnight), and the contract counts whole days from the close date; at midnight this is `last_day`."""
    return end.astimezone(UTC).date() - timedelta(days=1)


class Periods:
    """Every billing period's records, beyond the first period of the window's deals."""

    def __init__(self, index: Index, crm: str, in_flight: timedelta, into: list[Mismatch]) -> None:
        self.index, self.crm, self.in_flight, self.into = index, crm, in_flight, into
        self.taken_at = index.snap.taken_at

    def finding(self, deal_id: str, subscription_id: str | None) -> Finding:
        return Finding(deal_id, ids.subscription_id(self.crm, deal_id), self.into, subscription_id=subscription_id)

    def settled_for(self, moment: datetime | None) -> bool:
        """Long enough ago that c2c must have finished with it (a period being billed is left alone)."""
        return moment is not None and self.taken_at - moment >= self.in_flight

    def check_invoices(self, owned: set[str], busy: set[str]) -> None:
        """Each issued invoice of a c2c subscription no window deal's saga owns: in the ERP with billing's total,
        its tax document committed, and, paid through a payment, that payment applied in full."""
        for invoice in sorted(self.index.snap.billing.invoices, key=lambda i: (i.created, i.invoice_id)):
            deal_id = self.index.deal_of(invoice)
            if deal_id is None or deal_id in busy or invoice.invoice_id in owned or invoice.status in NOT_ISSUED:
                continue
            if not self.settled_for(invoice.finalized_at or invoice.created):
                continue
            finding = self.finding(deal_id, invoice.subscription_id)
            paid = invoice.status == "paid" and self.settled_for(invoice.paid_at or invoice.finalized_at)
            check_invoice(finding, self.index, invoice, payment=paid)

    def check_credit_notes(self, busy: set[str]) -> None:
        """Each c2c credit note (its key or its invoice is c2c's) has its ERP credit memo: external id = the credit
        note id, the same total and currency, created from the ERP invoice of the invoice it credits. A saga's
        unwind reverses the whole invoice instead (memo `cm-{invoice}`): that counts as the memo."""
        for note in sorted(self.index.snap.billing.credit_notes, key=lambda n: (n.created, n.credit_note_id)):
            invoice = self.index.invoices_by_id.get(note.invoice_id)
            deal_id = (self.index.deal_of(invoice) if invoice else None) or deal_of_key(note.key)
            if deal_id is None or deal_id in busy or note.status == "void" or not self.settled_for(note.created):
                continue
            self.check_credit_note(self.finding(deal_id, invoice.subscription_id if invoice else None), note)

    def check_credit_note(self, finding: Finding, note: BillingCreditNote) -> None:
        memos = self.index.credit_memos[note.credit_note_id]
        erp = self.index.erp_system(self.index.invoices_by_id.get(note.invoice_id))
        if not memos:
            if self.index.credit_memos["cm-" + note.invoice_id]:
                return  # the saga's unwind reversed the whole invoice
            finding.add(
                MismatchKind.MISSING_CREDIT_MEMO,
                erp,
                f"ERP credit memo with external id {note.credit_note_id} ({money(note.total, note.currency)})",
                "none",
                invoice_id=note.invoice_id,
                credit_note_id=note.credit_note_id,
            )
            return
        memo = memos[0]
        erp_invoice = next(iter(self.index.erp_by_external[note.invoice_id]), None)
        problems = []
        if memo.total != note.total or memo.currency.upper() != note.currency.upper():
            problems.append(f"{money(memo.total, memo.currency)}")
        if erp_invoice is not None and memo.created_from and memo.created_from != erp_invoice.internal_id:
            problems.append(f"created from ERP invoice {memo.created_from}")
        if problems:
            expected = f"{money(note.total, note.currency)}"
            if erp_invoice is not None:
                expected += f" from ERP invoice {erp_invoice.internal_id}"
            found = "; ".join(problems) + f" on ERP credit memo {memo.internal_id}"
            finding.add(
                MismatchKind.CREDIT_MEMO_DIFFERS,
                erp,
                expected,
                found,
                erp_id=memo.internal_id,
                invoice_id=note.invoice_id,
                credit_note_id=note.credit_note_id,
            )

    def check_contracts(self, busy: set[str], contract_after: timedelta) -> None:
        """Each c2c subscription the lifecycle follows (a paid or a later-period invoice is in the read) has its CRM
        contract once `contract_after` has passed; an ended subscription's contract is not Activated past today,
        and the contract's EndDate is the last day billing serves (ended_at, else cancel_at)."""
        billed: set[str] = set()
        for invoice in self.index.snap.billing.invoices:
            deal_id = self.index.deal_of(invoice)
            if (
                invoice.subscription_id
                and deal_id
                and (invoice.status == "paid" or is_later_period(invoice, ids.saga_id(self.crm, deal_id)))
            ):
                billed.add(invoice.subscription_id)
        for subscription in sorted(self.index.snap.billing.subscriptions, key=lambda s: s.subscription_id):
            deal_id = subscription.deal_id
            if deal_id is None or deal_id in busy or subscription.subscription_id not in billed:
                continue
            finding = self.finding(deal_id, subscription.subscription_id)
            contract = self.index.contract_of(subscription)
            if contract is None:
                if self.taken_at - subscription.created >= contract_after:
                    finding.add(
                        MismatchKind.MISSING_CONTRACT,
                        self.crm,
                        f"a contract with C2C_Subscription_Id__c {subscription.subscription_id}",
                        "none",
                    )
                continue
            self.check_contract(finding, subscription, contract)

    def check_contract(self, finding: Finding, subscription: BillingSubscription, contract: CrmContract) -> None:
        """The contract's last day (`C2C_Ended_On__c` when it ended early, else EndDate) is billing's; an ended
        subscription's contract is not Activated past today unless it records its early end."""
        ended = subscription.status == SUBSCRIPTION_ENDED
        end = (subscription.ended_at or subscription.canceled_at) if ended else subscription.cancel_at
        # Served through the day it ended (an end recorded by c2c, or the subscription's); a scheduled term end is
        # the contract's EndDate, and so is a term that ran out (ended at its anniversary's time of day).
        early_end = contract.ended_on is not None or ended
        expected = None if end is None else last_day(end) if early_end else term_last_day(end)
        accepted = {expected} if end is None or contract.ended_on else {expected, term_last_day(end)}
        if (
            ended
            and contract.status == CONTRACT_ACTIVATED
            and contract.ended_on is None
            and contract.end_date
            and (contract.end_date > self.taken_at.date())
        ):
            ended_on = f"ended {expected.isoformat()}" if expected else "ended"
            finding.add(
                MismatchKind.CONTRACT_NOT_ENDED,
                self.crm,
                f"contract ended with the subscription ({ended_on} in billing)",
                f"{contract.status} until {contract.end_date.isoformat()}",
                contract_id=contract.contract_id,
            )
            return
        contract_end = contract.ended_on or contract.end_date
        if expected is not None and contract_end not in accepted:
            source = "ended_at" if ended else "cancel_at"
            field = "C2C_Ended_On__c" if contract.ended_on else "EndDate"
            found = f"{field} {contract_end.isoformat()}" if contract_end else "no EndDate"
            finding.add(
                MismatchKind.CONTRACT_END_DIFFERS,
                self.crm,
                f"EndDate {expected.isoformat()} (billing {source} {end.isoformat() if end else ''})",
                found,
                contract_id=contract.contract_id,
            )


def deal_of_key(key: str | None) -> str | None:
    """The deal of a c2c idempotency key (`{workflow id}:{step...}`); None when it is not c2c's."""
    if not key or not key.startswith(f"{ids.SAGA_PREFIX}:"):
        return None
    parts = key.split(":")
    if len(parts) < 3 or parts[1] == "customer":
        return None
    return parts[2]
