"""The trigger API (CRM and billing webhooks -> sagas) and finance's CLI for the exception queue.

`python starter.py`                      serve the trigger API on C2C_API_HOST:C2C_API_PORT
`python starter.py start DEAL_ID`        start (or find) the saga of one closed-won deal
`python starter.py list [--stage S] [--exception CODE] [--entity E] [--currency C]`
                                         the exception queue (default: stage needs_attention)
`python starter.py show DEAL_ID`         one saga's stage, problem, ids, totals and timeline
`python starter.py resolve DEAL_ID --action retry|retry_with_address|retry_with_customer [--address JSON]
                                   [--golden-customer ID] [--note TEXT]`
`python starter.py cancel DEAL_ID --note WHY`   cancel a parked saga and unwind what it did

API: webhooks are authenticated by their signatures; every other endpoint needs `Authorization: Bearer <token>`
with its scope (read: list/show; start; resolve: resolve/cancel; codec: the UI's /codec), see access.py.
Bad input never starts or changes anything: a webhook with a bad signature or body, an unknown deal, or a deal
that breaks a billing rule gets a 4xx naming the problem; oversized or non-JSON bodies are refused unread.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any, cast

import typer
import uvicorn
from fastapi import FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import Engine
from temporalio.client import Client
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

import access
import control
import observability
from access import DEFAULT_MAX_BODY_BYTES, ApiError
from canonical import Address, Payment, ids
from canonical.rules import deal_problems
from codec import EncryptionCodec, parse_keys
from codec.server import install_codec_endpoint
from connectors.errors import BusinessRuleError, ConnectorError, PermanentError, TransientError
from connectors.factory import build_connectors
from connectors.roles import BillingSystem, CrmSystem
from connectors.salesforce.webhooks import AccountChangedEvent, InvalidWebhook, verify_crm_event
from connectors.stripe import StripeBilling
from connectors.stripe.webhooks import InvalidSignature, payment_notice, verify_event
from observability.tracing import instrument_api
from settings import Scope, Settings, get_settings
from store import (
    CrosswalkRepository,
    ProcessedEventRepository,
    SagaFactRepository,
    create_schema,
    make_engine,
    session_scope,
)
from worker import connect
from workflows import search_attributes
from workflows.customer_to_cash import CustomerToCash
from workflows.interface import AccountChange
from workflows.saga import Resolution, ResolutionAction, SagaInput, SagaStatus, Stage

MAX_BODY_BYTES = DEFAULT_MAX_BODY_BYTES  # the default of settings.max_body_bytes (413 above it)
# A CRM record id: Salesforce's are 15 or 18 alphanumerics; bounded so nonsense never reaches Temporal.
DealId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class Started(BaseModel):
    workflow_id: str
    run_id: str | None
    started: bool
    detail: str


@dataclass
class Trigger:
    """Validates a deal against the CRM and the billing rules, then starts its saga exactly once."""

    client: Client
    crm: CrmSystem
    task_queue: str
    engine: Engine
    payment_terms_days: int = 3
    dunning_days: list[int] = field(default_factory=lambda: [1, 3, 7])

    @classmethod
    def from_settings(cls, client: Client, crm: CrmSystem, engine: Engine, settings: Settings) -> Trigger:
        return cls(
            client=client,
            crm=crm,
            task_queue=settings.task_queue,
            engine=engine,
            payment_terms_days=settings.payment_terms_days,
            dunning_days=settings.dunning_days,
        )

    async def finished_before(self, workflow_id: str) -> bool:
        """Whether the store recorded this saga's end: Temporal forgets closed workflows after the
        namespace's retention, so its id rule alone would let a late trigger bill the deal again."""

        def read() -> bool:
            with session_scope(self.engine) as session:
                return SagaFactRepository(session).get(workflow_id) is not None

        return await asyncio.to_thread(read)

    async def account_changed(self, event: AccountChangedEvent) -> dict[str, str]:
        """Signal-with-start the golden customer's CustomerMaster. An account no saga has onboarded yet has
        nothing in billing or the ERP to update; its first saga reads the account as it is then."""

        def golden_of() -> str | None:
            with session_scope(self.engine) as session:
                golden = CrosswalkRepository(session).find_by_ref(self.crm.system, event.record_id)
                return golden.golden_id if golden else None

        golden_id = await asyncio.to_thread(golden_of)
        if golden_id is None:
            return {"status": "not onboarded", "event_id": event.event_id}
        change = AccountChange(
            crm=self.crm.system,
            account_id=event.record_id,
            event_id=event.event_id,
            modified_at=event.system_modstamp,
        )
        await control.notify_customer_master(self.client, self.task_queue, golden_id, change)
        return {"status": "customer master notified", "event_id": event.event_id, "golden_id": golden_id}

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
        workflow_id = ids.saga_id(self.crm.system, deal.deal_id)
        if await self.finished_before(workflow_id):
            return Started(workflow_id=workflow_id, run_id=None, started=False, detail="saga already finished")
        try:
            handle = await self.client.start_workflow(
                CustomerToCash.run,
                SagaInput(
                    crm=self.crm.system,
                    deal_id=deal.deal_id,
                    payment_terms_days=self.payment_terms_days,
                    dunning_days=self.dunning_days,
                ),
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


class CancelRequest(BaseModel):
    actor: str = Field(min_length=1, max_length=100, pattern=r"\S")
    note: str = Field(min_length=1, max_length=1000, pattern=r"\S")


@contextmanager
def api_errors() -> Iterator[None]:
    """Finance operations' errors as the API answers them."""
    try:
        yield
    except control.SagaNotFound as error:
        raise ApiError(404, "saga_not_found", str(error)) from error
    except control.ResolutionRejected as error:
        raise ApiError(409, "resolution_rejected", str(error)) from error


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
    instrument_api(api)  # a server span per request: the root of a deal's trace
    inbox = WebhookInbox(engine)
    book = access.for_settings(settings)
    api.add_middleware(access.BodyLimits, max_bytes=settings.max_body_bytes)
    keys = settings.encryption_keys()
    if keys:
        codec_guard = [] if settings.codec_anonymous else [book.require(Scope.CODEC)]
        install_codec_endpoint(api, EncryptionCodec(parse_keys(keys)), settings.ui_origins, codec_guard)

    @api.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.detail, status_code=exc.status_code, headers=exc.headers)

    @api.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        """The API's error shape, naming each field at fault (and never echoing the input back)."""
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
        return JSONResponse({"error": "invalid_request", "message": problems or "invalid request"}, status_code=422)

    @api.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @api.post("/webhooks/salesforce", status_code=202)
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
            answer = await trigger.account_changed(event)
        else:
            answer = await trigger.start(event.record_id)
        await inbox.done("salesforce", event.event_id)
        return answer

    @api.post("/webhooks/stripe")
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
        except (InvalidSignature, ValueError) as error:
            raise ApiError(400, "invalid_webhook", str(error)) from error
        if notice is None:
            return {"status": "ignored", "event_id": str(event.get("id"))}
        if await inbox.seen("stripe", notice.event_id):
            return {"status": "duplicate", "event_id": notice.event_id}
        stripe = cast(StripeBilling, billing)  # this endpoint only exists for Stripe's webhooks
        try:
            notice = await stripe.complete_notice(notice)
            if notice.saga_id is None or notice.invoice_id is None:
                status = "ignored: not a c2c invoice"
            elif notice.type == "charge.refunded":
                # Refunds are finance's decision in billing, after the saga finished; nothing for a saga to do.
                status = "recorded"
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

    async def signal_saga(saga_id: str, payment: Payment) -> str:
        # A plain signal, not signal-with-start: the saga created the invoice, so it exists (or has finished).
        try:
            await trigger.client.get_workflow_handle(saga_id).signal(CustomerToCash.payment_settled, payment)
            return "signalled"
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
            return "saga closed"

    @api.post("/deals/{deal_id}/start", status_code=202, dependencies=[book.require(Scope.START)])
    async def start_deal(deal_id: DealId) -> Started:
        return await trigger.start(deal_id)

    @api.get("/sagas", dependencies=[book.require(Scope.READ)])
    async def queue(where: Annotated[control.QueueFilter, Query()]) -> list[control.QueueEntry]:
        """The exception queue (default: stage needs_attention), filtered like the CLI's `list`."""
        return await control.list_sagas(trigger.client, trigger.crm.system, where)

    @api.get("/deals/{deal_id}", dependencies=[book.require(Scope.READ)])
    async def deal_status(deal_id: DealId) -> SagaStatus:
        with api_errors():
            return await control.show(trigger.client, trigger.crm.system, deal_id)

    @api.post("/deals/{deal_id}/resolve", dependencies=[book.require(Scope.RESOLVE)])
    async def resolve(deal_id: DealId, resolution: Resolution) -> SagaStatus:
        with api_errors():
            return await control.resolve(trigger.client, trigger.crm.system, deal_id, resolution)

    @api.post("/deals/{deal_id}/cancel", dependencies=[book.require(Scope.RESOLVE)])
    async def cancel(deal_id: DealId, request: CancelRequest) -> SagaStatus:
        with api_errors():
            return await control.cancel(
                trigger.client, trigger.crm.system, deal_id, actor=request.actor, note=request.note
            )

    return api


