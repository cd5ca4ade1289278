"""The trigger API (CRM and billing webhooks -> sagas) and finance's CLI for the exception queue.

`python starter.py`                      serve the trigger API on C2C_API_HOST:C2C_API_PORT
`python starter.py start DEAL_ID`        start (or find) the saga of one closed-won deal
`python starter.py list [--stage S] [--exception CODE] [--entity E] [--currency C]`
                                         the exception queue (default: stage needs_attention)
`python starter.py show DEAL_ID`         one saga's stage, problem, ids, totals and timeline
`python starter.py subscription DEAL_ID` the deal's subscription after its first invoice: periods and CRM changes
`python starter.py resolve DEAL_ID --action retry|retry_with_address|retry_with_customer [--address JSON]
                                   [--golden-customer ID] [--note TEXT]`
`python starter.py cancel DEAL_ID --note WHY`   cancel a parked saga and unwind what it did
`python starter.py usage DEAL_ID --meter M --quantity N --event-id ID [--at ISO]`   report usage (as POST /usage)
`python starter.py refund TARGET --amount A --reason WHY`   refund (part of) a paid invoice
`python starter.py refund-resolve WORKFLOW_ID --action retry|cancel [--note TEXT]`   decide on a parked refund
`python starter.py evidence DEAL_ID [--out FILE]`   the deal's evidence pack (records, events, chained history)
`python starter.py evidence --verify FILE [--expect HASH]`   recompute an exported pack's hash chain

API: webhooks are authenticated by their signatures; every other endpoint needs `Authorization: Bearer <token>`
with its scope (read: list/show; start; resolve: resolve/cancel; codec: the UI's /codec), see api/access.py.
Bad input never starts or changes anything: a webhook with a bad signature or body, an unknown deal, or a deal
that breaks a billing rule gets a 4xx naming the problem; oversized or non-JSON bodies are refused unread.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import Engine
from temporalio.client import Client

import observability
from canonical import Address, ids
from cli.events import cli as events_cli
from cli.text import one_line
from connectors.chargebee import ChargebeeBilling
from connectors.factory import Connectors, build_connectors
from operations import amendments, finance
from operations.client import connect
from operations.errors import OperationError, ResolutionRejected, SagaEnded, SagaNotFound
from operations.starts import Trigger, triggers_by_crm
from runtime.governance import govern_vendors
from settings import Settings, get_settings
from store import create_schema, make_engine
from workflows.saga import Resolution, ResolutionAction, Stage


@asynccontextmanager
async def running_trigger(settings: Settings) -> AsyncIterator[tuple[Trigger, Connectors, Engine]]:
    client = await connect(settings)
    engine = make_engine(settings.database_url)
    create_schema(engine)
    connectors = govern_vendors(build_connectors(settings), engine, settings)  # the API's calls count too
    try:
        yield Trigger.from_settings(client, connectors.crm, engine, settings), connectors, engine
    finally:
        await connectors.close()
        engine.dispose()


def chargebee_webhooks(connectors: Connectors) -> ChargebeeBilling | None:
    """The Chargebee connector the API's `/webhooks/chargebee` reads payments with, when an entity bills there: the
    routed one the workers bill with, so webhooks and sagas talk to the same site."""
    if "chargebee" not in connectors.billings.names():
        return None
    billing = connectors.billings["chargebee"]
    if not isinstance(billing, ChargebeeBilling):  # REGISTRY builds it; anything else is a wiring mistake
        raise TypeError(f"billing 'chargebee' is a {type(billing).__name__}")
    return billing


cli = typer.Typer(add_completion=False, no_args_is_help=False, help=__doc__)
cli.add_typer(events_cli, name="events", help="business events on NATS JetStream: status, tail, replay")
console = Console()


def _leave(status: int) -> None:
    """Leave with os._exit (see ARCHITECTURE.md pitfalls). The tests that run commands in their own process replace
    this with sys.exit (tests/support/cli.py): a CLI process is mostly its imports."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def _run(coro: Any) -> None:
    """Run a CLI coroutine, then leave."""
    status = 0
    try:
        asyncio.run(coro)
    except typer.Exit as done:
        status = done.exit_code
    _leave(status)


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

    # Imported here: FastAPI and uvicorn take longer to import than the other commands take to run.
    import uvicorn

    from api.app import create_api

    async def run() -> None:
        flush = observability.setup_process(settings, "api")
        try:
            async with running_trigger(settings) as (trigger, connectors, engine):
                chargebee = chargebee_webhooks(connectors)
                api = create_api(
                    trigger, connectors.billing, engine, settings, chargebee=chargebee, connectors=connectors
                )
                config = uvicorn.Config(
                    api, host=settings.api_host, port=settings.api_port, log_level="warning", log_config=None
                )
                console.print(f"c2c trigger API on http://{settings.api_host}:{settings.api_port}")
                await uvicorn.Server(config).serve()
        finally:
            flush()

    _run(run())


