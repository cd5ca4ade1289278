"""The trigger API (CRM webhooks -> sagas) and a CLI to start, inspect and resolve sagas by hand.

`python starter.py`                 serve the trigger API on C2C_API_HOST:C2C_API_PORT
                                    (POST /webhooks/salesforce, /webhooks/stripe, /deals/{id}/start|resolve)
`python starter.py start DEAL_ID`   start (or find) the saga of one deal
`python starter.py status DEAL_ID`  show its stage, ids and timeline
`python starter.py parked`          list sagas waiting for finance
`python starter.py resolve DEAL_ID --action retry|cancel|retry_with_address [--address JSON]`

Bad input never starts anything: a webhook with a bad signature or body, an unknown deal or a deal that
breaks a billing rule (unsupported currency, unknown legal entity or product) gets a 4xx naming the problem.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import typer
import uvicorn
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import Engine
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from canonical import Address
from canonical.rules import deal_problems
from codec import EncryptionCodec, parse_keys
from codec.server import install_codec_endpoint
from connectors.errors import BusinessRuleError, ConnectorError, TransientError
from connectors.factory import build_connectors
from connectors.roles import BillingSystem, CrmSystem
from connectors.salesforce.webhooks import InvalidWebhook, verify_closed_won
from connectors.stripe.webhooks import InvalidSignature, invoice_event, verify_event
from settings import Settings, get_settings
from store import ProcessedEventRepository, SagaFactRepository, create_schema, make_engine, session_scope
from worker import connect
from workflows import search_attributes
from workflows.customer_to_cash import CustomerToCash, workflow_id_for
from workflows.saga import Resolution, ResolutionAction, SagaInput, SagaStatus, Stage


class Started(BaseModel):
    workflow_id: str
    run_id: str | None
    started: bool
    detail: str


class ApiError(HTTPException):
    """A 4xx/5xx whose body names the problem: {"error": code, "message": reason}."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(status_code=status, detail={"error": code, "message": message})


@dataclass
class Trigger:
    """Validates a deal against the CRM and the billing rules, then starts its saga exactly once."""

    client: Client
    crm: CrmSystem
    task_queue: str
    engine: Engine

    async def finished_before(self, workflow_id: str) -> bool:
        """Whether the store recorded this saga's end: Temporal forgets closed workflows after the
        namespace's retention, so its id rule alone would let a late trigger bill the deal again."""

        def read() -> bool:
            with session_scope(self.engine) as session:
                return SagaFactRepository(session).get(workflow_id) is not None

        return await asyncio.to_thread(read)

    async def start(self, deal_id: str) -> Started:
        try:
            deal = await self.crm.get_deal(deal_id)
        except BusinessRuleError as error:
            status = 404 if error.code == "deal_not_found" else 422
            raise ApiError(status, error.code, error.message) from error
        except TransientError as error:
            raise ApiError(503, "crm_unavailable", error.message) from error
        except ConnectorError as error:
            raise ApiError(502, "crm_error", str(error)) from error
        problems = deal_problems(deal)
        if problems:
            raise ApiError(422, problems[0][0], "; ".join(reason for _, reason in problems))
        # The CRM's canonical form of the id (Salesforce: 18 characters, also when given the 15-character
        # form), so two spellings of one deal can never start two sagas.
        workflow_id = workflow_id_for(self.crm.system, deal.deal_id)
        if await self.finished_before(workflow_id):
            return Started(workflow_id=workflow_id, run_id=None, started=False, detail="saga already finished")
        try:
            handle = await self.client.start_workflow(
                CustomerToCash.run,
                SagaInput(crm=self.crm.system, deal_id=deal.deal_id),
                id=workflow_id,
                task_queue=self.task_queue,
                # Running: join it. Closed (completed or cancelled): never bill the same deal twice.
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                search_attributes=TypedSearchAttributes(
                    [
                        SearchAttributePair(search_attributes.STAGE, Stage.ONBOARD.value),
                        SearchAttributePair(search_attributes.LEGAL_ENTITY, deal.legal_entity),
                        SearchAttributePair(search_attributes.CURRENCY, deal.currency),
                    ]
                ),
            )
        except WorkflowAlreadyStartedError:
            return Started(workflow_id=workflow_id, run_id=None, started=False, detail="saga already finished")
        # The SDK keeps the server's `started` flag on the handle; False means we joined a running saga.
        response = getattr(handle, "_start_workflow_response", None)
        started = bool(getattr(response, "started", True))
        detail = "saga started" if started else "saga already running"
        return Started(workflow_id=workflow_id, run_id=handle.result_run_id, started=started, detail=detail)


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


