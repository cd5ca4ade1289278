"""What a chaos run prints at the end: the outcome per deal kind, the faults, the crashes, totals, the verdict."""

from __future__ import annotations

from collections import Counter

from rich.console import Console
from rich.table import Table

from canonical import Money
from chaos.checker import MEASURES
from chaos.run import Outcome
from sandbox.faults import KINDS


def money(minor: int, currency: str) -> str:
    return f"{Money(amount=minor, currency=currency).to_decimal():,}"


def faults_table(outcome: Outcome) -> Table:
    table = Table("system", "requests", *KINDS, title="faults injected (the emulators' chaos counters)")
    log = outcome.log
    for system, counts in log.faults.items():
        table.add_row(system, str(log.requests.get(system, 0)), *(str(counts.get(kind, 0)) for kind in KINDS))
    totals = [sum(counts.get(kind, 0) for counts in log.faults.values()) for kind in KINDS]
    table.add_row("all", str(sum(log.requests.values())), *map(str, totals), style="bold")
    writes = [sum(counts.get(kind, 0) for counts in log.faults_on_writes.values()) for kind in KINDS]
    table.add_row("of which on writes", "", *map(str, writes))
    return table


def totals_table(outcome: Outcome) -> Table:
    table = Table("currency", *MEASURES, title="completed deals, per currency (from the systems' records)")
    for currency, sums in sorted(outcome.report.totals.items()):
        table.add_row(currency, *(money(sums[m], currency) for m in MEASURES))
    return table


# The estates side by side: each CRM, then each billing system, then the rest.
ROLES = (("CRM", ("salesforce", "hubspot")), ("billing", ("stripe", "chargebee")), ("ERP", ("netsuite", "xero")))


def systems_table(outcome: Outcome) -> Table:
    """What the checker found exactly once in each system for the completed deals (the CRMs: deals closed won)."""
    table = Table("role", "system", "counted once", title="per system (each record found exactly once per deal)")
    counted = outcome.report.counted
    for role, systems in (*ROLES, ("tax", ("avatax",))):
        for system in systems:
            counts = counted.get(system, Counter[str]())
            table.add_row(role, system, ", ".join(f"{n} {kind}" for kind, n in counts.items()) or "none")
    return table


def print_summary(console: Console, outcome: Outcome) -> None:
    report, log = outcome.report, outcome.log
    console.print(faults_table(outcome))
    console.print(totals_table(outcome))
    console.print(systems_table(outcome))
    parked = ", ".join(f"{code} {n}" for code, n in sorted(report.parked.items())) or "none"
    console.print(
        f"seed {outcome.config.seed}: {outcome.deals} deals, {report.closed} closed, {report.completed} completed, "
        f"parked: {parked}"
    )
    console.print(
        f"worker kills {log.worker_kills}, server restarts {log.server_restarts}, "
        f"duplicates found {report.duplicates}, settled in {log.seconds_to_settle:.0f}s"
        + (f" [red](timed out: {len(log.unsettled)} unsettled)[/red]" if log.timed_out else "")
    )
    later = log.lifecycle
    if later is not None:
        amended = ", ".join(f"{n} {kind}" for kind, n in sorted(later.amendments.items())) or "none"
        applied = ", ".join(f"{n} {kind}" for kind, n in sorted(report.changes.items())) or "none"
        answers = ", ".join(f"{n} {answer}" for answer, n in sorted(later.answers.items())) or "none"
        console.print(
            f"later periods: {later.subscriptions} subscriptions ({later.monthly} monthly), billing clock moved to "
            f"{', '.join(later.clock) or '-'}; {report.periods} later periods billed once in every system; "
            f"worker kills during the renewals {later.worker_kills}; {later.seconds:.0f}s"
        )
        console.print(
            f"CRM changes closed: {amended}; applied once: {applied}; delivered twice: {later.delivered_twice} "
            f"(second answers: {answers}); webhooks lost and sent again: {later.resent}; "
            f"ended: {', '.join(f'{n} {why}' for why, n in sorted(report.ended.items())) or 'none'}"
        )
        for line in later.parked + later.timed_out:
            console.print(f"[red]lifecycle:[/red] {line}")
    hooks = log.webhooks
    if hooks:
        console.print(
            f"Stripe webhooks: {hooks['events']} events sent as {hooks['copies']} copies in {hooks['attempts']} "
            "delivery attempts, duplicates and out of order"
        )
    hub = log.hubspot_webhooks
    if hub:
        console.print(
            f"HubSpot webhooks: {hub['events']} events, {hub['delivered']} delivered in {hub['attempts']} attempts"
        )
    for note in log.notes:
        console.print(f"[yellow]note:[/yellow] {note}")
    if report.ok:
        console.print(
            "[green]verified:[/green] nothing lost, nothing stuck, exactly once in every system, amounts equal"
        )
        return
    for violation in report.violations:
        console.print(f"[red]violation:[/red] {violation}")
    console.print(f"[red]{len(report.violations)} violations[/red]")
