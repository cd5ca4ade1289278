"""One chaos run: the estate up with faults on, deals closed in waves, the worker and the server killed, then count.

Sequence (all random choices from the run's seed):
1. Temporal dev server (SQLite file), sandbox with the chaos profile, worker, trigger API; Stripe delivers every
   webhook twice and shuffled.
2. Every deal is created open in the CRM its customer buys through (Salesforce, or HubSpot for some UK customers;
   UK01 bills in Chargebee and books in Xero, the other entities in Stripe and NetSuite). Sales reps retry a save
   that failed: the CRM calls of this run go through the same faults, and each is an upsert (or a find-or-create)
   by external key, so a retry is harmless.
3. Wave `first` closes (each bank-debit customer's first deal); once its saga created the billing customer,
   that customer's default payment method becomes a bank debit, as if they changed it in the billing portal.
4. Wave `main` closes in batches; the chaos monkey SIGKILLs the worker at seeded points of the run's progress
   and starts a new one. Once every closed deal has its saga, the Temporal server is SIGKILLed and restarted
   on its file.
5. Wave `late` closes (including the bank-debit customers' later deals), kills continue.
6. Wait until every saga has completed or parked (or the timeout).
7. Later periods (chaos/lifecycle.py): every completed deal's subscription, in Stripe and in Chargebee, bills
   periods 2 and 3 as billing time moves (the Stripe test clock and Chargebee's Time Machine, in step), with CRM
   changes won in each deal's own CRM and one more worker kill.
8. Read every system, check (chaos/checker.py).

Deals are never closed while the server is down: the CRM emulator's callout gives up within a second, and
a webhook lost that way is the missed-trigger sweep's job, not this run's.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr
from temporalio.client import Client

from canonical import ids
from chaos.book import Book, build_book
from chaos.checker import Expectation, LifecycleExpectation, Report, check
from chaos.estate import CRMS, ChaosEstate, billing_of, vendors_of
from chaos.lifecycle import LaterPeriods, LifecycleLog, billing_start, create_clock
from chaos.sales import HubSpotReps, pay_by_bank_debit
from connectors.factory import build_connectors
from connectors.salesforce import SalesforceCrm
from estate.book import DealSpec
from estate.clock import TestClock
from estate.deals import close_won, seed_deal
from estate.hubspot_deals import HubSpotSeeder
from operations.client import connect
from sandbox.faults import ChaosRates
from settings import Settings
from workflows.customer_to_cash import CustomerToCash
from workflows.saga import SagaStatus, Stage
from workflows.subscription_messages import LifecycleStatus

SETTLED = {Stage.COMPLETED.value, Stage.NEEDS_ATTENTION.value, Stage.CANCELLED.value}


@dataclass
class RunConfig:
    deals: int = 200
    seed: int = 1
    kills: int = 4
    server_restart: bool = True
    rates: ChaosRates = field(
        default_factory=lambda: ChaosRates(
            latency=0.05, status_5xx=0.03, status_429=0.02, reset=0.01, reset_after=0.01, lost_response=0.01
        )
    )
    # Each CRM's closed-won callout retries five times within a second; their faults are scaled down so a
    # closed deal is not lost for want of a retry budget the real callout has (that is the sweep's case).
    crm_rate_factor: float = 0.5
    latency_seconds: float = 0.3
    http_timeout: float = 3.0
    # Each kill comes once a seeded share of the deals in this range has settled: spread over the run, however
    # fast the machine is, and always while other sagas are still in flight.
    kill_between: tuple[float, float] = (0.02, 0.75)
    batch: int = 20  # deals closed together
    timeout: float = 1800.0  # for the sagas to settle
    var: Path = Path("var/chaos")
    # Later periods (chaos/lifecycle.py): billing time moves through periods 2 and 3, with CRM changes in period 2.
    later_periods: bool = True
    amend_shares: tuple[float, float, float] = (0.10, 0.10, 0.05)  # upsells, seat reductions, cancellations
    duplicate_share: float = 0.3  # of the changes, delivered a second time
    lifecycle_kill_between: tuple[float, float] = (0.1, 0.6)  # the renewals' worker kill, as a share of period 2
    lifecycle_timeout: float = 1200.0  # for the whole later-periods part
    webhook_grace: float = 30.0  # after it, a change no lifecycle received is sent again (the sweep's job)

    def chaos_spec(self) -> dict[str, Any]:
        rates = self.rates.model_dump()
        crm_rates = {kind: rate * self.crm_rate_factor for kind, rate in rates.items()}
        return {
            "seed": self.seed,
            "rates": rates,
            "latency_seconds": self.latency_seconds,
            "lost_response_seconds": self.http_timeout + 1,
            "systems": {crm: {"rates": crm_rates} for crm in CRMS},
        }


@dataclass
class RunLog:
    """What the run did, for the summary."""

    worker_kills: int = 0
    server_restarts: int = 0
    closed: int = 0
    seconds_to_settle: float = 0.0
    timed_out: bool = False
    unsettled: list[str] = field(default_factory=list)
    faults: dict[str, dict[str, int]] = field(default_factory=dict)
    requests: dict[str, int] = field(default_factory=dict)
    faults_on_writes: dict[str, dict[str, int]] = field(default_factory=dict)
    webhooks: dict[str, int] = field(default_factory=dict)  # Stripe's deliveries: events, copies, attempts
    hubspot_webhooks: dict[str, int] = field(default_factory=dict)  # HubSpot's: events, delivered, attempts
    notes: list[str] = field(default_factory=list)
    lifecycle: LifecycleLog | None = None  # the later-periods part, when it ran


@dataclass
class Gathered:
    """Everything the checker needs, read after the run drained."""

    expectations: dict[str, Expectation]  # CRM deal id -> what the book says about it
    statuses: dict[str, SagaStatus]  # CRM deal id -> the saga's status query
    states: dict[str, Any]  # emulator name -> /_sandbox/state
    lifecycles: dict[str, LifecycleStatus] = field(default_factory=dict)  # deal id -> its lifecycle's status
    plans: dict[str, LifecycleExpectation] | None = None  # deal id -> what the run did to its subscription


def secret(value: Any) -> str:
    """A credential from the settings, whether it is a SecretStr or a plain str."""
    return str(value.get_secret_value() if isinstance(value, SecretStr) else value)


class ChaosRun:
    def __init__(
        self,
        config: RunConfig,
        estate: ChaosEstate,
        client: Client,
        http: httpx.AsyncClient,
        clock: TestClock | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.later: LaterPeriods | None = None
        self.estate = estate
        self.settings: Settings = estate.settings()
        self.client = client
        self.http = http
        self.connectors = build_connectors(self.settings)
        assert isinstance(self.connectors.crm, SalesforceCrm)
        self.crm: SalesforceCrm = self.connectors.crm
        token = self.settings.hubspot_access_token
        seeder = HubSpotSeeder(http, self.settings.hubspot_url, token.get_secret_value() if token else "")
        self.hubspot = HubSpotReps(seeder)
        self.rng = random.Random(config.seed)
        self.book: Book = build_book(config.deals, config.seed)
        self.ids: dict[str, str] = {}  # deal key -> the deal's id in its CRM
        self.crms: dict[str, str] = {spec.key: spec.crm for spec in self.book.deals}  # deal key -> its CRM
        self.log = RunLog()
        self.lock = asyncio.Lock()  # one process operation at a time
        self.say: Callable[[str], None] = print
        self.started = time.monotonic()
        self.latest: dict[str, str | None] = {}  # saga id -> stage, from the visibility store
        self.settled = 0

    # ---- the sequence --------------------------------------------------------------------------------

    async def execute(self) -> Gathered:
        await self.configure_webhooks()
        await self.create_deals()
        self.started = time.monotonic()
        await self.close(self.book.waves["first"])
        await self.switch_to_bank_debit()
        tasks = [asyncio.create_task(self.watch()), asyncio.create_task(self.chaos_monkey())]
        try:
            await self.close(self.book.waves["main"])
            if self.config.server_restart:
                await self.restart_server_mid_run(self.book.waves["first"] + self.book.waves["main"])
            await self.close(self.book.waves["late"])
            await self.drain()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        async with self.lock:
            if not self.estate.alive(self.estate.worker_name()):
                await asyncio.to_thread(self.estate.start_worker)  # the status queries need a worker
        if self.clock is not None and not self.log.timed_out:
            # Every completed deal's subscription, in both estates: billing time is the Stripe test clock for Stripe's
            # and the site's Time Machine for Chargebee's (UK01; every HubSpot deal of the run), moved in step; CRM
            # changes are won in the deal's own CRM (docs/chaos.md, step 6).
            completed = [
                spec for spec in self.book.deals if self.latest.get(self.saga_id(spec)) == Stage.COMPLETED.value
            ]
            self.later = LaterPeriods(self, self.clock, completed)
            self.log.lifecycle = self.later.log
            await self.later.execute()
            async with self.lock:
                if not self.estate.alive(self.estate.worker_name()):
                    await asyncio.to_thread(self.estate.start_worker)
        try:
            return await self.gather()
        finally:
            await self.connectors.close()

    def saga_id(self, spec: DealSpec) -> str:
        return ids.saga_id(spec.crm, self.ids[spec.key])

    async def configure_webhooks(self) -> None:
        config = {
            "url": f"http://127.0.0.1:{self.estate.ports.api}/webhooks/stripe",
            "duplicates": 1,
            "reorder": True,
            "seed": self.config.seed,
        }
        await self.admin("stripe", "POST", "/_sandbox/webhook", config)

    async def create_deals(self) -> None:
        limit = asyncio.Semaphore(8)
        companies: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

        async def create(spec: DealSpec) -> None:
            async with limit:
                if spec.crm == "hubspot":
                    # HubSpot has no upsert: a company is looked up by key, then created. One rep per company at a
                    # time, or two deals of one company would each create it (the checker counts companies per key).
                    async with companies[spec.account.key]:
                        self.ids[spec.key] = await self.hubspot.create(spec)
                else:
                    self.ids[spec.key] = await seed_deal(self.crm, spec)

        await asyncio.gather(*(create(spec) for spec in self.book.deals))
        per_crm = ", ".join(f"{n} in {crm}" for crm, n in sorted(Counter(self.crms.values()).items()))
        self.say(f"created {len(self.ids)} open deals ({per_crm})")

    async def close(self, wave: list[DealSpec]) -> None:
        """Close the wave's deals in batches, a moment apart, as sales reps would."""
        for start in range(0, len(wave), self.config.batch):
            batch = wave[start : start + self.config.batch]
            await asyncio.gather(*(self.close_won(spec) for spec in batch))
            self.log.closed += len(batch)
            await asyncio.sleep(self.rng.uniform(0.2, 1.0))
        self.say(f"closed {self.log.closed} deals")

    async def close_won(self, spec: DealSpec) -> None:
        if spec.crm == "hubspot":
            await self.hubspot.close_won(self.ids[spec.key])
        else:
            await close_won(self.crm, self.ids[spec.key])

    async def switch_to_bank_debit(self) -> None:
        """Each bank-debit customer's billing customer (made by its first deal's saga) now pays by bank debit."""
        for spec in self.book.waves["first"]:
            if spec.account.key not in self.book.bank_debit_accounts:
                continue
            customer = await self.wait_for_billing_customer(spec)
            if customer is None:
                self.log.notes.append(f"{spec.key}: no billing customer to switch to bank debit")
                continue
            key = secret(self.settings.stripe_api_key)
            await pay_by_bank_debit(self.http, self.settings.stripe_url, key, customer)
        self.say(f"{len(self.book.bank_debit_accounts)} customers now pay by bank debit")

    async def wait_for_billing_customer(self, spec: DealSpec, timeout: float = 120) -> str | None:
        handle = self.client.get_workflow_handle(self.saga_id(spec))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                status = await handle.query(CustomerToCash.status, rpc_timeout=timedelta(seconds=5))
                if "billing_customer" in status.external_ids:
                    return status.external_ids["billing_customer"]
            except Exception:  # noqa: BLE001 - not started yet, or the query timed out: ask again
                pass
            await asyncio.sleep(0.5)
        return None  # the checker will say what became of that saga

    # ---- crashes ---------------------------------------------------------------------------------------

    async def chaos_monkey(self) -> None:
        """SIGKILL the worker at seeded points of the run's progress, each time starting a new one."""
        shares = sorted(self.rng.uniform(*self.config.kill_between) for _ in range(self.config.kills))
        for share in shares:
            while self.settled < share * len(self.book.deals):
                await asyncio.sleep(0.5)
            async with self.lock:
                await asyncio.to_thread(self.estate.kill_worker)
                self.log.worker_kills += 1
                self.say(f"SIGKILL worker ({self.log.worker_kills}/{self.config.kills}) at {self.settled} settled")
                await asyncio.sleep(self.rng.uniform(0.5, 2.0))
                await asyncio.to_thread(self.estate.start_worker)

    async def watch(self) -> None:
        """Keep `stages` (saga id -> stage, from the visibility store) and `settled` current."""
        while True:
            self.latest = await self.stages()
            self.settled = sum(stage in SETTLED for stage in self.latest.values())
            await asyncio.sleep(1.0)

    async def restart_server_mid_run(self, closed: list[DealSpec]) -> None:
        """Once every closed deal has its saga, SIGKILL the Temporal server and start it on the same file."""
        await self.wait_started(closed)
        await asyncio.sleep(self.rng.uniform(0.5, 3.0))
        async with self.lock:
            started = time.monotonic()
            await asyncio.to_thread(self.estate.restart_server)
            self.log.server_restarts += 1
            self.say(f"SIGKILL Temporal server, restarted on its file in {time.monotonic() - started:.1f}s")

    async def wait_started(self, specs: list[DealSpec], timeout: float = 60) -> None:
        pending = {self.saga_id(spec) for spec in specs}
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            for workflow_id in list(pending):
                try:
                    await self.client.get_workflow_handle(workflow_id).describe(rpc_timeout=timedelta(seconds=5))
                    pending.discard(workflow_id)
                except Exception:  # noqa: BLE001 - not started yet
                    pass
            if pending:
                await asyncio.sleep(0.5)
        if pending:
            self.log.notes.append(f"{len(pending)} closed deals had no saga after {timeout:.0f}s")

    # ---- the end -----------------------------------------------------------------------------------------

    async def drain(self) -> None:
        """Wait until every saga has completed or parked (or the timeout)."""
        expected = {self.saga_id(spec) for spec in self.book.deals}
        while True:
            unsettled = sorted(wid for wid in expected if self.latest.get(wid) not in SETTLED)
            if not unsettled:
                break
            if time.monotonic() - self.started > self.config.timeout:
                self.log.timed_out, self.log.unsettled = True, unsettled
                break
            await asyncio.sleep(1.0)
        self.log.seconds_to_settle = time.monotonic() - self.started

    async def stages(self) -> dict[str, str | None]:
        stages: dict[str, str | None] = {}
        try:
            async for execution in self.client.list_workflows("WorkflowType = 'CustomerToCash'"):
                values = execution.search_attributes.get("C2CStage") or [None]
                stages[execution.id] = str(values[0]) if values[0] is not None else None
        except Exception:  # noqa: BLE001 - the server restarting: ask again next round
            pass
        return stages

    async def gather(self) -> Gathered:
        expectations = {
            self.ids[spec.key]: Expectation(
                key=spec.key,
                expect_park=spec.expect_park,
                crm=spec.crm,
                billing=billing_of(spec),
                erp=vendors_of(spec).erp,
            )
            for spec in self.book.deals
        }
        limit = asyncio.Semaphore(16)

        async def status(deal_id: str) -> tuple[str, SagaStatus | None]:
            handle = self.client.get_workflow_handle(ids.saga_id(expectations[deal_id].crm, deal_id))
            async with limit:
                for _ in range(5):
                    try:
                        return deal_id, await handle.query(CustomerToCash.status, rpc_timeout=timedelta(seconds=10))
                    except Exception:  # noqa: BLE001 - no such saga, or the worker is starting
                        await asyncio.sleep(1)
            return deal_id, None

        answers = await asyncio.gather(*(status(deal_id) for deal_id in expectations))
        statuses = {deal_id: answer for deal_id, answer in answers if answer is not None}
        lifecycles = await self.later.gather() if self.later is not None else {}
        states = {}
        for name, url in self.urls().items():
            # Money as Decimal: the vendors' JSON numbers are exact decimals, not binary floats.
            states[name] = json.loads((await self.http.get(f"{url}/_sandbox/state")).content, parse_float=Decimal)
            chaos = (await self.http.get(f"{url}/_sandbox/chaos")).json()
            self.log.faults[name] = chaos.get("injected", {})
            self.log.requests[name] = chaos.get("requests", 0)
            self.log.faults_on_writes[name] = chaos.get("injected_writes", {})
        deliveries = states["stripe"]["webhook_deliveries"]
        self.log.webhooks = {
            "events": len({d["event"] for d in deliveries}),
            "copies": len({(d["event"], d["copy"]) for d in deliveries}),
            "attempts": len(deliveries),
        }
        hubspot = states["hubspot"]["webhooks"]
        self.log.hubspot_webhooks = {
            "events": len(hubspot),
            "delivered": sum(bool(d.get("delivered")) for d in hubspot),
            "attempts": sum(int(d.get("attempts") or 0) for d in hubspot),
        }
        plans = self.later.plans if self.later is not None else None
        return Gathered(expectations, statuses, states, lifecycles, plans)

    def urls(self) -> dict[str, str]:
        s = self.settings
        return {
            "salesforce": s.salesforce_url,
            "stripe": s.stripe_url,
            "avatax": s.avatax_url,
            "netsuite": s.netsuite_url,
            "xero": s.xero_url,
            "hubspot": s.hubspot_url,
            "chargebee": s.chargebee_url,
        }

    async def admin(self, system: str, method: str, path: str, body: Any = None) -> Any:
        response = await self.http.request(method, f"{self.urls()[system]}{path}", json=body)
        response.raise_for_status()
        return response.json()


