"""Usage reported vs usage billed, per subscription and period: what c2c accepted and reported to billing's meter
(the store) against the metered lines of billing's invoices. Pure.

- `usage_billed_differs`: an invoice's metered line bills another quantity than the events reported into its
  period (billed from a time inside `[period_start, period_end)`): counted twice, lost, or reported elsewhere.
- `usage_unbilled`: an event whose period is over and billed (a later metered line exists) but that no metered line
  covers, or an event accepted more than `grace` ago that never reached billing's meter.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from canonical.records import BilledUsage, BillingInvoice, BillingSubscription
from canonical.usage import AcceptedUsage
from reconcile.findings import Mismatch, MismatchKind

SYSTEM = "stripe"


def usage_findings(
    accepted: list[AcceptedUsage],
    invoices: list[BillingInvoice],
    subscriptions: list[BillingSubscription],
    *,
    now: datetime,
    grace: timedelta = timedelta(hours=1),
) -> list[Mismatch]:
    by_deal = {s.deal_id: s.subscription_id for s in subscriptions if s.deal_id}
    lines: dict[str, list[tuple[BillingInvoice, BilledUsage]]] = defaultdict(list)
    for invoice in invoices:
        if invoice.subscription_id and invoice.status != "void":
            lines[invoice.subscription_id].extend((invoice, usage) for usage in invoice.usage)
    events: dict[str, list[AcceptedUsage]] = defaultdict(list)
    for event in accepted:
        events[event.deal_id].append(event)
    found: list[Mismatch] = []
    for deal_id in sorted(events):
        subscription_id = by_deal.get(deal_id)
        billed = lines.get(subscription_id or "", [])
        for invoice, line in sorted(billed, key=lambda pair: pair[1].period_start):
            inside = [
                e.quantity
                for e in events[deal_id]
                if e.billed_from is not None and line.period_start <= e.billed_from < line.period_end
            ]
            if sum(inside) != line.quantity:
                found.append(
                    Mismatch(
                        kind=MismatchKind.USAGE_BILLED_DIFFERS,
                        system=SYSTEM,
                        subject=deal_id,
                        deal_id=deal_id,
                        subscription_id=subscription_id,
                        invoice_id=invoice.invoice_id,
                        expected=f"{sum(inside)} units reported ({len(inside)} events) for "
                        f"{line.period_start:%Y-%m-%d}..{line.period_end:%Y-%m-%d}",
                        found=f"{line.quantity} units billed",
                    )
                )
        closed_until = max((line.period_end for _, line in billed), default=None)
        for event in sorted(events[deal_id], key=lambda e: e.event_id):
            if event.billed_from is None:
                if now - event.received_at > grace:
                    found.append(_unbilled(event, subscription_id, "not reported to billing"))
                continue
            covered = any(line.period_start <= event.billed_from < line.period_end for _, line in billed)
            if not covered and closed_until is not None and event.billed_from < closed_until:
                found.append(_unbilled(event, subscription_id, "in no billed period"))
    return found


def _unbilled(event: AcceptedUsage, subscription_id: str | None, why: str) -> Mismatch:
    return Mismatch(
        kind=MismatchKind.USAGE_UNBILLED,
        system=SYSTEM,
        subject=event.deal_id,
        deal_id=event.deal_id,
        subscription_id=subscription_id,
        expected=f"usage event {event.event_id} ({event.quantity} units, {event.occurred_at:%Y-%m-%d %H:%M}) billed",
        found=why,
    )