@cli.command()
def start(deal_id: str, crm: str = typer.Option(None, help="the deal's CRM (default: C2C_CRM)")) -> None:
    """Start the saga of one closed-won deal (a no-op when it already exists)."""
    if crm is not None and crm not in (served := get_settings().every_crm()):
        raise typer.BadParameter(f"{crm!r} is not a CRM of this deployment ({', '.join(served)})", param_hint="--crm")

    async def run() -> None:
        async with running_trigger(get_settings()) as (default, connectors, _):
            trigger = triggers_by_crm(default, connectors.crms)[crm]
            try:
                started = await trigger.start(deal_id)
            except OperationError as error:
                from api.errors import api_error  # FastAPI only when there is an error to print

                answer = api_error(error)  # the same status and body the API answers
                console.print(f"[red]{answer.status_code}[/red] {answer.detail}")
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
        except (SagaNotFound, SagaEnded, ResolutionRejected) as error:
            console.print(f"[red]{error.code}:[/red] {error.message}")
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
        where = finance.QueueFilter(
            stage=stage, exception=exception, legal_entity=entity, currency=currency, limit=limit
        )
    except ValidationError as error:
        console.print(f"[red]bad filter:[/red] {error.errors()[0]['msg']}")
        raise typer.Exit(2) from error

    async def work(client: Client, settings: Settings) -> None:
        entries = await finance.list_sagas(client, settings.crm, where)
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
        saga = await finance.show(client, await finance.crm_of(client, settings.every_crm(), deal_id), deal_id)
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
def subscription(deal_id: str) -> None:
    """The deal's subscription after its first invoice: each period (state, invoice, ERP ids, totals) and CRM change."""

    async def work(client: Client, settings: Settings) -> None:
        life = await amendments.status(client, await finance.crm_of(client, settings.every_crm(), deal_id), deal_id)
        ended = f" ended ({life.ended})" if life.ended else ""
        term = life.term_end.date() if life.term_end else "?"
        console.print(f"[bold]{life.workflow_id}[/bold] stage={life.stage}{ended} term to {term}")
        if life.problem:
            p = life.problem
            console.print(f"[yellow]needs attention[/yellow] at {p.stage}: {p.system}/{p.code}: {p.message}")
        console.print("  lines: " + ", ".join(f"{line.quantity} × {line.product_code}" for line in life.lines))
        table = Table("period", "from", "to", "state", "invoice", "erp invoice", "total", "paid", "credited")
        for period in life.periods:
            table.add_row(
                str(period.number),
                f"{period.start:%Y-%m-%d}",
                f"{period.end:%Y-%m-%d}" if period.end else "",
                period.state.value,
                period.ids.get("invoice", ""),
                period.ids.get("erp_invoice", ""),
                str(period.totals.get("total", "")),
                str(period.totals.get("paid", "")),
                str(period.credited or ""),
            )
        console.print(table)
        for change in life.changes:
            rule = f" ({change.rule})" if change.rule else ""
            console.print(
                f"  {change.amendment.kind.value} {change.amendment.deal_id} effective "
                f"{change.amendment.effective_date}: {change.state.value}{rule}"
            )

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
    except json.JSONDecodeError as error:
        console.print(f"[red]bad address:[/red] --address is not JSON ({error.msg} at character {error.pos})")
        raise typer.Exit(2) from error
    except ValidationError as error:
        console.print(f"[red]bad address:[/red] {one_line(error)}")
        raise typer.Exit(2) from error
    try:
        resolution = Resolution(
            action=action,
            corrected_address=corrected,
            golden_customer_id=golden_customer,
            note=note,
            actor=_actor(),
        )
    except ValidationError as error:
        console.print(f"[red]bad resolution:[/red] {one_line(error)}")
        raise typer.Exit(2) from error

    async def work(client: Client, settings: Settings) -> None:
        crm = await finance.crm_of(client, settings.every_crm(), deal_id)
        await finance.resolve(client, crm, deal_id, resolution)
        console.print(f"{action} accepted for {ids.saga_id(crm, deal_id)}")

    _client_call(work)


