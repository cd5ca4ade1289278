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

A refund that breaks a rule (two refunds raced past the API's check) or that a vendor refuses (billing: the charge is
already refunded or charged back; the ERP: a closed customer) parks instead of failing: status `needs_attention`,
search attributes C2CStage/C2CException as a parked saga's, and the `resolve` update (retry once the cause is fixed,
the steps done before are found again by their keys; or cancel, only while no money has moved in billing).
A chargeback (origin `dispute`) is booked like a refund made in billing, the dispute id standing for the refund id.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    import workflows.documents as documents
    import workflows.interface as act
    import workflows.policies as policies
    import workflows.search_attributes as search_attributes
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
    from workflows.saga import Resolution, ResolutionAction, Stage
    from workflows.saga_runtime import failure_of, refused


class RefundInput(BaseModel):
    invoice_id: str = Field(description="billing's id of the paid invoice")
    refund_key: str = Field(description="finance's key for this refund, or billing's refund id")
    amount: Money = Field(description="what the customer gets back, tax included")
    reason: str
    actor: str = Field(description="who asked for it")
    note: str | None = None
    origin: str = RefundOrigin.FINANCE
    billing_refund_id: str | None = Field(default=None, description="the refund billing already made (origin billing)")
    billing_credit_note_id: str | None = Field(
        default=None, description="the credit note billing made with that refund, when it makes one per refund"
    )
    crm: str = DEFAULT_VENDORS.crm
    vendors: Vendors = DEFAULT_VENDORS
    activity_timeout: timedelta = policies.ACTIVITY_TIMEOUT


class RefundResult(BaseModel):
    invoice_id: str
    amount: Money
    origin: str
    outcome: Literal["refunded", "cancelled"] = "refunded"
    tax: Money | None = None
    refund_id: str | None = Field(default=None, description="billing's refund (a chargeback: the dispute) id")
    credit_note_id: str | None = None
    erp_credit_memo_id: str | None = None
    erp_customer_refund_id: str | None = None
    tax_document_code: str | None = None
    tax_engine_tax: Money | None = Field(default=None, description="the tax the tax engine computed on the credit")


class RefundProblem(BaseModel):
    """Why a refund is parked: the rule it breaks or the vendor's refusal, readable by finance (never PII)."""

    step: str
    system: str
    code: str
    message: str
    error_type: str


class RefundStatus(BaseModel):
    workflow_id: str
    invoice_id: str
    origin: str
    amount: Money
    stage: str = Field(description="running, needs_attention, refunded or cancelled")
    problem: RefundProblem | None = None
    steps: list[str] = Field(default_factory=list)
    decisions: list[str] = Field(default_factory=list, description="finance's resolutions: action, who, why")


class Parked(Exception):
    """A rule the workflow checks itself refused the refund (the activity errors park the same way)."""

    def __init__(self, problem: RefundProblem) -> None:
        super().__init__(problem.message)
        self.problem = problem


RUNNING, NEEDS_ATTENTION, REFUNDED, CANCELLED = "running", Stage.NEEDS_ATTENTION.value, "refunded", "cancelled"


