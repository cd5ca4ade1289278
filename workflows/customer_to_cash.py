"""CustomerToCash: one saga per closed deal, onboard -> activate -> tax -> invoice -> post -> settle -> apply.

Any step that fails for good (a business rule, a permanent error, or a vendor still down after the retry
policy) parks the saga in `needs_attention` with a readable Problem; finance answers with the `resolve`
update (retry, retry with a corrected address, or cancel-and-compensate) or the `resume` signal.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import timedelta
from enum import StrEnum
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities import contracts as act
    from activities.contracts import Names
    from canonical import (
        BusinessEvent,
        Contract,
        Deal,
        EventType,
        Invoice,
        InvoiceLine,
        JournalEntry,
        JournalLine,
        Payment,
        PaymentStatus,
        Subscription,
        TaxQuote,
        TaxRequest,
        TaxRequestLine,
    )
    from canonical.reference import CATALOG, GL_ACCOUNTS, LEGAL_ENTITIES
    from canonical.rules import deal_problems
    from workflows import policies, search_attributes
    from workflows.saga import (
        Problem,
        Resolution,
        ResolutionAction,
        SagaInput,
        SagaResult,
        SagaStatus,
        Stage,
    )
    from workflows.saga_runtime import Cancelled, Park, SagaRuntime

# How long settle waits for an asynchronous payment outcome before parking (dunning hands over to finance).
PAYMENT_WAIT = timedelta(days=3)


def workflow_id_for(crm: str, deal_id: str) -> str:
    """Business id: a second trigger for the same deal finds this id taken."""
    return f"c2c:{crm}:{deal_id}"


class Undo(StrEnum):
    """Compensations, registered before the step they undo runs."""

    CANCEL_SUBSCRIPTION = "cancel subscription"
    VOID_TAX = "void tax document"
    VOID_INVOICE = "void billing invoice"
    CREDIT_MEMO = "credit memo in ERP"


@workflow.defn(name="CustomerToCash")
class CustomerToCash(SagaRuntime):
    @workflow.init
    def __init__(self, args: SagaInput) -> None:
        super().__init__(args.activity_timeout)
        self.args = args
        self.progress = SagaStatus(workflow_id=workflow.info().workflow_id, deal_id=args.deal_id, stage=Stage.ONBOARD)
        self.deal: Deal | None = None
        self.golden_id: str | None = None
        self.golden_name = ""
        self.customer_refs: dict[str, str] = {}
        self.subscription: Subscription | None = None
        self.tax_quote: TaxQuote | None = None
        self.invoice: Invoice | None = None
        self.payment: Payment | None = None
        self.settled_payment: Payment | None = None
        self.last_event_id: str | None = None
        self.undo: list[Undo] = []

    # ---- the business process -------------------------------------------------------------------

    @workflow.run
    async def run(self, args: SagaInput) -> SagaResult:
        try:
            await self.stage(Stage.ONBOARD, self.onboard)
            await self.stage(Stage.ACTIVATE, self.activate)
            await self.stage(Stage.TAX, self.quote_tax)
            await self.stage(Stage.INVOICE, self.issue_invoice)
            await self.stage(Stage.POST, self.post_to_erp)
            await self.stage(Stage.SETTLE, self.settle)
            await self.stage(Stage.APPLY, self.apply_cash)
            await self.enter(Stage.COMPLETED)
        except Cancelled:
            await self.compensate()
            await self.enter(Stage.CANCELLED)
        await self.record_fact()
        return SagaResult(
            workflow_id=self.progress.workflow_id,
            deal_id=args.deal_id,
            outcome=self.progress.stage,
            currency=self.progress.currency,
            legal_entity=self.progress.legal_entity,
            external_ids=self.progress.external_ids,
            totals=self.progress.totals,
        )

    async def onboard(self) -> None:
        if self.deal is None:
            deal = await self.call(act.CRM_QUEUE, Names.FETCH_DEAL, act.FetchDeal(deal_id=self.args.deal_id), Deal)
            problems = deal_problems(deal)
            if problems:
                message = "; ".join(reason for _, reason in problems)
                raise Park(
                    Problem(
                        stage=Stage.ONBOARD,
                        system="c2c",
                        code=problems[0][0],
                        message=message,
                        error_type="BusinessRuleError",
                    )
                )
            self.deal = deal
            self.progress.legal_entity, self.progress.currency = deal.legal_entity, deal.currency
            self.ids(crm_account=deal.customer.external_refs[self.args.crm])
            workflow.upsert_search_attributes(
                [
                    search_attributes.LEGAL_ENTITY.value_set(deal.legal_entity),
                    search_attributes.CURRENCY.value_set(deal.currency),
                ]
            )
        deal = self.deal
        if self.golden_id is None:
            resolved = await self.call(
                act.HUB_QUEUE,
                Names.RESOLVE_CUSTOMER,
                act.ResolveCustomer(crm=self.args.crm, customer=deal.customer),
                act.ResolvedCustomer,
                retry=policies.HUB_RETRY,
            )
            self.golden_id, self.customer_refs = resolved.golden_id, {**resolved.refs}
            self.golden_name = resolved.legal_name
            self.ids(golden_customer=resolved.golden_id)
        if "stripe" not in self.customer_refs:
            # Keyed by the golden customer, not this saga: concurrent deals of a new customer share one.
            self.customer_refs["stripe"] = await self.call(
                act.BILLING_QUEUE,
                Names.CREATE_BILLING_CUSTOMER,
                act.CreateBillingCustomer(
                    golden_id=self.require(self.golden_id),
                    legal_name=self.golden_name,
                    idempotency_key=f"c2c:customer:{self.golden_id}:billing",
                ),
                str,
            )
        customer = deal.customer.model_copy(
            update={
                "golden_id": self.golden_id,
                "external_refs": {**deal.customer.external_refs, **self.customer_refs},
            }
        )
        entity = LEGAL_ENTITIES[deal.legal_entity]
        billing_id, erp_id = await asyncio.gather(
            self.call(
                act.BILLING_QUEUE,
                Names.BILLING_CUSTOMER,
                act.UpsertBillingCustomer(customer=customer, idempotency_key=self.key("billing-customer")),
                str,
            ),
            self.call(
                act.ERP_QUEUE,
                Names.ERP_CUSTOMER,
                act.UpsertErpCustomer(customer=customer, legal_entity=entity, currency=deal.currency),
                str,
            ),
        )
        self.customer_refs.update(stripe=billing_id, netsuite=erp_id)
        self.ids(billing_customer=billing_id, erp_customer=erp_id)
        await self.call(
            act.HUB_QUEUE,
            Names.LINK_REFS,
            # One ERP customer per subsidiary, so the ERP ref is keyed by entity.
            act.LinkRefs(
                golden_id=self.golden_id, refs={"stripe": billing_id, f"netsuite:{deal.legal_entity}": erp_id}
            ),
            retry=policies.HUB_RETRY,
        )
        await self.call(
            act.CRM_QUEUE,
            Names.WRITE_BACK,
            act.WriteBack(
                account_id=self.progress.external_ids["crm_account"],
                refs={"golden_id": self.golden_id, "billing_id": billing_id, "erp_id": erp_id},
            ),
        )
        await self.emit(EventType.CUSTOMER_CREATED, {"golden_id": self.golden_id, **self.customer_refs})

    async def activate(self) -> None:
        deal = self.require(self.deal)
        requests = [
            act.PriceRequest(
                price=CATALOG.price(line.product_code, deal.billing_period, deal.currency).model_copy(
                    update={"unit_amount": line.unit_price}  # the deal's negotiated price, on the catalog product
                ),
                product_name=CATALOG.product(line.product_code).name,
            )
            for line in deal.lines
        ]
        price_ids = await self.call(
            act.BILLING_QUEUE,
            Names.ENSURE_PRICES,
            act.EnsurePrices(prices=requests, idempotency_key=self.key("prices")),
            dict[str, str],
            calls=2,
        )
        contract = Contract(
            deal_id=deal.deal_id,
            golden_customer_id=self.require(self.golden_id),
            legal_entity=deal.legal_entity,
            currency=deal.currency,
            start_date=deal.close_date,
            term_months=deal.term_months,
            billing_period=deal.billing_period,
            lines=deal.lines,
        )
        self.register(Undo.CANCEL_SUBSCRIPTION)
        self.subscription = await self.call(
            act.BILLING_QUEUE,
            Names.CREATE_SUBSCRIPTION,
            act.CreateSubscription(
                customer_id=self.customer_refs["stripe"],
                contract=contract,
                price_ids=price_ids,
                idempotency_key=self.key("subscription"),
            ),
            Subscription,
        )
        self.ids(subscription=self.subscription.id)
        await self.emit(EventType.SUBSCRIPTION_ACTIVATED, {"subscription": self.subscription.id})

    async def quote_tax(self) -> None:
        deal = self.require(self.deal)
        entity = LEGAL_ENTITIES[deal.legal_entity]
        request = TaxRequest(
            document_code=self.tax_document_code(),
            company_code=entity.code,
            customer_code=self.require(self.golden_id),
            customer_tax_id=deal.customer.tax_id,
            date=workflow.now().date(),
            currency=deal.currency,
            ship_from=entity.address,
            ship_to=deal.customer.address,
            lines=[
                TaxRequestLine(
                    number=n,
                    product_code=line.product_code,
                    tax_code=CATALOG.product(line.product_code).tax_code,
                    quantity=line.quantity,
                    amount=line.amount,
                )
                for n, line in enumerate(deal.lines, start=1)
            ],
        )
        self.register(Undo.VOID_TAX)
        self.tax_quote = await self.call(act.TAX_QUEUE, Names.QUOTE_TAX, act.QuoteTax(request=request), TaxQuote)
        self.ids(tax_document=self.tax_quote.document_code)
        self.totals(subtotal=deal.period_amount.amount, tax=self.tax_quote.total_tax.amount)
        await self.emit(
            EventType.TAX_QUOTED, {"document": request.document_code, "tax": self.tax_quote.total_tax.amount}
        )

    async def issue_invoice(self) -> None:
        deal, quote = self.require(self.deal), self.require(self.tax_quote)
        if self.invoice is None:
            today = workflow.now().date()
            draft = Invoice(
                golden_customer_id=self.require(self.golden_id),
                legal_entity=deal.legal_entity,
                currency=deal.currency,
                issue_date=today,
                due_date=today,  # charged automatically on issue
                lines=[
                    InvoiceLine(
                        product_code=line.product_code,
                        description=f"{CATALOG.product(line.product_code).name} ({deal.billing_period.value}ly)",
                        quantity=line.quantity,
                        unit_amount=line.unit_price,
                        amount=line.amount,
                    )
                    for line in deal.lines
                ],
                tax=quote.total_tax,
                tax_document_code=quote.document_code,
                external_refs={"c2c": self.progress.workflow_id},  # lets billing webhooks find this saga
            )
            self.register(Undo.VOID_INVOICE)
            self.invoice = await self.call(
                act.BILLING_QUEUE,
                Names.CREATE_INVOICE,
                act.CreateInvoice(
                    customer_id=self.customer_refs["stripe"],
                    subscription_id=self.require(self.subscription).id,
                    invoice=draft,
                    idempotency_key=self.key("invoice"),
                ),
                Invoice,
                calls=2,
            )
            self.ids(invoice=self.invoice.external_refs["stripe"])
        finalized = await self.call(
            act.BILLING_QUEUE,
            Names.FINALIZE_INVOICE,
            act.InvoiceAction(invoice_id=self.invoice.external_refs["stripe"], idempotency_key=self.key("finalize")),
            Invoice,
        )
        self.invoice = finalized
        self.ids(invoice_number=finalized.number or "")
        self.totals(total=finalized.total.amount)
        await self.emit(
            EventType.INVOICE_ISSUED,
            {"invoice": finalized.external_refs["stripe"], "number": finalized.number},
        )

    async def post_to_erp(self) -> None:
        invoice, deal = self.require(self.invoice), self.require(self.deal)
        if "erp_invoice" not in self.progress.external_ids:
            self.register(Undo.CREDIT_MEMO)
            erp_invoice = await self.call(
                act.ERP_QUEUE,
                Names.POST_INVOICE,
                act.PostInvoice(invoice=invoice, customer_erp_id=self.customer_refs["netsuite"]),
                str,
            )
            self.ids(erp_invoice=erp_invoice)
        await self.call(
            act.TAX_QUEUE,
            Names.COMMIT_TAX,
            act.TaxDocument(company_code=deal.legal_entity, document_code=self.tax_document_code()),
        )
        await self.emit(EventType.INVOICE_POSTED, {"erp_invoice": self.progress.external_ids["erp_invoice"]})

    async def settle(self) -> None:
        invoice_id = self.require(self.invoice).external_refs["stripe"]
        # A new key per finance retry: after a decline, retrying with the old key would replay the decline.
        self.settled_payment = None
        payment = await self.call(
            act.BILLING_QUEUE,
            Names.COLLECT_PAYMENT,
            act.InvoiceAction(invoice_id=invoice_id, idempotency_key=self.key("payment", per_round=True)),
            Payment,
        )
        if payment.status is PaymentStatus.PENDING:
            # e.g. a bank debit: the billing webhook tells the outcome (payment_settled), possibly days later.
            intent = payment.external_refs.get("stripe")
            self.log(Stage.SETTLE, "payment pending", f"{intent}: waiting for the billing webhook")
            settled = await self.wait_for(
                lambda: self.settled_payment is not None and self.settled_payment.external_refs.get("stripe") == intent,
                PAYMENT_WAIT,
            )
            if not settled:
                raise Park(
                    Problem(
                        stage=Stage.SETTLE,
                        system="stripe",
                        code="payment_timeout",
                        message=f"no payment outcome within {PAYMENT_WAIT}",
                        error_type="BusinessRuleError",
                    )
                )
            payment = self.require(self.settled_payment)
        if payment.status is PaymentStatus.FAILED:
            raise Park(
                Problem(
                    stage=Stage.SETTLE,
                    system="stripe",
                    code="payment_failed",
                    message=f"payment {payment.external_refs.get('stripe')} failed; retry once the customer's "
                    "payment method is fixed, or cancel",
                    error_type="BusinessRuleError",
                )
            )
        self.payment = payment
        self.undo.clear()  # pivot: money moved; from here the saga only goes forward
        self.ids(payment=payment.external_refs["stripe"])
        self.totals(paid=payment.amount.amount, fee=payment.fee.amount if payment.fee else 0)
        await self.emit(
            EventType.PAYMENT_SETTLED,
            {"payment": payment.external_refs["stripe"], "amount": payment.amount.amount},
        )

    async def apply_cash(self) -> None:
        payment, deal = self.require(self.payment), self.require(self.deal)
        if "erp_payment" not in self.progress.external_ids:
            erp_payment = await self.call(
                act.ERP_QUEUE,
                Names.APPLY_PAYMENT,
                act.ApplyPayment(
                    payment=payment,
                    customer_erp_id=self.customer_refs["netsuite"],
                    invoice_erp_id=self.progress.external_ids["erp_invoice"],
                ),
                str,
            )
            self.ids(erp_payment=erp_payment)
        if payment.fee is not None and payment.fee.amount > 0:
            entry = JournalEntry(
                external_id=f"fee-{payment.external_refs['stripe']}",
                legal_entity=deal.legal_entity,
                date=workflow.now().date(),
                memo=f"Payment processing fee {payment.external_refs['stripe']}",
                lines=[
                    JournalLine(account=GL_ACCOUNTS["merchant_fees"], debit=payment.fee, memo="processor fee"),
                    JournalLine(
                        account=GL_ACCOUNTS["undeposited_funds"],
                        credit=payment.fee,
                        memo="withheld by processor",
                    ),
                ],
            )
            journal = await self.call(act.ERP_QUEUE, Names.POST_JOURNAL, act.PostJournal(entry=entry), str)
            self.ids(erp_fee_journal=journal)
        await self.emit(EventType.PAYMENT_APPLIED, {"erp_payment": self.progress.external_ids["erp_payment"]})

    # ---- compensation -----------------------------------------------------------------------------

    def register(self, undo: Undo) -> None:
        """Before a step runs (a timed-out call may still have happened); once, however often it is retried."""
        if undo not in self.undo:
            self.undo.append(undo)

    async def compensate(self) -> None:
        """Undo in reverse order; in finance nothing is deleted: void, cancel, credit."""
        await self.enter(Stage.COMPENSATING)
        ids = self.progress.external_ids
        for undo in reversed(self.undo):
            target = {
                Undo.CREDIT_MEMO: ids.get("erp_invoice"),
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
        if undo is Undo.CREDIT_MEMO:
            memo = await self.call(
                act.ERP_QUEUE,
                Names.POST_CREDIT_MEMO,
                act.PostCreditMemo(
                    invoice=self.require(self.invoice),
                    invoice_erp_id=target,
                    customer_erp_id=self.customer_refs["netsuite"],
                ),
                str,
                retry=retry,
            )
            self.ids(erp_credit_memo=memo)
        elif undo is Undo.VOID_INVOICE:
            await self.call(
                act.BILLING_QUEUE,
                Names.VOID_INVOICE,
                act.InvoiceAction(invoice_id=target, idempotency_key=self.key("void-invoice")),
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
                act.CancelSubscription(subscription_id=target, idempotency_key=self.key("cancel-subscription")),
                retry=retry,
            )

    # ---- finance control --------------------------------------------------------------------------

    def apply(self, resolution: Resolution) -> None:
        if resolution.corrected_address is not None and self.deal is not None:
            customer = self.deal.customer.model_copy(update={"address": resolution.corrected_address})
            self.deal = self.deal.model_copy(update={"customer": customer})

    @workflow.query
    def status(self) -> SagaStatus:
        return self.progress

    @workflow.update
    async def resolve(self, resolution: Resolution) -> SagaStatus:
        """Finance's decision on a parked saga; returns the status as it was when accepted."""
        self.decision = resolution
        self.log(
            self.progress.stage,
            f"resolution: {resolution.action}",
            f"by {resolution.actor}: {resolution.note or ''}".strip(),
        )
        return self.progress

    @resolve.validator
    def validate_resolve(self, resolution: Resolution) -> None:
        problem = self.progress.problem
        if problem is None or self.decision is not None:
            raise ValueError(f"saga is not waiting for a decision (stage {self.progress.stage})")
        if resolution.action is ResolutionAction.RETRY_WITH_ADDRESS:
            if resolution.corrected_address is None:
                raise ValueError("retry_with_address needs corrected_address")
            if problem.code != "invalid_address":
                raise ValueError(f"the problem is {problem.code}, not an address: use retry or cancel")

    @workflow.signal
    def resume(self) -> None:
        """Retry the parked stage as it is (e.g. after fixing the vendor side); ignored when not parked."""
        if self.progress.problem is not None and self.decision is None:
            self.decision = Resolution(action=ResolutionAction.RETRY, note="resume signal")

    @workflow.signal
    def payment_settled(self, payment: Payment) -> None:
        """A payment outcome the billing webhook reported (it may arrive before collect_payment returns)."""
        self.log(self.progress.stage, f"billing event: payment {payment.status}", payment.external_refs.get("stripe"))
        if payment.status is not PaymentStatus.PENDING:
            self.settled_payment = payment

    async def emit(self, event_type: EventType, data: dict[str, Any]) -> None:
        """Add a business event to the outbox; each is caused by the one before, the first by the CRM close."""
        event = BusinessEvent.for_step(
            workflow_id=self.progress.workflow_id,
            event_type=event_type,
            business_key=self.args.deal_id,
            time=workflow.now(),
            data=data,
            causation_id=self.last_event_id or f"{self.args.crm}:{self.args.deal_id}:closed-won",
            subject=self.args.deal_id,
        )
        await self.call(act.HUB_QUEUE, Names.RECORD_EVENT, event, bool, retry=policies.HUB_RETRY)
        self.last_event_id = event.id

    async def record_fact(self) -> None:
        await self.call(
            act.HUB_QUEUE,
            Names.RECORD_FACT,
            act.SagaFactInput(
                workflow_id=self.progress.workflow_id,
                deal_id=self.args.deal_id,
                legal_entity=self.progress.legal_entity or "",
                currency=self.progress.currency or "",
                total_minor=self.progress.totals.get("paid", 0),
                status=self.progress.stage.value,
            ),
            retry=policies.HUB_RETRY,
        )

    def tax_document_code(self) -> str:
        """AvaTax document codes are at most 50 characters; long deal ids get a stable hash."""
        code = f"c2c-{self.args.crm}-{self.args.deal_id}"
        if len(code) > 50:
            code = "c2c-" + hashlib.sha256(code.encode()).hexdigest()[:40]
        return code
