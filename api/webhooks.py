"""Inbound webhooks: the CRM's (closed-won deals, changed accounts) and billing's (payment outcomes, refunds and
disputes made in billing, subscription events).

Each is verified by its signature before anything is read, and deduplicated by event id in the store: an
event is recorded only after it was handled, so a failure is retried by the sender's redelivery.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy.engine import Engine
from temporalio.service import RPCError, RPCStatusCode

from api.errors import ApiError, api_error
from canonical import Payment, RenewalInvoice, SubscriptionEnd, ids
from canonical.refunds import RefundOrigin
from connectors.errors import ConnectorError, PermanentError
from connectors.roles import BillingSystem
from connectors.salesforce.mapping import CLOSED_WON
from connectors.salesforce.outbound import ACK, InvalidOutboundMessage, fault, parse_outbound_message
from connectors.salesforce.webhooks import AccountChangedEvent, InvalidWebhook, verify_crm_event
from connectors.stripe.webhooks import (
    InvalidSignature,
    ended_subscription_id,
    payment_notice,
    renewal_invoice_id,
    verify_event,
)
from operations import refunds
from operations.errors import OperationError
from operations.starts import Started, Trigger
from settings import Settings
from store import ProcessedEventRepository, session_scope
from workflows.customer_to_cash import CustomerToCash
from workflows.subscription import SubscriptionLifecycle


class WebhookInbox:
    """Inbound webhook dedupe: an event id is handled once, and recorded only after it was handled,
    so a failure is retried by the sender's redelivery."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def seen(self, source: str, event_id: str) -> bool:
        def read() -> bool:
            with session_scope(self.engine) as session:
                return ProcessedEventRepository(session).seen(source, event_id)

        return await asyncio.to_thread(read)

    async def done(self, source: str, event_id: str) -> None:
        def write() -> None:
            with session_scope(self.engine) as session:
                ProcessedEventRepository(session).record_once(source, event_id)

        await asyncio.to_thread(write)


LifecycleNews = RenewalInvoice | SubscriptionEnd  # what billing's subscription events tell a lifecycle


def soap_fault(status: int, code: str, message: str) -> Response:
    return Response(fault(code, message), status_code=status, media_type="text/xml")