@cli.command()
def cancel(deal_id: str, note: str = typer.Option(..., help="why the deal is cancelled (kept in the history)")) -> None:
    """Cancel a parked saga: void/credit what it did, in reverse order."""

    async def work(client: Client, settings: Settings) -> None:
        crm = await finance.crm_of(client, settings.every_crm(), deal_id)
        await finance.cancel(client, crm, deal_id, actor=_actor(), note=note)
        console.print(f"cancel accepted for {ids.saga_id(crm, deal_id)}: compensating")

    _client_call(work)


@cli.command()
def refund(
    target: str = typer.Argument(..., help="billing's invoice id (in_…), or a deal (its first invoice)"),
    amount: str = typer.Option(..., help="what the customer gets back, tax included, e.g. 120.50"),
    reason: str = typer.Option(..., help="why (on the credit note, the credit memo and the refund)"),
    note: str = typer.Option(None, help="more context, kept with the refund"),
    currency: str = typer.Option(None, help="the invoice's currency, as a check"),
    key: str = typer.Option(None, help="your refund key; default: derived from the request (a repeat starts nothing)"),
) -> None:
    """Refund (part of) a paid invoice: credit note and refund in billing, credit memo and customer refund in the
    ERP, the credit's tax document. A rule it breaks is named (the API's 4xx) and nothing starts."""
    from operations.refunds import RefundRequest, start_refund

    try:
        request = RefundRequest(amount=amount, currency=currency, reason=reason, note=note, actor=_actor(), key=key)
    except ValidationError as error:
        console.print(f"[red]bad refund:[/red] {one_line(error)}")
        raise typer.Exit(2) from error

    async def run() -> None:
        async with running_trigger(get_settings()) as (trigger, connectors, _):
            try:
                started = await start_refund(
                    trigger.client,
                    [billing for _, billing in connectors.billings],
                    task_queue=trigger.task_queue,
                    crm=trigger.crm.system,
                    vendors_for=trigger.vendors_for,
                    target=target,
                    request=request,
                )
            except OperationError as error:
                from api.errors import api_error

                answer = api_error(error)
                console.print(f"[red]{answer.status_code}[/red] {answer.detail}")
                raise typer.Exit(1) from error
            console.print(f"{started.detail}: {started.workflow_id} ({started.amount})")

    _run(run())


