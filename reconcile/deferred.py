"""Deferred revenue per legal entity and currency: the ERP's balance must be what was invoiced into it minus what
the schedules recognized through the last month recognized (docs/revenue.md)."""

from __future__ import annotations

from collections.abc import Callable

from canonical import DEFAULT_VENDORS
from canonical.revenue import RevenueLedger, scheduled_through
from reconcile.findings import Mismatch, MismatchKind, money


def deferred_revenue(
    ledgers: list[RevenueLedger], system_of: Callable[[str], str] = lambda entity: DEFAULT_VENDORS.erp
) -> list[Mismatch]:
    """One finding per (entity, currency) whose deferred revenue balance != invoiced - recognized.

    - invoiced: the lines the ERP's invoices put into deferred revenue, less its credit memos' (each document is
      compared with billing's by the period checks);
    - recognized: the schedules (canonical/revenue.py) through the last month a recognition journal was posted for,
      of the lines booked by that month's end: what the journals must add up to;
    - balance: every posting on the deferred revenue account, journals by hand included.
    A missing, changed or doubled recognition journal, a manual posting on the account, or an invoice line posted to
    revenue directly all show here, and so does deferred revenue in a currency the ERP books no journal in (Xero:
    other than the organisation's base), which recognition refuses. A document backdated into a recognized month
    shows until the next month's recognition catches it up."""
    found: list[Mismatch] = []
    for ledger in sorted(ledgers, key=lambda ledger: ledger.legal_entity):
        entity = ledger.legal_entity
        currencies = {line.currency for line in ledger.lines} | set(ledger.deferred_balance)
        currencies |= {r.currency for r in ledger.recognitions}
        unpostable = ledger.unpostable()
        for currency in sorted(currencies):
            lines = [line for line in ledger.lines if line.currency == currency]
            invoiced = sum(line.amount.amount for line in lines)
            if currency in unpostable:  # recognition refuses the entity's months until finance moves these
                found.append(
                    Mismatch(
                        kind=MismatchKind.DEFERRED_REVENUE_DIFFERS,
                        system=system_of(entity),
                        subject=f"{entity}:{currency}",
                        expected=f"deferred revenue in {', '.join(ledger.journal_currencies or [])} only: the "
                        "ERP's journals cannot recognize another currency (currency_not_base)",
                        found=f"{money(invoiced, currency)} deferred on {', '.join(unpostable[currency])}",
                    )
                )
                continue
            months = [r.month for r in ledger.recognitions if r.currency == currency]
            last = max(months, default=None)
            recognized = scheduled_through(lines, last).get((entity, currency), 0) if last else 0
            balance = ledger.deferred_balance.get(currency, 0)
            if balance != invoiced - recognized:
                through = f" through {last}" if last else " (no month recognized yet)"
                found.append(
                    Mismatch(
                        kind=MismatchKind.DEFERRED_REVENUE_DIFFERS,
                        system=system_of(entity),
                        subject=f"{entity}:{currency}",
                        expected=(
                            f"deferred revenue {money(invoiced - recognized, currency)} = invoiced "
                            f"{money(invoiced, currency)} - recognized {money(recognized, currency)}{through}"
                        ),
                        found=f"deferred revenue balance {money(balance, currency)}",
                    )
                )
    return found
