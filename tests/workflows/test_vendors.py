"""Which vendor plays each role is the saga's input: with other vendors configured, every id the saga looks up
and every vendor name it sends is the configured one (fake activities record what they were asked)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from typing import Any

import pytest
from pydantic import ValidationError
from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from canonical import BusinessEvent, EventType, Invoice, Payment, PaymentStatus, Subscription, Vendors
from tests.support.estate import WORKFLOW_RUNNER
from tests.support.factories import make_deal, make_quote, usd
from tests.support.fake_saga import local_writes
from tests.support.temporal import BUILD_ID
from workflows import interface as act
from workflows.customer_to_cash import CustomerToCash
from workflows.interface import Names
from workflows.saga import SagaInput, Stage

OTHERS = Vendors(crm="hubspot", billing="chargebee", tax="taxjar", erp="xero")


def fake_activities(calls: dict[str, list[Any]]) -> dict[str, list[Callable[..., Any]]]:
    """Activities that answer as the OTHERS estate would (ids keyed `chargebee`), recording each input."""
    deal = make_deal("006VEND")
    deal = deal.model_copy(update={"customer": deal.customer.model_copy(update={"external_refs": {"hubspot": "A1"}})})

    def billed(invoice: Invoice) -> Invoice:
        return invoice.model_copy(update={"external_refs": {"chargebee": "inv_cb"}, "number": "CB-1"})

    answers: dict[str, Callable[[Any], Any]] = {
        Names.FETCH_DEAL: lambda args: deal,
        Names.RESOLVE_CUSTOMER: lambda args: act.ResolvedCustomer(
            golden_id="gc_v", legal_name="Acme Corp", created=True, refs={}
        ),
        Names.CREATE_BILLING_CUSTOMER: lambda args: "cust_cb",
        Names.BILLING_CUSTOMER: lambda args: "cust_cb",
        Names.ERP_CUSTOMER: lambda args: "xero-7",
        Names.ENSURE_PRICES: lambda args: {p.price.product_code: "price_cb" for p in args.prices},
        Names.CREATE_SUBSCRIPTION: lambda args: Subscription(
            id="sub_cb", status="active", contract=args.contract, items=[]
        ),
        Names.QUOTE_TAX: lambda args: make_quote(args.request.document_code),
        Names.CREATE_INVOICE: lambda args: billed(args.invoice),
        Names.FINALIZE_INVOICE: lambda args: billed(calls[Names.CREATE_INVOICE][0].invoice),
        Names.POST_INVOICE: lambda args: "xero-inv-1",
        Names.COLLECT_PAYMENT: lambda args: Payment(
            invoice_id=args.invoice_id,
            amount=usd(525_53),
            fee=usd(1_75),
            status=PaymentStatus.SUCCEEDED,
            external_refs={"chargebee": "pay_cb"},
        ),
        Names.APPLY_PAYMENT: lambda args: "xero-pay-1",
        Names.POST_JOURNAL: lambda args: "xero-je-1",
        Names.RECORD_EVENT: lambda args: True,
    }
    quiet = [Names.LINK_REFS, Names.WRITE_BACK, Names.SYNC_CUSTOMER_MASTER, Names.SEND_INVOICE, Names.COMMIT_TAX]
    quiet.append(Names.RECORD_FACT)
    inputs: dict[str, type[Any]] = {
        Names.FETCH_DEAL: act.FetchDeal,
        Names.RESOLVE_CUSTOMER: act.ResolveCustomer,
        Names.CREATE_BILLING_CUSTOMER: act.CreateBillingCustomer,
        Names.BILLING_CUSTOMER: act.UpsertBillingCustomer,
        Names.ERP_CUSTOMER: act.UpsertErpCustomer,
        Names.ENSURE_PRICES: act.EnsurePrices,
        Names.CREATE_SUBSCRIPTION: act.CreateSubscription,
        Names.QUOTE_TAX: act.QuoteTax,
        Names.CREATE_INVOICE: act.CreateInvoice,
        Names.FINALIZE_INVOICE: act.InvoiceAction,
        Names.POST_INVOICE: act.PostInvoice,
        Names.COLLECT_PAYMENT: act.InvoiceAction,
        Names.APPLY_PAYMENT: act.ApplyPayment,
        Names.POST_JOURNAL: act.PostJournal,
        Names.RECORD_EVENT: BusinessEvent,
        Names.LINK_REFS: act.LinkRefs,
        Names.WRITE_BACK: act.WriteBack,
        Names.SYNC_CUSTOMER_MASTER: act.SyncCustomerMaster,
        Names.SEND_INVOICE: act.InvoiceAction,
        Names.COMMIT_TAX: act.TaxDocument,
        Names.RECORD_FACT: act.SagaFactInput,
    }

    def fake(name: str) -> Callable[..., Any]:
        model = inputs[name]

        @activity.defn(name=name)
        async def run(args: dict[str, Any]) -> Any:
            parsed = model.model_validate(args)
            calls.setdefault(name, []).append(parsed)
            return answers[name](parsed) if name in answers else None

        return run

    by_queue: dict[str, list[Callable[..., Any]]] = {}
    for name in [*answers, *quiet]:
        by_queue.setdefault(name.split(".")[0], []).append(fake(name))
    return by_queue


@pytest.fixture
async def recorded(time_skipping_env: WorkflowEnvironment, task_queue: str) -> AsyncIterator[dict[str, list[Any]]]:
    calls: dict[str, list[Any]] = {}
    client = time_skipping_env.client
    async with AsyncExitStack() as stack:
        fakes = fake_activities(calls)
        await stack.enter_async_context(
            Worker(
                client,
                build_id=BUILD_ID,
                task_queue=task_queue,
                workflows=[CustomerToCash],
                activities=local_writes(fakes.get("hub", [])),
                workflow_runner=WORKFLOW_RUNNER,
            )
        )
        for queue, fns in fakes.items():
            await stack.enter_async_context(
                Worker(client, build_id=BUILD_ID, task_queue=f"{task_queue}-{queue}", activities=fns)
            )
        result = await client.execute_workflow(
            CustomerToCash.run,
            SagaInput(deal_id="006VEND", vendors=OTHERS),
            id="c2c:hubspot:006VEND",
            task_queue=task_queue,
        )
        assert result.outcome is Stage.COMPLETED
        assert result.external_ids["invoice"] == "inv_cb"
        assert result.external_ids["payment"] == "pay_cb"
        yield calls


def test_the_crm_account_is_read_from_the_configured_crms_ref(recorded: dict[str, list[Any]]) -> None:
    assert recorded[Names.RESOLVE_CUSTOMER][0].crm == "hubspot"
    assert recorded[Names.WRITE_BACK][0].account_id == "A1"
    assert recorded[Names.SYNC_CUSTOMER_MASTER][0].change.crm == "hubspot"


def test_the_crosswalk_and_the_customer_carry_the_configured_billing_and_erp_names(
    recorded: dict[str, list[Any]],
) -> None:
    assert recorded[Names.LINK_REFS][0].refs == {"chargebee": "cust_cb", "xero:US01": "xero-7"}
    upserted = recorded[Names.BILLING_CUSTOMER][0].customer
    assert upserted.external_refs == {"hubspot": "A1", "chargebee": "cust_cb"}
    created = next(e for e in recorded[Names.RECORD_EVENT] if e.type == EventType.CUSTOMER_CREATED)
    assert created.data["golden_id"] == "gc_v"
    assert created.data["refs"] == {"chargebee": "cust_cb", "xero": "xero-7"}
    assert created.data["source_system"] == "hubspot"


def test_billing_ids_are_looked_up_under_the_configured_billing_system(recorded: dict[str, list[Any]]) -> None:
    assert recorded[Names.CREATE_SUBSCRIPTION][0].customer_id == "cust_cb"
    assert recorded[Names.CREATE_INVOICE][0].customer_id == "cust_cb"
    assert [c.invoice_id for c in recorded[Names.FINALIZE_INVOICE]] == ["inv_cb"]
    assert [c.invoice_id for c in recorded[Names.SEND_INVOICE]] == ["inv_cb"]
    assert [c.invoice_id for c in recorded[Names.COLLECT_PAYMENT]] == ["inv_cb"]
    assert [j.entry.external_id for j in recorded[Names.POST_JOURNAL]] == ["fee-pay_cb"]


def test_the_erp_is_told_which_billing_system_its_external_ids_come_from(recorded: dict[str, list[Any]]) -> None:
    posted, applied = recorded[Names.POST_INVOICE][0], recorded[Names.APPLY_PAYMENT][0]
    assert (posted.billing_system, posted.customer_erp_id) == ("chargebee", "xero-7")
    assert (applied.billing_system, applied.customer_erp_id, applied.invoice_erp_id) == (
        "chargebee",
        "xero-7",
        "xero-inv-1",
    )


def test_every_erp_call_names_the_configured_erp(recorded: dict[str, list[Any]]) -> None:
    erp_calls = [call for name, calls in recorded.items() if name.startswith("erp.") for call in calls]
    assert {type(call).__name__ for call in erp_calls} == {
        "UpsertErpCustomer",
        "PostInvoice",
        "ApplyPayment",
        "PostJournal",
    }
    assert {call.erp for call in erp_calls} == {"xero"}
    assert recorded[Names.APPLY_PAYMENT][0].legal_entity == "US01"  # the invoice's entity, not guessed from its id


def test_an_erp_input_recorded_before_routing_means_the_default_erp() -> None:
    applied = act.ApplyPayment.model_validate(
        {"payment": {"invoice_id": "in_1", "amount": {"amount": 1, "currency": "USD"}, "status": "succeeded"},
         "customer_erp_id": "1", "invoice_erp_id": "2"}
    )  # fmt: skip
    assert (applied.erp, applied.legal_entity) == ("netsuite", None)


def test_an_input_without_vendors_gets_todays_with_its_crm() -> None:
    legacy = SagaInput.model_validate({"deal_id": "006OLD", "crm": "salesforce"})
    assert legacy.vendors == Vendors()
    assert SagaInput(deal_id="006X", crm="hubspot").vendors.crm == "hubspot"
    assert SagaInput(deal_id="006X", vendors=OTHERS).crm == "hubspot"


def test_an_input_whose_crm_contradicts_its_vendors_is_refused() -> None:
    with pytest.raises(ValidationError, match="not vendors.crm"):
        SagaInput(deal_id="006X", crm="salesforce", vendors=OTHERS)


def test_every_crm_call_names_the_sagas_crm(recorded: dict[str, list[Any]]) -> None:
    crm_calls = [call for name, calls in recorded.items() if name.startswith("crm.") for call in calls]
    assert {type(call).__name__ for call in crm_calls} == {"FetchDeal", "WriteBack"}
    assert {call.crm for call in crm_calls} == {"hubspot"}  # two CRMs side by side: the deal's, not the default


def test_a_crm_input_recorded_before_two_crms_means_the_default_crm() -> None:
    assert act.FetchDeal.model_validate({"deal_id": "006OLD"}).crm is None  # ByVendor[None]: C2C_CRM's connector
