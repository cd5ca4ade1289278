"""Getting paid: send the invoice (the pivot), collect, wait for the billing webhook, dun on the schedule, and
write the invoice off as bad debt when dunning fails (a late payment still settles it and reverses that)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    import workflows.documents as documents
    import workflows.interface as act
    from canonical import EventType, Payment, PaymentStatus
    from workflows.compensation import Compensation, Undo
    from workflows.interface import Names
    from workflows.saga import Problem, SagaInput, Stage
    from workflows.saga_runtime import Park


class Settlement(Compensation):
    def __init__(self, args: SagaInput) -> None:
        super().__init__(args)
        self.sent = False  # the invoice went to the customer: the pivot
        self.dunned = False

    async def settle(self) -> None:
        invoice = self.require(self.invoice)
        invoice_id = invoice.external_refs[self.billing]
        if not self.sent:
            # The pivot: once the customer has the invoice, a cancel credits it; it is never voided behind their back.
            self.cross_pivot()
            await self.call(
                act.BILLING_QUEUE,
                Names.SEND_INVOICE,
                act.InvoiceAction(billing=self.billing, invoice_id=invoice_id, idempotency_key=self.key("send")),
            )
            self.sent = True
            await self.emit(
                EventType.INVOICE_SENT,
                {"invoice": invoice_id, "due_date": invoice.due_date.isoformat(), "source_system": self.billing},
            )
        # A new key per finance retry: after a decline, retrying with the old key would replay the decline.
        payment = await self.attempt_payment(self.key("payment", per_round=True), until=self.due_at())
        if not self.succeeded(payment) and not self.dunned:
            payment = await self.dun(payment)
        if not self.succeeded(payment):
            await self.write_off()
            raise Park(
                Problem(
                    stage=Stage.SETTLE,
                    system=self.billing,
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
        self.ids(payment=payment.external_refs[self.billing])
        self.totals(paid=payment.amount.amount, fee=payment.fee.amount if payment.fee else 0)
        await self.emit(
            EventType.PAYMENT_SETTLED,
            {
                "payment": payment.external_refs[self.billing],
                "invoice": invoice_id,
                "amount": payment.amount,
                "fee": payment.fee,
                "source_system": self.billing,
                "source_time": payment.settled_at,
            },
        )

    async def attempt_payment(self, key: str, until: timedelta) -> Payment:
        """Collect once; a pending payment (bank debit) waits up to `until` for the billing webhook's outcome."""
        invoice = self.require(self.invoice)
        self.checkpoint()  # asked to cancel while the invoice was being sent: do not charge the customer
        try:
            payment = await self.call(
                act.BILLING_QUEUE,
                Names.COLLECT_PAYMENT,
                act.InvoiceAction(
                    billing=self.billing, invoice_id=invoice.external_refs[self.billing], idempotency_key=key
                ),
                Payment,
            )
        except ActivityError as err:
            problem = self.problem_from(Stage.SETTLE, err)
            if problem.error_type != "BusinessRuleError":
                raise  # billing unavailable or broken: park as such, this is not the customer's failure
            self.log(Stage.SETTLE, f"payment {problem.code}", problem.message)
            return Payment(
                invoice_id=invoice.external_refs[self.billing], amount=invoice.total, status=PaymentStatus.FAILED
            )
        return await self.outcome_of(payment, until)

    async def outcome_of(self, payment: Payment, until: timedelta) -> Payment:
        """The payment's outcome once the billing webhook reports it, or `payment` as it is after `until`."""
        if payment.status is not PaymentStatus.PENDING:
            return payment
        intent = payment.external_refs.get(self.billing)
        self.log(Stage.SETTLE, "payment pending", f"{intent}: waiting for the billing webhook")

        def reported() -> bool:
            news = self.settled_payment
            return news is not None and (self.succeeded(news) or news.external_refs.get(self.billing) == intent)

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
            invoice_id = self.require(self.invoice).external_refs[self.billing]
            await self.emit(
                EventType.PAYMENT_REMINDER,
                {"invoice": invoice_id, "reminder": n, "of": len(days), "last_outcome": self.describe(last)},
                # Reminder n of this dunning round: a finance retry after a write-off may dun again.
                occurrence=self.step_of_round(f"reminder-{n}", per_round=True),
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
        invoice_id = invoice.external_refs[self.billing]
        await self.call(
            act.BILLING_QUEUE,
            Names.MARK_UNCOLLECTIBLE,
            act.InvoiceAction(billing=self.billing, invoice_id=invoice_id, idempotency_key=self.key("uncollectible")),
        )
        self.register(Undo.REVERSE_BAD_DEBT)
        journal = await self.call(
            act.ERP_QUEUE,
            Names.POST_JOURNAL,
            act.PostJournal(
                entry=documents.bad_debt_entry(invoice, invoice_id, workflow.now().date(), reverse=False),
                erp=self.erp,
            ),
            str,
        )
        self.ids(erp_bad_debt=journal)
        self.written_off = True
        await self.emit(
            EventType.INVOICE_UNCOLLECTIBLE, {"invoice": invoice_id, "erp_journal": journal, "source_system": self.erp}
        )

    def due_at(self) -> timedelta:
        """Time left until the invoice's due date (end of that day, in UTC): the settlement deadline."""
        due = self.require(self.invoice).due_date
        end_of_due_day = datetime.combine(due + timedelta(days=1), time.min, tzinfo=UTC)
        return max(end_of_due_day - workflow.now(), timedelta(seconds=1))

    @staticmethod
    def succeeded(payment: Payment | None) -> bool:
        return payment is not None and payment.status is PaymentStatus.SUCCEEDED

    def describe(self, payment: Payment | None) -> str:
        if payment is None:
            return "no payment"
        return f"{payment.external_refs.get(self.billing, '?')} {payment.status.value}"
