"""What one deal's saga knows as it runs, and the bookkeeping every stage shares (business events, KPI facts).

CustomerToCash builds on it: compensation.py and settlement.py add their stages, customer_to_cash.py the rest.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import workflows.interface as act
    import workflows.policies as policies
    from canonical import BusinessEvent, Deal, EventType, Invoice, Payment, Subscription, TaxQuote, ids
    from workflows.interface import Names
    from workflows.saga import SagaInput, SagaStatus, Stage
    from workflows.saga_runtime import SagaRuntime


class DealSaga(SagaRuntime):
    """The saga's state; the final class's `@workflow.init` calls this `__init__`."""

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
        self.chosen_golden_id: str | None = None  # finance's pick when the customer match was ambiguous

    @property
    def billing(self) -> str:
        """The billing system's name: the key of its ids in every `external_refs` and in `customer_refs`."""
        return self.args.vendors.billing

    @property
    def erp(self) -> str:
        """The ERP's name: the key of the customer's ERP id in `customer_refs` (`{erp}:{entity}` in the hub)."""
        return self.args.vendors.erp

    async def emit(self, event_type: EventType, data: dict[str, Any], *, occurrence: str | None = None) -> None:
        """Add a business event to the outbox; each is caused by the one before, the first by the CRM close.
        A type emitted more than once per saga names each `occurrence` (the outbox dedupes by event id)."""
        event = BusinessEvent.for_step(
            workflow_id=self.progress.workflow_id,
            event_type=event_type,
            business_key=self.args.deal_id,
            time=workflow.now(),
            data=data,
            causation_id=self.last_event_id or f"{self.args.crm}:{self.args.deal_id}:closed-won",
            subject=self.args.deal_id,
            occurrence=occurrence,
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
