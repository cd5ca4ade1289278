"""A reconciliation report three ways: a rich table for the terminal, JSON for machines, and one self-contained
HTML file (inline CSS and an inline SVG chart of the KPIs; nothing fetched when it is opened)."""

from __future__ import annotations

from html import escape

from rich.console import Console
from rich.table import Table

from reconcile.compare import Mismatch
from reconcile.kpis import Kpis, Rate
from reconcile.outcome import Report

KPI_TITLES = {
    "payment_application": "Payment application success rate",
    "customer_master_sync": "Customer master sync accuracy",
}


def percent(rate: Rate) -> str:
    return "n/a" if rate.rate is None else f"{rate.rate:.1%} ({rate.numerator}/{rate.denominator})"


def seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} s"


def to_json(report: Report) -> str:
    return report.model_dump_json(indent=2)


def print_report(report: Report, console: Console) -> None:
    """The terminal view: what was read, the KPIs, each mismatch, the repairs."""
    counts = report.counts
    sagas = ", ".join(f"{state} {n}" for state, n in counts.sagas.items()) or "none"
    console.print(
        f"[bold]Reconciliation[/bold] of deals closed since {report.since:%Y-%m-%d %H:%M} UTC "
        f"(read {report.taken_at:%Y-%m-%d %H:%M:%S} UTC): {counts.deals} deals; sagas: {sagas}"
    )
    console.print(kpi_table(report.kpis))
    if report.kpis.periods:
        console.print(period_table(report.kpis))
    if report.mismatches:
        console.print(mismatch_table(report))
    else:
        console.print("[green]No mismatches: every system agrees with the sagas.[/green]")
    if report.repairs:
        console.print(repair_table(report))


def kpi_table(kpis: Kpis) -> Table:
    table = Table("KPI", "value", title="Integration KPIs")
    latency = kpis.invoice_posting_latency
    table.add_row(
        "Invoice posting latency (billing finalized -> ERP invoice)",
        f"p50 {seconds(latency.p50_seconds)}, p95 {seconds(latency.p95_seconds)} over {latency.samples} invoices",
    )
    table.add_row(KPI_TITLES["payment_application"], percent(kpis.payment_application))
    sync = kpis.customer_master_sync
    disagreeing = "; ".join(f"{d.golden_id}: {', '.join(d.fields)}" for d in sync.disagreeing)
    table.add_row(
        KPI_TITLES["customer_master_sync"], percent(sync) + (f" - differ: {disagreeing}" if disagreeing else "")
    )
    if kpis.events is not None:
        backlog = kpis.events
        table.add_row(
            "Business events waiting for the broker (outbox)",
            f"{backlog.pending}" + (f", oldest {seconds(backlog.oldest_seconds)}" if backlog.pending else ""),
        )
    return table


PERIOD_COLUMNS = ("entity", "ERP", "currency", "billed", "posted", "paid", "applied", "credits", "credited", "memos")


def period_rows(kpis: Kpis) -> list[list[str]]:
    return [
        [p.legal_entity, p.erp or "-", p.currency]
        + [str(n) for n in (p.billed, p.posted, p.paid, p.applied, p.credits, p.credited, p.credit_memos)]
        for p in kpis.periods
    ]


def period_table(kpis: Kpis) -> Table:
    table = Table(*PERIOD_COLUMNS, title="Billing periods (credited in minor units)")
    for row in period_rows(kpis):
        table.add_row(*row)
    return table


def record_of(m: Mismatch) -> str:
    parts = (m.invoice_id, m.credit_note_id, m.refund_id, m.contract_id, m.erp_id)
    return " ".join(part for part in parts if part) or "-"


def mismatch_table(report: Report) -> Table:
    table = Table(
        "kind", "system", "deal / customer", "saga", "record", "expected", "found", "repair", title="Mismatches"
    )
    table.columns[2].no_wrap = True
    for m in report.mismatches:
        table.add_row(
            m.kind.value, m.system, m.subject, m.saga_id or "", record_of(m), m.expected, m.found, m.repair or "-"
        )
    return table


def repair_table(report: Report) -> Table:
    table = Table("deal", "action", "ok", "detail", title="Repairs")
    for r in report.repairs:
        table.add_row(r.deal_id, r.action.value, "yes" if r.ok else "no", r.detail)
    return table


