"""`POST /webhooks/chargebee`: Chargebee's payment, refund and subscription events for the entities it bills.

Checked by the basic auth configured for the endpoint in Chargebee (C2C_CHARGEBEE_WEBHOOK_USERNAME / _PASSWORD)
before the body is read, deduplicated by event id (recorded once handled: a failure is redelivered by Chargebee),
and for `payment_succeeded` / `payment_failed` the payment is read back from the API and signalled to the saga of
the deal the invoice's subscription names (its lifecycle for a later period's invoice): the same signal Stripe's
`invoice.paid` ends in. `payment_refunded` of a refund someone made in Chargebee (its credit note carries no c2c
key) starts its Refund workflow, as Stripe's `charge.refunded` does for a Dashboard refund; c2c's own refunds are
booked by the workflow that made them. `subscription_renewed` reads the renewal invoice back and signals
`renewal_invoiced`, `subscription_cancelled` reads the subscription's end and signals `billing_ended`, each to the
subscription's lifecycle (the paths Stripe's `invoice.created` and `customer.subscription.deleted` take); a
lifecycle not running is left to its backstop. Each goes to the workflows of the CRM served that has the deal (a
UK01 deal may be sold in HubSpot).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from temporalio.service import RPCError, RPCStatusCode

from api.errors import ApiError
from api.webhooks import WebhookInbox, signal_payment
from canonical import ids
from connectors.chargebee import ChargebeeBilling
from connectors.chargebee.webhooks import (
    CANCELLED,
    PAYMENT_EVENTS,
    REFUND_EVENTS,
    RENEWED,
    ChargebeeEvent,
    InvalidCredentials,
    parse_event,
    verify_basic_auth,
)
from connectors.errors import ConnectorError, PermanentError
from operations import finance, refunds
from operations.starts import Trigger
from settings import Settings
from workflows.subscription import SubscriptionLifecycle

SOURCE = "chargebee"


def chargebee_webhook_routes(
    trigger: Trigger, billing: ChargebeeBilling, inbox: WebhookInbox, settings: Settings
) -> APIRouter:
    router = APIRouter(prefix="/webhooks")
    # Chargebee's meta_data names the deal, not its CRM: the deal's workflows are those of the served CRM that has
    # them (the default first), as for Stripe's events (api/webhooks.py).
    served = settings.every_crm()

    @router.post("/chargebee")
    async def chargebee_webhook(request: Request) -> dict[str, str]:
        try:
            verify_basic_auth(
                request.headers.get("Authorization"),
                settings.chargebee_webhook_username,
                settings.chargebee_webhook_password.get_secret_value(),
            )
        except InvalidCredentials as error:
            refused = ApiError(401, "invalid_credentials", str(error))
            refused.headers = {"WWW-Authenticate": 'Basic realm="chargebee"'}
            raise refused from error
        try:
            event = parse_event(await request.body())
        except ValueError as error:
            raise ApiError(400, "invalid_webhook", str(error)) from error
        refund_id = event.transaction_id if event.event_type in REFUND_EVENTS else None
        lifecycle_news = event.event_type in (RENEWED, CANCELLED)
        if (
            refund_id is None
            and not lifecycle_news
            and (event.event_type not in PAYMENT_EVENTS or event.invoice_id is None)
        ):
            return {"status": "ignored", "event_id": event.event_id}
        if await inbox.seen(SOURCE, event.event_id):
            return {"status": "duplicate", "event_id": event.event_id}
        try:
            if refund_id is not None:
                status, saga = await book_refund(refund_id)
            elif lifecycle_news:
                status, saga = await tell_lifecycle(event)
            else:
                assert event.invoice_id is not None
                deal_id = await billing.deal_of_invoice(event.invoice_id)
                crm = await finance.crm_of(trigger.client, served, deal_id) if deal_id else trigger.crm.system
                saga = ids.saga_id(crm, deal_id) if deal_id else None
                if deal_id and await billing.bills_later_period(event.invoice_id):
                    saga = ids.subscription_id(crm, deal_id)  # a later period: its lifecycle's
                status = "ignored: not a c2c invoice"
                if saga is not None:
                    status = await signal_payment(trigger, saga, await billing.payment_for_invoice(event.invoice_id))
        except PermanentError as error:
            if error.code != "resource_missing":
                raise ApiError(502, "billing_error", str(error)) from error
            raise ApiError(422, "unknown_billing_object", str(error)) from error
        except ConnectorError as error:
            raise ApiError(503, "billing_unavailable", str(error)) from error
        await inbox.done(SOURCE, event.event_id)
        return {"status": status, "event_id": event.event_id, "saga": saga or ""}

    async def book_refund(refund_id: str) -> tuple[str, str | None]:
        """A refund made in Chargebee of an invoice whose saga ran starts its Refund workflow
        `c2c:refund:{invoice}:{refund}` (origin billing; the ERP memo takes the refund's credit note id): a
        redelivery, or a new event about the same refund, starts nothing new."""
        found = await billing.billing_refund(refund_id)
        if found.c2c_key is not None:
            return "ignored: made by c2c", None
        if found.invoice_id is None or found.status == "failed":
            return "ignored: no money moved on an invoice", None
        saga = await billing.saga_of_invoice(found.invoice_id)
        if saga is None or not await refunds.saga_known(trigger.client, saga):
            return "ignored: not a c2c invoice", None
        outcome = await refunds.start_billing_refund(
            trigger.client,
            billing,
            task_queue=trigger.task_queue,
            saga_id=saga,
            vendors_for=trigger.vendors_for,
            invoice_id=found.invoice_id,
            refund_id=found.refund_id,
            amount=found.amount,
            credit_note_id=found.credit_note_id,
        )
        return f"refund booked: {int(outcome.started)} started", outcome.workflow_id

    async def tell_lifecycle(event: ChargebeeEvent) -> tuple[str, str | None]:
        """The renewal invoice or the subscription's end, read back from Chargebee, to the deal's lifecycle."""
        news: Any
        signal: Any
        if event.event_type == RENEWED:
            assert event.invoice_id is not None
            news, signal = await billing.renewal_invoice(event.invoice_id), SubscriptionLifecycle.renewal_invoiced
        else:
            assert event.subscription_id is not None
            news, signal = await billing.subscription_end(event.subscription_id), SubscriptionLifecycle.billing_ended
        if news is None or not news.deal_id:
            return "ignored: not a c2c subscription", None
        lifecycles = [ids.subscription_id(crm, news.deal_id) for crm in served]
        for lifecycle in lifecycles:  # the lifecycle of the CRM that has it running
            try:
                await trigger.client.get_workflow_handle(lifecycle).signal(signal, news)
            except RPCError as error:
                if error.status != RPCStatusCode.NOT_FOUND:
                    raise
                continue
            return "signalled", lifecycle
        return "lifecycle not running", lifecycles[0]

    return router
