"""One billing period of a subscription, as the deal's saga bills its first: tax -> invoice -> post -> settle
(collect, the webhook's outcome, dunning, write-off) -> apply, each write keyed `{lifecycle}:p{n}:{step}` or
upserted by billing's ids. SubscriptionLifecycle decides when a period starts; this bills it."""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    import workflows.documents as documents
    import workflows.interface as act
    import workflows.search_attributes as search_attributes
    from canonical import Amendment, Deal, EventType, Invoice, Payment, PaymentStatus, RenewalInvoice, TaxQuote, ids
    from workflows.interface import Names
    from workflows.saga import Problem, Resolution, Stage
    from workflows.saga_runtime import Park
    from workflows.subscription_changes import ContractChanges
    from workflows.subscription_messages import PeriodState, PeriodStatus


# Every period's invoice.posted and payment.settled (ids `{lifecycle}:{type}:p{n}`): lifecycles recorded before
# these events replay without them.
PERIOD_EVENTS = "lifecycle-period-events"


class PeriodBilling(ContractChanges):
    """The period being billed and its steps; SubscriptionLifecycle sets the state in its __init__."""

    next_period: int
    next_start: datetime
    period: PeriodStatus | None
    renewal: RenewalInvoice | None
    quote: TaxQuote | None
    invoice: Invoice | None
    payment: Payment | None
    settled_payment: Payment | None
    period_dunned: bool = False
    period_written_off: bool = False

    # ---- one period -----------------------------------------------------------------------------

    async def bill(self, renewal: RenewalInvoice, trigger: str) -> None:
        n = self.next_period
        period = PeriodStatus(
            number=n, start=renewal.period_start, end=renewal.period_end, trigger=trigger, lines=list(self.lines)
        )
        self.periods.append(period)
        if workflow.patched("lifecycle-period-attribute"):  # finance filters a parked period by it
            deal = self.args.deal
            self.set_attributes(
                [
                    search_attributes.PERIOD.value_set(str(n)),
                    search_attributes.LEGAL_ENTITY.value_set(deal.legal_entity),
                    search_attributes.CURRENCY.value_set(deal.currency),
                ]
            )
        await self.run_steps(period, renewal)
        self.next_period, self.next_start = n + 1, renewal.period_end

    async def bill_prorations(self, change: Amendment) -> None:
        """`immediate` prorations: the change's prorations, when they net to a charge, on an invoice of their own
        billed now like a period (tax -> invoice -> post -> settle -> apply), keyed by the period it falls in and
        the change. A net credit waits for the next period's invoice, as with `next_invoice`."""
        found: list[RenewalInvoice | None] = []

        async def invoice() -> None:
            found[:] = [
                await self.call(
                    act.BILLING_QUEUE,
                    Names.INVOICE_PRORATIONS,
                    act.InvoiceProrations(
                        billing=self.billing,
                        customer_id=self.args.billing_customer_id,
                        subscription_id=self.args.subscription_id,
                        idempotency_key=self.ckey(change, "prorations"),
                    ),
                    RenewalInvoice | None,
                )
            ]

        await self.stage(Stage.AMEND, invoice)
        renewal = found[0] if found else None
        if renewal is None:
            self.log(Stage.AMEND, "prorations on the next invoice", "nothing to bill now, or they net to a credit")
            return
        period = PeriodStatus(
            number=self.next_period - 1,
            start=renewal.period_start,
            end=renewal.period_end,
            trigger="amendment",
            change=change.deal_id,
        )
        self.periods.append(period)
        await self.run_steps(period, renewal)

    async def run_steps(self, period: PeriodStatus, renewal: RenewalInvoice) -> None:
        """Bill `renewal` as `period`: every step, each parked on its own failure."""
        period.ids["invoice"] = renewal.invoice_id
        self.period, self.renewal = period, renewal
        self.quote, self.invoice, self.payment, self.settled_payment = None, None, None, None
        self.period_dunned = self.period_written_off = False
        self.rounds = {}
        self.log(Stage.WAITING, f"{period.title} ({period.trigger})", renewal.invoice_id)
        await self.stage(Stage.TAX, self.quote_tax)
        await self.stage(Stage.INVOICE, self.issue_invoice)
        await self.stage(Stage.POST, self.post_to_erp)
        await self.stage(Stage.SETTLE, self.settle)
        await self.stage(Stage.APPLY, self.apply_cash)
        period.state = PeriodState.BILLED
        self.log(Stage.APPLY, f"{period.title} billed", renewal.invoice_id)
        self.renewal = None

    def pkey(self, step: str, *, per_round: bool = False) -> str:
        return self.key(f"{self.require(self.period).label}:{step}", per_round=per_round)

    def document_code(self) -> str:
        period = self.require(self.period)
        return ids.period_tax_document_code(self.args.crm, self.args.deal.deal_id, period.number, period.change)

    def billed_deal(self) -> Deal:
        """What the period's invoice bills besides its prorations: the deal's lines, none for prorations alone."""
        return self.deal if self.require(self.period).change is None else self.deal.model_copy(update={"lines": []})

    async def quote_tax(self) -> None:
        args, renewal = self.args, self.require(self.renewal)
        charged = self.billed_deal()
        net = sum(line.amount.amount for line in charged.lines) + sum(a.amount.amount for a in renewal.adjustments)
        if net < 0:  # refused at acceptance; a change made in billing directly can still get here
            raise Park(
                Problem(
                    stage=Stage.TAX,
                    system=self.billing,
                    code="negative_invoice",
                    message=f"{self.require(self.period).title}: invoice {renewal.invoice_id} nets "
                    f"{net} minor units (prorations exceed the period's charge); c2c cannot tax, post or collect a "
                    "negative invoice: settle it in billing, then retry",
                    error_type="BusinessRuleError",
                )
            )
        request = documents.tax_request(
            charged, args.golden_id, self.document_code(), renewal.period_start.date(), renewal.adjustments
        )
        self.quote = await self.call(act.TAX_QUEUE, Names.QUOTE_TAX, act.QuoteTax(request=request), TaxQuote)
        period = self.require(self.period)
        period.ids["tax_document"] = self.quote.document_code
        period.totals.update(subtotal=net, tax=self.quote.total_tax.amount)
        usage = [a for a in renewal.adjustments if a.usage]
        if usage:  # the metered usage of the period before, billed in arrears (a status total, no command)
            period.totals["usage"] = sum(a.amount.amount for a in usage)
            period.totals["usage_quantity"] = sum(a.quantity for a in usage)

    async def issue_invoice(self) -> None:
        args, renewal, period = self.args, self.require(self.renewal), self.require(self.period)
        draft = documents.invoice_draft(
            self.billed_deal(),
            self.require(self.quote),
            args.golden_id,
            self.progress.workflow_id,  # billing's payment webhooks find this workflow by it
            issued=renewal.period_start.date(),
            terms_days=args.payment_terms_days,
            adjustments=renewal.adjustments,
        )
        await self.call(
            act.BILLING_QUEUE,
            Names.COMPLETE_RENEWAL_INVOICE,
            act.CompleteRenewalInvoice(
                billing=self.billing,
                customer_id=args.billing_customer_id,
                invoice_id=renewal.invoice_id,
                invoice=draft,
                idempotency_key=self.pkey("invoice"),
            ),
            Invoice,
            calls=3,
        )
        self.invoice = await self.call(
            act.BILLING_QUEUE,
            Names.FINALIZE_INVOICE,
            act.InvoiceAction(
                billing=self.billing, invoice_id=renewal.invoice_id, idempotency_key=self.pkey("finalize")
            ),
            Invoice,
        )
        period.ids["invoice_number"] = self.invoice.number or ""
        period.totals["total"] = self.invoice.total.amount
        await self.call(
            act.BILLING_QUEUE,
            Names.SEND_INVOICE,
            act.InvoiceAction(billing=self.billing, invoice_id=renewal.invoice_id, idempotency_key=self.pkey("send")),
        )

    async def post_to_erp(self) -> None:
        args, period = self.args, self.require(self.period)
        if "erp_invoice" not in period.ids:
            period.ids["erp_invoice"] = await self.call(
                act.ERP_QUEUE,
                Names.POST_INVOICE,
                act.PostInvoice(
                    invoice=self.require(self.invoice),
                    customer_erp_id=args.erp_customer_id,
                    billing_system=self.billing,
                    erp=self.erp,
                ),
                str,
            )
        await self.call(
            act.TAX_QUEUE,
            Names.COMMIT_TAX,
            act.TaxDocument(company_code=args.deal.legal_entity, document_code=self.document_code()),
        )
        if workflow.patched(PERIOD_EVENTS):
            invoice = self.require(self.invoice)
            await self.emit(
                EventType.INVOICE_POSTED,
                {
                    "invoice": self.require(self.renewal).invoice_id,
                    "erp_invoice": period.ids["erp_invoice"],
                    "period": period.number,
                    "number": invoice.number,
                    "total": invoice.total,
                    "source_system": self.billing,
                    "source_time": invoice.finalized_at,
                },
                occurrence=period.label,
            )

    async def settle(self) -> None:
        """Collect, take the outcome (a pending debit waits for the webhook until the due date), and dun on the
        schedule as the deal's saga does: a reminder event and a new attempt on each dunning day. Unpaid after the
        last: the invoice is written off (uncollectible in billing, a bad-debt provision in the ERP) and the
        period parks; a later payment still settles it and reverses the provision."""
        payment = await self.attempt(self.pkey("payment", per_round=True), self.due_in())
        if not self.paid(payment) and not self.period_dunned:
            payment = await self.dun(payment)
        if not self.paid(payment):
            await self.write_off()
            invoice, renewal = self.require(self.invoice), self.require(self.renewal)
            raise Park(
                Problem(
                    stage=Stage.SETTLE,
                    system=self.billing,
                    code="uncollectible",
                    message=f"{self.require(self.period).title}: invoice "
                    f"{invoice.number or renewal.invoice_id} unpaid after dunning ({payment.status.value}); marked "
                    "uncollectible and provisioned as bad debt. Retry once the payment method is fixed",
                    error_type="BusinessRuleError",
                )
            )
        if self.period_written_off:
            await self.reverse_write_off()
        self.payment = payment
        period = self.require(self.period)
        period.ids["payment"] = payment.external_refs[self.billing]
        period.totals["paid"] = payment.amount.amount
        if workflow.patched(PERIOD_EVENTS):
            await self.emit(
                EventType.PAYMENT_SETTLED,
                {
                    "payment": period.ids["payment"],
                    "invoice": self.require(self.renewal).invoice_id,
                    "amount": payment.amount,
                    "fee": payment.fee,
                    "period": period.number,
                    "source_system": self.billing,
                    "source_time": payment.settled_at,
                },
                occurrence=period.label,
            )

    def due_in(self) -> timedelta:
        return timedelta(days=self.args.payment_terms_days + 1)

    async def attempt(self, key: str, until: timedelta) -> Payment:
        """Collect once; a decline is an outcome (FAILED), not a park; pending waits up to `until`."""
        renewal, invoice = self.require(self.renewal), self.require(self.invoice)
        self.checkpoint()
        try:
            payment = await self.call(
                act.BILLING_QUEUE,
                Names.COLLECT_PAYMENT,
                act.InvoiceAction(billing=self.billing, invoice_id=renewal.invoice_id, idempotency_key=key),
                Payment,
            )
        except ActivityError as err:
            problem = self.problem_from(Stage.SETTLE, err)
            if problem.error_type != "BusinessRuleError":
                raise  # billing unavailable or broken: park as such
            self.log(Stage.SETTLE, f"{self.require(self.period).title}: payment {problem.code}", problem.message)
            return Payment(invoice_id=renewal.invoice_id, amount=invoice.total, status=PaymentStatus.FAILED)
        if payment.status is PaymentStatus.PENDING and await self.wait_for(
            lambda: self.settled_payment is not None, until
        ):
            return self.require(self.settled_payment)
        return payment

    async def dun(self, last: Payment) -> Payment:
        """Remind and retry on the dunning days (counted from the first failure or the missed due date)."""
        await self.enter(Stage.DUNNING)
        self.period_dunned = True
        started, days, period = workflow.now(), self.args.dunning_days, self.require(self.period)
        for n, day in enumerate(days, start=1):
            if await self.wait_for(self.paid_meanwhile, started + timedelta(days=day) - workflow.now()):
                return self.require(self.settled_payment)
            await self.emit(
                EventType.PAYMENT_REMINDER,
                {
                    "invoice": self.require(self.renewal).invoice_id,
                    "period": period.number,
                    "reminder": n,
                    "of": len(days),
                },
                occurrence=f"{period.label}:" + self.step_of_round(f"reminder-{n}", per_round=True),
            )
            until = timedelta(days=days[n] - day) if n < len(days) else timedelta(days=1)
            if last.status is PaymentStatus.PENDING:
                if await self.wait_for(self.paid_meanwhile, until):
                    return self.require(self.settled_payment)
            else:
                last = await self.attempt(self.pkey(f"payment:dunning-{n}", per_round=True), until)
            self.log(Stage.DUNNING, f"{period.title}: retry {n}/{len(days)}", last.status.value)
            if self.paid(last):
                return last
        return last

    def paid_meanwhile(self) -> bool:
        return self.paid(self.settled_payment)

    @staticmethod
    def paid(payment: Payment | None) -> bool:
        return payment is not None and payment.status is PaymentStatus.SUCCEEDED

    async def write_off(self) -> None:
        """Uncollectible in billing, a bad-debt provision in the ERP (the AR invoice stays open). Once a period."""
        if self.period_written_off:
            return
        invoice, renewal, period = self.require(self.invoice), self.require(self.renewal), self.require(self.period)
        await self.call(
            act.BILLING_QUEUE,
            Names.MARK_UNCOLLECTIBLE,
            act.InvoiceAction(
                billing=self.billing, invoice_id=renewal.invoice_id, idempotency_key=self.pkey("uncollectible")
            ),
        )
        entry = documents.bad_debt_entry(invoice, renewal.invoice_id, workflow.now().date(), reverse=False)
        period.ids["erp_bad_debt"] = await self.call(
            act.ERP_QUEUE, Names.POST_JOURNAL, act.PostJournal(entry=entry, erp=self.erp), str
        )
        self.period_written_off = True
        await self.emit(
            EventType.INVOICE_UNCOLLECTIBLE,
            {"invoice": renewal.invoice_id, "period": period.number, "erp_journal": period.ids["erp_bad_debt"]},
            occurrence=period.label,
        )

    async def reverse_write_off(self) -> None:
        """Paid after all: the period's bad-debt provision goes (its own external id: posted once)."""
        invoice, renewal, period = self.require(self.invoice), self.require(self.renewal), self.require(self.period)
        entry = documents.bad_debt_entry(invoice, renewal.invoice_id, workflow.now().date(), reverse=True)
        period.ids["erp_bad_debt_reversal"] = await self.call(
            act.ERP_QUEUE, Names.POST_JOURNAL, act.PostJournal(entry=entry, erp=self.erp), str
        )
        self.period_written_off = False

    async def apply_cash(self) -> None:
        args, payment, period = self.args, self.require(self.payment), self.require(self.period)
        if "erp_payment" not in period.ids:
            period.ids["erp_payment"] = await self.call(
                act.ERP_QUEUE,
                Names.APPLY_PAYMENT,
                act.ApplyPayment(
                    payment=payment,
                    customer_erp_id=args.erp_customer_id,
                    invoice_erp_id=period.ids["erp_invoice"],
                    billing_system=self.billing,
                    erp=self.erp,
                    legal_entity=args.deal.legal_entity,
                ),
                str,
            )
        if payment.fee is not None and payment.fee.amount > 0:
            payment_id = payment.external_refs[self.billing]
            entry = documents.fee_entry(payment, args.deal.legal_entity, payment_id, workflow.now().date())
            period.ids["erp_fee_journal"] = await self.call(
                act.ERP_QUEUE, Names.POST_JOURNAL, act.PostJournal(entry=entry, erp=self.erp), str
            )

    async def park(self, problem: Problem) -> Resolution:
        period = self.require(self.period)
        period.state = PeriodState.NEEDS_ATTENTION
        resolution = await super().park(problem)
        period.state = PeriodState.BILLING
        return resolution
