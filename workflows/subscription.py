"""SubscriptionLifecycle: one workflow per subscription (`c2c:{crm}:{deal}:subscription`) that bills every
period after the first, in order, each exactly once: tax -> invoice -> post -> settle -> apply, as the deal's
saga does for the first period.

A period starts when billing makes its invoice. The billing webhook signals `renewal_invoiced`; a durable timer
is the backstop: when a period has started `grace` ago with no signal, an activity reads billing for the
subscription's invoices and bills the one of that period. Each external write is keyed
`{workflow id}:p{period}:{step}` (or upserts by an external id: the ERP by billing's invoice and payment ids,
the tax engine by the period's document code), so a duplicate signal, a webhook after the backstop or a
retried step write nothing twice. A period that cannot proceed parks (the saga runtime's `resolve` / `resume`);
signals for later periods are kept meanwhile and billed, in order, once it is resolved.

Started by CustomerToCash as an abandoned child once the first period is paid and applied; continues as new
every `periods_per_run` billed periods, carrying where it is.

CRM changes reach it through the `amend` update (the trigger reads a won amendment, renewal or cancellation
opportunity that references the subscription's CRM contract, which the lifecycle writes first): each is
checked against the contract as it stands (refused with the rule it breaks, or accepted), then applied in CRM
order once its effective date falls in the current period — see subscription_changes.py. At the term's end the
subscription renews (`auto_renew`, or a renewal won in the CRM) or ends, and so does the workflow.

A Temporal cancellation request stops it between periods, never halfway through one: a period being billed
(or parked) finishes first. The subscription itself stays as it is in billing.
"""

from __future__ import annotations

import asyncio
import functools
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    import workflows.interface as act
    from canonical import Amendment, Invoice, Payment, PaymentStatus, RenewalInvoice, SubscriptionEnd, TaxQuote
    from canonical.contract import add_months, term_end
    from workflows.interface import Names
    from workflows.saga import Resolution, ResolutionAction, Resume, SagaStatus, Stage
    from workflows.saga_runtime import Cancelled, SagaRuntime, refused
    from workflows.subscription_messages import (
        AmendmentOutcome,
        ChangeState,
        LifecycleInput,
        LifecycleStatus,
        PeriodState,
        PeriodStatus,
    )
    from workflows.subscription_messages import (
        AmendmentRecord as ChangeRecord,
    )
    from workflows.subscription_periods import PeriodBilling

TERM_OVER = "term over"
BACKSTOP_PARKS = "lifecycle-backstop-parks"


