"""After the first invoices: billing time moves three months on (the Stripe test clock and, in step with it,
Chargebee's time machine: UK01 bills in Chargebee), the subscriptions renew in their billing system and their
lifecycles bill each period, and the CRM wins changes to four of them — an upsell and a seat reduction in
month 2, a mid-period cancellation and a renewal in month 3. Then each subscription's ledger is printed and every
system is checked against the lifecycles (demo/lifecycle.py).

Temporal runs on real time here: the lifecycles move on billing's webhooks (Stripe's `invoice.created`,
Chargebee's `subscription_renewed` reach the trigger API, which signals them), so after each move of the clocks
the demo polls their status until every period that has started is billed and every change is applied.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from rich.console import Console
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError

from canonical import ids
from canonical.contract import add_months
from canonical.reference import REVENUE_ACCOUNTS
from connectors.salesforce import SalesforceCrm
from demo import lifecycle, report, revenue, usage
from estate.amendments import CANCELLATION, DOWNGRADE, RENEWAL, UPGRADE, Line, amendment_deal
from estate.book import DealSpec
from estate.clock import TestClock, TimeMachine
from settings import Settings
from workflows.saga import SagaStatus, Stage
from workflows.subscription import SubscriptionLifecycle
from workflows.subscription_messages import ChangeState, LifecycleStatus, PeriodState

# USD monthly, USD monthly, EUR monthly: all billed in Stripe (Chargebee refuses a seat reduction mid-term: the
# connector parks it `unsupported`, docs/decisions.md). UK01's subscriptions renew in Chargebee unchanged.
UPSELL, REDUCTION, CANCELLED = "D-001", "D-019", "D-013"
# UK01, GBP monthly, billed in Chargebee: an upsell there too (update_for_items, prorated as unbilled charges that
# Chargebee bills on the next renewal).
UK_UPSELL = "D-015"
PAST_START = timedelta(minutes=10)  # each month's clock stop: a few minutes after the periods start


@dataclass
class BillingTime:
    """Both billing systems' time: the Stripe test clock every Stripe customer lives on, and the Chargebee site's
    time machine (started at the clock's time before the first deal), moved to the same moments."""

    clock: TestClock
    machine: TimeMachine

    async def now(self) -> datetime:
        return await self.clock.now()

    async def advance(self, to: datetime) -> None:
        # Chargebee's site time runs on with the wall clock between travels, a minute or two past the frozen Stripe
        # clock by now: each renewal still falls due before the moments the demo stops at (PAST_START after it).
        await self.machine.travel_forward(to)
        await self.clock.advance(to)


class Stuck(Exception):
    """A lifecycle did not get where the demo waits for it (parked, refused, or out of time)."""


@dataclass
class Lifecycles:
    """The lifecycles of the completed deals, their latest status, and the wait for them to settle."""

    handles: dict[str, WorkflowHandle[Any, Any]]
    console: Console
    timeout: float
    statuses: dict[str, LifecycleStatus]

    async def poll(self) -> None:
        for key, handle in self.handles.items():
            try:
                self.statuses[key] = await handle.query(SubscriptionLifecycle.status)
            except RPCError:  # not started yet, or a query timed out on a busy machine: ask again
                continue

    async def until(self, what: str, done: Any) -> None:
        """Poll until `done(key, status)` holds for every lifecycle; a parked one or the deadline raises Stuck."""
        deadline = time.monotonic() + self.timeout
        with self.console.status(what) as spinner:
            while True:
                await self.poll()
                parked = [f"{k}: {s.problem.code}" for k, s in self.statuses.items() if s.problem is not None]
                if parked:
                    raise Stuck(f"parked while {what}: {'; '.join(parked)}")
                waiting = [k for k in self.handles if k not in self.statuses or not done(k, self.statuses[k])]
                if not waiting:
                    return
                spinner.update(
                    f"{what} ({len(self.handles) - len(waiting)}/{len(self.handles)}; waiting for "
                    f"{', '.join(waiting[:6])}{'…' if len(waiting) > 6 else ''})"
                )
                if time.monotonic() > deadline:
                    raise Stuck(f"timed out after {self.timeout:.0f}s {what}: still waiting for {', '.join(waiting)}")
                await asyncio.sleep(0.5)

    async def billed_up_to(self, now: datetime, what: str) -> None:
        """Every period started by `now` billed, every due change applied (a lifecycle past its term waits)."""

        def settled(_: str, s: LifecycleStatus) -> bool:
            if s.ended:
                return True
            if any(r.state is ChangeState.PENDING for r in s.changes) or s.stage is not Stage.WAITING:
                return False
            if any(p.state is not PeriodState.BILLED for p in s.periods):
                return False
            past_term = s.term_end is not None and s.next_period_start >= s.term_end
            return s.contract_id is not None and (s.next_period_start > now or past_term)

        await self.until(what, settled)

    async def applied(self, key: str, opportunity_id: str) -> None:
        def done(k: str, s: LifecycleStatus) -> bool:
            if k != key:
                return True
            records = [r for r in s.changes if r.amendment.deal_id == opportunity_id]
            if any(r.state is ChangeState.REFUSED for r in records):
                raise Stuck(f"{key}: change {opportunity_id} refused: {records[0].rule} {records[0].detail}")
            return any(r.state is ChangeState.APPLIED for r in records)

        await self.until(f"waiting for {key}'s change {opportunity_id}", done)


async def run_months(
    client: Client,
    http: httpx.AsyncClient,
    crm: SalesforceCrm,
    settings: Settings,
    clock_id: str,
    specs: list[DealSpec],
    deal_ids: dict[str, str],
    sagas: dict[str, SagaStatus],
    console: Console,
    timeout: float,
) -> int:
    """Months 2 to 4 with the CRM's changes; prints the ledgers and returns 0 when every system agrees."""
    started = time.monotonic()
    clock = BillingTime(
        TestClock(http, settings.stripe_url, settings.stripe_api_key.get_secret_value(), clock_id),
        TimeMachine(http, settings.chargebee_url, settings.chargebee_api_key.get_secret_value()),
    )
    by_key = {spec.key: spec for spec in specs}
    completed = [key for key, saga in sagas.items() if saga.stage is Stage.COMPLETED]
    handles = {
        key: client.get_workflow_handle(ids.subscription_id(by_key[key].crm, deal_ids[key])) for key in completed
    }
    lives = Lifecycles(handles, console, timeout, {})
    first = await clock.now()
    planned: list[lifecycle.PlannedChange] = []
    metered = usage.USAGE_DEAL if usage.USAGE_DEAL in completed else None
    used = usage.UsageLog()
    try:
        await lives.billed_up_to(first, "waiting for the lifecycles to write their CRM contracts")
        console.print(
            f"{len(handles)} subscription lifecycles running; billing time {first:%Y-%m-%d %H:%M} UTC "
            "(Stripe's test clock; Chargebee's time machine moves with it)"
        )
        for month in (2, 3, 4):
            start = add_months(first, month - 1)
            if metered is not None:  # the period about to close: its usage, reported while it is open
                opened = add_months(first, month - 2) + (timedelta(minutes=1) if month == 2 else PAST_START / 2)
                trouble = await usage.report_period(
                    client, http, settings, deal_ids[metered], month - 1, opened, used, timeout
                )
                if trouble:
                    raise Stuck("; ".join(trouble))
            await clock.advance(start + PAST_START)
            await lives.billed_up_to(start + PAST_START, f"month {month}: billing the periods from {start:%Y-%m-%d}")
            console.print(f"month {month} ({start:%Y-%m-%d}): every period due is taxed, invoiced, posted, paid")
            if month == 2:
                planned += await changes_mid_month(lives, clock, crm, by_key, deal_ids, start, 10, "upsell")
            elif month == 3:
                planned += await changes_mid_month(lives, clock, crm, by_key, deal_ids, start, 12, "cancel")
    except Stuck as stuck:
        console.print(f"[red]lifecycles stuck:[/red] {stuck}")
        return 1
    now = await clock.now()
    states = {
        name: (await http.get(f"{url}/_sandbox/state")).json() for name, url in report.sandbox_urls(settings).items()
    }
    lifecycles = {key: lives.statuses[key] for key in completed}
    currencies = {key: by_key[key].currency for key in completed}
    for key, status in lifecycles.items():
        if len(status.periods) > 1 or status.changes:
            console.print(lifecycle.ledger_table(key, status, currencies[key], sagas[key].totals.get("paid")))
    yearly = [key for key, status in lifecycles.items() if len(status.periods) == 1 and not status.changes]
    console.print(f"annual subscriptions (next invoice in a year, one period so far): {', '.join(yearly)}")
    console.print(lifecycle.changes_table(lifecycles, planned))
    console.print(lifecycle.totals_table(lifecycle.net_totals(states)))
    problems = lifecycle.verify_lifecycles(lifecycles, currencies, states, planned, now)
    if metered is not None:
        usage.print_answers(console, used)
        console.print(usage.usage_table(lifecycles[metered], used, states))
        problems += usage.verify_usage(lifecycles[metered], used, states)
    periods = sum(len(s.periods) for s in lifecycles.values())
    console.print(
        f"{len(lifecycles)} subscriptions, {periods} periods, {len(planned)} CRM changes to billing time "
        f"{now:%Y-%m-%d} in {time.monotonic() - started:.1f}s"
    )
    for problem in problems:
        console.print(f"[red]mismatch:[/red] {problem}")
    if problems:
        return 1
    console.print(
        "[green]verified:[/green] every period's invoice posted once to the ERP with equal totals and its payment "
        "applied; credits applied; net totals equal per entity and currency"
    )
    console.print()
    console.print("[bold]revenue recognition: each month billing has closed, per legal entity[/bold]")
    sold_by = {by_key[key].legal_entity for key in completed}
    # An entity without deferred revenue accounts is not recognized.
    entities = sorted(sold_by & set(REVENUE_ACCOUNTS))
    for entity in sorted(sold_by - set(REVENUE_ACCOUNTS)):
        console.print(
            f"{entity} books in {settings.vendors_for(entity).erp}: no revenue recognition (docs/decisions.md)"
        )
    unrecognized = await revenue.recognize(client, settings, entities, first.date(), now.date(), console)
    for problem in unrecognized:
        console.print(f"[red]mismatch:[/red] {problem}")
    if unrecognized:
        return 1
    console.print(
        "[green]verified:[/green] the ERP's recognition journals equal the schedules, per entity and currency"
    )
    return 0


async def changes_mid_month(
    lives: Lifecycles,
    clock: BillingTime,
    crm: SalesforceCrm,
    specs: dict[str, DealSpec],
    deal_ids: dict[str, str],
    period_start: datetime,
    day: int,
    which: str,
) -> list[lifecycle.PlannedChange]:
    """Move billing time `day` days into the month, close the month's changes in the CRM, wait for them."""
    at = period_start + timedelta(days=day)
    await clock.advance(at)
    await lives.billed_up_to(at, f"billing time {at:%Y-%m-%d}")
    wanted: list[tuple[str, str, str, int, int | None]]
    if which == "upsell":
        wanted = [
            (UPSELL, "upsell", UPGRADE, 5, None),
            (UK_UPSELL, "upsell", UPGRADE, 5, None),
            (REDUCTION, "reduction", DOWNGRADE, -50, None),
        ]
    else:
        wanted = [
            (CANCELLED, "cancellation", CANCELLATION, 0, None),
            (renewal_candidate(lives, at), "renewal", RENEWAL, 0, 12),
        ]
    planned = []
    for key, kind, crm_type, seats, term in wanted:
        status, spec = lives.statuses[key], specs[key]
        assert status.contract_id is not None
        lines: tuple[Line, ...] = ()
        if seats:
            [seat] = [line for line in status.lines if line.product_code == "PLAT-SEAT"]
            lines = (("PLAT-SEAT", seats, seat.unit_price.to_decimal()),)
        effective = status.term_end.date() if kind == "renewal" and status.term_end else at.date()
        opportunity = await amendment_deal(
            crm,
            f"{key}-{kind.upper()}",
            status.contract_id,
            kind=crm_type,
            lines=lines,
            currency=spec.currency,
            close_date=at.date(),
            effective_date=effective,
            term_months=term,
        )
        lives.console.print(
            f"CRM: {kind} of {key} won ({opportunity}, {crm_type}"
            + (f", {seats:+d} seats" if seats else "")
            + (f", {term} more months" if term else "")
            + f", effective {effective})"
        )
        planned.append(lifecycle.PlannedChange(key, kind, opportunity))
    for change in planned:
        await lives.applied(change.deal, change.opportunity_id)
    await lives.billed_up_to(at, f"applying the changes at {at:%Y-%m-%d}")
    for change in planned:
        status = lives.statuses[change.deal]
        outcome = (
            f"ended ({status.ended})"
            if status.ended
            else f"lines {lifecycle_lines(status)}, term to {status.term_end.date() if status.term_end else '?'}"
        )
        lives.console.print(f"  {change.deal}: {change.kind} applied: {outcome}")
    return planned


def lifecycle_lines(status: LifecycleStatus) -> str:
    return ", ".join(f"{line.quantity} × {line.product_code}" for line in status.lines)


def renewal_candidate(lives: Lifecycles, at: datetime) -> str:
    """The monthly subscription whose term ends first (after `at`): renewing it keeps it billing."""
    chosen = {UPSELL, REDUCTION, CANCELLED, UK_UPSELL}
    running = [
        (status.term_end, key)
        for key, status in lives.statuses.items()
        if key not in chosen
        and not status.ended
        and status.term_end
        and status.term_end > at
        and len(status.periods) > 1
    ]
    if not running:
        raise Stuck("no running monthly subscription left to renew")
    return min(running)[1]
