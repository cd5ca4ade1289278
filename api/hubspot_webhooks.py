"""`POST /webhooks/hubspot`: HubSpot webhooks v3. A `deal.propertyChange` of `dealstage` to a won stage starts the
deal's saga `c2c:hubspot:{deal}` through the same Trigger as every other start; a `company.propertyChange` of a
watched property tells the customer's CustomerMaster, as Salesforce's `account.changed` does.

The request is verified (v3 signature over method, URI, body and timestamp; timestamp within five minutes) before
anything is read; a bad one is a 400 naming the problem and starts nothing. Each event is deduplicated by its
eventId (per portal) and recorded only once handled. A deal c2c refuses (unknown, or breaking a billing rule) is
recorded with its reason: HubSpot redelivering it would change nothing, and the missed-deal sweep finds it once
fixed. A CRM or Temporal outage answers 5xx without recording the event, so HubSpot delivers it again.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from api.errors import ApiError, api_error
from api.webhooks import WebhookInbox
from connectors.errors import ConnectorError
from connectors.hubspot import HubSpotCrm, InvalidWebhook, verify_webhook
from connectors.hubspot.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, HubSpotEvent
from operations.errors import DealNotFound, DealRefused, OperationError
from operations.starts import Trigger
from settings import Settings

SOURCE = "hubspot"


def hubspot_webhook_routes(trigger: Trigger | None, inbox: WebhookInbox, settings: Settings) -> APIRouter:
    """The route; `trigger` starts sagas on the HubSpot CRM (None: HubSpot is not a CRM of this deployment)."""
    router = APIRouter(prefix="/webhooks")

    @router.post("/hubspot")
    async def hubspot_webhook(request: Request) -> dict[str, object]:
        """Each won deal's saga started (or found), each changed company's master told; other events ignored."""
        try:
            events = verify_webhook(
                request.method,
                settings.hubspot_webhook_url or str(request.url),
                await request.body(),
                request.headers.get(SIGNATURE_HEADER),
                request.headers.get(TIMESTAMP_HEADER),
                settings.hubspot_client_secret.get_secret_value(),
            )
        except InvalidWebhook as error:
            raise ApiError(400, "invalid_webhook", str(error)) from error
        if trigger is None or trigger.crm.system != SOURCE:
            raise ApiError(
                404, "crm_not_configured", "HubSpot is not a CRM of this deployment (C2C_CRM or C2C_CRMS: hubspot)"
            )
        results = [await handle(trigger, event) for event in events]
        return {"status": "handled", "events": results}

    async def handle(trigger: Trigger, event: HubSpotEvent) -> dict[str, str]:
        answer = {"event_id": event.event_id, "object_id": event.object_id, "type": event.subscription_type}
        if await inbox.seen(SOURCE, event.dedupe_key):
            return answer | {"status": "duplicate"}
        if event.company_change:
            changed = await trigger.account_changed(event.object_id, event.dedupe_key, event.occurred)
            status = changed["status"]
        elif not event.stage_change:
            status = f"ignored: {event.subscription_type} {event.property_name or ''}".strip()
        elif not await won_stage(trigger, event.property_value):
            status = f"ignored: stage {event.property_value!r} is not a won stage"
        else:
            try:
                started = await trigger.start(event.object_id)
                answer["workflow_id"] = started.workflow_id
                status = started.detail
            except (DealNotFound, DealRefused) as refused:
                status = f"refused: {refused.code}: {refused.message}"
            except OperationError as error:  # the CRM or Temporal is down: HubSpot delivers the event again
                raise api_error(error) from error
        await inbox.done(SOURCE, event.dedupe_key)
        return answer | {"status": status}

    async def won_stage(trigger: Trigger, stage: str | None) -> bool:
        """Whether a stage id is closed-won in any pipeline (stage ids are unique across a portal's pipelines)."""
        crm = trigger.crm
        if stage is None or not isinstance(crm, HubSpotCrm):
            return stage is not None
        try:
            stages = await crm.stages()
            if not any(s == stage for _, s in stages):
                stages = await crm.stages(refresh=True)
        except ConnectorError as error:
            raise ApiError(503, "crm_unavailable", str(error)) from error
        return any(won for (_, s), won in stages.items() if s == stage)

    return router
