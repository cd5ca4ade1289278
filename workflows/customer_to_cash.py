"""CustomerToCash: one saga per closed deal, onboard -> activate -> tax -> invoice -> post -> settle -> apply.

Any step that fails for good (a business rule, a permanent error, or a vendor still down after the retry
policy) parks the saga in `needs_attention` with a readable Problem; finance answers with the `resolve`
update (retry, retry with a corrected address, or cancel-and-compensate) or the `resume` signal.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
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
        ids,
    )
    from canonical.reference import CATALOG, GL_ACCOUNTS, LEGAL_ENTITIES
    from canonical.rules import deal_problems
    from workflows import interface as act
    from workflows import policies, search_attributes
    from workflows.interface import Names
    from workflows.saga import (
        Problem,
        Resolution,
        ResolutionAction,
        Resume,
        SagaInput,
        SagaResult,
        SagaStatus,
        Stage,
    )
    from workflows.saga_runtime import Cancelled, Park, SagaRuntime


class Undo(StrEnum):
    """Compensations, registered before the step they undo runs."""

    CANCEL_SUBSCRIPTION = "cancel subscription"
    VOID_TAX = "void tax document"
    VOID_INVOICE = "void billing invoice"  # before the pivot (invoice not yet sent)
    CREDIT_NOTE = "credit note in billing"  # replaces VOID_INVOICE once the invoice was sent
    CREDIT_MEMO = "credit memo in ERP"
    REVERSE_BAD_DEBT = "reverse bad debt provision in ERP"


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
        self.chosen_golden_id: str | None = None  # finance's pick when the customer match was ambiguous
        self.sent = False  # the invoice went to the customer: the pivot
        self.dunned = False
        self.written_off = False

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
                act.ResolveCustomer(crm=self.args.crm, customer=deal.customer, golden_id=self.chosen_golden_id),
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
                    idempotency_key=ids.billing_customer_key(self.require(self.golden_id)),
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
        # The deal was read before these customers existed: a CRM account change in between would be lost
        # without this sync (CustomerMaster skips it when nothing changed since it last pushed).
        await self.call(
            act.HUB_QUEUE,
            Names.SYNC_CUSTOMER_MASTER,
            act.SyncCustomerMaster(
                golden_id=self.golden_id,
                change=act.AccountChange(
                    crm=self.args.crm,
                    account_id=self.progress.external_ids["crm_account"],
                    event_id=f"{self.progress.workflow_id}:onboarded",
                ),
            ),
            retry=policies.HUB_RETRY,
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
                due_date=today + timedelta(days=self.args.payment_terms_days),
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
        invoice = self.require(self.invoice)
        invoice_id = invoice.external_refs["stripe"]
        if not self.sent:
            # The pivot: once the customer has the invoice, a cancel credits it; it is never voided behind their back.
            self.cross_pivot()
            await self.call(
                act.BILLING_QUEUE,
                Names.SEND_INVOICE,
                act.InvoiceAction(invoice_id=invoice_id, idempotency_key=self.key("send")),
            )
            self.sent = True
            await self.emit(EventType.INVOICE_SENT, {"invoice": invoice_id, "due_date": invoice.due_date.isoformat()})
        # A new key per finance retry: after a decline, retrying with the old key would replay the decline.
        payment = await self.attempt_payment(self.key("payment", per_round=True), until=self.due_at())
        if not self.succeeded(payment) and not self.dunned:
            payment = await self.dun(payment)
        if not self.succeeded(payment):
            await self.write_off()
            raise Park(
                Problem(
                    stage=Stage.SETTLE,
                    system="stripe",
                    code="uncollectible",
                    message=f"invoice {invoice.number or invoice_id} unpaid after dunning "
                    f"({self.describe(payment)}); marked uncollectible and provisioned as bad debt. Retry once the "
                    "customer's payment method is fixed, or cancel to credit the invoice",
                    error_type="BusinessRuleError",
                )
            )
        payment = self.require(payment)
        if self.written_off:
            await self.reverse_bad_debt()  # paid after all: the provision goes
        self.payment = payment
        self.undo.clear()  # money moved: from here the saga only goes forward
        self.ids(payment=payment.external_refs["stripe"])
        self.totals(paid=payment.amount.amount, fee=payment.fee.amount if payment.fee else 0)
        await self.emit(
            EventType.PAYMENT_SETTLED,
            {"payment": payment.external_refs["stripe"], "amount": payment.amount.amount},
        )

    async def attempt_payment(self, key: str, until: timedelta) -> Payment:
        """Collect once; a pending payment (bank debit) waits up to `until` for the billing webhook's outcome."""
        invoice = self.require(self.invoice)
        try:
            payment = await self.call(
                act.BILLING_QUEUE,
                Names.COLLECT_PAYMENT,
                act.InvoiceAction(invoice_id=invoice.external_refs["stripe"], idempotency_key=key),
                Payment,
            )
        except ActivityError as err:
            problem = self.problem_from(Stage.SETTLE, err)
            if problem.error_type != "BusinessRuleError":
                raise  # billing unavailable or broken: park as such, this is not the customer's failure
            self.log(Stage.SETTLE, f"payment {problem.code}", problem.message)
            return Payment(
                invoice_id=invoice.external_refs["stripe"], amount=invoice.total, status=PaymentStatus.FAILED
            )
        return await self.outcome_of(payment, until)

    async def outcome_of(self, payment: Payment, until: timedelta) -> Payment:
        """The payment's outcome once the billing webhook reports it, or `payment` as it is after `until`."""
        if payment.status is not PaymentStatus.PENDING:
            return payment
        intent = payment.external_refs.get("stripe")
        self.log(Stage.SETTLE, "payment pending", f"{intent}: waiting for the billing webhook")

        def reported() -> bool:
            news = self.settled_payment
            return news is not None and (self.succeeded(news) or news.external_refs.get("stripe") == intent)

        if await self.wait_for(reported, until):
            return self.require(self.settled_payment)
        return payment

    async def dun(self, last: Payment) -> Payment:
        """Remind and retry on the dunning schedule (days after the first failure or missed due date)."""
        await self.enter(Stage.DUNNING)
        self.dunned = True
        started = workflow.now()
        days = self.args.dunning_days
        for n, day in enumerate(days, start=1):
            if await self.wait_for(self.paid_meanwhile, started + timedelta(days=day) - workflow.now()):
                return self.require(self.settled_payment)
            invoice_id = self.require(self.invoice).external_refs["stripe"]
            await self.emit(
                EventType.PAYMENT_REMINDER,
                {"invoice": invoice_id, "reminder": n, "of": len(days), "last_outcome": self.describe(last)},
            )
            # The next retry is the deadline for this one's outcome; the last one gets a day.
            until = timedelta(days=days[n] - day) if n < len(days) else timedelta(days=1)
            if last.status is PaymentStatus.PENDING:
                last = await self.outcome_of(last, until)  # still clearing: no second debit on top of it
            else:
                last = await self.attempt_payment(self.key(f"payment:dunning-{n}", per_round=True), until)
            self.log(Stage.DUNNING, f"retry {n}/{len(days)}", self.describe(last))
            if self.succeeded(last):
                return last
        return last

    def paid_meanwhile(self) -> bool:
        return self.settled_payment is not None and self.succeeded(self.settled_payment)

    async def write_off(self) -> None:
        """Mark the invoice uncollectible in billing and provision it in the ERP (allowance method: the AR
        invoice stays open, so a late payment still applies to it). Once per saga."""
        if self.written_off:
            return
        invoice = self.require(self.invoice)
        invoice_id = invoice.external_refs["stripe"]
        await self.call(
            act.BILLING_QUEUE,
            Names.MARK_UNCOLLECTIBLE,
            act.InvoiceAction(invoice_id=invoice_id, idempotency_key=self.key("uncollectible")),
        )
        self.register(Undo.REVERSE_BAD_DEBT)
        journal = await self.call(
            act.ERP_QUEUE,
            Names.POST_JOURNAL,
            act.PostJournal(entry=self.bad_debt_entry(reverse=False)),
            str,
        )
        self.ids(erp_bad_debt=journal)
        self.written_off = True
        await self.emit(EventType.INVOICE_UNCOLLECTIBLE, {"invoice": invoice_id, "erp_journal": journal})

    async def reverse_bad_debt(self) -> None:
        journal = await self.call(
            act.ERP_QUEUE,
            Names.POST_JOURNAL,
            act.PostJournal(entry=self.bad_debt_entry(reverse=True)),
            str,
            retry=policies.COMPENSATION_RETRY if self.progress.stage is Stage.COMPENSATING else policies.VENDOR_RETRY,
        )
        self.ids(erp_bad_debt_reversal=journal)
        self.written_off = False
        if Undo.REVERSE_BAD_DEBT in self.undo:
            self.undo.remove(Undo.REVERSE_BAD_DEBT)

    def bad_debt_entry(self, *, reverse: bool) -> JournalEntry:
        invoice = self.require(self.invoice)
        invoice_id = invoice.external_refs["stripe"]
        expense, allowance = GL_ACCOUNTS["bad_debt_expense"], GL_ACCOUNTS["allowance_doubtful_accounts"]
        debit, credit = (allowance, expense) if reverse else (expense, allowance)
        return JournalEntry(
            external_id=f"baddebt-{'rev-' if reverse else ''}{invoice_id}",
            legal_entity=invoice.legal_entity,
            date=workflow.now().date(),
            memo=f"{'Reverse b' if reverse else 'B'}ad debt provision for invoice {invoice.number or invoice_id}",
            lines=[
                JournalLine(account=debit, debit=invoice.total, memo="bad debt provision"),
                JournalLine(account=credit, credit=invoice.total, memo="bad debt provision"),
            ],
        )

    def due_at(self) -> timedelta:
        """Time left until the invoice's due date (end of that day, in UTC): the settlement deadline."""
        due = self.require(self.invoice).due_date
        end_of_due_day = datetime.combine(due + timedelta(days=1), time.min, tzinfo=UTC)
        return max(end_of_due_day - workflow.now(), timedelta(seconds=1))

    @staticmethod
    def succeeded(payment: Payment | None) -> bool:
        return payment is not None and payment.status is PaymentStatus.SUCCEEDED

    @staticmethod
    def describe(payment: Payment | None) -> str:
        if payment is None:
            return "no payment"
        return f"{payment.external_refs.get('stripe', '?')} {payment.status.value}"

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
                    customer_erp_id=self.customer_refs["netsuite"],
                ),
                str,
                retry=retry,
            )
            self.ids(erp_credit_memo=memo)
        elif undo is Undo.CREDIT_NOTE:
            note = await self.call(
                act.BILLING_QUEUE,
                Names.CREDIT_INVOICE,
                act.CreditInvoice(invoice_id=target, reason="order_change", idempotency_key=self.key("credit-note")),
                str | None,
                retry=retry,
            )
            if note:
                self.ids(credit_note=note)
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
        if resolution.golden_customer_id is not None:
            self.chosen_golden_id = resolution.golden_customer_id

    @workflow.query
    def status(self) -> SagaStatus:
        return self.progress

    @workflow.update
    async def resolve(self, resolution: Resolution) -> SagaStatus:
        """Finance's decision on a parked saga; returns the status as it was when accepted.

        The update (who, what, why) is in the workflow history; the timeline repeats it for the status query."""
        self.decision = resolution
        self.log(
            self.progress.stage,
            f"resolution: {resolution.action}",
            f"by {resolution.actor}: {resolution.note or ''}".strip(),
        )
        return self.progress

    @resolve.validator
    def validate_resolve(self, resolution: Resolution) -> None:
        """Rejects nonsense before it reaches the history (a rejected update leaves no event)."""
        problem = self.progress.problem
        if problem is None or self.decision is not None:
            raise ValueError(f"saga is not waiting for a decision (stage {self.progress.stage})")
        needs = {
            ResolutionAction.RETRY_WITH_ADDRESS: ("invalid_address", "corrected_address", resolution.corrected_address),
            ResolutionAction.RETRY_WITH_CUSTOMER: (
                "customer_ambiguous",
                "golden_customer_id",
                resolution.golden_customer_id,
            ),
        }
        if resolution.action in needs:
            code, field, value = needs[resolution.action]
            if value is None:
                raise ValueError(f"{resolution.action} needs {field}")
            if problem.code != code:
                raise ValueError(f"the problem is {problem.code}, not {code}: use retry or cancel")
        elif resolution.corrected_address is not None or resolution.golden_customer_id is not None:
            raise ValueError(f"{resolution.action} takes no corrected data; use retry_with_address/customer")
        if resolution.action is ResolutionAction.CANCEL:
            if not (resolution.note or "").strip():
                raise ValueError("cancel needs a note saying why (it is kept in the saga's history)")
            if self.payment is not None:
                raise ValueError(
                    "the customer has paid: the saga only moves forward now (retry); a refund or credit note "
                    "for a paid invoice is finance's decision in billing"
                )

    @workflow.signal
    def resume(self, request: Resume | None = None) -> None:
        """Retry the parked stage as it is (e.g. after fixing the vendor side); ignored when not parked."""
        request = request or Resume()
        if self.progress.problem is not None and self.decision is None:
            self.decision = Resolution(action=ResolutionAction.RETRY, actor=request.actor, note=request.note)
            self.log(self.progress.stage, "resolution: retry (resume signal)", f"by {request.actor}: {request.note}")
        else:
            self.log(self.progress.stage, "resume signal ignored", "not waiting for a decision")

    @workflow.signal
    def payment_settled(self, payment: Payment) -> None:
        """A payment outcome the billing webhook reported (it may arrive before collect_payment returns)."""
        ours = self.invoice.external_refs.get("stripe") if self.invoice else None
        if payment.invoice_id != ours:  # only this saga's invoice can settle it
            self.log(self.progress.stage, "billing event ignored", f"payment for {payment.invoice_id}, not {ours}")
            return
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
        return ids.tax_document_code(self.args.crm, self.args.deal_id)