@workflow.defn(name="Refund")
class Refund:
    def __init__(self) -> None:
        self.steps: list[str] = []
        self.stage = RUNNING
        self.problem: RefundProblem | None = None
        self.decision: Resolution | None = None
        self.decisions: list[str] = []
        self.at = "read"  # the step running: where a refusal parks
        self.on: date | None = None
        self.credit_round = 0  # finance's retries of a refused credit note: its key gets `:r{n}`
        self.money_moved = False  # billing gave the money back: from here the refund only goes forward

    @workflow.query
    def progress(self) -> list[str]:
        """The steps done so far, in order."""
        return list(self.steps)

    @workflow.query
    def status(self) -> RefundStatus:
        args = self.args
        return RefundStatus(
            workflow_id=workflow.info().workflow_id,
            invoice_id=args.invoice_id,
            origin=args.origin,
            amount=args.amount,
            stage=self.stage,
            problem=self.problem,
            steps=list(self.steps),
            decisions=list(self.decisions),
        )

    @workflow.run
    async def run(self, args: RefundInput) -> RefundResult:
        self.args = args
        self.money_moved = args.origin != RefundOrigin.FINANCE
        while True:
            try:
                result = await self.attempt()
            except Parked as parked:
                problem = parked.problem
            except ActivityError as err:
                problem = self.problem_of(err)
            else:
                if self.decisions:  # it was parked: the queue's attributes say how it ended
                    workflow.upsert_search_attributes([search_attributes.STAGE.value_set(REFUNDED)])
                self.stage = REFUNDED
                return result
            resolution = await self.park(problem)
            if resolution.action is ResolutionAction.CANCEL:
                self.stage = CANCELLED
                workflow.upsert_search_attributes([search_attributes.STAGE.value_set(CANCELLED)])
                return RefundResult(
                    invoice_id=args.invoice_id, amount=args.amount, origin=args.origin, outcome="cancelled"
                )
            if problem.step == "billing" and not self.money_moved and problem.code != "unavailable":
                # Refused: the credit note was not made, and billing keeps its refusal per key. (Unanswered: it may
                # exist, so the key stays and finds it.)
                self.credit_round += 1

    async def attempt(self) -> RefundResult:
        """Every step in order; on a retry, the steps done before find their records again by key."""
        args = self.args
        self.at = "read"
        refundable: RefundableInvoice = await self.call(
            act.BILLING_QUEUE,
            Names.REFUNDABLE_INVOICE,
            act.RefundableInvoiceOf(billing=args.vendors.billing, invoice_id=args.invoice_id),
            RefundableInvoice,
        )
        if args.origin == RefundOrigin.FINANCE and not self.money_moved:
            try:
                check_refund(refundable, args.amount)
            except RefundRefusal as refusal:
                raise Parked(RefundProblem(**self.refusal("read", refusal.rule, refusal.message))) from None
        if refundable.deal_id is None:
            message = f"{args.invoice_id} is not a c2c invoice: the ERP has no invoice of it to credit"
            raise Parked(RefundProblem(**self.refusal("read", "not_a_c2c_invoice", message)))
        deal: Deal = await self.call(
            act.CRM_QUEUE, Names.FETCH_DEAL, act.FetchDeal(deal_id=refundable.deal_id, crm=args.crm), Deal
        )
        erp_invoice: ErpInvoiceRef = await self.call(
            act.ERP_QUEUE,
            Names.ERP_INVOICE_OF,
            act.ErpInvoiceOf(
                billing_invoice_id=args.invoice_id, erp=args.vendors.erp, legal_entity=refundable.invoice.legal_entity
            ),
            ErpInvoiceRef,
        )
        self.on = self.on or workflow.now().date()  # a retry books the same credit, dated as the first attempt
        credit = refund_credit(refundable.invoice, args.invoice_id, args.amount, self.memo(), self.on)
        self.steps.append("read")
        self.at = "tax"

        code = ids.refund_tax_document_code(workflow.info().workflow_id)
        golden = refundable.invoice.golden_customer_id
        request = documents.credit_tax_request(deal, golden, code, credit)
        quote: TaxQuote = await self.call(act.TAX_QUEUE, Names.QUOTE_TAX, act.QuoteTax(request=request), TaxQuote)
        self.steps.append("tax quoted")

        billing = args.vendors.billing
        credit_note_id: str | None = None
        if args.origin == RefundOrigin.FINANCE:
            key = f"{workflow.info().workflow_id}:credit" + (f":r{self.credit_round}" if self.credit_round else "")
            self.at = "billing"
            issued: CreditNote = await self.call(
                act.BILLING_QUEUE,
                Names.ISSUE_CREDIT_NOTE,
                act.IssueCreditNote(billing=billing, credit=credit, idempotency_key=key),
                CreditNote,
            )
            self.money_moved = True
            credit_note_id = issued.external_refs[billing]
            refund_id = await self.call(
                act.BILLING_QUEUE,
                Names.CREDIT_NOTE_REFUND,
                act.CreditNoteRefundOf(billing=billing, credit_note_id=credit_note_id),
                str,
            )
            if not refund_id:
                raise ApplicationError(f"credit note {credit_note_id} refunded nothing", type="PermanentError")
            credit = issued
            self.steps.append("refunded in billing")
        else:
            refund_id = args.billing_refund_id or args.refund_key
            # The ERP memo's external id is billing's credit note when billing made one (as c2c's own refunds do),
            # else the refund's. Data only, no command: recorded histories replay unchanged.
            credit_note_id = args.billing_credit_note_id
            credit = credit.model_copy(update={"external_refs": {billing: credit_note_id or refund_id}})
        what = "Chargeback" if args.origin == RefundOrigin.DISPUTE else "Refund"
        self.at = "erp"

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
                    memo=f"{what} {refund_id} of billing invoice {args.invoice_id}: {self.memo()}",
                ),
                erp=args.vendors.erp,
                legal_entity=refundable.invoice.legal_entity,
            ),
            str,
        )
        self.steps.append("booked in the ERP")
        self.at = "tax"
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
        self.at = "event"
        await self.emit(result, credit.tax, refundable.deal_id)
        return result

    # ---- parked: finance decides -------------------------------------------------------------------------

    def refusal(self, step: str, code: str, message: str) -> dict[str, str]:
        return {"step": step, "system": "c2c", "code": code, "message": message, "error_type": "BusinessRuleError"}

    def problem_of(self, err: ActivityError) -> RefundProblem:
        """The vendor's refusal (system, code, message), or `unavailable` once retries ran out on a transient one."""
        return RefundProblem(step=self.at, **failure_of(err))

    async def park(self, problem: RefundProblem) -> Resolution:
        self.problem, self.stage = problem, NEEDS_ATTENTION
        workflow.set_current_details(
            f"**Needs attention** at step `{problem.step}`: {problem.system}/{problem.code}\n\n{problem.message}\n\n"
            "Resolve with `retry` once the cause is fixed, or `cancel` (with a note) while billing has not refunded."
        )
        workflow.upsert_search_attributes(
            [
                search_attributes.STAGE.value_set(NEEDS_ATTENTION),
                search_attributes.EXCEPTION.value_set(problem.code),
                search_attributes.CURRENCY.value_set(self.args.amount.currency),
            ]
        )
        await workflow.wait_condition(lambda: self.decision is not None)
        resolution, self.decision = self.decision, None
        assert resolution is not None
        self.problem, self.stage = None, RUNNING
        workflow.upsert_search_attributes(
            [search_attributes.STAGE.value_set(RUNNING), search_attributes.EXCEPTION.value_unset()]
        )
        return resolution

    @workflow.update
    async def resolve(self, resolution: Resolution) -> RefundStatus:
        """Finance's decision on a parked refund (retry or cancel); returns the status as it was when accepted."""
        self.decision = resolution
        self.decisions.append(f"{resolution.action} by {resolution.actor}: {resolution.note or ''}".strip())
        return self.status()

    @resolve.validator
    def validate_resolve(self, resolution: Resolution) -> None:
        """Refuses nonsense before it reaches the history (a rejected update leaves no event)."""
        if self.problem is None or self.decision is not None:
            raise refused("not_waiting", f"refund is not waiting for a decision (it is {self.stage})")
        if resolution.action not in (ResolutionAction.RETRY, ResolutionAction.CANCEL):
            raise refused("wrong_action", f"a refund is resolved with retry or cancel, not {resolution.action}")
        if resolution.corrected_address is not None or resolution.golden_customer_id is not None:
            raise refused("no_corrected_data", "a refund takes no corrected data: retry or cancel")
        if resolution.action is ResolutionAction.CANCEL:
            if not (resolution.note or "").strip():
                raise refused("note_required", "cancel needs a note saying why (it is kept in the refund's history)")
            if self.problem.step == "billing" and self.problem.code == "unavailable":
                raise refused("outcome_unknown", "billing did not answer: the refund may exist there; retry")
            if self.money_moved:
                raise refused(
                    "money_moved",
                    "billing has given the money back: the ERP must book it; fix the cause and retry",
                )

    def memo(self) -> str:
        """The reason, who asked and their note: what a reader of the books sees on the memo and the refund."""
        note = f"; {self.args.note}" if self.args.note else ""
        return f"{self.args.reason} (by {self.args.actor}{note})"

    async def call(self, queue: str, name: str, arg: Any, result_type: Any = None) -> Any:
        return await call_activity(queue, name, arg, result_type, timeout=self.args.activity_timeout)

    async def emit(self, result: RefundResult, tax: Money, deal_id: str) -> None:
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
                "tax": tax.model_dump(mode="json"),
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
