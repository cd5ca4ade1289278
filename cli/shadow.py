"""`python starter.py shadow report [--entity E]`: what shadow mode found for the entities migrating to another ERP
(settings `erp_migrations`; docs/decisions.md, "Issue 15: migration and shadow mode"): each field where the new
ERP would have booked a write otherwise than the current one did. Exits 1 when there is any."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from settings import get_settings
from store import make_engine, session_scope
from store.shadow import ShadowFinding, ShadowRepository, ensure_table

cli = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
console = Console(width=200)


def findings_table(rows: list[ShadowFinding]) -> Table:
    table = Table(title=f"Shadow differences ({len(rows)})")
    for column in ("entity", "record", "key", "field", "current ERP", "value", "new ERP", "would be"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row.legal_entity, row.kind, row.key, row.field, row.current_erp, row.current, row.shadow_erp, row.shadow
        )
    return table


@cli.callback()
def shadow() -> None:
    """Shadow mode of ERP migrations (a group, so `shadow report` keeps its name)."""


@cli.command()
def report(entity: str | None = typer.Option(None, "--entity", help="one legal entity (default: all)")) -> None:
    """Every difference shadow mode recorded, per entity, record and field."""
    settings = get_settings()
    engine = make_engine(settings.database_url)
    ensure_table(engine)
    with session_scope(engine) as session:
        rows = ShadowRepository(session).findings(entity)
    for code, migration in sorted(settings.erp_migrations.items()):
        if entity in (None, code):
            mode = "shadow" if migration.shadow else "no shadow"
            console.print(f"{code}: to {migration.to} on {migration.cutover.isoformat()} ({mode})")
    if not rows:
        console.print("no differences")
        return
    console.print(findings_table(rows))
    raise typer.Exit(1)
