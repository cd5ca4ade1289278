"""What the demo shows and checks after the first invoices: each subscription's ledger, period by period, the CRM
changes applied to it, and every system against the lifecycles (pure: statuses and the sandbox states in, the
mismatches out).

Per subscription and period: one paid billing invoice, exactly one ERP invoice for it (externalId = billing's
invoice id) with the same total, its payment applied in the ERP once; a cancellation's credit note in billing and
its ERP credit memo (externalId = the note's id, created from the period's ERP invoice) for the same amount; the
subscription's term end (Stripe's `cancel_at`, the end of Chargebee's last billing cycle) and lines as the lifecycle
has them. Across the estate: net totals (invoices less credits) equal per legal entity and currency in billing and
the ERP. Billing is Stripe or Chargebee (UK01), read as one (estate/billing_records.py); the ERP NetSuite or Xero
(estate/ledgers.py).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rich.table import Column, Table

from canonical import Money
from connectors.netsuite.mapping import CURRENCY_IDS, SUBSIDIARY_IDS
from connectors.stripe.mapping import product_id
from demo.report import _minor, money
from estate.billing_records import billing_state
from estate.ledgers import erp_state
from settings import get_settings
from workflows.subscription_messages import ChangeState, LifecycleStatus, PeriodState, PeriodStatus

BILLED = frozenset({"open", "paid", "uncollectible"})  # finalized billing invoices (drafts and voids bill nothing)
ENTITIES = {internal_id: code for code, internal_id in SUBSIDIARY_IDS.items()}
CURRENCIES = {internal_id: code for code, internal_id in CURRENCY_IDS.items()}


@dataclass(frozen=True)
class PlannedChange:
    """A change the demo closes in the CRM: `kind` is upsell, reduction, cancellation or renewal."""

    deal: str  # the scenario's deal key (D-001)
    kind: str
    opportunity_id: str  # the change's own CRM opportunity (the lifecycle's amendment.deal_id)


def proration(period: PeriodStatus) -> int:
    """What the period's invoice bills beyond its lines at their full price and its usage: the prorations of earlier
    changes."""
    if "subtotal" not in period.totals:
        return 0
    return period.totals["subtotal"] - period.totals.get("usage", 0) - sum(line.amount.amount for line in period.lines)


def amount(minor: int | None, currency: str) -> str:
    return "" if minor is None else f"{Money(amount=minor, currency=currency).to_decimal():,}"


def ledger_table(key: str, status: LifecycleStatus, currency: str, first_paid: int | None = None) -> Table:
    """One subscription, a row per period; `first_paid` is period 1's payment (the deal's saga collected it)."""
    lines = ", ".join(f"{line.quantity} × {line.product_code}" for line in status.lines)
    end = f"ended ({status.ended})" if status.ended else f"term to {status.term_end.date() if status.term_end else '?'}"
    columns = ("subtotal", "tax", "total", "paid", "credited", "proration", "usage")
    table = Table(
        "period",
        "dates",
        "invoice",
        "ERP invoice",
        *(Column(name, justify="right") for name in columns),
        title=f"{key} {status.subscription_id} ({currency}): {lines}; {end}",
        title_justify="left",
    )
    for period in status.periods:
        state = "" if period.state is PeriodState.BILLED else f" [yellow]{period.state.value}[/]"
        totals = period.totals
        paid = totals.get("paid", first_paid if period.number == 1 else None)
        table.add_row(
            f"{period.number}{state}",
            f"{period.start.date()} → {period.end.date() if period.end else '?'}",
            period.ids.get("invoice", ""),
            period.ids.get("erp_invoice", ""),
            *(amount(totals.get(name), currency) for name in ("subtotal", "tax", "total")),
            amount(paid, currency),
            amount(period.credited, currency) if period.credited else "",
            amount(proration(period), currency) if proration(period) else "",
            f"{totals['usage_quantity']} = {amount(totals['usage'], currency)}" if "usage" in totals else "",
        )
    return table


def changes_table(lifecycles: dict[str, LifecycleStatus], planned: list[PlannedChange]) -> Table:
    kinds = {change.opportunity_id: change.kind for change in planned}
    table = Table("deal", "change", "opportunity", "effective", "state", "detail", title="CRM changes to subscriptions")
    for key, status in lifecycles.items():
        for record in status.changes:
            change = record.amendment
            detail = record.rule or record.detail or ""
            if change.term_months:
                detail = f"term +{change.term_months} months → {status.term_end.date() if status.term_end else '?'}"
            elif change.lines:
                detail = ", ".join(f"{line.quantity_change:+d} × {line.product_code}" for line in change.lines)
            colour = {ChangeState.APPLIED: "green", ChangeState.REFUSED: "red"}.get(record.state, "yellow")
            table.add_row(
                key,
                kinds.get(change.deal_id, change.kind.value),
                change.deal_id,
                change.effective_date.isoformat(),
                f"[{colour}]{record.state.value}[/]",
                detail,
            )
    return table


def erp_records(states: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Both ERPs' records (estate/ledgers.py), Xero's named by the legal entity of their organisation."""
    return erp_state(states, {tenant: entity for entity, tenant in get_settings().xero_tenants.items()})


