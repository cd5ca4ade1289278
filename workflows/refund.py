"""Refund: money given back on one paid billing invoice, booked once in every system.

One workflow per refund, `c2c:refund:{invoice}:{key}` (canonical.ids.refund_id): finance's refund key, or billing's
refund id when someone refunded in billing directly (its dashboard or API; the `charge.refunded` webhook starts it).

    read      the invoice as billing has it now (what was paid, what was given back), the deal (tax address), the
              ERP invoice; a finance refund is checked here again (canonical.refunds.check_refund), before any write
    tax       the credit's own tax document (credited lines negative: documents.credit_tax_request, as a
              cancellation's credit), quoted now and committed once the ERP has the memo
    billing   finance: a credit note with `refund_amount` (key `{wf}:credit`, found by its key after billing forgot
              it), then the refund it made; billing: nothing, the refund exists
    erp       a credit memo created from the invoice (external id = the credit note id, or the refund id), and a
              customer refund paying it out (external id = billing's refund id)
    event     refund.issued

Every write is keyed or an upsert by external id, so a retried activity, a lost answer or a restarted refund (same
id: a failed one may be started again) books nothing twice.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    import workflows.documents as documents
    import workflows.interface as act
    import workflows.policies as policies
    from canonical import DEFAULT_VENDORS, BusinessEvent, CreditNote, Deal, EventType, Money, TaxQuote, Vendors, ids
    from canonical.refunds import (
        CustomerRefund,
        ErpInvoiceRef,
        RefundableInvoice,
        RefundOrigin,
        RefundRefusal,
        check_refund,
        refund_credit,
    )
    from workflows.calls import call_activity
    from workflows.interface import Names

REFUSED = "RefundRefused"  # the ApplicationError type of a refund that breaks a rule (never retried)


class RefundInput(BaseModel):
    invoice_id: str = Field(description="billing's id of the paid invoice")
    refund_key: str = Field(description="finance's key for this refund, or billing's refund id")
    amount: Money = Field(description="what the customer gets back, tax included")
    reason: str
    actor: str = Field(description="who asked for it")
    note: str | None = None
    origin: str = RefundOrigin.FINANCE
    billing_refund_id: str | None = Field(default=None, description="the refund billing already made (origin billing)")
    crm: str = DEFAULT_VENDORS.crm
    vendors: Vendors = DEFAULT_VENDORS
    activity_timeout: timedelta = policies.ACTIVITY_TIMEOUT


class RefundResult(BaseModel):
    invoice_id: str
    amount: Money
    tax: Money
    origin: str
    refund_id: str
    credit_note_id: str | None
    erp_credit_memo_id: str
    erp_customer_refund_id: str
    tax_document_code: str
    tax_engine_tax: Money = Field(description="the tax the tax engine computed on the credited lines")


@workflow.defn(name="Refund")
class Refund:
    def __init__(self) -> None:
        self.steps: list[str] = []

    @workflow.query
    def progress(self) -> list[str]:
        """The steps done so far, in order."""
        return list(self.steps)

    @workflow.run
    async def run(self, args: RefundInput) -> RefundResult:
        self.args = args
        refundable: RefundableInvoice = await self.call(
            act.BILLING_QUEUE,
            Names.REFUNDABLE_INVOICE,
            act.RefundableInvoiceOf(invoice_id=args.invoice_id),
            RefundableInvoice,
        )
        if args.origin == RefundOrigin.FINANCE:
            try:
                check_refund(refundable, args.amount)
            except RefundRefusal as refusal:
                raise ApplicationError(refusal.message, refusal.rule, type=REFUSED, non_retryable=True) from None
        if refundable.deal_id is None:
            raise ApplicationError(f"{args.invoice_id} is not a c2c invoice", type=REFUSED, non_retryable=True)
        deal: Deal = await self.call(act.CRM_QUEUE, Names.FETCH_DEAL, act.FetchDeal(deal_id=refundable.deal_id), Deal)
        erp_invoice: ErpInvoiceRef = await self.call(
            act.ERP_QUEUE,
            Names.ERP_INVOICE_OF,
            act.ErpInvoiceOf(
                billing_invoice_id=args.invoice_id, erp=args.vendors.erp, legal_entity=refundable.invoice.legal_entity
            ),
            ErpInvoiceRef,
        )
        credit = refund_credit(refundable.invoice, args.invoice_id, args.amount, self.memo(), workflow.now().date())
        self.steps.append("read")

        code = ids.refund_tax_document_code(workflow.info().workflow_id)
        golden = refundable.invoice.golden_customer_id
        request = documents.credit_tax_request(deal, golden, code, credit)
        quote: TaxQuote = await self.call(act.TAX_QUEUE, Names.QUOTE_TAX, act.QuoteTax(request=request), TaxQuote)
        self.steps.append("tax quoted")

        billing = args.vendors.billing
        credit_note_id: str | None = None
        if args.origin == RefundOrigin.FINANCE:
            issued: CreditNote = await self.call(
                act.BILLING_QUEUE,
                Names.ISSUE_CREDIT_NOTE,
                act.IssueCreditNote(credit=credit, idempotency_key=f"{workflow.info().workflow_id}:credit"),
                CreditNote,
            )
            credit_note_id = issued.external_refs[billing]
            refund_id = await self.call(
                act.BILLING_QUEUE, Names.CREDIT_NOTE_REFUND, act.CreditNoteRefundOf(credit_note_id=credit_note_id), str
            )
            if not refund_id:
                raise ApplicationError(f"credit note {credit_note_id} refunded nothing", type="PermanentError")
            credit = issued
            self.steps.append("refunded in billing")
        else:
            refund_id = args.billing_refund_id or args.refund_key
            credit = credit.model_copy(update={"external_refs": {billing: refund_id}})

        memo_id = await self.call(
            act.ERP_QUEUE,
            Names.POST_CREDIT_NOTE,
            act.PostCreditNote(
                credit=credit,
                invoice_erp_id=erp_invoice.erp_id,
                customer_erp_id=erp_invoice.customer_erp_id,
                billing_system=billing,
                erp=args.vendors.erp,
            ),
            str,
        )
        customer_refund_id = await self.call(
            act.ERP_QUEUE,
            Names.REFUND_CUSTOMER,
            act.RefundCustomer(
                refund=CustomerRefund(
                    refund_id=refund_id,
                    customer_erp_id=erp_invoice.customer_erp_id,
                    credit_memo_erp_id=memo_id,
                    amount=args.amount,
                    on=credit.issue_date,
                    memo=f"Refund {refund_id} of billing invoice {args.invoice_id}: {self.memo()}",
                ),
                erp=args.vendors.erp,
                legal_entity=refundable.invoice.legal_entity,
            ),
            str,
        )
        self.steps.append("booked in the ERP")
        await self.call(
            act.TAX_QUEUE,
            Names.COMMIT_TAX,
            act.TaxDocument(company_code=deal.legal_entity, document_code=quote.document_code),
        )
        self.steps.append("tax committed")
        result = RefundResult(
            invoice_id=args.invoice_id,
            amount=args.amount,
            tax=credit.tax,
            origin=args.origin,
            refund_id=refund_id,
            credit_note_id=credit_note_id,
            erp_credit_memo_id=memo_id,
            erp_customer_refund_id=customer_refund_id,
            tax_document_code=quote.document_code,
            tax_engine_tax=-quote.total_tax,
        )
        await self.emit(result, refundable.deal_id)
        return result

    def memo(self) -> str:
        """The reason, who asked and their note: what a reader of the books sees on the memo and the refund."""
        note = f"; {self.args.note}" if self.args.note else ""
        return f"{self.args.reason} (by {self.args.actor}{note})"

    async def call(self, queue: str, name: str, arg: Any, result_type: Any = None) -> Any:
        return await call_activity(queue, name, arg, result_type, timeout=self.args.activity_timeout)

    async def emit(self, result: RefundResult, deal_id: str) -> None:
        event = BusinessEvent.for_step(
            workflow_id=workflow.info().workflow_id,
            event_type=EventType.REFUND_ISSUED,
            business_key=deal_id,
            time=workflow.now(),
            data={
                "invoice_id": result.invoice_id,
                "refund_id": result.refund_id,
                "credit_note_id": result.credit_note_id,
                "erp_credit_memo_id": result.erp_credit_memo_id,
                "erp_customer_refund_id": result.erp_customer_refund_id,
                "amount": result.amount.model_dump(mode="json"),
                "tax": result.tax.model_dump(mode="json"),
                "origin": result.origin,
                "reason": self.args.reason,
                "actor": self.args.actor,
                "source_system": self.args.vendors.billing,
            },
            subject=result.invoice_id,
        )
        await call_activity(
            act.HUB_QUEUE, Names.RECORD_EVENT, event, bool, timeout=self.args.activity_timeout, retry=policies.HUB_RETRY
        )
        self.steps.append("refund.issued recorded")
