"""CustomerToCash: one saga per closed deal, onboard -> activate -> tax -> invoice -> post -> settle -> apply.

Any step that fails for good (a business rule, a permanent error, or a vendor still down after the retry policy) parks
the saga in `needs_attention` with a readable Problem; finance answers with the `resolve` update (retry, retry with a
corrected address, or cancel-and-compensate) or the `resume` signal.

Getting paid: settlement.py; undo steps: compensation.py; documents sent: documents.py; handlers: this class.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    import workflows.documents as documents
    import workflows.interface as act
    import workflows.policies as policies
    import workflows.search_attributes as search_attributes
    from canonical import Deal, EventType, Invoice, Payment, PaymentStatus, Subscription, TaxQuote, ids
    from canonical.reference import LEGAL_ENTITIES
    from canonical.rules import deal_problems
    from workflows.calls import LOCAL_HUB_PATCH, SAGA_OVERHEAD_PATCH, patched_before_local_write
    from workflows.compensation import Undo
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
    from workflows.saga_resolutions import check_resolution
    from workflows.saga_runtime import Cancelled, Park
    from workflows.settlement import Settlement
    from workflows.subscription import SubscriptionLifecycle
    from workflows.subscription_messages import LifecycleInput

LIFECYCLE_PATCH = "start-subscription-lifecycle"


@workflow.defn(name="CustomerToCash")
class CustomerToCash(Settlement):
    @workflow.init
    def __init__(self, args: SagaInput) -> None:
        super().__init__(args)

    # ---- the business process -------------------------------------------------------------------

    @workflow.run
    async def run(self, args: SagaInput) -> SagaResult:
        self.skip_unchanged_attributes = workflow.patched(SAGA_OVERHEAD_PATCH)
        if self.skip_unchanged_attributes:
            # A run that starts with this patch decides the saga's earlier patches now too, in its first workflow
            # task: with the onboarding's hub calls local, the store-write patch would otherwise be met right after a
            # local activity, where the worker's race can move its marker a task later (patched_before_local_write).
            workflow.patched(LOCAL_HUB_PATCH)
            workflow.patched(LIFECYCLE_PATCH)
        try:
            await self.stage(Stage.ONBOARD, self.onboard)
            await self.stage(Stage.ACTIVATE, self.activate)
            await self.stage(Stage.TAX, self.quote_tax)
            await self.stage(Stage.INVOICE, self.issue_invoice)
            await self.stage(Stage.POST, self.post_to_erp)
            await self.stage(Stage.SETTLE, self.settle)
            await self.stage(Stage.APPLY, self.apply_cash)
            if workflow.patched(LIFECYCLE_PATCH):
                await self.start_lifecycle()
            self.checkpoint()  # paid by now: a cancellation request is only noted in the timeline
            await self.enter(Stage.COMPLETED)
            workflow.set_current_details(self.summary_of_completion())
        except Cancelled:
            await self.compensate()
            await self.enter(Stage.CANCELLED)
            workflow.set_current_details(self.summary_of_cancel())
        await self.record_fact()
        if self.progress.stage is Stage.CANCELLED and workflow.cancellation_reason() is not None:
            # Asked to cancel from Temporal (the UI's "Request Cancellation"): compensated like `cancel`, ends Canceled.
            workflow.set_current_details(self.summary_of_cancel())
            raise asyncio.CancelledError("cancelled on request and compensated")
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
            fetch = act.FetchDeal(deal_id=self.args.deal_id, crm=self.args.crm)
            deal = await self.call(act.CRM_QUEUE, Names.FETCH_DEAL, fetch, Deal)
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
            self.set_attributes(
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
        if self.billing not in self.customer_refs:
            # Keyed by the golden customer, not this saga: concurrent deals of a new customer share one.
            self.customer_refs[self.billing] = await self.call(
                act.BILLING_QUEUE,
                Names.CREATE_BILLING_CUSTOMER,
                act.CreateBillingCustomer(
                    billing=self.billing,
                    golden_id=self.require(self.golden_id),
                    legal_name=self.golden_name,
                    idempotency_key=ids.billing_customer_key(self.require(self.golden_id)),
                ),
                str,
            )
        refs = {**deal.customer.external_refs, **self.customer_refs}
        customer = deal.customer.model_copy(update={"golden_id": self.golden_id, "external_refs": refs})
        entity = LEGAL_ENTITIES[deal.legal_entity]
        billing_id, erp_id = await asyncio.gather(
            self.call(
                act.BILLING_QUEUE,
                Names.BILLING_CUSTOMER,
                act.UpsertBillingCustomer(
                    billing=self.billing, customer=customer, idempotency_key=self.key("billing-customer")
                ),
                str,
            ),
            self.call(
                act.ERP_QUEUE,
                Names.ERP_CUSTOMER,
                act.UpsertErpCustomer(customer=customer, legal_entity=entity, currency=deal.currency, erp=self.erp),
                str,
            ),
        )
        self.customer_refs.update({self.billing: billing_id, self.erp: erp_id})
        self.ids(billing_customer=billing_id, erp_customer=erp_id)
        await self.call(
            act.HUB_QUEUE,
            Names.LINK_REFS,
            # One ERP customer per subsidiary, so the ERP ref is keyed by entity.
            act.LinkRefs(
                golden_id=self.golden_id, refs={self.billing: billing_id, f"{self.erp}:{deal.legal_entity}": erp_id}
            ),
            retry=policies.HUB_RETRY,
        )
        await self.call(
            act.CRM_QUEUE,
            Names.WRITE_BACK,
            act.WriteBack(
                crm=self.args.crm,
                account_id=self.progress.external_ids["crm_account"],
                refs={"golden_id": self.golden_id, "billing_id": billing_id, "erp_id": erp_id},
            ),
        )
        # The deal was read before these customers existed: a CRM account change in between would be lost without
        # this sync (CustomerMaster skips it when nothing changed since it last pushed).
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
        await self.emit(
            EventType.CUSTOMER_CREATED,
            {"golden_id": self.golden_id, "refs": dict(self.customer_refs), "source_system": self.args.crm},
        )

    async def activate(self) -> None:
        deal = self.require(self.deal)
        price_ids = await self.call(
            act.BILLING_QUEUE,
            Names.ENSURE_PRICES,
            act.EnsurePrices(
                billing=self.billing, prices=documents.price_requests(deal), idempotency_key=self.key("prices")
            ),
            dict[str, str],
            calls=2,
        )
        contract = documents.contract(deal, self.require(self.golden_id))
        self.register(Undo.CANCEL_SUBSCRIPTION)
        self.subscription = await self.call(
            act.BILLING_QUEUE,
            Names.CREATE_SUBSCRIPTION,
            act.CreateSubscription(
                billing=self.billing,
                customer_id=self.customer_refs[self.billing],
                contract=contract,
                price_ids=price_ids,
                idempotency_key=self.key("subscription"),
            ),
            Subscription,
        )
        self.ids(subscription=self.subscription.id)
        await self.emit(
            EventType.SUBSCRIPTION_ACTIVATED,
            {
                "subscription_id": self.subscription.id,
                "current_period_end": self.subscription.current_period_end,
                "source_system": self.billing,
                "source_time": self.subscription.created_at,
            },
        )

    async def quote_tax(self) -> None:
        deal = self.require(self.deal)
        request = documents.tax_request(
            deal, self.require(self.golden_id), self.tax_document_code(), workflow.now().date()
        )
        self.register(Undo.VOID_TAX)
        self.tax_quote = await self.call(act.TAX_QUEUE, Names.QUOTE_TAX, act.QuoteTax(request=request), TaxQuote)
        self.ids(tax_document=self.tax_quote.document_code)
        self.totals(subtotal=deal.period_amount.amount, tax=self.tax_quote.total_tax.amount)
        await self.emit(
            EventType.TAX_QUOTED,
            {
                "document": request.document_code,
                "tax": self.tax_quote.total_tax.amount,
                "source_system": self.args.vendors.tax,
            },
        )

    async def issue_invoice(self) -> None:
        deal, quote = self.require(self.deal), self.require(self.tax_quote)
        if self.invoice is None:
            draft = documents.invoice_draft(
                deal,
                quote,
                self.require(self.golden_id),
                self.progress.workflow_id,
                issued=workflow.now().date(),
                terms_days=self.args.payment_terms_days,
            )
            self.register(Undo.VOID_INVOICE)
            self.invoice = await self.call(
                act.BILLING_QUEUE,
                Names.CREATE_INVOICE,
                act.CreateInvoice(
                    billing=self.billing,
                    customer_id=self.customer_refs[self.billing],
                    subscription_id=self.require(self.subscription).id,
                    invoice=draft,
                    idempotency_key=self.key("invoice"),
                ),
                Invoice,
                calls=2,
            )
            self.ids(invoice=self.invoice.external_refs[self.billing])
        invoice_id = self.invoice.external_refs[self.billing]
        finalized = await self.call(
            act.BILLING_QUEUE,
            Names.FINALIZE_INVOICE,
            act.InvoiceAction(billing=self.billing, invoice_id=invoice_id, idempotency_key=self.key("finalize")),
            Invoice,
        )
        self.invoice = finalized
        self.ids(invoice_number=finalized.number or "")
        self.totals(total=finalized.total.amount)
        await self.emit(
            EventType.INVOICE_ISSUED,
            {
                "invoice": finalized.external_refs[self.billing],
                "number": finalized.number,
                "source_system": self.billing,
                "source_time": finalized.finalized_at,
            },
        )

    async def post_to_erp(self) -> None:
        invoice, deal = self.require(self.invoice), self.require(self.deal)
        if "erp_invoice" not in self.progress.external_ids:
            self.register(Undo.CREDIT_MEMO)
            customer = self.customer_refs[self.erp]
            erp_invoice = await self.call(
                act.ERP_QUEUE,
                Names.POST_INVOICE,
                act.PostInvoice(invoice=invoice, customer_erp_id=customer, billing_system=self.billing, erp=self.erp),
                str,
            )
            self.ids(erp_invoice=erp_invoice)
        await self.call(
            act.TAX_QUEUE,
            Names.COMMIT_TAX,
            act.TaxDocument(company_code=deal.legal_entity, document_code=self.tax_document_code()),
        )
        # The ERP answers a posting with its id only: the source time is the invoice's own, in billing.
        await self.emit(
            EventType.INVOICE_POSTED,
            {
                "invoice": invoice.external_refs[self.billing],
                "erp_invoice": self.progress.external_ids["erp_invoice"],
                "number": invoice.number,
                "total": invoice.total,
                "source_system": self.billing,
                "source_time": invoice.finalized_at,
            },
        )

    async def apply_cash(self) -> None:
        payment, deal = self.require(self.payment), self.require(self.deal)
        if "erp_payment" not in self.progress.external_ids:
            erp_payment = await self.call(
                act.ERP_QUEUE,
                Names.APPLY_PAYMENT,
                act.ApplyPayment(
                    payment=payment,
                    customer_erp_id=self.customer_refs[self.erp],
                    invoice_erp_id=self.progress.external_ids["erp_invoice"],
                    billing_system=self.billing,
                    erp=self.erp,
                    legal_entity=deal.legal_entity,
                ),
                str,
            )
            self.ids(erp_payment=erp_payment)
        if payment.fee is not None and payment.fee.amount > 0:
            payment_id = payment.external_refs[self.billing]
            entry = documents.fee_entry(payment, deal.legal_entity, payment_id, workflow.now().date())
            fee = act.PostJournal(entry=entry, erp=self.erp)
            journal = await self.call(act.ERP_QUEUE, Names.POST_JOURNAL, fee, str)
            self.ids(erp_fee_journal=journal)
        # The lifecycle's patch is decided before this store write, not after it (patched_before_local_write).
        patched_before_local_write(LIFECYCLE_PATCH)
        await self.emit(
            EventType.PAYMENT_APPLIED,
            {"erp_payment": self.progress.external_ids["erp_payment"], "source_system": self.erp},
        )

    async def start_lifecycle(self) -> None:
        """Hand the later periods to the subscription's own workflow: a child the saga abandons when it ends, so
        the start is a deterministic command in this history and the lifecycle outlives the deal's saga."""
        deal, subscription = self.require(self.deal), self.require(self.subscription)
        if subscription.current_period_end is None:
            self.log(Stage.APPLY, "subscription lifecycle not started", "billing gave no period end")
            return
        lifecycle_id = ids.subscription_id(self.args.crm, deal.deal_id)
        try:
            # Uninterrupted: a cancellation request arriving now must not cancel the lifecycle it is starting.
            await self.uninterrupted(
                workflow.start_child_workflow(
                    SubscriptionLifecycle.run,
                    LifecycleInput(
                        crm=self.args.crm,
                        deal=deal,
                        vendors=self.args.vendors,
                        golden_id=self.require(self.golden_id),
                        subscription_id=subscription.id,
                        billing_customer_id=self.customer_refs[self.billing],
                        erp_customer_id=self.customer_refs[self.erp],
                        payment_terms_days=self.args.payment_terms_days,
                        dunning_days=self.args.dunning_days,
                        first_period_end=subscription.current_period_end,
                        activity_timeout=self.args.activity_timeout,
                        auto_renew=self.args.auto_renew,
                        prorations=self.args.prorations,
                        first_invoice=self.invoice,
                        first_invoice_erp_id=self.progress.external_ids.get("erp_invoice"),
                        skip_unchanged_attributes=self.skip_unchanged_attributes,
                    ),
                    id=lifecycle_id,
                    parent_close_policy=ParentClosePolicy.ABANDON,
                    # Its first stage, entity and currency from the start, as the trigger starts a saga: the
                    # lifecycle then upserts none of them until they change.
                    search_attributes=self.lifecycle_attributes(deal) if self.skip_unchanged_attributes else None,
                )
            )
        except WorkflowAlreadyStartedError:
            pass  # a reset saga ran this again: the lifecycle already owns the subscription
        self.ids(subscription_lifecycle=lifecycle_id)

    @staticmethod
    def lifecycle_attributes(deal: Deal) -> TypedSearchAttributes:
        return TypedSearchAttributes(
            [
                SearchAttributePair(search_attributes.STAGE, Stage.WAITING.value),
                SearchAttributePair(search_attributes.LEGAL_ENTITY, deal.legal_entity),
                SearchAttributePair(search_attributes.CURRENCY, deal.currency),
            ]
        )

    # ---- cancellation ---------------------------------------------------------------------------

    def cancel_refusal(self) -> str | None:
        """Until the customer has paid a cancellation request compensates; after it the saga only moves
        forward (a refund or credit of a paid invoice is finance's decision in billing)."""
        if self.payment is not None or self.paid_meanwhile():
            return "the customer has paid: the saga only moves forward now (a refund is finance's decision)"
        if self.progress.stage in (Stage.COMPENSATING, Stage.CANCELLED):
            return "already cancelling"
        return None

    def summary_of_cancel(self) -> str:
        undone = [e.event for e in self.progress.timeline if e.stage is Stage.COMPENSATING and e.event != "entered"]
        how = "on request" if workflow.cancellation_reason() is not None else "by finance's decision"
        return f"**Cancelled** {how} and compensated: " + ("; ".join(undone) or "nothing to undo")

    def summary_of_completion(self) -> str:
        """The completed saga's page in the Temporal UI: what each system holds for the deal."""
        refs, totals = self.progress.external_ids, self.progress.totals
        paid = f"{totals.get('paid', 0)} minor units of {self.progress.currency}"
        later = refs.get("subscription_lifecycle")
        return (
            f"**Completed**: invoice `{refs.get('invoice', '?')}` paid ({paid}), posted to the ERP as "
            f"`{refs.get('erp_invoice', '?')}`, payment `{refs.get('payment', '?')}` applied as "
            f"`{refs.get('erp_payment', '?')}`; subscription `{refs.get('subscription', '?')}`"
            + (f" continues in `{later}` (its later periods)" if later else "")
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
        check_resolution(self.progress, self.decision is not None, self.payment is not None, resolution)

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
        ours = self.invoice.external_refs.get(self.billing) if self.invoice else None
        if payment.invoice_id != ours:  # only this saga's invoice can settle it
            self.log(self.progress.stage, "billing event ignored", f"payment for {payment.invoice_id}, not {ours}")
            return
        self.log(
            self.progress.stage, f"billing event: payment {payment.status}", payment.external_refs.get(self.billing)
        )
        if payment.status is not PaymentStatus.PENDING:
            self.settled_payment = payment