def webhook_routes(
    trigger: Trigger, billing: BillingSystem, inbox: WebhookInbox, settings: Settings, crms: list[str] | None = None
) -> APIRouter:
    """`POST /webhooks/salesforce` and `POST /webhooks/stripe`. `trigger` starts Salesforce's deals; `crms`: every
    CRM whose deals billing bills (default: the trigger's), whose lifecycles a subscription event may be about."""
    served = crms or [trigger.crm.system]
    router = APIRouter(prefix="/webhooks")

    @router.post("/salesforce", status_code=202)
    async def salesforce_webhook(request: Request) -> Started | dict[str, str]:
        """Closed-won opportunity: start its saga. Account changed: tell the customer's CustomerMaster."""
        try:
            event = verify_crm_event(
                await request.body(),
                request.headers.get("X-C2C-Signature"),
                settings.crm_webhook_secret.get_secret_value(),
            )
        except InvalidWebhook as error:
            raise ApiError(400, "invalid_webhook", str(error)) from error
        if await inbox.seen("salesforce", event.event_id):
            return {"status": "duplicate", "event_id": event.event_id}
        answer: Started | dict[str, str]
        if isinstance(event, AccountChangedEvent):
            answer = await trigger.account_changed(event.record_id, event.event_id, event.system_modstamp)
        else:
            answer = await trigger.start(event.record_id)
        await inbox.done("salesforce", event.event_id)
        return answer

    @router.post("/salesforce/outbound")
    async def salesforce_outbound_message(request: Request) -> Response:
        """A Salesforce Outbound Message (SOAP `notifications`, up to 100): each closed-won opportunity starts its
        saga (a won change to a contract goes to its lifecycle), deduplicated by notification id. The Ack is
        answered only once every start is durable: before that a SOAP fault, and Salesforce sends it again."""
        try:
            message = parse_outbound_message(await request.body(), settings.salesforce_org_id)
        except InvalidOutboundMessage as error:
            return soap_fault(400, "Client", f"invalid_outbound_message: {error}")
        for notification in message.notifications:
            if notification.stage_name not in (None, CLOSED_WON):
                continue  # the rule fired for another change: nothing to start
            if await inbox.seen("salesforce-outbound", notification.notification_id):
                continue
            try:
                await trigger.start(notification.opportunity_id)
            except OperationError as refused:
                answer = api_error(refused)
                return soap_fault(answer.status_code, "Server" if answer.status_code >= 500 else "Client", str(refused))
            await inbox.done("salesforce-outbound", notification.notification_id)
        return Response(ACK, media_type="text/xml")

    @router.post("/stripe")
    async def stripe_webhook(request: Request) -> dict[str, str]:
        """A payment outcome (invoice paid or failed, intent succeeded or failed): tell the saga that owns the
        invoice, with the payment as the billing API reports it now. Events arrive late, twice and out of order;
        reading the API makes each delivery say the same thing, and the saga keeps only a final outcome."""
        try:
            event = verify_event(
                await request.body(),
                request.headers.get("Stripe-Signature"),
                settings.stripe_webhook_secret.get_secret_value(),
            )
            notice = payment_notice(event)
            renewal = renewal_invoice_id(event)
            ended = ended_subscription_id(event)
        except (InvalidSignature, ValueError) as error:
            raise ApiError(400, "invalid_webhook", str(error)) from error
        if renewal is not None:
            return await renewal_webhook(str(event["id"]), renewal)
        if ended is not None:
            return await ended_webhook(str(event["id"]), ended)
        if notice is None:
            return {"status": "ignored", "event_id": str(event.get("id"))}
        if await inbox.seen("stripe", notice.event_id):
            return {"status": "duplicate", "event_id": notice.event_id}
        try:
            notice = await billing.complete_notice(notice)
            if notice.saga_id is None or notice.invoice_id is None:
                status = "ignored: not a c2c invoice"
            elif notice.type == "charge.refunded":
                # Finance's refunds through c2c are booked by their own workflow; one made in billing is booked now.
                status = await book_refunds(str(event["data"]["object"]["id"]), notice.saga_id)
            elif notice.type == "charge.dispute.created":
                status = await book_dispute(str(event["data"]["object"]["id"]), notice.saga_id)
            else:
                payment = await billing.payment_for_invoice(notice.invoice_id)
                status = await signal_saga(notice.saga_id, payment)
        except PermanentError as error:
            if error.code != "resource_missing":
                raise ApiError(502, "billing_error", str(error)) from error
            # Signed, but about an object Stripe does not have (another account's, or made up): not ours.
            raise ApiError(422, "unknown_billing_object", str(error)) from error
        except ConnectorError as error:
            # Not recorded as handled: Stripe redelivers, and the next delivery reads the API again.
            raise ApiError(503, "billing_unavailable", str(error)) from error
        await inbox.done("stripe", notice.event_id)
        return {"status": status, "event_id": notice.event_id, "saga": notice.saga_id or ""}

    async def renewal_webhook(event_id: str, invoice_id: str) -> dict[str, str]:
        """Billing made the invoice of a later period: read it back, signal its subscription's lifecycle (when it
        is not running, its backstop reads billing once it does)."""
        return await tell_lifecycle(
            event_id, billing.renewal_invoice(invoice_id), SubscriptionLifecycle.renewal_invoiced, "a c2c subscription"
        )

    async def ended_webhook(event_id: str, subscription_id: str) -> dict[str, str]:
        """Billing ended a subscription (its term, a cancellation, its dashboard): read it back, tell the lifecycle."""
        return await tell_lifecycle(
            event_id,
            billing.subscription_end(subscription_id),
            SubscriptionLifecycle.billing_ended,
            "an ended c2c subscription",
        )

    async def tell_lifecycle(
        event_id: str, read_back: Awaitable[LifecycleNews | None], signal: Any, what: str
    ) -> dict[str, str]:
        """A subscription event: the object read back from the billing API (the event only says "look again"),
        signalled to the lifecycle of the deal it names; deduplicated by event id, recorded once handled."""
        if await inbox.seen("stripe", event_id):
            return {"status": "duplicate", "event_id": event_id}
        try:
            news = await read_back
        except PermanentError as error:
            if error.code == "resource_missing":  # signed, but about an object Stripe does not have
                raise ApiError(422, "unknown_billing_object", str(error)) from error
            raise ApiError(502, "billing_error", str(error)) from error
        except ConnectorError as error:
            raise ApiError(503, "billing_unavailable", str(error)) from error
        # Billing's metadata names the deal, not its CRM: the lifecycle is the one of the CRM that has it running.
        lifecycles = [ids.subscription_id(crm, news.deal_id) for crm in served] if news and news.deal_id else []
        lifecycle = lifecycles[0] if lifecycles else None
        status = f"ignored: not {what}" if news is None or not lifecycles else "lifecycle not running"
        for candidate in lifecycles if news is not None else []:
            try:
                await trigger.client.get_workflow_handle(candidate).signal(signal, news)
            except RPCError as error:
                if error.status != RPCStatusCode.NOT_FOUND:
                    raise
                continue
            lifecycle, status = candidate, "signalled"
            break
        await inbox.done("stripe", event_id)
        return {"status": status, "event_id": event_id, "saga": lifecycle or ""}

    async def book_refunds(charge_id: str, saga_id: str) -> str:
        """Each refund of the charge that no c2c credit note made (the dashboard's, `POST /v1/refunds`) starts its
        Refund workflow, id `c2c:refund:{invoice}:{refund}`: a redelivered event starts nothing new. Only for an
        invoice whose saga ran (the metadata names it, Temporal knows it)."""
        if not await refunds.saga_known(trigger.client, saga_id):
            return "ignored: not a c2c invoice"
        started = 0
        for found in await billing.refunds_of_charge(charge_id):
            if found.c2c_key is not None or found.invoice_id is None or found.status == "failed":
                continue
            outcome = await refunds.start_billing_refund(
                trigger.client,
                billing,
                task_queue=trigger.task_queue,
                saga_id=saga_id,
                vendors_for=trigger.vendors_for,
                invoice_id=found.invoice_id,
                refund_id=found.refund_id,
                amount=found.amount,
            )
            started += outcome.started
        return f"refunds booked: {started} started"

    async def book_dispute(dispute_id: str, saga_id: str) -> str:
        """A chargeback (the dispute, read back, withdrew funds) is booked like a refund made in billing: Refund
        workflow `c2c:refund:{invoice}:{dispute}`, origin `dispute`, so a redelivery starts nothing new. An inquiry
        withdraws nothing and books nothing (docs/decisions.md, issue 14: disputes)."""
        if not await refunds.saga_known(trigger.client, saga_id):
            return "ignored: not a c2c invoice"
        dispute = await billing.billing_dispute(dispute_id)
        if not dispute.funds_withdrawn or dispute.invoice_id is None:
            return f"ignored: dispute {dispute.status}, no funds withdrawn"
        outcome = await refunds.start_billing_refund(
            trigger.client,
            billing,
            task_queue=trigger.task_queue,
            saga_id=saga_id,
            vendors_for=trigger.vendors_for,
            invoice_id=dispute.invoice_id,
            refund_id=dispute.dispute_id,
            amount=dispute.amount,
            origin=RefundOrigin.DISPUTE,
            reason=f"chargeback ({dispute.reason})",
        )
        return f"dispute booked: {int(outcome.started)} started"

    async def signal_saga(saga_id: str, payment: Payment) -> str:
        return await signal_payment(trigger, saga_id, payment)

    return router


async def signal_payment(trigger: Trigger, saga_id: str, payment: Payment) -> str:
    """Tell the saga its invoice's payment as billing reports it now (every billing vendor's webhook ends here).

    A plain signal, not signal-with-start: the saga created the invoice, so it exists (or has finished)."""
    try:
        await trigger.client.get_workflow_handle(saga_id).signal(CustomerToCash.payment_settled, payment)
        return "signalled"
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
        return "saga closed"
