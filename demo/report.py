"""What the demo shows: live progress, the per-deal outcome, totals, and a check against every system."""

from __future__ import annotations

from collections import Counter, defaultdict
from decimal import Decimal
from typing import Any

from rich.table import Table

from canonical import Money
from estate.billing_records import billing_state
from estate.book import DealSpec
from estate.ledgers import erp_state
from operations.finance import QueueEntry
from settings import Settings
from workflows.saga import SagaStatus, Stage

STAGES = [Stage.ONBOARD, Stage.ACTIVATE, Stage.TAX, Stage.INVOICE, Stage.POST, Stage.SETTLE, Stage.APPLY]
COLOURS = {Stage.COMPLETED: "green", Stage.NEEDS_ATTENTION: "yellow", Stage.CANCELLED: "red"}


def sandbox_urls(settings: Settings) -> dict[str, str]:
    return {
        "salesforce": settings.salesforce_url,
        "stripe": settings.stripe_url,
        "avatax": settings.avatax_url,
        "netsuite": settings.netsuite_url,
        "xero": settings.xero_url,
        "hubspot": settings.hubspot_url,
        "chargebee": settings.chargebee_url,
    }


def money(minor: int | None, currency: str | None) -> str:
    if minor is None or currency is None:
        return ""
    return f"{Money(amount=minor, currency=currency).to_decimal():,} {currency}"


def progress(specs: list[DealSpec], statuses: dict[str, SagaStatus | None]) -> Table:
    """Where the sagas are: how many sit in each stage right now."""
    counts = Counter(s.stage if s else None for s in statuses.values())
    settled = sum(counts[s] for s in COLOURS)
    table = Table("stage", "sagas", "", title=f"{settled}/{len(specs)} sagas settled", min_width=60)
    rows: list[tuple[str, int, str]] = [("waiting for webhook", counts[None], "white")]
    rows += [(stage.value, counts[stage], "cyan") for stage in STAGES]
    rows += [(stage.value, counts[stage], colour) for stage, colour in COLOURS.items()]
    for name, n, colour in rows:
        table.add_row(name, str(n), f"[{colour}]{'█' * n}[/]")
    return table


def outcome_table(specs: list[DealSpec], statuses: dict[str, SagaStatus]) -> Table:
    table = Table(
        "deal",
        "CRM deal",
        "entity",
        "golden customer",
        "billing customer / subscription / invoice",
        "ERP inv / pmt",
        "total",
        "outcome",
        title="what each system now holds, per deal",
    )
    for spec in specs:
        status = statuses.get(spec.key)
        if status is None:
            table.add_row(spec.key, spec.crm, spec.legal_entity, *[""] * 4, "[red]never started[/red]")
            continue
        ids = status.external_ids
        billing = " / ".join(ids[k] for k in ("billing_customer", "subscription", "invoice_number") if ids.get(k))
        erp = f"{ids['erp_invoice']} / {ids.get('erp_payment', '-')}" if "erp_invoice" in ids else ""
        outcome = status.problem.code if status.problem else status.stage.value
        table.add_row(
            spec.key,
            f"{spec.crm} {status.deal_id}",
            spec.legal_entity,
            ids.get("golden_customer", ""),
            billing,
            erp,
            money(status.totals.get("total"), status.currency),
            f"[{COLOURS.get(status.stage, 'white')}]{outcome}[/]",
        )
    return table


def exception_table(specs: list[DealSpec], statuses: dict[str, SagaStatus]) -> Table | None:
    """The exception queue: parked sagas with the reason finance reads in the Temporal UI."""
    table = Table("deal", "stage", "system / code", "reason", title="exception queue (resolve with starter.py resolve)")
    for spec in specs:
        status = statuses.get(spec.key)
        if status and status.problem:
            p = status.problem
            table.add_row(spec.key, p.stage.value, f"{p.system} / {p.code}", p.message)
    return table if table.row_count else None


def totals_table(statuses: dict[str, SagaStatus]) -> Table:
    sums: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for status in statuses.values():
        key = (status.legal_entity or "?", status.currency or "?")
        sums[key]["deals"] += 1
        if status.stage is Stage.COMPLETED:
            sums[key]["completed"] += 1
            for name in ("subtotal", "tax", "paid", "fee"):
                sums[key][name] += status.totals.get(name, 0)
    table = Table("entity", "ccy", "deals", "completed", "net", "tax", "collected", "fees", title="totals")
    for (entity, currency), c in sorted(sums.items()):
        table.add_row(
            entity,
            currency,
            str(c["deals"]),
            str(c["completed"]),
            *(money(c[n], currency) for n in ("subtotal", "tax", "paid", "fee")),
        )
    return table


def _minor(value: Any, currency: str) -> int:
    return Money.from_decimal(Decimal(str(value)), currency).amount