@asynccontextmanager
async def running_trigger(settings: Settings) -> AsyncIterator[tuple[Trigger, BillingSystem, Engine]]:
    client = await connect(settings)
    connectors = build_connectors(settings)
    engine = make_engine(settings.database_url)
    create_schema(engine)
    try:
        trigger = Trigger.from_settings(client, connectors.crm, engine, settings)
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
    problem = settings.unsafe_for(settings.api_host)
    if problem:
        console.print(f"[red]refusing to serve:[/red] {problem}")
        raise typer.Exit(2)

    async def run() -> None:
        flush = observability.setup_process(settings, "api")
        try:
            async with running_trigger(settings) as (trigger, billing, engine):
                api = create_api(trigger, billing, engine, settings)
                config = uvicorn.Config(
                    api, host=settings.api_host, port=settings.api_port, log_level="warning", log_config=None
                )
                console.print(f"c2c trigger API on http://{settings.api_host}:{settings.api_port}")
                await uvicorn.Server(config).serve()
        finally:
            flush()

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


def _actor() -> str:
    return os.environ.get("USER") or "cli"


def _client_call(work: Callable[[Client, Settings], Awaitable[None]]) -> None:
    """Connect, run `work`, and turn finance-facing errors into a red line and exit status 1."""

    async def run() -> None:
        settings = get_settings()
        client = await connect(settings)
        try:
            await work(client, settings)
        except (control.SagaNotFound, control.ResolutionRejected) as error:
            console.print(f"[red]{type(error).__name__}:[/red] {error}")
            raise typer.Exit(1) from error

    _run(run())


