"""`python starter.py shadow report [--entity E]`: what shadow mode found for the entities migrating to another ERP
(settings `erp_migrations`; docs/decisions.md, "Issue 15: migration and shadow mode"): each field where the new
ERP would have booked a write otherwise than the current one did. Exits 1 when there is any."""

from __future__ import annotations

from html import escape

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
    rows = stored_findings(entity)
    for code, migration in sorted(settings.erp_migrations.items()):
        if entity in (None, code):
            mode = "shadow" if migration.shadow else "no shadow"
            console.print(f"{code}: to {migration.to} on {migration.cutover.isoformat()} ({mode})")
    if not rows:
        console.print("no differences")
        return
    console.print(findings_table(rows))
    raise typer.Exit(1)


def stored_findings(entity: str | None = None) -> list[ShadowFinding]:
    """What the store holds (the reconciliation report shows it too)."""
    engine = make_engine(get_settings().database_url)
    ensure_table(engine)
    with session_scope(engine) as session:
        return ShadowRepository(session).findings(entity)


def findings_html(rows: list[ShadowFinding]) -> str:
    """The findings as a section of the reconciliation report's HTML page."""
    cells = "".join(
        "<tr>"
        + "".join(
            f"<td>{escape(value)}</td>"
            for value in (row.legal_entity, row.kind, row.key, row.field, row.current_erp, row.current, row.shadow_erp)
        )
        + f"<td>{escape(row.shadow)}</td></tr>"
        for row in rows
    )
    head = "".join(
        f"<th>{name}</th>" for name in ("entity", "record", "key", "field", "ERP", "value", "new ERP", "would be")
    )
    return f"<h2>Shadow differences ({len(rows)})</h2><table><tr>{head}</tr>{cells}</table>"
