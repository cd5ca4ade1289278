"""The chaos run's later billing periods: after the first invoices settle, billing time moves through two more
months with the same faults on, for every completed deal of both estates; every subscription's lifecycle bills its
renewals, and a seeded subset of contracts changes in its CRM mid-period (upsells, seat reductions, cancellations),
some delivered twice. Billing time is the Stripe test clock for Stripe's subscriptions (all renew at its midnight)
and Chargebee's Time Machine for Chargebee's (chaos/time_machine.py; each renews at its own creation time of day).

Sequence (all random choices from the run's seed, on a generator of their own so the first part's draws stay as
they were):
1. Point Chargebee's webhook at the trigger API; wait until every completed deal's SubscriptionLifecycle has written
   its CRM contract (in Salesforce, or on the deal in HubSpot).
2. Advance the Stripe clock to ten minutes after the second period starts (the renewal drafts exist; Stripe would
   finalize them an hour later, c2c holds them first) and Chargebee's time to ten minutes after the last Chargebee
   period 2 starts (Chargebee holds its renewals pending). Stripe's `invoice.created` and Chargebee's
   `subscription_renewed` webhooks (each twice) start period 2 in every monthly lifecycle. The chaos monkey SIGKILLs
   the worker once a seeded share of them is billed.
3. Once every period 2 is billed, advance both ten days into it and close the amendments in each deal's CRM (each
   reaches its lifecycle through its CRM's closed-won webhook; reductions and cancellations on Stripe subscriptions
   only); a seeded share is delivered a second time through the API, and one whose webhook was lost to the faults
   is sent again as the missed-trigger sweep would. Wait until each applied.
4. Advance both to ten minutes after their third periods start and wait until every lifecycle still running billed it.

Waiting polls the lifecycles' `status` query with one deadline for the whole part; a lifecycle that parks (a
period or a change needing finance) stops being waited for and the checker reports it.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

import httpx

from canonical import ids
from canonical.contract import add_months
from chaos.checker import LifecycleExpectation, PlannedChange
from chaos.estate import billing_of
from chaos.time_machine import ChargebeeTime, hook_chargebee
from estate.amendments import CANCELLATION, DOWNGRADE, UPGRADE, amendment_deal
from estate.book import DealSpec
from estate.clock import TestClock
from estate.deals import persist
from workflows.subscription import SubscriptionLifecycle
from workflows.subscription_messages import ChangeState, LifecycleStatus, PeriodState

if TYPE_CHECKING:
    from chaos.run import ChaosRun

KINDS = {"upsell": UPGRADE, "reduction": DOWNGRADE, "cancellation": CANCELLATION}
# After a period starts, how far the clock goes: the renewal drafts exist, and Stripe's own finalization (an hour
# after it made a draft) is not due yet, so every lifecycle holds its draft and adds the tax line first.
INTO_PERIOD = timedelta(minutes=10)
MID_PERIOD = timedelta(days=10)  # when the amendments are won and take effect


def billing_start(close_date: str) -> datetime:
    """Where the run's test clock starts: midnight UTC of the deals' close date, so each contract's term (from its
    close date) and its billing periods (from the subscription's creation on the clock) start together."""
    return datetime.combine(date.fromisoformat(close_date), datetime.min.time(), UTC)


async def create_clock(http: httpx.AsyncClient, stripe_url: str, api_key: str, frozen: datetime) -> TestClock:
    """A test clock, retried through the faults (a lost answer may leave a spare clock without customers)."""

    async def attempt() -> TestClock:
        try:
            return await TestClock.create(http, stripe_url, api_key, "chaos", frozen)
        except httpx.HTTPStatusError as error:
            if error.response.status_code in (409, 429) or error.response.status_code >= 500:
                raise httpx.TransportError(str(error)) from error
            raise

    return await persist(attempt)


@dataclass
class LifecycleLog:
    """What the later-periods part did, for the summary."""

    subscriptions: int = 0  # lifecycles followed
    monthly: int = 0  # of which bill monthly (periods 2 and 3 fall in the run)
    clock: list[str] = field(default_factory=list)  # billing times the clock was advanced to
    worker_kills: int = 0
    amendments: dict[str, int] = field(default_factory=dict)  # kind -> closed in the CRM
    delivered_twice: int = 0
    resent: int = 0  # webhooks lost to the faults, sent again as the sweep would
    answers: dict[str, int] = field(default_factory=dict)  # the API's answers to the second deliveries
    parked: list[str] = field(default_factory=list)
    timed_out: list[str] = field(default_factory=list)
    seconds: float = 0.0


class LaterPeriods:
    def __init__(self, run: ChaosRun, clock: TestClock, completed: list[DealSpec]) -> None:
        self.run, self.clock = run, clock
        self.config = run.config
        self.specs = {run.ids[spec.key]: spec for spec in completed}  # deal id -> spec
        self.chargebee = ChargebeeTime.of(run.http, run.settings)
        self.rng = random.Random(f"{run.config.seed}:later-periods")
        self.log = LifecycleLog(subscriptions=len(completed))
        self.plans: dict[str, LifecycleExpectation] = {}
        self.statuses: dict[str, LifecycleStatus] = {}  # latest answer per deal
        self.limit = asyncio.Semaphore(8)
        self.progress = 0  # lifecycles done in the current wait
        self.deadline = 0.0

    # ---- the sequence --------------------------------------------------------------------------------------

    async def execute(self) -> None:
        started = time.monotonic()
        self.deadline = started + self.config.lifecycle_timeout
        deals = sorted(self.specs)
        if any(self.billing(d) == "chargebee" for d in deals):
            await hook_chargebee(self.run.http, self.run.settings, self.run.estate.ports.api)
        await self.wait("contract written", deals, lambda s: s.contract_id is not None)
        monthly = [d for d in deals if self.specs[d].billing_period == "Monthly"]
        self.log.monthly = len(monthly)
        starts = {self.statuses[d].next_period_start for d in monthly if d in self.statuses}
        changes = self.plan_changes([d for d in deals if self.statuses.get(d) and self.statuses[d].contract_id])
        if not starts:
            self.run.say("no monthly subscription: no later period falls in the run")
        else:
            second = min(starts)
            stripe = {s for d in monthly if self.billing(d) == "stripe" and (s := self.next_start(d)) is not None}
            if len(stripe) > 1:
                self.run.log.notes.append(f"monthly Stripe subscriptions renew at {len(stripe)} different times")
            if stripe:
                await self.advance(min(stripe) + INTO_PERIOD)
            await self.travel(monthly)
            kill = asyncio.create_task(
                self.kill_at(self.rng.uniform(*self.config.lifecycle_kill_between) * len(monthly))
            )
            try:
                await self.wait("period 2 billed", monthly, lambda s: billed(s, 2))
                if not kill.done():
                    kill.cancel()
            finally:
                await asyncio.gather(kill, return_exceptions=True)
            await self.advance(second + MID_PERIOD)
            await self.chargebee_to(second + MID_PERIOD, monthly)
            await self.amend(changes, (second + MID_PERIOD).date())
            if stripe:
                await self.advance(add_months(min(stripe), 1) + INTO_PERIOD)
            cancelled = {d for d, cs in changes.items() if any(c.kind == "cancellation" for c in cs)}
            running = [d for d in monthly if d not in cancelled]
            await self.travel(running)  # each Chargebee subscription's period 3 starts at its own time of day
            await self.wait("period 3 billed", running, lambda s: billed(s, 3))
        for deal_id in deals:
            spec, planned = self.specs[deal_id], tuple(changes.get(deal_id, ()))
            periods = 0
            if spec.billing_period == "Monthly" and starts:
                periods = 1 if any(c.kind == "cancellation" for c in planned) else 2
            lines = {code: quantity for code, quantity, _ in spec.lines}
            self.plans[deal_id] = LifecycleExpectation(periods=periods, lines=lines, changes=planned)
        self.log.seconds = time.monotonic() - started

    # ---- CRM changes ---------------------------------------------------------------------------------------

    def plan_changes(self, deals: list[str]) -> dict[str, list[PlannedChange]]:
        """Seeded: `amend_shares` of the subscriptions get an upsell, a seat reduction or a cancellation."""
        pool = sorted(deals, key=lambda d: self.specs[d].key)  # the book's order: CRM ids follow the clock
        self.rng.shuffle(pool)
        upsells, reductions, cancellations = (round(share * len(deals)) for share in self.config.amend_shares)
        changes: dict[str, list[PlannedChange]] = {}

        def take(kind: str, count: int, fits: Callable[[DealSpec], bool]) -> None:
            for deal_id in [d for d in pool if fits(self.specs[d])][:count]:
                pool.remove(deal_id)
                spec = self.specs[deal_id]
                lines: tuple[tuple[str, int], ...] = ()
                if kind == "upsell":
                    code, _, _ = self.rng.choice(spec.lines)
                    lines = ((code, self.rng.randint(1, 10)),)
                elif kind == "reduction":
                    code, quantity, _ = self.rng.choice([line for line in spec.lines if line[1] >= 2])
                    # At most half the line: a deeper cut's prorated credit outweighs the next period's charge, and
                    # c2c cannot bill a net-negative renewal yet (see docs/chaos.md, limits).
                    lines = ((code, -self.rng.randint(1, quantity // 2)),)
                twice = self.rng.random() < self.config.duplicate_share
                key = f"{spec.key}-{kind[:3].upper()}"
                changes[deal_id] = [PlannedChange(key=key, kind=kind, lines=lines, duplicate=twice)]

        # Chargebee refuses a seat reduction mid-term (`unsupported`: its credit note is not booked yet), and a
        # Chargebee cancellation's credit is not among what the checker reads: both only on Stripe subscriptions.
        on_stripe = {d for d in deals if billing_of(self.specs[d]) == "stripe"}
        pool_all = pool
        pool = [d for d in pool_all if d in on_stripe]
        take("cancellation", cancellations, lambda spec: True)
        take("reduction", reductions, lambda spec: any(quantity >= 2 for _, quantity, _ in spec.lines))
        pool = [d for d in pool_all if d not in changes]
        take("upsell", upsells, lambda spec: True)
        return changes

    async def amend(self, changes: dict[str, list[PlannedChange]], effective: date) -> None:
        """Close each change in the CRM (its webhook reaches the lifecycle), deliver some twice, wait until applied."""

        async def close(deal_id: str, change: PlannedChange) -> PlannedChange:
            spec, contract = self.specs[deal_id], self.statuses[deal_id].contract_id
            assert contract is not None
            prices = {code: price for code, _, price in spec.lines}
            lines = tuple((code, delta, prices[code]) for code, delta in change.lines)
            async with self.limit:
                if spec.crm == "hubspot":  # a HubSpot deal's contract is changed by a deal won in HubSpot
                    opportunity = await self.run.hubspot.amend(change.key, deal_id, lines, spec.currency, effective)
                    return replace(change, opportunity_id=opportunity)
                opportunity = await persist(
                    lambda: amendment_deal(
                        self.run.crm,
                        change.key,
                        contract,
                        kind=KINDS[change.kind],
                        lines=lines,
                        currency=spec.currency,
                        close_date=effective,
                        effective_date=effective,
                    )  # fmt: skip
                )
            return replace(change, opportunity_id=opportunity)

        closing = [(d, c) for d, cs in changes.items() for c in cs]
        closed = await asyncio.gather(*(close(d, c) for d, c in closing))
        for (deal_id, _), change in zip(closing, closed, strict=True):
            changes[deal_id] = [change if c.key == change.key else c for c in changes[deal_id]]
            self.log.amendments[change.kind] = self.log.amendments.get(change.kind, 0) + 1
        on = Counter(f"{self.specs[d].crm}/{self.billing(d)}" for d, _ in closing)
        self.run.say(
            f"closed {len(closed)} CRM changes effective {effective}: "
            + ", ".join(f"{n} {kind}" for kind, n in sorted(self.log.amendments.items()))
            + " (on "
            + ", ".join(f"{n} {where}" for where, n in sorted(on.items()))
            + ")"
        )
        twice = [c for c in closed if c.duplicate]
        crm_of = {c.opportunity_id: self.specs[d].crm for d, cs in changes.items() for c in cs}
        answers = await asyncio.gather(*(self.deliver(c.opportunity_id, crm_of[c.opportunity_id]) for c in twice))
        self.log.delivered_twice = len(twice)
        for answer in answers:
            self.log.answers[answer] = self.log.answers.get(answer, 0) + 1
        by_deal = {d: [c.opportunity_id for c in cs] for d, cs in changes.items()}

        def known(status: LifecycleStatus) -> bool:
            return all(any(r.amendment.deal_id == o for r in status.changes) for o in by_deal[status.deal_id])

        # A closed-won webhook the faults made the CRM give up on: sent again, as the missed-deal sweep would.
        lost_after = time.monotonic() + self.config.webhook_grace
        await self.wait("change received", list(by_deal), known, until=lost_after, quiet=True)
        lost = [o for d, os in by_deal.items() if not (self.statuses.get(d) and known(self.statuses[d])) for o in os]
        for opportunity in lost:
            await self.deliver(opportunity, crm_of[opportunity])
        self.log.resent = len(lost)

        def applied(status: LifecycleStatus) -> bool:
            mine = [r for r in status.changes if r.amendment.deal_id in by_deal[status.deal_id]]
            done = len(mine) >= len(by_deal[status.deal_id]) and all(r.state is ChangeState.APPLIED for r in mine)
            ending = any(r.amendment.kind.value == "cancellation" for r in mine)
            return done and (not ending or status.ended is not None)

        await self.wait("changes applied", list(by_deal), applied)

    async def deliver(self, opportunity_id: str, crm: str) -> str:
        """The closed-won notice once more, through the API (what a duplicate webhook or the sweep does)."""
        settings = self.run.settings
        url = f"http://127.0.0.1:{self.run.estate.ports.api}/deals/{opportunity_id}/start?crm={crm}"
        token = settings.api_token.get_secret_value() if settings.api_token else ""
        for _ in range(30):
            try:
                answer = await self.run.http.post(url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
            except httpx.HTTPError:
                await asyncio.sleep(1)
                continue
            if answer.status_code == 429 or answer.status_code >= 500:
                await asyncio.sleep(1)
                continue
            body = answer.json()
            if answer.status_code < 300:
                return "accepted" if body.get("started") else "duplicate"
            return f"{answer.status_code} {body.get('code') or body.get('error') or body}"
        return "no answer"

    # ---- time, crashes, waiting -----------------------------------------------------------------------------

    def billing(self, deal_id: str) -> str:
        return billing_of(self.specs[deal_id])

    def next_start(self, deal_id: str) -> datetime | None:
        status = self.statuses.get(deal_id)
        return status.next_period_start if status is not None else None

    async def travel(self, deals: list[str]) -> None:
        """Chargebee's site time to ten minutes after the latest next period start of its subscriptions in `deals`:
        each renews at its own creation time of day, hours after the Stripe clock's midnight."""
        starts = [s for d in deals if self.billing(d) == "chargebee" and (s := self.next_start(d)) is not None]
        if starts:
            await self.chargebee_to(max(starts) + INTO_PERIOD, deals)

    async def chargebee_to(self, to: datetime, deals: list[str]) -> None:
        if not any(self.billing(d) == "chargebee" for d in deals):
            return
        await self.chargebee.travel(to)
        self.log.clock.append(f"chargebee {to.isoformat()}")
        self.run.say(f"Chargebee time machine at {to:%Y-%m-%d %H:%M} UTC")

    async def advance(self, to: datetime) -> None:
        """Move billing time to `to` through the faults: an advance whose answer was lost is not sent again."""
        url = f"{self.clock.base}/v1/test_helpers/test_clocks/{self.clock.clock_id}"
        target = int(to.timestamp())
        while True:
            try:
                clock = (await self.run.http.get(url, headers=self.clock.headers)).json()
            except (httpx.HTTPError, ValueError):
                await asyncio.sleep(0.5)
                continue
            if "frozen_time" not in clock:  # a fault's error body
                await asyncio.sleep(0.5)
            elif clock["status"] == "ready" and clock["frozen_time"] >= target:
                break
            elif clock["status"] == "ready":
                try:
                    await self.run.http.post(
                        f"{url}/advance", data={"frozen_time": str(target)}, headers=self.clock.headers
                    )
                except httpx.HTTPError:
                    pass
            else:
                await asyncio.sleep(0.2)
        self.log.clock.append(to.isoformat())
        self.run.say(f"billing clock at {to:%Y-%m-%d %H:%M} UTC")

    async def kill_at(self, done: float) -> None:
        """SIGKILL the worker once `done` lifecycles of the current wait are through, and start a new one."""
        while self.progress < done:
            await asyncio.sleep(0.5)
        async with self.run.lock:
            await asyncio.to_thread(self.run.estate.kill_worker)
            self.log.worker_kills += 1
            self.run.log.worker_kills += 1
            self.run.say(f"SIGKILL worker during the renewals, {self.progress} of period 2 billed")
            await asyncio.sleep(self.rng.uniform(0.5, 2.0))
            await asyncio.to_thread(self.run.estate.start_worker)

    async def status(self, deal_id: str) -> LifecycleStatus | None:
        handle = self.run.client.get_workflow_handle(ids.subscription_id(self.specs[deal_id].crm, deal_id))
        async with self.limit:
            try:
                answer: LifecycleStatus = await handle.query(
                    SubscriptionLifecycle.status, rpc_timeout=timedelta(seconds=10)
                )
            except Exception:  # noqa: BLE001 - not started yet, a worker restarting, the server busy: ask again
                return None
        self.statuses[deal_id] = answer
        return answer

    async def wait(
        self,
        what: str,
        deals: list[str],
        done: Callable[[LifecycleStatus], bool],
        *,
        until: float | None = None,
        quiet: bool = False,
    ) -> None:
        """Poll until `done` holds for each deal's lifecycle, it parks, or the deadline (`until` or the part's)."""
        pending, self.progress = set(deals), 0
        deadline = min(until or self.deadline, self.deadline)
        while pending:
            answers = await asyncio.gather(*(self.status(d) for d in sorted(pending)))
            for deal_id, status in zip(sorted(pending), answers, strict=True):
                if status is None:
                    continue
                if done(status):
                    pending.discard(deal_id)
                    self.progress += 1
                elif status.problem is not None and not quiet:
                    pending.discard(deal_id)
                    problem = status.problem
                    self.log.parked.append(f"{self.specs[deal_id].key}: {what}: {problem.code}: {problem.message}")
            if pending and time.monotonic() > deadline:
                if not quiet:
                    self.log.timed_out += [f"{self.specs[d].key}: not {what}" for d in sorted(pending)]
                break
            if pending:
                await asyncio.sleep(2.0)
        if not quiet:
            self.run.say(f"{what}: {self.progress} of {len(deals)} lifecycles")

    async def gather(self) -> dict[str, LifecycleStatus]:
        """Every lifecycle's status at the end (asked again: the last poll may be older than the last step)."""

        async def final(deal_id: str) -> tuple[str, LifecycleStatus | None]:
            for _ in range(5):
                status = await self.status(deal_id)
                if status is not None:
                    return deal_id, status
                await asyncio.sleep(1)
            return deal_id, None

        answers = await asyncio.gather(*(final(deal_id) for deal_id in self.specs))
        return {deal_id: status for deal_id, status in answers if status is not None}


def billed(status: LifecycleStatus, period: int) -> bool:
    return status.next_period > period and any(
        p.number == period and p.state is PeriodState.BILLED for p in status.periods
    )