@cli.command("list")
def list_(
    stage: Stage = typer.Option(Stage.NEEDS_ATTENTION, help="saga stage"),
    exception: str = typer.Option(None, help="problem code, e.g. invalid_address"),
    entity: str = typer.Option(None, help="legal entity, e.g. US01"),
    currency: str = typer.Option(None, help="ISO currency, e.g. EUR"),
    limit: int = typer.Option(100),
) -> None:
    """The exception queue (sagas waiting for finance), or any stage with --stage."""
    try:
        where = control.QueueFilter(
            stage=stage, exception=exception, legal_entity=entity, currency=currency, limit=limit
        )
    except ValidationError as error:
        console.print(f"[red]bad filter:[/red] {error.errors()[0]['msg']}")
        raise typer.Exit(2) from error

    async def work(client: Client, settings: Settings) -> None:
        entries = await control.list_sagas(client, settings.crm, where)
        table = Table("deal id", "stage", "exception", "legal entity", "currency", "started", title=where.query())
        table.columns[0].no_wrap = True  # the id to pass to `show` / `resolve` / `cancel`
        for entry in entries:
            table.add_row(
                entry.deal_id,
                entry.stage or "",
                entry.exception or "",
                entry.legal_entity or "",
                entry.currency or "",
                f"{entry.started:%Y-%m-%d %H:%M}",
            )
        console.print(table)

    _client_call(work)


@cli.command()
def show(deal_id: str) -> None:
    """Stage, problem, external ids, totals and timeline of one deal's saga."""

    async def work(client: Client, settings: Settings) -> None:
        saga = await control.show(client, settings.crm, deal_id)
        console.print(f"[bold]{saga.workflow_id}[/bold] stage={saga.stage}")
        if saga.problem:
            p = saga.problem
            console.print(f"[yellow]needs attention[/yellow] at {p.stage}: {p.system}/{p.code}: {p.message}")
        for name, value in sorted(saga.external_ids.items()):
            console.print(f"  {name:<24} {value}")
        if saga.totals:
            console.print("  totals (minor units): " + ", ".join(f"{k}={v}" for k, v in saga.totals.items()))
        for entry in saga.timeline:
            console.print(f"  {entry.at:%Y-%m-%d %H:%M:%S} {entry.stage:<16} {entry.event} {entry.detail or ''}")

    _client_call(work)


@cli.command()
def resolve(
    deal_id: str,
    action: ResolutionAction = typer.Option(..., help="retry, retry_with_address, retry_with_customer or cancel"),
    address: str = typer.Option(
        None, help='corrected address, JSON: {"line1":..,"city":..,"postal_code":..,"country":..}'
    ),
    golden_customer: str = typer.Option(None, help="the golden customer id to use (customer_ambiguous)"),
    note: str = typer.Option(None, help="why (required to cancel)"),
) -> None:
    """Tell a parked saga what to do; the saga refuses a decision that does not fit its problem."""
    try:
        corrected = Address.model_validate(json.loads(address)) if address else None
        resolution = Resolution(
            action=action,
            corrected_address=corrected,
            golden_customer_id=golden_customer,
            note=note,
            actor=_actor(),
        )
    except (ValueError, ValidationError) as error:
        console.print(f"[red]bad resolution:[/red] {error}")
        raise typer.Exit(2) from error

    async def work(client: Client, settings: Settings) -> None:
        await control.resolve(client, settings.crm, deal_id, resolution)
        console.print(f"{action} accepted for {ids.saga_id(settings.crm, deal_id)}")

    _client_call(work)


@cli.command()
def cancel(deal_id: str, note: str = typer.Option(..., help="why the deal is cancelled (kept in the history)")) -> None:
    """Cancel a parked saga: void/credit what it did, in reverse order."""

    async def work(client: Client, settings: Settings) -> None:
        await control.cancel(client, settings.crm, deal_id, actor=_actor(), note=note)
        console.print(f"cancel accepted for {ids.saga_id(settings.crm, deal_id)}: compensating")

    _client_call(work)


if __name__ == "__main__":
    cli()