@dataclass
class Outcome:
    config: RunConfig
    report: Report
    log: RunLog
    deals: int


async def run_chaos(config: RunConfig, say: Callable[[str], None] = print) -> Outcome:
    """Start the estate in a fresh var dir, run, check, stop everything (whatever happens)."""
    estate = ChaosEstate(var=config.var, http_timeout=config.http_timeout)
    estate.prepare()
    say(f"chaos run: seed {config.seed}, {config.deals} deals, logs in {config.var / 'logs'}")
    await asyncio.to_thread(estate.start_backends, config.chaos_spec())
    try:
        async with httpx.AsyncClient(timeout=httpx.Timeout(10.0)) as http:
            clock = None
            extra_env: dict[str, str] = {}
            if config.later_periods:
                # Every billing customer lives on this clock (C2C_STRIPE_TEST_CLOCK, read by the worker at start).
                settings = estate.settings()
                frozen = billing_start(build_book(config.deals, config.seed).deals[0].close_date)
                clock = await create_clock(http, settings.stripe_url, secret(settings.stripe_api_key), frozen)
                extra_env["C2C_STRIPE_TEST_CLOCK"] = clock.clock_id
            await asyncio.to_thread(estate.start_services, extra_env)
            client = await connect(estate.settings())
            run = ChaosRun(config, estate, client, http, clock)
            run.say = say
            gathered = await run.execute()
    finally:
        await asyncio.to_thread(estate.stop)
    report = check(gathered.expectations, gathered.statuses, gathered.states, gathered.lifecycles, gathered.plans)
    return Outcome(config, report, run.log, len(run.book.deals))
