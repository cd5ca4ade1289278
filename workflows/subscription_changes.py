"""What the SubscriptionLifecycle does with the contract's CRM changes and its term: amend (prorated by billing,
billed on the next period's invoice), renew (the term moves on), cancel (at a period end, or mid-period with a
credit note for the unused time posted to the ERP as a credit memo applied to the invoice it credits), and end.

Every write is keyed by the change's own CRM id (`{lifecycle}:{kind}:{deal}:{step}`) or upserts by billing's
ids, so a retried step, a worker crash or a replayed update writes nothing twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import workflows.documents as documents
    import workflows.interface as act
    import workflows.policies as policies
    import workflows.search_attributes as search_attributes
    import workflows.subscription_terms as subscription_terms
    from canonical import (
        Amendment,
        AmendmentKind,
        BusinessEvent,
        CreditNote,
        Deal,
        DealLine,
        EventType,
        ProrationBilling,
        RenewalInvoice,
        TaxQuote,
        ids,
    )
    from canonical.contract import add_months, term_end
    from workflows.interface import Names
    from workflows.saga import Stage
    from workflows.saga_runtime import SagaRuntime
    from workflows.subscription_messages import (
        AmendmentOutcome,
        AmendmentRecord,
        ChangeState,
        LifecycleInput,
        PeriodStatus,
    )
    from workflows.subscription_terms import Position, Refused


class ContractChanges(SagaRuntime):
    """The lifecycle's contract: its lines, term and CRM changes. SubscriptionLifecycle sets the state."""

    args: LifecycleInput
    lines: list[DealLine]
    term_end: datetime
    term_months: int
    contract_id: str | None
    changes: list[AmendmentRecord]
    periods: list[PeriodStatus]
    next_start: datetime
    ended: str | None
    last_event_id: str | None
    refused_change: str | None = None  # the refused CRM change finance's queue shows, until one is accepted

    @property
    def billing(self) -> str:
        return self.args.vendors.billing

    @property
    def erp(self) -> str:
        """The vendor playing the ERP for the subscription's legal entity: every ERP call goes to it."""
        return self.args.vendors.erp

    @property
    def deal(self) -> Deal:
        """The deal as it bills now (its lines amended)."""
        return subscription_terms.deal_with(self.args.deal, self.lines)

    # ---- accepting a change (the `amend` update) --------------------------------------------------

    def position(self, excluding: AmendmentRecord | None = None) -> Position:
        """Where the subscription stands for the next change: after every change already accepted (but
        `excluding`, the pending one being applied)."""
        lines, ended, last = list(self.lines), self.ended is not None, None
        for record in self.changes:
            if record.state is ChangeState.REFUSED or record is excluding:
                continue
            change = record.amendment
            last = change.modified_at if last is None else max(last, change.modified_at)
            if record.state is ChangeState.PENDING:
                if change.kind is AmendmentKind.CANCELLATION:
                    ended = True
                elif change.lines:
                    try:
                        lines = subscription_terms.amended_lines(lines, change)
                    except Refused:  # re-checked when it applies (it will be refused then): nothing to project
                        pass
        return Position(
            currency=self.args.deal.currency,
            lines=lines,
            period_start=self.current_start(),
            next_start=self.next_start,
            term_end=self.term_end,
            ended=ended,
            last_modified=last,
        )

    def current_period(self) -> PeriodStatus | None:
        """The last period billed (not an invoice of prorations billed at once within it)."""
        return next((p for p in reversed(self.periods) if p.change is None), None)

    def current_start(self) -> datetime:
        current = self.current_period()
        return current.start if current is not None else self.period_one_start()

    def period_one_start(self) -> datetime:
        return add_months(self.args.first_period_end, -self.args.deal.billing_period.months)

    def accept(self, amendment: Amendment) -> AmendmentOutcome:
        known = next((r for r in self.changes if r.amendment.deal_id == amendment.deal_id), None)
        if known is not None:
            return AmendmentOutcome(
                deal_id=amendment.deal_id,
                status="duplicate",
                rule=known.rule,
                message=f"{amendment.deal_id} is already {known.state.value}: nothing more changes",
            )
        try:
            subscription_terms.check(amendment, self.position())
        except Refused as refused:
            self.changes.append(
                AmendmentRecord(
                    amendment=amendment, state=ChangeState.REFUSED, rule=refused.rule, detail=refused.message
                )
            )
            self.log(self.progress.stage, f"{amendment.kind.value} refused", f"{refused.rule}: {refused.message}")
            self.flag_refusal(refused.rule, amendment.deal_id)
            return AmendmentOutcome(
                deal_id=amendment.deal_id, status="refused", rule=refused.rule, message=refused.message
            )
        self.flag_refusal(None, amendment.deal_id)
        self.changes.append(AmendmentRecord(amendment=amendment, state=ChangeState.PENDING))
        self.log(
            self.progress.stage,
            f"{amendment.kind.value} accepted",
            f"{amendment.deal_id} effective {amendment.effective_date.isoformat()}",
        )
        return AmendmentOutcome(
            deal_id=amendment.deal_id,
            status="accepted",
            message=f"{amendment.kind.value} {amendment.deal_id} accepted: it takes effect "
            f"{amendment.effective_date.isoformat()}",
        )

    def flag_refusal(self, rule: str | None, deal_id: str) -> None:
        """A refused CRM change shows in finance's queue (C2CException = its rule, next to the waiting stage) until
        a later change is accepted; a parked period's own problem takes precedence."""
        if self.progress.problem is not None or not workflow.patched("lifecycle-refusal-attribute"):
            return
        if rule is not None:
            self.refused_change = deal_id
            self.set_attributes([search_attributes.EXCEPTION.value_set(rule)])
            workflow.set_current_details(
                f"**CRM change refused**: {deal_id} ({rule}); nothing changed. Fix it in the CRM and close a new "
                "opportunity on the contract (the lifecycle's status lists every change with its outcome)"
            )
        elif self.refused_change is not None:
            self.refused_change = None
            self.set_attributes([search_attributes.EXCEPTION.value_unset()])

    def due_change(self) -> AmendmentRecord | None:
        """The oldest pending change (CRM order), once its date falls in the current period; later ones wait."""
        pending = [r for r in self.changes if r.state is ChangeState.PENDING]
        if not pending:
            return None
        head = pending[0]
        change = head.amendment
        at_period_end = change.effective_date == self.next_start.date()
        if change.kind is AmendmentKind.CANCELLATION and at_period_end:
            return head
        if change.kind is AmendmentKind.RENEWAL and not change.lines:
            return head
        return head if self.moment(change) < self.next_start else None

    def moment(self, change: Amendment) -> datetime:
        return subscription_terms.effective_moment(change.effective_date, self.current_start())

    # ---- applying a change ---------------------------------------------------------------------------

    def ckey(self, change: Amendment, step: str) -> str:
        return self.key(f"{change.kind.value}:{change.deal_id}:{step}")

    async def apply_change(self, record: AmendmentRecord) -> None:
        change = record.amendment
        try:  # re-checked against the state now (an earlier change may have moved it)
            lines = subscription_terms.check(change, self.position(excluding=record))
        except Refused as refused:
            record.state, record.rule, record.detail = ChangeState.REFUSED, refused.rule, refused.message
            self.log(Stage.AMEND, f"{change.kind.value} refused", f"{refused.rule}: {refused.message}")
            return
        if change.kind is AmendmentKind.CANCELLATION:
            await self.stage(Stage.AMEND, lambda: self.cancel(change))
        else:
            if change.lines:
                await self.stage(Stage.AMEND, lambda: self.amend_lines(change, lines))
                if self.args.prorations is ProrationBilling.IMMEDIATE:
                    await self.bill_prorations(change)
            if change.kind is AmendmentKind.RENEWAL:
                total = self.renewed_term(change.term_months or 0)
                await self.stage(Stage.AMEND, lambda: self.renew(total, change.deal_id, change.modified_at))
        record.state = ChangeState.APPLIED
        self.log(Stage.AMEND, f"{change.kind.value} applied", change.deal_id)

    async def bill_prorations(self, change: Amendment) -> None:
        raise NotImplementedError  # PeriodBilling: the prorations billed at once like a period

    async def amend_lines(self, change: Amendment, lines: list[DealLine]) -> None:
        deal = subscription_terms.deal_with(self.args.deal, lines)
        price_ids: dict[str, str] = await self.call(
            act.BILLING_QUEUE,
            Names.ENSURE_PRICES,
            act.EnsurePrices(
                billing=self.billing, prices=documents.price_requests(deal), idempotency_key=self.ckey(change, "prices")
            ),
            dict[str, str],
        )
        effective = self.moment(change)
        await self.call(
            act.BILLING_QUEUE,
            Names.UPDATE_SUBSCRIPTION,
            act.UpdateSubscription(
                billing=self.billing,
                subscription_id=self.args.subscription_id,
                lines=lines,
                price_ids=price_ids,
                effective=effective,
                idempotency_key=self.ckey(change, "update"),
            ),
        )
        before = self.lines
        self.lines = lines
        await self.emit(
            EventType.SUBSCRIPTION_AMENDED,
            {
                "subscription_id": self.args.subscription_id,
                "amendment": change.deal_id,
                "effective": effective.isoformat(),
                "lines_before": [line.model_dump(mode="json") for line in before],
                "lines": [line.model_dump(mode="json") for line in lines],
                "source_system": self.args.deal.crm,
                "source_time": change.modified_at,
            },
            occurrence=change.deal_id,
        )

    def renewed_term(self, term_months: int) -> int:
        """The whole term, from the contract's start, once renewed by `term_months` (as the CRM counts it)."""
        return self.term_months + term_months

    async def renew(self, total_months: int, occurrence: str, decided_at: datetime | None = None) -> None:
        """The term runs to `total_months` from the contract's start (computed once, before the step: a retried
        step must not move it twice), with the lines as they are (no uplift); billing and the CRM contract follow.
        `decided_at`: the CRM renewal's last-modified stamp; an automatic renewal happens at the old term end."""
        new_end = term_end(self.args.deal.close_date, total_months)
        await self.call(
            act.BILLING_QUEUE,
            Names.SET_TERM_END,
            act.SetTermEnd(
                billing=self.billing,
                subscription_id=self.args.subscription_id,
                end=new_end,
                idempotency_key=self.key(f"renewal:{occurrence}:term"),
            ),
        )
        previous, self.term_end = self.term_end, max(self.term_end, new_end)
        self.term_months = max(self.term_months, total_months)
        await self.update_contract(
            act.UpdateContract(crm=self.args.crm, deal_id=self.args.deal.deal_id, term_months=total_months)
        )
        await self.emit(
            EventType.SUBSCRIPTION_RENEWED,
            {
                "subscription_id": self.args.subscription_id,
                "renewal": occurrence,
                "term_end_before": previous.isoformat(),
                "term_end": new_end.isoformat(),
                "source_system": self.args.deal.crm if decided_at is not None else self.billing,
                "source_time": decided_at or previous,
            },
            occurrence=f"renewal-{occurrence}",
        )

    async def cancel(self, change: Amendment) -> None:
        """At the current period's end: billing ends the subscription there. Earlier: it ends now, and the unused
        time of the period is credited on its invoice and in the ERP."""
        if change.effective_date >= self.next_start.date():
            await self.call(
                act.BILLING_QUEUE,
                Names.SET_TERM_END,
                act.SetTermEnd(
                    billing=self.billing,
                    subscription_id=self.args.subscription_id,
                    end=self.next_start,
                    idempotency_key=self.ckey(change, "term"),
                ),
            )
            self.term_end = self.next_start
            self.log(Stage.AMEND, "ends at period end", self.next_start.isoformat())
            last = subscription_terms.last_day(self.next_start)
            await self.update_contract(
                act.UpdateContract(crm=self.args.crm, deal_id=self.args.deal.deal_id, ended_on=last)
            )
            return
        effective = self.moment(change)
        await self.call(
            act.BILLING_QUEUE,
            Names.CANCEL_SUBSCRIPTION,
            act.CancelSubscription(
                billing=self.billing,
                subscription_id=self.args.subscription_id,
                idempotency_key=self.ckey(change, "end"),
            ),
        )
        self.term_end = effective
        period = self.current_period()
        if period is None or "invoice" not in period.ids:
            self.log(Stage.AMEND, "no credit", "the period's invoice is not known to this lifecycle")
        else:
            credit = subscription_terms.unused_credit(
                period, effective, self.args.deal, self.args.golden_id, f"cancelled from {effective.date()}"
            )
            if credit is not None:
                await self.credit(period, credit, change)
        self.ended = "cancelled"

    async def credit(self, period: PeriodStatus, credit: CreditNote, change: Amendment) -> None:
        """Credit note in billing, credit memo in the ERP applied to the period's invoice, and (lifecycles from now
        on) the credit's tax as the tax engine computes it, committed once the memo is posted."""
        taxed = workflow.patched("lifecycle-credit-tax")
        if taxed:
            credit = await self.tax_credit(period, credit, change)
        issued: CreditNote = await self.call(
            act.BILLING_QUEUE,
            Names.ISSUE_CREDIT_NOTE,
            act.IssueCreditNote(billing=self.billing, credit=credit, idempotency_key=self.ckey(change, "credit")),
            CreditNote,
        )
        period.ids["credit_note"] = issued.external_refs[self.billing]
        period.credited = issued.total.amount
        if "erp_invoice" in period.ids:
            period.ids["erp_credit_memo"] = await self.call(
                act.ERP_QUEUE,
                Names.POST_CREDIT_NOTE,
                act.PostCreditNote(
                    credit=issued,
                    invoice_erp_id=period.ids["erp_invoice"],
                    customer_erp_id=self.args.erp_customer_id,
                    billing_system=self.billing,
                    erp=self.erp,
                ),
                str,
            )
        if taxed:
            await self.call(
                act.TAX_QUEUE,
                Names.COMMIT_TAX,
                act.TaxDocument(company_code=self.args.deal.legal_entity, document_code=period.ids["credit_tax"]),
            )
        await self.emit(
            EventType.CREDIT_MEMO_APPLIED,
            {
                "invoice_id": period.ids["invoice"],
                "credit_note_id": period.ids["credit_note"],
                "erp_credit_memo_id": period.ids.get("erp_credit_memo"),
                "amount": issued.total.model_dump(mode="json"),
                "reason": issued.reason,
                "source_system": self.billing,
                "source_time": issued.created_at,
            },
            occurrence=change.deal_id,
        )

    async def tax_credit(self, period: PeriodStatus, credit: CreditNote, change: Amendment) -> CreditNote:
        """The credit with the tax its own document computes (credited lines negative), not a share of the
        period's: what the tax engine reports as owed then nets the period's tax and the credit's."""
        code = ids.period_tax_document_code(
            self.args.crm, self.args.deal.deal_id, period.number, f"credit-{change.deal_id}"
        )
        request = documents.credit_tax_request(self.deal, self.args.golden_id, code, credit)
        quote: TaxQuote = await self.call(act.TAX_QUEUE, Names.QUOTE_TAX, act.QuoteTax(request=request), TaxQuote)
        period.ids["credit_tax"] = quote.document_code
        return credit.model_copy(update={"tax": -quote.total_tax})

    async def update_contract(self, update: act.UpdateContract) -> None:
        """Keep the CRM contract c2c wrote in step with billing (a lifecycle from before contracts has none)."""
        if self.contract_id is not None:
            await self.call(act.CRM_QUEUE, Names.UPDATE_CONTRACT, update)

    async def end(self, reason: str, at: datetime) -> None:
        """The subscription is over at `at` (lapsed at its term end, or cancelled): the CRM contract is terminated
        unless it simply ran out, then say so and stop following it."""
        self.ended, self.term_end = reason, at
        if reason != "lapsed":
            closing = act.UpdateContract(
                crm=self.args.crm,
                deal_id=self.args.deal.deal_id,
                ended_on=subscription_terms.last_day(at),
                terminated=True,
            )
            await self.stage(Stage.AMEND, lambda: self.update_contract(closing))
        await self.enter(Stage.COMPLETED)
        await self.emit(
            EventType.SUBSCRIPTION_ENDED,
            {
                "subscription_id": self.args.subscription_id,
                "reason": reason,
                "ended_at": self.term_end.isoformat(),
                "source_system": self.billing,
                "source_time": self.ended_in_billing(),
            },
        )
        self.log(Stage.COMPLETED, f"subscription ended ({reason})", self.term_end.isoformat())
        workflow.set_current_details(
            f"**Ended** ({reason}) on {self.term_end.date()}: {len(self.periods)} later period(s) billed, "
            f"{sum(1 for r in self.changes if r.state is ChangeState.APPLIED)} CRM change(s) applied"
        )

    def ended_in_billing(self) -> datetime | None:
        """When billing says the subscription ended (its `customer.subscription.deleted`), if it told us."""
        return None

    async def emit(self, event_type: EventType, data: dict[str, Any], *, occurrence: str | None = None) -> None:
        event = BusinessEvent.for_step(
            workflow_id=self.progress.workflow_id,
            event_type=event_type,
            business_key=self.args.deal.deal_id,
            time=workflow.now(),
            data=data,
            causation_id=self.last_event_id,
            subject=self.args.subscription_id,
            occurrence=occurrence,
        )
        await self.call(act.HUB_QUEUE, Names.RECORD_EVENT, event, bool, retry=policies.HUB_RETRY)
        self.last_event_id = event.id

    # ---- the CRM contract ----------------------------------------------------------------------------

    async def record_contract(self) -> None:
        """Write the subscription's contract to the CRM once: amendments won there reference it."""
        self.contract_id = await self.call(
            act.CRM_QUEUE,
            Names.UPSERT_CONTRACT,
            act.UpsertContract(
                crm=self.args.crm,
                deal=self.args.deal,
                subscription_id=self.args.subscription_id,
                start=self.args.deal.close_date,
                term_months=self.args.deal.term_months,
            ),
            str,
        )
        self.log(Stage.WAITING, "contract recorded in the CRM", self.contract_id)

    # for the type checker: provided by SubscriptionLifecycle
    def signalled(self) -> RenewalInvoice | None:
        raise NotImplementedError