# ---- HTML -------------------------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#1d2430}
h1{font-size:1.4rem} h2{font-size:1.1rem;margin-top:2rem}
table{border-collapse:collapse;width:100%;font-size:.9rem} th,td{border-bottom:1px solid #dde2ea;padding:.35rem .5rem;
text-align:left;vertical-align:top} th{background:#f4f6fa} .ok{color:#1a7f37} .bad{color:#b42318}
.muted{color:#5b6472} code{font-size:.85rem}
"""


def _bar(x: int, y: int, width: float, label: str, value: str, color: str) -> str:
    return (
        f'<text x="{x}" y="{y + 14}" font-size="12">{escape(label)}</text>'
        f'<rect x="{x + 230}" y="{y}" width="{max(width, 1):.1f}" height="18" fill="{color}" rx="2"/>'
        f'<text x="{x + 236 + max(width, 1):.1f}" y="{y + 14}" font-size="12">{escape(value)}</text>'
    )


def kpi_chart(kpis: Kpis) -> str:
    """Two panels as one inline SVG: the rates (0-100 %) and posting latency p50/p95 (seconds, to scale)."""
    span = 260.0
    parts = ['<svg xmlns="http://www.w3.org/2000/svg" width="640" height="200" role="img" aria-label="KPI chart">']
    parts.append('<text x="0" y="16" font-size="13" font-weight="bold">Rates</text>')
    for row, (key, rate) in enumerate(
        (("payment_application", kpis.payment_application), ("customer_master_sync", kpis.customer_master_sync))
    ):
        value = rate.rate
        width = 0.0 if value is None else span * value
        color = "#1a7f37" if value is not None and value >= 0.999 else "#d97706"
        parts.append(_bar(0, 28 + row * 26, width, KPI_TITLES[key], percent(rate), color))
    latency = kpis.invoice_posting_latency
    top = max(latency.p95_seconds or 0.0, latency.p50_seconds or 0.0, 1.0)
    parts.append('<text x="0" y="110" font-size="13" font-weight="bold">Invoice posting latency</text>')
    for row, (label, value) in enumerate((("p50", latency.p50_seconds), ("p95", latency.p95_seconds))):
        width = 0.0 if value is None else span * value / top
        parts.append(_bar(0, 122 + row * 26, width, f"{label} (billing finalized -> ERP)", seconds(value), "#2563eb"))
    parts.append("</svg>")
    return "".join(parts)


def _rows(cells: list[list[str]]) -> str:
    return "".join("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in cells)


def to_html(report: Report) -> str:
    counts = report.counts
    status = (
        '<p class="ok">No mismatches: every system agrees with the sagas.</p>'
        if report.clean
        else f'<p class="bad">{len(report.mismatches)} mismatches.</p>'
    )
    mismatches = _rows(
        [
            [m.kind.value, m.system, m.subject, m.saga_id or "", record_of(m), m.expected, m.found, m.repair or "-"]
            for m in report.mismatches
        ]
    )
    repairs = _rows([[r.deal_id, r.action.value, "yes" if r.ok else "no", r.detail] for r in report.repairs])
    sagas = ", ".join(f"{state} {n}" for state, n in counts.sagas.items()) or "none"
    sync = report.kpis.customer_master_sync
    disagreeing = _rows([[d.golden_id, ", ".join(d.fields)] for d in sync.disagreeing])
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>c2c reconciliation {report.taken_at:%Y-%m-%d}</title>
<style>{_CSS}</style></head><body>
<h1>c2c reconciliation</h1>
<p class="muted">Deals closed won since {report.since:%Y-%m-%d %H:%M} UTC, read {report.taken_at:%Y-%m-%d %H:%M:%S} UTC.
{counts.deals} deals; sagas: {escape(sagas)}; billing invoices {counts.billing_invoices}, tax documents
{counts.tax_documents}, ERP invoices {counts.erp_invoices}, ERP payments {counts.erp_payments}.</p>
{status}
<h2>KPIs</h2>
{kpi_chart(report.kpis)}
<table><tr><th>golden customer out of sync</th><th>differs</th></tr>{disagreeing}</table>
<h2>Billing periods</h2>
<table><tr>{"".join(f"<th>{c}</th>" for c in PERIOD_COLUMNS)}</tr>{_rows(period_rows(report.kpis))}</table>
<h2>Mismatches</h2>
<table><tr><th>kind</th><th>system</th><th>deal / customer</th><th>saga</th><th>record</th><th>expected</th>
<th>found</th><th>repair</th></tr>{mismatches}</table>
<h2>Repairs</h2>
<p class="muted">{"requested" if report.repair_requested else "not requested (run with --repair)"}</p>
<table><tr><th>deal</th><th>action</th><th>ok</th><th>detail</th></tr>{repairs}</table>
</body></html>
"""
