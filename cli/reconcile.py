"""`python -m reconcile`: reconcile on demand, or put the schedules in place.

`python -m reconcile run [--window-days N] [--repair] [--json PATH] [--html PATH]`
    runs the Reconciliation workflow (a worker must be running), prints the report and writes it as JSON / HTML;
    exit status 0 when every system agrees, 1 when there are mismatches.
`python -m reconcile schedule` (or `schedules`)
    creates or updates the schedules (each served CRM's nightly reconciliation and missed-trigger sweep, each
    entity's monthly revenue recognition), deletes those of CRMs no longer served, and shows them.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from temporalio.common import WorkflowIDReusePolicy

from cli.shadow import findings_html, findings_table, stored_findings
from operations.client import connect
from operations.schedules import KeptSchedule, ensure_schedules, kept_schedules
from reconcile.outcome import Report
from reconcile.report import print_report, to_html, to_json
from settings import get_settings
from workflows.reconciliation import ReconcileInput, Reconciliation, reconciliation_id

cli = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
console = Console()


def _run(work: Coroutine[Any, Any, int]) -> None:
    """Run and leave with os._exit (a Temporal client can abort at interpreter exit: ARCHITECTURE.md pitfalls)."""
    status = asyncio.run(work)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


@cli.command()
def run(
    window_days: int = typer.Option(35, min=1, help="deals closed won in the last N days"),
    repair: bool = typer.Option(False, "--repair", help="start missing sagas, resume sagas parked as unavailable"),
    json_path: Path | None = typer.Option(None, "--json", help="write the report as JSON here"),
    html_path: Path | None = typer.Option(None, "--html", help="write the report as a self-contained HTML page here"),
    crm: str = typer.Option(None, help="the CRM whose deals to reconcile (default: C2C_CRM), one of C2C_CRMS"),
) -> None:
    """Reconcile now and print the report."""
    served = get_settings().every_crm()
    if crm is not None and crm not in served:
        console.print(f"[red]bad --crm:[/red] {crm!r} is not a CRM of this deployment ({', '.join(served)})")
        raise typer.Exit(2)

    async def work() -> int:
        settings = get_settings()
        client = await connect(settings)
        report: Report = await client.execute_workflow(
            Reconciliation.run,
            ReconcileInput(
                window_days=window_days,
                repair=repair,
                crm=crm or settings.crm,
                vendors_by_entity=settings.every_entitys_vendors(),
            ),
            id=reconciliation_id(settings.task_queue, datetime.now(UTC)),
            task_queue=settings.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        )
        print_report(report, console)
        shadow = stored_findings()  # migrations' shadow mode (cli/shadow.py): a difference is a finding too
        if shadow:
            console.print(findings_table(shadow))
        if json_path:
            json_path.write_text(to_json(report))
            console.print(f"JSON: {json_path}")
        if html_path:
            page = to_html(report)
            html_path.write_text(page.replace("</body>", findings_html(shadow) + "</body>") if shadow else page)
            console.print(f"HTML: {html_path}")
        return 0 if report.clean and not shadow else 1

    _run(work())


def schedules_table(kept: list[KeptSchedule], dropped: list[str]) -> Table:
    """Each schedule with what it serves (a CRM, or a legal entity), then the ones just deleted."""
    table = Table("schedule", "for", "next runs", "paused", title="c2c schedules")
    for shown in kept:
        upcoming = ", ".join(f"{moment:%Y-%m-%d %H:%M}" for moment in shown.next_runs)
        table.add_row(shown.schedule_id, shown.serves, upcoming, "yes" if shown.paused else "no")
    for schedule_id in dropped:
        table.add_row(schedule_id, "a CRM no longer served", "deleted", "")
    return table


@cli.command()
def schedule() -> None:
    """Create or update every schedule, delete those of CRMs no longer served, then show them."""

    async def work() -> int:
        settings = get_settings()
        client = await connect(settings)
        dropped = await ensure_schedules(client, settings)
        console.print(schedules_table(await kept_schedules(client, settings), dropped))
        return 0

    _run(work())


cli.command("schedules", help="The same as `schedule`.")(schedule)