@workflow.defn(name="SubscriptionLifecycle")
class SubscriptionLifecycle(PeriodBilling):
    @workflow.init
    def __init__(self, args: LifecycleInput) -> None:
        super().__init__(args.activity_timeout)
        self.args = args
        self.progress = SagaStatus(
            workflow_id=workflow.info().workflow_id, deal_id=args.deal.deal_id, stage=Stage.WAITING
        )
        self.next_period = args.next_period
        self.next_start = args.next_period_start or args.first_period_end
        self.notices: list[RenewalInvoice] = list(args.notices)
        self.periods: list[PeriodStatus] = list(args.periods)
        if not self.periods and args.first_invoice is not None and args.next_period == 2:
            self.periods.append(self.first_period(args))
        self.lines = list(args.lines if args.lines is not None else args.deal.lines)
        self.term_months = args.term_months or args.deal.term_months
        self.term_end = args.term_end or term_end(args.deal.close_date, self.term_months)
        self.contract_id = args.contract_id
        self.changes = list(args.changes)
        self.ended: str | None = None
        self.changing = False
        self.billing_end: SubscriptionEnd | None = None
        self.last_event_id: str | None = None
        self.period: PeriodStatus | None = None
        self.renewal: RenewalInvoice | None = None
        self.quote: TaxQuote | None = None
        self.invoice: Invoice | None = None
        self.payment: Payment | None = None
        self.settled_payment: Payment | None = None

    @staticmethod
    def first_period(args: LifecycleInput) -> PeriodStatus:
        """Period 1 as the deal's saga billed it (so a cancellation in it can credit its invoice)."""
        invoice = args.first_invoice
        assert invoice is not None
        period = PeriodStatus(
            number=1,
            start=add_months(args.first_period_end, -args.deal.billing_period.months),
            end=args.first_period_end,
            state=PeriodState.BILLED,
            trigger="saga",
            lines=list(args.deal.lines),
            # paid: the saga starts the lifecycle once the first invoice is paid and applied
            totals={
                "subtotal": invoice.subtotal.amount,
                "tax": invoice.tax.amount,
                "total": invoice.total.amount,
                "paid": invoice.total.amount,
            },
        )
        period.ids["invoice"] = invoice.external_refs.get(args.vendors.billing, "")
        if args.first_invoice_erp_id:
            period.ids["erp_invoice"] = args.first_invoice_erp_id
        return period

    @workflow.run
    async def run(self, args: LifecycleInput) -> None:
        self.skip_unchanged_attributes = args.skip_unchanged_attributes
        if args.contract_id is None and args.next_period == 2 and workflow.patched("lifecycle-crm-contract"):
            await self.stage(Stage.WAITING, self.record_contract)
        billed_this_run = 0
        while True:
            await self.enter(Stage.WAITING)
            try:
                event = await self.next_event()
            except Cancelled:
                await self.enter(Stage.CANCELLED)
                self.log(Stage.CANCELLED, "stopped following the subscription", "it stays as it is in billing")
                workflow.set_current_details(
                    f"**Stopped** on a cancellation request before period {self.next_period}: later invoices of "
                    f"{self.args.subscription_id} are not taxed, posted or applied by c2c"
                )
                raise asyncio.CancelledError("stopped on request between billing periods") from None
            if isinstance(event, str):  # TERM_OVER
                if self.args.auto_renew and not self.cancelled() and self.billing_end is None:
                    total, occurrence = self.renewed_term(self.args.deal.term_months), f"auto-{self.term_end.date()}"
                    await self.stage(Stage.AMEND, functools.partial(self.renew, total, occurrence))
                    continue
                await self.end(self.end_reason(), self.billing_end.ended_at if self.billing_end else self.term_end)
                return
            if not isinstance(event, tuple):
                self.changing = True
                await self.apply_change(event)
                self.changing = False
                if self.ended:
                    await self.end(self.ended, self.term_end)
                    return
                continue
            renewal, trigger = event
            await self.bill(renewal, trigger)
            billed_this_run += 1
            if billed_this_run >= args.periods_per_run or workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(
                    args.model_copy(
                        update={
                            "next_period": self.next_period,
                            "next_period_start": self.next_start,
                            "notices": self.notices,
                            "periods": self.periods,
                            "first_invoice": None,
                            "lines": self.lines,
                            "term_end": self.term_end,
                            "term_months": self.term_months,
                            "contract_id": self.contract_id,
                            "changes": self.changes,
                        }
                    )
                )

    def cancel_refusal(self) -> str | None:
        if self.renewal is not None:
            return f"period {self.next_period} is being billed: the lifecycle stops once it is done"
        if self.changing:
            return "a CRM change is being applied: the lifecycle stops once it is done"
        return None  # between periods and changes

    def ended_in_billing(self) -> datetime | None:
        return self.billing_end.ended_at if self.billing_end is not None else None

    def end_reason(self) -> str:
        if self.cancelled():
            return "cancelled"
        if self.billing_end is not None and self.billing_end.ended_at < self.term_end:
            return "cancelled in billing"
        return "lapsed"

    def cancelled(self) -> bool:
        return any(r.state is ChangeState.APPLIED and r.amendment.kind.value == "cancellation" for r in self.changes)

    # ---- what starts a period -------------------------------------------------------------------

    def signalled(self) -> RenewalInvoice | None:
        return next((n for n in self.notices if n.period_start == self.next_start), None)

    async def next_event(self) -> tuple[RenewalInvoice, str] | ChangeRecord | str:
        """What comes next: a CRM change due in the current period, the next period's invoice (signalled by the
        webhook, or found by the backstop once `grace` passed), or the end of the term (TERM_OVER)."""
        deadline = self.next_start + self.args.grace
        while True:
            due = self.due_change()
            if due is not None:
                return due
            if self.billing_end is not None and self.signalled() is None:
                return TERM_OVER  # billing ended it: nothing more to bill
            if self.next_start >= self.term_end:  # no period after this one, unless the term moves on meanwhile
                if self.args.auto_renew and not self.cancelled():
                    return TERM_OVER  # renew now, before billing reaches the term's end
                left = max(self.term_end - workflow.now(), timedelta(0))
                if await self.wait_for(lambda: self.due_change() is not None or self.billing_end is not None, left):
                    continue
                return TERM_OVER
            if await self.wait_for(
                lambda: self.signalled() is not None or self.due_change() is not None or self.billing_end is not None,
                max(deadline - workflow.now(), timedelta(0)),
            ):
                if self.due_change() is not None or self.signalled() is None:
                    continue
                renewal = self.require(self.signalled())
                self.notices.remove(renewal)
                return renewal, "webhook"
            found = await self.backstop()
            billed = next((r for r in found if r.period_start == self.next_start), None)
            if billed is not None:
                self.log(Stage.WAITING, f"backstop: period {self.next_period} found in billing", billed.invoice_id)
                self.notices = [n for n in self.notices if n.invoice_id != billed.invoice_id]
                return billed, "backstop"
            self.log(
                Stage.WAITING, f"backstop: no invoice yet for period {self.next_period}", self.next_start.isoformat()
            )
            deadline = workflow.now() + self.args.grace

    async def backstop(self) -> list[RenewalInvoice]:
        """Billing's renewal invoices of the subscription. A refusal retries cannot fix (a billing system that does
        not renew yet answers `unsupported`) parks the lifecycle for finance, whose retry asks again; it failed the
        lifecycle before (BACKSTOP_PARKS)."""
        while True:
            try:
                found: list[RenewalInvoice] = await self.call(
                    act.BILLING_QUEUE,
                    Names.RENEWAL_INVOICES,
                    act.RenewalInvoices(billing=self.billing, subscription_id=self.args.subscription_id),
                    list[RenewalInvoice],
                )
                return found
            except ActivityError as err:
                if not workflow.patched(BACKSTOP_PARKS):
                    raise
                # The lifecycle parks, not a period (none is being billed: PeriodBilling.park marks one); retry is
                # finance's one choice, and asks billing again.
                await SagaRuntime.park(self, self.problem_from(Stage.WAITING, err))
                await self.enter(Stage.WAITING)

    @workflow.signal
    def billing_ended(self, end: SubscriptionEnd) -> None:
        """Billing ended the subscription (the webhook read it back): at its term's end in billing's time (a test
        clock runs ahead of the workflow's), or cancelled in billing's dashboard. Nothing more will be billed."""
        if end.subscription_id != self.args.subscription_id:
            self.log(self.progress.stage, "billing end ignored", f"{end.subscription_id} is not ours")
        elif self.billing_end is None:
            self.billing_end = end
            self.log(self.progress.stage, "billing ended the subscription", end.ended_at.isoformat())

    @workflow.signal
    def renewal_invoiced(self, notice: RenewalInvoice) -> None:
        """Billing made (or finalized) a renewal invoice (the webhook read it back from the billing API)."""
        stage = self.progress.stage
        if notice.subscription_id != self.args.subscription_id:
            self.log(stage, "renewal ignored", f"{notice.invoice_id} bills {notice.subscription_id}, not ours")
        elif any(p.ids.get("invoice") == notice.invoice_id for p in self.periods) or (
            self.renewal is not None and self.renewal.invoice_id == notice.invoice_id
        ):
            self.log(stage, "renewal ignored", f"{notice.invoice_id}: period already billed or being billed")
        elif notice.period_start < self.next_start:
            self.log(stage, "renewal ignored", f"{notice.invoice_id} bills {notice.period_start}, already billed")
        elif any(n.invoice_id == notice.invoice_id for n in self.notices):
            self.log(stage, "renewal ignored", f"{notice.invoice_id}: already signalled")
        else:
            self.notices.append(notice)
            self.log(stage, "renewal signalled", f"{notice.invoice_id} from {notice.period_start.isoformat()}")

    @workflow.update
    async def resolve(self, resolution: Resolution) -> LifecycleStatus:
        """Finance's decision on the parked period (retry only in this slice)."""
        self.decision = resolution
        self.log(
            self.progress.stage, f"resolution: {resolution.action}", f"by {resolution.actor}: {resolution.note or ''}"
        )
        return self.status()

    @resolve.validator
    def validate_resolve(self, resolution: Resolution) -> None:
        if self.progress.problem is None or self.decision is not None:
            raise refused("not_waiting", f"no period is waiting for a decision (stage {self.progress.stage})")
        if resolution.action is not ResolutionAction.RETRY:
            raise refused("retry_only", "a billing period can only be retried for now")

    @workflow.update
    def amend(self, amendment: Amendment) -> AmendmentOutcome:
        """A change won in the CRM (amendment, renewal or cancellation of this contract): accepted and applied in
        CRM order, a duplicate (nothing more), or refused naming the rule it breaks (nothing changes)."""
        return self.accept(amendment)

    @amend.validator
    def validate_amend(self, amendment: Amendment) -> None:
        if amendment.crm != self.args.crm or amendment.original_deal_id != self.args.deal.deal_id:
            raise ValueError(
                f"{amendment.deal_id} amends the contract of {amendment.crm} deal {amendment.original_deal_id}, "
                f"not this subscription's ({self.args.deal.deal_id})"
            )

    @workflow.signal
    def resume(self, request: Resume | None = None) -> None:
        request = request or Resume()
        if self.progress.problem is not None and self.decision is None:
            self.decision = Resolution(action=ResolutionAction.RETRY, actor=request.actor, note=request.note)
            self.log(self.progress.stage, "resolution: retry (resume signal)", f"by {request.actor}: {request.note}")

    @workflow.signal
    def payment_settled(self, payment: Payment) -> None:
        """A payment outcome billing's webhook reported (the same signal name as the deal's saga)."""
        ours = self.renewal.invoice_id if self.renewal else None
        if payment.invoice_id != ours or payment.status is PaymentStatus.PENDING:
            self.log(self.progress.stage, "billing event ignored", f"payment for {payment.invoice_id}, not {ours}")
            return
        self.settled_payment = payment

    @workflow.query
    def status(self) -> LifecycleStatus:
        return LifecycleStatus(
            workflow_id=self.progress.workflow_id,
            subscription_id=self.args.subscription_id,
            deal_id=self.args.deal.deal_id,
            stage=self.progress.stage,
            problem=self.progress.problem,
            next_period=self.next_period,
            next_period_start=self.next_start,
            periods=self.periods,
            timeline=self.progress.timeline,
            lines=self.lines,
            term_end=self.term_end,
            contract_id=self.contract_id,
            changes=self.changes,
            ended=self.ended,
            golden_id=self.args.golden_id,
            billing_customer_id=self.args.billing_customer_id,
            billing=self.billing,
            usage_lines=self.args.deal.usage_lines,
        )