def create_api(trigger: Trigger, billing: BillingSystem, engine: Engine, settings: Settings) -> FastAPI:
    """The trigger API; dependencies are injected so tests and the demo build it around their own."""
    api = FastAPI(title="c2c trigger API")
    inbox = WebhookInbox(engine)
    keys = settings.encryption_keys()
    if keys:
        install_codec_endpoint(api, EncryptionCodec(parse_keys(keys)), settings.ui_origins)

    @api.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.detail, status_code=exc.status_code)

    @api.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @api.post("/webhooks/salesforce", status_code=202)
    async def salesforce_webhook(request: Request) -> Started | dict[str, str]:
        """Closed-won opportunity: start its saga."""
        try:
            event = verify_closed_won(
                await request.body(), request.headers.get("X-C2C-Signature"), settings.crm_webhook_secret
            )
        except InvalidWebhook as error:
            raise ApiError(400, "invalid_webhook", str(error)) from error
        if await inbox.seen("salesforce", event.event_id):
            return {"status": "duplicate", "event_id": event.event_id}
        started = await trigger.start(event.record_id)
        await inbox.done("salesforce", event.event_id)
        return started

    @api.post("/webhooks/stripe")
    async def stripe_webhook(request: Request) -> dict[str, str]:
        """Invoice paid / payment failed: tell the saga, with the payment as the billing API reports it now."""
        try:
            event = verify_event(
                await request.body(), request.headers.get("Stripe-Signature"), settings.stripe_webhook_secret
            )
        except InvalidSignature as error:
            raise ApiError(400, "invalid_webhook", str(error)) from error
        notice = invoice_event(event)
        if notice is None or notice.saga_id is None:
            return {"status": "ignored", "event_id": str(event.get("id"))}
        if await inbox.seen("stripe", notice.event_id):
            return {"status": "duplicate", "event_id": notice.event_id}
        try:
            # The event is only a notification; the API is the truth (events can arrive late or out of order).
            payment = await billing.payment_for_invoice(notice.invoice_id)
        except ConnectorError as error:
            raise ApiError(503, "billing_unavailable", str(error)) from error
        try:
            await trigger.client.get_workflow_handle(notice.saga_id).signal(CustomerToCash.payment_settled, payment)
            status = "signalled"
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
            status = "saga closed"
        await inbox.done("stripe", notice.event_id)
        return {"status": status, "event_id": notice.event_id, "saga": notice.saga_id}

    @api.post("/deals/{deal_id}/start", status_code=202)
    async def start_deal(deal_id: str) -> Started:
        return await trigger.start(deal_id)

    @api.get("/deals/{deal_id}")
    async def deal_status(deal_id: str) -> SagaStatus:
        handle = trigger.client.get_workflow_handle(workflow_id_for(trigger.crm.system, deal_id))
        try:
            return await handle.query(CustomerToCash.status)
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                raise ApiError(404, "saga_not_found", f"no saga for deal {deal_id}") from error
            raise

    @api.post("/deals/{deal_id}/resolve")
    async def resolve(deal_id: str, resolution: Resolution) -> SagaStatus:
        handle = trigger.client.get_workflow_handle(workflow_id_for(trigger.crm.system, deal_id))
        try:
            return await handle.execute_update(CustomerToCash.resolve, resolution)
        except WorkflowUpdateFailedError as error:
            raise ApiError(409, "resolution_rejected", str(error.cause or error)) from error
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:  # never started, or already finished
                raise ApiError(404, "saga_not_found", f"no running saga for deal {deal_id}: {error.message}") from error
            raise

    return api


@asynccontextmanager
async def running_trigger(settings: Settings) -> AsyncIterator[tuple[Trigger, BillingSystem, Engine]]:
    client = await connect(settings)
    connectors = build_connectors(settings)
    engine = make_engine(settings.database_url)
    create_schema(engine)
    try:
        trigger = Trigger(client=client, crm=connectors.crm, task_queue=settings.task_queue, engine=engine)
        yield trigger, connectors.billing, engine
    finally:
        await connectors.close()
        engine.dispose()


# ---- CLI ------------------------------------------------------------------------------------------

cli = typer.Typer(add_completion=False, no_args_is_help=False, help=__doc__)
console = Console()


def _run(coro: Any) -> None:
    """Run a CLI coroutine and leave with os._exit (see ARCHITECTURE.md pitfalls)."""
    status = 0
    try:
        asyncio.run(coro)
    except typer.Exit as done:
        status = done.exit_code
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