def net_totals(states: dict[str, Any]) -> dict[str, dict[tuple[str, str], int]]:
    """Invoiced less credited, per (legal entity, currency), as billing and as the ERP hold it (minor units)."""
    stripe, netsuite = billing_state(states), erp_records(states)
    entity_of = {s["id"]: s["metadata"].get("legal_entity", "?") for s in stripe["subscriptions"]}
    billing: dict[tuple[str, str], int] = defaultdict(int)
    groups: dict[str, tuple[str, str]] = {}
    for invoice in stripe["invoices"]:
        if invoice["status"] not in BILLED:
            continue
        entity = entity_of.get(invoice.get("subscription") or "") or invoice["metadata"].get("legal_entity", "?")
        group = groups[invoice["id"]] = (entity, invoice["currency"].upper())
        billing[group] += invoice["total"]
    for note in stripe.get("credit_notes", []):
        if note.get("status", "issued") != "void" and note["invoice"] in groups:
            billing[groups[note["invoice"]]] -= note["total"]
    erp: dict[tuple[str, str], int] = defaultdict(int)
    for kind, sign in (("invoice", 1), ("creditMemo", -1)):
        for record in netsuite.get(kind, []):
            currency = CURRENCIES.get(record["currency"]["id"], record["currency"]["id"])
            group = (ENTITIES.get(record["subsidiary"]["id"], record["subsidiary"]["id"]), currency)
            erp[group] += sign * _minor(record["total"], currency)
    return {"billing": dict(billing), "erp": dict(erp)}


def totals_table(totals: dict[str, dict[tuple[str, str], int]]) -> Table:
    table = Table("entity", "ccy", "billing (invoiced − credited)", "ERP", "", title="net totals, every period")
    for entity, currency in sorted(set(totals["billing"]) | set(totals["erp"])):
        billing, erp = totals["billing"].get((entity, currency)), totals["erp"].get((entity, currency))
        mark = "[green]equal[/]" if billing == erp else "[red]differ[/]"
        table.add_row(entity, currency, money(billing, currency), money(erp, currency), mark)
    return table


def verify_lifecycles(
    lifecycles: dict[str, LifecycleStatus],
    currencies: dict[str, str],
    states: dict[str, Any],
    planned: list[PlannedChange],
    now: datetime,
) -> list[str]:
    """Every mismatch between the lifecycles (keyed by deal), billing and the ERP at billing time `now`."""
    problems: list[str] = []
    for key, status in lifecycles.items():
        problems += _subscription(key, status, currencies[key], states, now)
    problems += _planned(lifecycles, planned)
    totals = net_totals(states)
    for group in sorted(set(totals["billing"]) | set(totals["erp"])):
        billing, erp = totals["billing"].get(group, 0), totals["erp"].get(group, 0)
        if billing != erp:
            problems.append(f"{group[0]} {group[1]}: billing nets {billing}, the ERP {erp} (minor units)")
    return problems


