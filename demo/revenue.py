"""After the months: revenue recognition for every month billing has closed, as the monthly Schedule runs it (with
the test clock's day as the books' today: billing runs months ahead of real time), the deferred revenue waterfall
per legal entity and currency, and the check that the ERP's recognition journals equal the schedules computed from
what the ERP holds (docs/revenue.md)."""

from __future__ import annotations

from datetime import date

from rich.console import Console
from rich.table import Table
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy

from canonical.revenue import RevenueLedger, month_of, months_between, previous_month, scheduled_through, waterfall
from connectors.factory import build_connectors
from settings import Settings
from workflows.revenue import RecognitionInput, RevenueRecognition


async def recognize(
    client: Client, settings: Settings, entities: list[str], first: date, today: date, console: Console
) -> list[str]:
    """Recognize each month from `first`'s to the one before `today`, per entity; print the waterfall; return the
    mismatches between the ERP's journals and the schedules (none when the books agree)."""
    first_month, last_month = month_of(first), previous_month(month_of(today))
    months = months_between(first_month, last_month)
    for entity in entities:
        for month in months:
            await client.execute_workflow(
                RevenueRecognition.run,
                RecognitionInput(legal_entity=entity, month=month, as_of=today, erp=settings.vendors_for(entity).erp),
                id=f"{settings.task_queue}:demo-revenue:{entity}:{month}",
                task_queue=settings.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            )
    connectors = build_connectors(settings)
    try:
        ledgers = [
            await connectors.erps[settings.vendors_for(entity).erp].revenue_ledger(entity) for entity in entities
        ]
    finally:
        await connectors.close()
    console.print(waterfall_table(ledgers, first_month, last_month))
    return mismatches(ledgers, last_month)


def mismatches(ledgers: list[RevenueLedger], last_month: str) -> list[str]:
    problems = []
    for ledger in ledgers:
        scheduled = scheduled_through(ledger.lines, last_month)
        for (entity, currency), amount in sorted(scheduled.items()):
            journals = sum(r.amount for r in ledger.recognitions if r.currency == currency and r.month <= last_month)
            if journals != amount:
                problems.append(
                    f"{entity} {currency}: recognition journals through {last_month} total {journals}, "
                    f"the schedules {amount} (minor units)"
                )
    return problems


def waterfall_table(ledgers: list[RevenueLedger], first: str, last: str) -> Table:
    table = Table(title=f"deferred revenue waterfall {first} to {last} (minor units; ERP journals)")
    for column in ("entity", "currency", "month", "opening", "billed", "recognized", "closing"):
        table.add_column(
            column, justify="right" if column in ("opening", "billed", "recognized", "closing") else "left"
        )
    for ledger in ledgers:
        for row in waterfall(ledger.lines, first, last):
            table.add_row(
                row.legal_entity,
                row.currency,
                row.month,
                f"{row.opening:,}",
                f"{row.billed:,}",
                f"{row.recognized:,}",
                f"{row.closing:,}",
            )
    return table