def verify(specs: list[DealSpec], statuses: dict[str, SagaStatus], states: dict[str, Any]) -> list[str]:
    """Every mismatch between what the sagas report and what the systems hold (empty = all consistent)."""
    # Stripe's and Chargebee's records, NetSuite's and Xero's: each deal is checked in its entity's billing and ERP
    stripe, avatax = billing_state(states), states["avatax"]
    erp = erp_state(states)
    problems: list[str] = []

    def count(records: list[dict[str, Any]], key: str, value: Any) -> list[dict[str, Any]]:
        return [r for r in records if r.get(key) == value]

    for spec in specs:
        status = statuses.get(spec.key)
        if status is None:
            problems.append(f"{spec.key}: no saga")
            continue
        ids, currency = status.external_ids, status.currency or spec.currency
        subs = [s for s in stripe["subscriptions"] if s["metadata"].get("deal_id") == status.deal_id]
        if len(subs) > 1:
            problems.append(f"{spec.key}: {len(subs)} subscriptions")
        if spec.finance is not None and spec.finance.action == "cancel":
            problems += _unwound(spec, status, stripe)
            continue
        if spec.expect_park and spec.finance is None:
            if (
                status.stage is not Stage.NEEDS_ATTENTION
                or not status.problem
                or status.problem.code != spec.expect_park
            ):
                problems.append(f"{spec.key}: expected to park with {spec.expect_park}, is {status.stage}")
            if "invoice" in ids:
                problems.append(f"{spec.key}: parked before invoicing but an invoice exists")
            continue
        if status.stage is not Stage.COMPLETED:
            problems.append(f"{spec.key}: ended {status.stage}")
            continue
        if spec.crm == "hubspot" and not _hubspot_company_of(states["hubspot"], ids.get("golden_customer")):
            problems.append(f"{spec.key}: no HubSpot company carries golden customer {ids.get('golden_customer')}")
        total = status.totals["total"]
        invoices = count(stripe["invoices"], "id", ids["invoice"])
        if len(invoices) != 1 or invoices[0]["status"] != "paid" or invoices[0]["amount_paid"] != total:
            problems.append(f"{spec.key}: billing invoice {ids['invoice']} is not one paid invoice of {total}")
        elif invoices[0].get("payments", 1) != 1:  # Chargebee: the payment transactions linked to it
            problems.append(f"{spec.key}: billing invoice {ids['invoice']} has {invoices[0]['payments']} payments")
        erp_invoices = count(erp["invoice"], "externalId", ids["invoice"])
        if len(erp_invoices) != 1 or _minor(erp_invoices[0]["total"], currency) != total:
            problems.append(
                f"{spec.key}: ERP holds {len(erp_invoices)} invoices for {ids['invoice']} or a different total"
            )
        elif erp_invoices[0]["status"] != "Paid In Full":
            problems.append(f"{spec.key}: ERP invoice is {erp_invoices[0]['status']}")
        payments = count(erp["customerPayment"], "externalId", ids["payment"])
        if len(payments) != 1 or _minor(payments[0]["payment"], currency) != status.totals["paid"]:
            problems.append(
                f"{spec.key}: ERP holds {len(payments)} payments for {ids['payment']} or a different amount"
            )
        docs = count(avatax["documents"], "code", ids["tax_document"])
        if (
            len(docs) != 1
            or docs[0]["status"] != "Committed"
            or _minor(docs[0]["totalTax"], currency) != status.totals["tax"]
        ):
            problems.append(f"{spec.key}: tax document {ids['tax_document']} is not one committed document")

    goldens = {s.external_ids["golden_customer"] for s in statuses.values() if "golden_customer" in s.external_ids}
    billing_customers = Counter(c["metadata"].get("golden_id") for c in stripe["customers"])
    for golden in goldens:
        if billing_customers[golden] != 1:
            problems.append(f"golden customer {golden} has {billing_customers[golden]} billing customers")
    return problems


def _hubspot_company_of(hubspot: dict[str, Any], golden: str | None) -> bool:
    """The saga wrote our ids back to the deal's HubSpot company (as it does to the Salesforce account)."""
    companies = hubspot["objects"]["companies"]
    return golden is not None and any(c["properties"].get("c2c_golden_id") == golden for c in companies)


def _unwound(spec: DealSpec, status: SagaStatus, stripe: dict[str, Any]) -> list[str]:
    """A cancelled deal: nothing billed, nothing left running."""
    problems = []
    if status.stage is not Stage.CANCELLED:
        problems.append(f"{spec.key}: finance cancelled it, but it is {status.stage}")
    subs = [s for s in stripe["subscriptions"] if s["metadata"].get("deal_id") == status.deal_id]
    if any(sub["status"] != "canceled" for sub in subs):
        problems.append(f"{spec.key}: cancelled deal still has an active subscription")
    paid = [i for i in stripe["invoices"] if i.get("subscription") in {s["id"] for s in subs} and i["status"] == "paid"]
    if paid:
        problems.append(f"{spec.key}: cancelled deal has a paid invoice")
    return problems


def queue_table(title: str, entries: list[QueueEntry], keys: dict[str, str]) -> Table:
    """The exception queue as `starter.py list` prints it; `keys` maps CRM deal ids to the scenario's keys."""
    table = Table("deal", "deal id", "stage", "exception", "entity", "ccy", title=title)
    for entry in entries:
        cells = (entry.stage, entry.exception, entry.legal_entity, entry.currency)
        table.add_row(keys.get(entry.deal_id, ""), entry.deal_id, *(cell or "" for cell in cells))
    if not entries:
        table.add_row("(empty)", "", "", "", "", "")
    return table


def unwind_lines(status: SagaStatus) -> list[str]:
    """What compensation did, from the saga's timeline."""
    return [
        f"{entry.event}: {entry.detail or ''}".rstrip(": ")
        for entry in status.timeline
        if entry.stage is Stage.COMPENSATING and entry.event != "entered"
    ]