@cli.command("usage")
def usage(
    deal_id: str = typer.Argument(..., help="the deal whose subscription bills the usage"),
    meter: str = typer.Option(..., help="the meter's event name, e.g. api_calls"),
    quantity: int = typer.Option(..., help="units consumed"),
    event_id: str = typer.Option(..., help="your event id: the same id again counts once"),
    at: str = typer.Option(None, help="when it was consumed (ISO 8601 with offset); default now"),
    customer: str = typer.Option(None, help="the golden customer id, as a check"),
) -> None:
    """Report usage of a usage-priced line, as the API's `POST /usage` does: checked, stored once by its event id,
    reported to billing's meter by its own workflow. A rule it breaks is named (the API's 4xx), nothing stored."""
    from api.errors import api_error
    from canonical.usage import UsageEvent
    from observability.metrics import UsageMetrics
    from operations.usage import receive

    try:
        event = UsageEvent(
            event_id=event_id,
            subscription=deal_id,
            meter=meter,
            quantity=quantity,
            timestamp=datetime.fromisoformat(at) if at else datetime.now(UTC),
            customer=customer,
        )
    except (ValidationError, ValueError) as error:
        console.print(f"[red]bad usage event:[/red] {one_line(error) if isinstance(error, ValidationError) else error}")
        raise typer.Exit(2) from error

    async def run() -> None:
        settings = get_settings()
        async with running_trigger(settings) as (trigger, _, engine):
            try:
                accepted = await receive(
                    trigger.client,
                    engine,
                    UsageMetrics(),
                    crm=await finance.crm_of(trigger.client, settings.every_crm(), event.subscription),
                    task_queue=trigger.task_queue,
                    event=event,
                )
            except OperationError as error:
                answer = api_error(error)
                console.print(f"[red]{answer.status_code}[/red] {answer.detail}")
                raise typer.Exit(1) from error
            console.print(f"{accepted.status}: {accepted.event_id} -> {accepted.workflow_id}")

    _run(run())


@cli.command("refund-resolve")
def refund_resolve(
    workflow_id: str = typer.Argument(..., help="the refund's workflow id, c2c:refund:{invoice}:{key}"),
    action: ResolutionAction = typer.Option(..., help="retry or cancel"),
    note: str = typer.Option(None, help="why (required to cancel)"),
) -> None:
    """Tell a parked refund what to do: retry once the cause is fixed, or cancel while billing has not refunded."""
    from operations.refunds import resolve_refund

    try:
        resolution = Resolution(action=action, note=note, actor=_actor())
    except ValidationError as error:
        console.print(f"[red]bad resolution:[/red] {one_line(error)}")
        raise typer.Exit(2) from error

    async def work(client: Client, settings: Settings) -> None:
        status = await resolve_refund(client, workflow_id, resolution)
        console.print(f"{action} accepted for {status.workflow_id}")

    _client_call(work)


@cli.command()
def evidence(
    deal_id: str = typer.Argument(None, help="the deal whose evidence pack to export"),
    out: Path = typer.Option(None, help="write the pack here (default: standard output)"),
    verify: Path = typer.Option(None, help="instead of exporting: recompute the hash chain of this exported pack"),
    expect: str = typer.Option(None, help="with --verify: the final hash recorded at export"),
) -> None:
    """Export a deal's evidence pack (every record id, amount and event across the systems, the saga's history
    hash-chained; payloads decrypted) and print its final hash; or verify an exported pack (exit 1 if altered)."""
    from operations.evidence_chain import verify_pack

    if verify is not None:
        try:
            pack = json.loads(verify.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            console.print(f"[red]cannot read {verify}:[/red] {error}")
            raise typer.Exit(2) from error
        result = verify_pack(pack, expect)
        if not result.ok:
            where = (
                f" (event {result.first_broken}, eventId {result.event_id})" if result.first_broken is not None else ""
            )
            console.print(f"[red]altered:[/red] {result.problem}{where}")
            raise typer.Exit(1)
        print(f"verified: {result.events} events, final hash {result.final_hash}")
        return
    if not deal_id:
        console.print("[red]give a deal id to export, or --verify FILE[/red]")
        raise typer.Exit(2)

    async def work(client: Client, settings: Settings) -> None:
        from operations.evidence import build_pack

        connectors = build_connectors(settings)
        engine = make_engine(settings.database_url)
        try:
            crm = await finance.crm_of(client, settings.every_crm(), deal_id)
            pack = await build_pack(client, connectors, engine, crm, deal_id)
        except OperationError as error:
            console.print(f"[red]{error.code}:[/red] {error.message}")
            raise typer.Exit(1) from error
        finally:
            await connectors.close()
            engine.dispose()
        text = pack.model_dump_json(indent=2)
        if out is None:
            print(text)
        else:
            out.write_text(text, encoding="utf-8")
        # On standard error, so `evidence D > pack.json` keeps the pack clean and the hash in sight to record.
        Console(stderr=True).print(f"final hash {pack.history.final_hash} ({len(pack.history.events)} events)")

    _client_call(work)
