"""Finance-aware compensation: register each undo before its step runs, undo in reverse order, delete nothing.

A posted ERP invoice is reversed with a credit memo, a billing invoice is voided (or credited once it was
sent: the pivot), committed tax is voided, the subscription is cancelled, a bad-debt provision is reversed.
"""

from __future__ import annotations

from enum import StrEnum

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    import workflows.documents as documents
    import workflows.interface as act
    import workflows.policies as policies
    from canonical import EventType
    from workflows.deal_saga import DealSaga
    from workflows.interface import Names
    from workflows.saga import SagaInput, Stage


class Undo(StrEnum):
    """Compensations, registered before the step they undo runs."""

    CANCEL_SUBSCRIPTION = "cancel subscription"
    VOID_TAX = "void tax document"
    VOID_INVOICE = "void billing invoice"  # before the pivot (invoice not yet sent)
    CREDIT_NOTE = "credit note in billing"  # replaces VOID_INVOICE once the invoice was sent
    CREDIT_MEMO = "credit memo in ERP"
    REVERSE_BAD_DEBT = "reverse bad debt provision in ERP"


class Compensation(DealSaga):
    def __init__(self, args: SagaInput) -> None:
        super().__init__(args)
        self.undo: list[Undo] = []
        self.written_off = False  # the unpaid invoice is provisioned as bad debt in the ERP

    def register(self, undo: Undo) -> None:
        """Before a step runs (a timed-out call may still have happened); once, however often it is retried."""
        if undo not in self.undo:
            self.undo.append(undo)

    def cross_pivot(self) -> None:
        """The invoice is about to reach the customer: from now on cancelling credits it instead of voiding it."""
        self.undo = [Undo.CREDIT_NOTE if undo is Undo.VOID_INVOICE else undo for undo in self.undo]

    async def compensate(self) -> None:
        """Undo in reverse order; in finance nothing is deleted: void, cancel, credit. Each undo is idempotent
        and skipped when its step never confirmed a record (a timed-out call is looked up by its key/id)."""
        await self.enter(Stage.COMPENSATING)
        ids = self.progress.external_ids
        for undo in reversed(self.undo):
            target = {
                Undo.REVERSE_BAD_DEBT: ids.get("erp_bad_debt"),
                Undo.CREDIT_MEMO: ids.get("erp_invoice"),
                Undo.CREDIT_NOTE: ids.get("invoice"),
                Undo.VOID_INVOICE: ids.get("invoice"),
                Undo.VOID_TAX: ids.get("tax_document"),
                Undo.CANCEL_SUBSCRIPTION: ids.get("subscription"),
            }[undo]
            if target is None:
                self.log(Stage.COMPENSATING, f"skip {undo}", "the step never confirmed a record")
                continue
            try:
                await self.run_undo(undo, target)
                self.log(Stage.COMPENSATING, str(undo), target)
            except ActivityError as err:
                self.log(Stage.COMPENSATING, f"{undo} failed", str(err.cause or err))
        self.undo.clear()
        await self.emit(EventType.SAGA_CANCELLED, {"undone": list(ids)})

    async def run_undo(self, undo: Undo, target: str) -> None:
        retry = policies.COMPENSATION_RETRY
        if undo is Undo.REVERSE_BAD_DEBT:
            await self.reverse_bad_debt()
        elif undo is Undo.CREDIT_MEMO:
            memo = await self.call(
                act.ERP_QUEUE,
                Names.POST_CREDIT_MEMO,
                act.PostCreditMemo(
                    invoice=self.require(self.invoice),
                    invoice_erp_id=target,
                    customer_erp_id=self.customer_refs[self.erp],
                    billing_system=self.billing,
                    erp=self.erp,
                ),
                str,
                retry=retry,
            )
            self.ids(erp_credit_memo=memo)
        elif undo is Undo.CREDIT_NOTE:
            note = await self.call(
                act.BILLING_QUEUE,
                Names.CREDIT_INVOICE,
                act.CreditInvoice(
                    billing=self.billing,
                    invoice_id=target,
                    reason="order_change",
                    idempotency_key=self.key("credit-note"),
                ),
                str | None,
                retry=retry,
            )
            if note:
                self.ids(credit_note=note)
        elif undo is Undo.VOID_INVOICE:
            await self.call(
                act.BILLING_QUEUE,
                Names.VOID_INVOICE,
                act.InvoiceAction(billing=self.billing, invoice_id=target, idempotency_key=self.key("void-invoice")),
                retry=retry,
            )
        elif undo is Undo.VOID_TAX:
            entity = self.require(self.deal).legal_entity
            await self.call(
                act.TAX_QUEUE,
                Names.VOID_TAX,
                act.TaxDocument(company_code=entity, document_code=target),
                retry=retry,
            )
        else:
            await self.call(
                act.BILLING_QUEUE,
                Names.CANCEL_SUBSCRIPTION,
                act.CancelSubscription(
                    billing=self.billing, subscription_id=target, idempotency_key=self.key("cancel-subscription")
                ),
                retry=retry,
            )

    async def reverse_bad_debt(self) -> None:
        """Take back the bad-debt provision: the invoice was paid after all, or the saga is cancelled."""
        invoice = self.require(self.invoice)
        entry = documents.bad_debt_entry(
            invoice, invoice.external_refs[self.billing], workflow.now().date(), reverse=True
        )
        journal = await self.call(
            act.ERP_QUEUE,
            Names.POST_JOURNAL,
            act.PostJournal(entry=entry, erp=self.erp),
            str,
            retry=policies.COMPENSATION_RETRY if self.progress.stage is Stage.COMPENSATING else policies.VENDOR_RETRY,
        )
        self.ids(erp_bad_debt_reversal=journal)
        self.written_off = False
        if Undo.REVERSE_BAD_DEBT in self.undo:
            self.undo.remove(Undo.REVERSE_BAD_DEBT)