@cli.callback(invoke_without_command=True)
def main(ctx: typer.Context) -> None:
    """Serve the trigger API when no command is given."""
    if ctx.invoked_subcommand is None:
        serve()


@cli.command()
def serve() -> None:
    """Serve the trigger API (webhooks, start/status/resolve endpoints)."""
    settings = get_settings()

    async def run() -> None:
        async with running_trigger(settings) as (trigger, billing, engine):
            api = create_api(trigger, billing, engine, settings)
            config = uvicorn.Config(api, host=settings.api_host, port=settings.api_port, log_level="warning")
            console.print(f"c2c trigger API on http://{settings.api_host}:{settings.api_port}")
            await uvicorn.Server(config).serve()

    _run(run())


@cli.command()
def start(deal_id: str) -> None:
    """Start the saga of one closed-won deal (a no-op when it already exists)."""

    async def run() -> None:
        async with running_trigger(get_settings()) as (trigger, _, _):
            try:
                started = await trigger.start(deal_id)
            except ApiError as error:
                console.print(f"[red]{error.status_code}[/red] {error.detail}")
                raise typer.Exit(1) from error
            console.print(f"{started.detail}: {started.workflow_id}")

    _run(run())


@cli.command()
def status(deal_id: str) -> None:
    """Stage, external ids and timeline of one deal's saga."""

    async def run() -> None:
        settings = get_settings()
        client = await connect(settings)
        handle = client.get_workflow_handle(workflow_id_for(settings.crm, deal_id))
        try:
            saga = await handle.query(CustomerToCash.status)
        except RPCError as error:
            console.print(f"[red]no saga for deal {deal_id}:[/red] {error.message}")
            raise typer.Exit(1) from error
        console.print(f"[bold]{saga.workflow_id}[/bold] stage={saga.stage}")
        if saga.problem:
            console.print(f"[yellow]parked[/yellow] {saga.problem.system}/{saga.problem.code}: {saga.problem.message}")
        console.print(saga.external_ids)
        for entry in saga.timeline:
            console.print(f"  {entry.at:%H:%M:%S} {entry.stage:<16} {entry.event} {entry.detail or ''}")

    _run(run())


@cli.command()
def parked() -> None:
    """Sagas waiting for finance (C2CStage = needs_attention)."""

    async def run() -> None:
        settings = get_settings()
        client = await connect(settings)
        table = Table("deal id", "exception", "legal entity", "currency", "started")
        table.columns[0].no_wrap = True  # the id to pass to `status` / `resolve`
        query = f"{search_attributes.STAGE.name} = '{Stage.NEEDS_ATTENTION.value}'"
        async for wf in client.list_workflows(query):
            attrs = wf.typed_search_attributes
            table.add_row(
                wf.id.removeprefix(workflow_id_for(settings.crm, "")),
                attrs.get(search_attributes.EXCEPTION) or "",
                attrs.get(search_attributes.LEGAL_ENTITY) or "",
                attrs.get(search_attributes.CURRENCY) or "",
                f"{wf.start_time:%Y-%m-%d %H:%M}",
            )
        console.print(table)

    _run(run())


@cli.command()
def resolve(
    deal_id: str,
    action: ResolutionAction = typer.Option(..., help="retry, retry_with_address or cancel"),
    address: str = typer.Option(
        None, help='corrected address, JSON: {"line1":..,"city":..,"postal_code":..,"country":..}'
    ),
    note: str = typer.Option(None),
) -> None:
    """Tell a parked saga what to do."""

    async def run() -> None:
        settings = get_settings()
        try:
            corrected = Address.model_validate(json.loads(address)) if address else None
        except (ValueError, ValidationError) as error:
            console.print(f"[red]bad address:[/red] {error}")
            raise typer.Exit(2) from error
        client = await connect(settings)
        handle = client.get_workflow_handle(workflow_id_for(settings.crm, deal_id))
        try:
            await handle.execute_update(
                CustomerToCash.resolve,
                Resolution(action=action, corrected_address=corrected, note=note, actor=os.environ.get("USER", "cli")),
            )
        except WorkflowUpdateFailedError as error:
            console.print(f"[red]rejected:[/red] {error.cause or error}")
            raise typer.Exit(1) from error
        except RPCError as error:  # no such saga, or it has finished
            console.print(f"[red]rejected:[/red] {handle.id}: {error.message}")
            raise typer.Exit(1) from error
        console.print(f"{action} accepted for {handle.id}")

    _run(run())


if __name__ == "__main__":
    cli()
