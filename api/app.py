"""The c2c API: CRM and billing webhooks start and inform sagas; finance lists, shows, starts, resolves and
cancels them.

Webhooks are authenticated by their signatures; every other endpoint needs `Authorization: Bearer <token>` with
its scope (read: list/show; start; resolve: resolve/cancel; codec: the UI's /codec; usage: POST /usage, a product
system reporting usage), see api/access.py. Bad input
never starts or changes anything: a webhook with a bad signature or body, an unknown deal, or a deal that breaks a
billing rule gets a 4xx naming the problem; oversized or non-JSON bodies are refused unread.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, Field
from sqlalchemy.engine import Engine
from temporalio.common import MetricMeter
from temporalio.runtime import Runtime

from api import access
from api.chargebee_webhooks import chargebee_webhook_routes
from api.codec import install_codec_endpoint
from api.errors import ApiError, api_error
from api.hubspot_webhooks import hubspot_webhook_routes
from api.status import status_routes
from api.webhooks import WebhookInbox, webhook_routes
from canonical.usage import UsageEvent
from codec import EncryptionCodec, parse_keys
from connectors.chargebee import ChargebeeBilling
from connectors.factory import Connectors
from connectors.roles import BillingSystem
from connectors.routing import ByVendor
from observability.metrics import UsageMetrics
from observability.tracing import instrument_api
from operations import amendments, evidence, finance, refunds, usage
from operations.errors import OperationError
from operations.starts import Started, Trigger, triggers_by_crm
from settings import Scope, Settings
from workflows.refund import RefundStatus
from workflows.saga import Resolution, SagaStatus
from workflows.subscription_messages import LifecycleStatus

# A Refund workflow id, `c2c:refund:{invoice}:{key}`.
RefundId = Annotated[str, Path(pattern=refunds.REFUND_ID_PATTERN)]
# A CRM record id: Salesforce's are 15 or 18 alphanumerics; bounded so nonsense never reaches Temporal.
DealId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class CancelRequest(BaseModel):
    actor: str = Field(min_length=1, max_length=100, pattern=r"\S")
    note: str = Field(min_length=1, max_length=1000, pattern=r"\S")


def create_api(
    trigger: Trigger,
    billing: BillingSystem,
    engine: Engine,
    settings: Settings,
    usage_metrics: UsageMetrics | None = None,
    *,
    chargebee: ChargebeeBilling | None = None,
    connectors: Connectors | None = None,
    triggers: ByVendor[Trigger] | None = None,
) -> FastAPI:
    """The API; dependencies are injected so tests and the demo build it around their own. With `chargebee`, it
    also takes Chargebee's webhooks (`/webhooks/chargebee`); with every role's `connectors`, it also serves a deal's
    evidence pack. `triggers`: one per CRM served (operations.starts.triggers_by_crm; default: just `trigger`'s),
    each CRM's webhook starting its deals through its own; finance's endpoints find a deal's saga under any."""
    counted: list[UsageMetrics] = [usage_metrics] if usage_metrics else []
    # Swagger UI and ReDoc from the installed fastapi-offline package, not a CDN: /docs works offline.
    api = FastAPIOffline(title="c2c trigger API")
    instrument_api(api)  # a server span per request: the root of a deal's trace
    book = access.for_settings(settings)
    api.add_middleware(access.BodyLimits, max_bytes=settings.max_body_bytes)
    keys = settings.encryption_keys()
    if keys:
        codec_guard = [] if settings.codec_anonymous else [book.require(Scope.CODEC)]
        install_codec_endpoint(api, EncryptionCodec(parse_keys(keys)), settings.ui_origins, codec_guard)

    @api.exception_handler(ApiError)
    async def refused(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.detail, status_code=exc.status_code, headers=exc.headers)

    @api.exception_handler(OperationError)
    async def operation_refused(_: Request, exc: OperationError) -> JSONResponse:
        answer = api_error(exc)
        return JSONResponse(answer.detail, status_code=answer.status_code, headers=answer.headers)

    @api.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        """The API's error shape, naming each field at fault (and never echoing the input back)."""
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
        return JSONResponse({"error": "invalid_request", "message": problems or "invalid request"}, status_code=422)

    @api.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    api.include_router(status_routes(settings))  # an HTML page of the worker's metrics, unauthenticated

    if triggers is None and connectors is not None:  # every CRM served, each through its own trigger
        triggers = triggers_by_crm(trigger, connectors.crms)
    # The default CRM first; no trigger at all only in the tests of the pages that need none (status, codec).
    default_crm = trigger.crm.system if trigger is not None else settings.crm
    by_crm = dict(triggers or ([(default_crm, trigger)] if trigger is not None else []))
    crms = [default_crm, *sorted(set(by_crm) - {default_crm})]

    async def crm_of(deal_id: str) -> str:
        return await finance.crm_of(trigger.client, crms, deal_id)

    # Salesforce's webhooks start through Salesforce's trigger when it is served (else, as before two CRMs, the
    # default's); HubSpot's only when HubSpot is served.
    salesforce = by_crm.get("salesforce", trigger)
    api.include_router(webhook_routes(salesforce, billing, WebhookInbox(engine), settings, crms))
    if chargebee is not None:
        api.include_router(chargebee_webhook_routes(trigger, chargebee, WebhookInbox(engine), settings, crms))
    api.include_router(hubspot_webhook_routes(by_crm.get("hubspot"), WebhookInbox(engine), settings))

    @api.post("/deals/{deal_id}/start", status_code=202, dependencies=[book.require(Scope.START)])
    async def start_deal(deal_id: DealId, crm: Annotated[str | None, Query(max_length=64)] = None) -> Started:
        """Start a deal's saga; `crm` names the CRM it is in when the deployment serves more than one (default:
        the default CRM)."""
        chosen = by_crm.get(crm or default_crm)
        if chosen is None:
            raise ApiError(422, "crm_not_configured", f"{crm!r} is not a CRM of this deployment ({', '.join(crms)})")
        return await chosen.start(deal_id)

    @api.get("/sagas", dependencies=[book.require(Scope.READ)])
    async def queue(where: Annotated[finance.QueueFilter, Query()]) -> list[finance.QueueEntry]:
        """The exception queue (default: stage needs_attention), filtered like the CLI's `list`."""
        return await finance.list_sagas(trigger.client, default_crm, where)

    @api.get("/deals/{deal_id}", dependencies=[book.require(Scope.READ)])
    async def deal_status(deal_id: DealId) -> SagaStatus:
        return await finance.show(trigger.client, await crm_of(deal_id), deal_id)

    @api.get("/deals/{deal_id}/subscription", dependencies=[book.require(Scope.READ)])
    async def subscription_status(deal_id: DealId) -> LifecycleStatus:
        """The deal's subscription after its first invoice: every period's state, ids and totals; the lines, the
        term end and each CRM change with its outcome."""
        return await amendments.status(trigger.client, await crm_of(deal_id), deal_id)

    @api.post("/deals/{deal_id}/resolve", dependencies=[book.require(Scope.RESOLVE)])
    async def resolve(deal_id: DealId, resolution: Resolution) -> SagaStatus:
        return await finance.resolve(trigger.client, await crm_of(deal_id), deal_id, resolution)

    @api.post("/deals/{deal_id}/cancel", dependencies=[book.require(Scope.RESOLVE)])
    async def cancel(deal_id: DealId, request: CancelRequest) -> SagaStatus:
        crm = await crm_of(deal_id)
        return await finance.cancel(trigger.client, crm, deal_id, actor=request.actor, note=request.note)

    @api.post("/invoices/{target}/refunds", status_code=202, dependencies=[book.require(Scope.RESOLVE)])
    async def refund(target: DealId, request: refunds.RefundRequest) -> refunds.RefundStarted:
        """Refund (part of) a paid invoice: `target` is billing's invoice id, or a deal (its first invoice). The
        amount is what the customer gets back, tax included; a rule it breaks is a 422 naming it, nothing started."""
        billings = [billing] if chargebee is None else [billing, chargebee]  # the invoice is in one of them
        return await refunds.start_refund(
            trigger.client,
            billings,
            task_queue=trigger.task_queue,
            crm=default_crm,
            vendors_for=trigger.vendors_for,
            target=target,
            request=request,
        )

    @api.post("/usage", status_code=202, dependencies=[book.require(Scope.USAGE)])
    async def report_usage(event: UsageEvent) -> usage.UsageAccepted:
        """A usage event of a usage-priced line: stored once by `event_id`, then reported to billing's meter by its
        own workflow. A rule it breaks is a 4xx naming it (nothing stored): see operations/usage.py."""
        if not counted:  # made on first use: the client's runtime is the trigger's
            counted.append(UsageMetrics(_metric_meter(trigger)))
        return await usage.receive(
            trigger.client,
            engine,
            counted[0],
            crm=await crm_of(event.subscription),  # the CRM whose deal the subscription came from
            task_queue=trigger.task_queue,
            event=event,
        )

    if connectors is not None:
        every_system = connectors

        @api.get("/deals/{deal_id}/evidence", dependencies=[book.require(Scope.READ)])
        async def evidence_pack(deal_id: DealId) -> evidence.EvidencePack:
            """The deal's evidence pack (operations/evidence.py): records, events, the saga's history hash-chained,
            payloads decrypted. Verify an exported one with `starter.py evidence --verify FILE`."""
            return await evidence.build_pack(trigger.client, every_system, engine, await crm_of(deal_id), deal_id)

    @api.get("/refunds/{workflow_id}", dependencies=[book.require(Scope.READ)])
    async def refund_status(workflow_id: RefundId) -> RefundStatus:
        """A refund's stage (running, needs_attention, refunded, cancelled), its problem when parked, its steps."""
        return await refunds.show_refund(trigger.client, workflow_id)

    @api.post("/refunds/{workflow_id}/resolve", dependencies=[book.require(Scope.RESOLVE)])
    async def resolve_refund(workflow_id: RefundId, resolution: Resolution) -> RefundStatus:
        """Finance's decision on a parked refund: retry, or cancel (with a note) while billing has not refunded."""
        return await refunds.resolve_refund(trigger.client, workflow_id, resolution)

    return api


def _metric_meter(trigger: Trigger) -> MetricMeter:
    """The meter of the API client's Temporal runtime (exported where that runtime serves Prometheus)."""
    runtime = trigger.client.service_client.config.runtime or Runtime.default()
    return runtime.metric_meter