def _subscription(key: str, status: LifecycleStatus, currency: str, states: dict[str, Any], now: datetime) -> list[str]:
    stripe, netsuite = billing_state(states), erp_records(states)
    subs = [s for s in stripe["subscriptions"] if s["id"] == status.subscription_id]
    if len(subs) != 1:
        return [f"{key}: billing holds {len(subs)} subscriptions {status.subscription_id}"]
    [sub] = subs
    problems = [f"{key}: parked: {status.problem.code} ({status.problem.message})"] if status.problem else []
    billed = {i["id"]: i for i in stripe["invoices"] if i.get("subscription") == sub["id"] and i["status"] in BILLED}
    known = {p.ids.get("invoice") for p in status.periods}
    for invoice_id in sorted(set(billed) - known):
        problems.append(f"{key}: billing invoice {invoice_id} is in no period of the lifecycle")
    for period in status.periods:
        problems += [f"{key} period {period.number}: {p}" for p in _period(period, billed, netsuite, stripe, currency)]
    if status.ended:
        if sub["status"] != "canceled":
            problems.append(
                f"{key}: the lifecycle ended ({status.ended}) but billing's subscription is {sub['status']}"
            )
        return problems
    term_end = status.term_end
    if sub["status"] == "canceled":
        if term_end is None or term_end > now:  # past its term in billing time: the lifecycle ends on its timer
            problems.append(f"{key}: billing cancelled the subscription but the lifecycle still follows it")
        return problems
    problems += _term_end(key, sub, term_end)
    if status.next_period_start <= now and (term_end is None or status.next_period_start < term_end):
        problems.append(f"{key}: period {status.next_period} started {status.next_period_start} and is not billed")
    # metered items (usage lines) have no quantity: the meter's usage bills them
    quantities = {item["price"]["product"]: item["quantity"] for item in sub["items"]["data"] if "quantity" in item}
    if quantities != {product_id(line.product_code): line.quantity for line in status.lines}:
        problems.append(f"{key}: billing's items {quantities} are not the lifecycle's lines")
    return problems


def _term_end(key: str, sub: dict[str, Any], term_end: datetime | None) -> list[str]:
    """Stripe ends a term at the lifecycle's midnight (`cancel_at`); Chargebee at the end of the last billing cycle,
    which is that day at the subscription's time of day (`term_ends`, estate/billing_records.py)."""
    if term_end is None:
        return []
    if sub.get("billing") == "chargebee":
        ends = sub.get("term_ends")
        if ends is None or not term_end.timestamp() <= ends < term_end.timestamp() + 86_400:
            return [f"{key}: Chargebee's last billing cycle ends at {ends}, the lifecycle's term at {term_end}"]
        return []
    if sub.get("cancel_at") != int(term_end.timestamp()):
        return [f"{key}: billing ends it at {sub.get('cancel_at')}, the lifecycle at {term_end.isoformat()}"]
    return []


def _period(
    period: PeriodStatus,
    billed: dict[str, Any],
    netsuite: dict[str, Any],
    stripe: dict[str, Any],
    currency: str,
) -> list[str]:
    problems: list[str] = []
    if period.state is not PeriodState.BILLED:
        return [f"is {period.state.value}"]
    invoice_id = period.ids.get("invoice", "")
    invoice = billed.get(invoice_id)
    total = period.totals.get("total")
    if invoice is None or invoice["total"] != total:
        problems.append(f"billing invoice {invoice_id} missing or its total is not {total}")
    elif invoice["status"] != "paid" or ("paid" in period.totals and invoice["amount_paid"] != period.totals["paid"]):
        problems.append(f"billing invoice {invoice_id} is {invoice['status']}, paid {invoice['amount_paid']}")
    elif invoice.get("payments", 1) != 1:  # Chargebee: the payment transactions linked to the invoice
        problems.append(f"billing invoice {invoice_id} has {invoice['payments']} payments")
    erp = [r for r in netsuite["invoice"] if r["externalId"] == invoice_id]
    if len(erp) != 1:
        return [*problems, f"the ERP holds {len(erp)} invoices for {invoice_id}"]
    if _minor(erp[0]["total"], currency) != total:
        problems.append(f"ERP invoice {erp[0]['id']} totals {erp[0]['total']}, billing {total}")
    if period.ids.get("erp_invoice") not in (None, erp[0]["id"]):
        problems.append(f"the lifecycle names ERP invoice {period.ids['erp_invoice']}, the ERP {erp[0]['id']}")
    applied = [
        (payment, line)
        for payment in netsuite["customerPayment"]
        for line in payment["apply"]["items"]
        if line["doc"]["id"] == erp[0]["id"]
    ]
    if len(applied) != 1 or _minor(applied[0][1]["amount"], currency) != total:
        problems.append(f"ERP invoice {erp[0]['id']} has {len(applied)} payments applied, not one of {total}")
    elif "payment" in period.ids and applied[0][0]["externalId"] != period.ids["payment"]:
        problems.append(f"ERP payment {applied[0][0]['externalId']} is not billing's {period.ids['payment']}")
    if period.credited or "credit_note" in period.ids:
        problems += _credit(period, stripe, netsuite, erp[0]["id"], currency)
    return problems


def _credit(
    period: PeriodStatus, stripe: dict[str, Any], netsuite: dict[str, Any], erp_invoice: str, currency: str
) -> list[str]:
    note_id = period.ids.get("credit_note", "")
    notes = [n for n in stripe.get("credit_notes", []) if n["id"] == note_id]
    if len(notes) != 1 or notes[0]["invoice"] != period.ids.get("invoice") or notes[0]["total"] != period.credited:
        return [f"billing holds no credit note {note_id} of {period.credited} on {period.ids.get('invoice')}"]
    memos = [m for m in netsuite.get("creditMemo", []) if m["externalId"] == note_id]
    if len(memos) != 1:
        return [f"the ERP holds {len(memos)} credit memos for {note_id}"]
    problems = []
    if memos[0]["createdFrom"]["id"] != erp_invoice:
        problems.append(f"ERP credit memo {memos[0]['id']} is created from {memos[0]['createdFrom']['id']}")
    if _minor(memos[0]["total"], currency) != period.credited:
        problems.append(f"ERP credit memo {memos[0]['id']} totals {memos[0]['total']}, billing {period.credited}")
    return problems


def _planned(lifecycles: dict[str, LifecycleStatus], planned: list[PlannedChange]) -> list[str]:
    """Each change the demo closed was applied, and did what its kind says."""
    problems: list[str] = []
    for change in planned:
        status = lifecycles.get(change.deal)
        if status is None:
            problems.append(f"{change.deal}: no lifecycle for its {change.kind}")
            continue
        records = [r for r in status.changes if r.amendment.deal_id == change.opportunity_id]
        if [r.state for r in records] != [ChangeState.APPLIED]:
            states = [f"{r.state.value} {r.rule or ''}".strip() for r in records] or ["never received"]
            problems.append(f"{change.deal}: {change.kind} {change.opportunity_id} is {', '.join(states)}")
            continue
        effective = records[0].amendment.effective_date
        later = [p for p in status.periods if p.start.date() > effective]
        if change.kind in ("upsell", "reduction"):
            if not later:
                problems.append(f"{change.deal}: no period billed after its {change.kind}")
            elif (proration(later[0]) > 0) != (change.kind == "upsell") or proration(later[0]) == 0:
                problems.append(f"{change.deal}: period {later[0].number} prorates {proration(later[0])}")
        elif change.kind == "cancellation":
            last = status.periods[-1] if status.periods else None
            if status.ended != "cancelled" or later:
                problems.append(f"{change.deal}: cancelled, but the lifecycle is {status.ended or 'running'}")
            if last is None or last.credited <= 0:
                problems.append(f"{change.deal}: a mid-period cancellation credited nothing")
        elif change.kind == "renewal" and (status.ended or status.term_end is None):
            problems.append(f"{change.deal}: renewed, but the lifecycle is {status.ended}")
    return problems
