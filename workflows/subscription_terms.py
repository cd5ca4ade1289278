"""The subscription lifecycle's rules for CRM changes, and what they compute: pure functions, no clock, no I/O.

Which amendment may change the subscription (and why not), the lines after it, when it takes effect, where the
term ends, and the credit for the unused time of a cancelled period. The workflow passes in what it knows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from canonical import Amendment, AmendmentKind, CreditNote, Deal, DealLine, InvoiceAdjustment, Money
from canonical.reference import CATALOG
from workflows.subscription_messages import AmendmentRecord, ChangeState, PeriodStatus


class Refused(Exception):
    """An amendment c2c will not apply; `rule` is the code finance and the API see."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message


def last_day(end: datetime) -> date:
    """The last day (UTC) served by something ending at instant `end`: an end at midnight serves the day before
    (a CRM contract's EndDate is inclusive)."""
    return (end.astimezone(UTC) - timedelta(microseconds=1)).date()


def effective_moment(day: date, period_start: datetime) -> datetime:
    """When a change dated `day` takes effect: midnight UTC that day, never before the current period began."""
    return max(datetime.combine(day, time(), UTC), period_start)


@dataclass(frozen=True)
class Position:
    """Where the subscription is when an amendment arrives."""

    currency: str
    lines: list[DealLine]  # after every change accepted so far
    period_start: datetime  # of the period being billed now (or last billed)
    next_start: datetime  # the next period's start = the current one's end
    term_end: datetime
    ended: bool  # cancelled (or a cancellation accepted) or lapsed
    last_modified: datetime | None  # the CRM stamp of the newest change accepted


def check(amendment: Amendment, at: Position) -> list[DealLine]:
    """The lines after `amendment`, or Refused naming the rule it breaks (then nothing changes anywhere)."""
    if at.ended:
        raise Refused(
            "contract_ended",
            f"the contract has ended or a cancellation is accepted; {amendment.deal_id} cannot change it",
        )
    if amendment.currency != at.currency:
        raise Refused(
            "currency_change",
            f"{amendment.deal_id} is in {amendment.currency}; the contract bills {at.currency} (a currency cannot "
            "change mid-term: close this contract and sell a new one)",
        )
    if at.last_modified is not None and amendment.modified_at < at.last_modified:
        raise Refused(
            "stale_amendment",
            f"{amendment.deal_id} was last modified {amendment.modified_at.isoformat()}, before a change already "
            f"applied ({at.last_modified.isoformat()}): changes apply in CRM order",
        )
    if datetime.combine(amendment.effective_date, time(), UTC) < at.period_start.replace(
        hour=0, minute=0, second=0, microsecond=0
    ):
        raise Refused(
            "effective_before_invoiced_period",
            f"{amendment.deal_id} takes effect {amendment.effective_date}, before the period already invoiced "
            f"from {at.period_start.date()}",
        )
    if amendment.kind is AmendmentKind.CANCELLATION:
        return []
    if amendment.kind is AmendmentKind.RENEWAL:  # its lines (if any) apply from its date, in the new term
        return amended_lines(at.lines, amendment) if amendment.lines else list(at.lines)
    if datetime.combine(amendment.effective_date, time(), UTC) >= at.term_end:
        raise Refused(
            "effective_after_term",
            f"{amendment.deal_id} takes effect {amendment.effective_date}, after the term ends {at.term_end.date()}",
        )
    lines = amended_lines(at.lines, amendment)
    net = next_invoice_net(at, lines, effective_moment(amendment.effective_date, at.period_start))
    if net < 0:
        raise Refused(
            "credit_exceeds_next_invoice",
            f"{amendment.deal_id}: its prorated credit would make the next period's invoice negative "
            f"({net} minor units of {at.currency}); c2c cannot bill a negative invoice: make it effective at the "
            "period end, or reduce in smaller steps",
        )
    return lines


def next_invoice_net(at: Position, lines: list[DealLine], effective: datetime) -> int:
    """The next period's invoice before tax once `lines` apply from `effective`: the new lines' full period plus
    billing's prorations for the rest of this one (new lines charged, old ones credited, by the second)."""
    length = int((at.next_start - at.period_start).total_seconds())
    rest = int((at.next_start - max(effective, at.period_start)).total_seconds())
    new = sum(line.amount.amount for line in lines)
    old = sum(line.amount.amount for line in at.lines)
    return new + _share(new - old, rest, length)


def amended_lines(lines: list[DealLine], amendment: Amendment) -> list[DealLine]:
    """Each amendment line changes its product's quantity (and sets its price); a new product is added."""
    by_code = {line.product_code: line for line in lines}
    order = [line.product_code for line in lines]
    codes = {product.code for product in CATALOG.products}
    for change in amendment.lines:
        if change.product_code not in codes:
            raise Refused(
                "unknown_product", f"{amendment.deal_id}: product {change.product_code} is not in the catalog"
            )
        current = by_code.get(change.product_code)
        before = current.quantity if current else 0
        quantity = before + change.quantity_change
        if quantity < 0:
            raise Refused(
                "quantity_below_zero",
                f"{amendment.deal_id}: {change.product_code} would go from {before} to {quantity}",
            )
        if quantity == 0:
            by_code.pop(change.product_code, None)
            continue
        if current is None:
            order.append(change.product_code)
        by_code[change.product_code] = DealLine(
            product_code=change.product_code,
            description=current.description if current else None,
            quantity=quantity,
            unit_price=change.unit_price,
        )
    result = [by_code[code] for code in order if code in by_code]
    if not result:
        raise Refused(
            "removes_every_line",
            f"{amendment.deal_id} removes every line: close a Cancellation opportunity on the contract instead",
        )
    return result


def deal_with(deal: Deal, lines: list[DealLine]) -> Deal:
    """The deal as it bills now (its lines amended), for the documents built from a deal."""
    return deal.model_copy(update={"lines": lines})


def record_of(amendment: Amendment) -> AmendmentRecord:
    return AmendmentRecord(amendment=amendment, state=ChangeState.PENDING)


def _share(amount: int, numerator: int, denominator: int) -> int:
    """amount × numerator / denominator in minor units, rounded half-even."""
    if denominator == 0:
        return 0
    return int((Decimal(amount) * numerator / denominator).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def unused_credit(
    period: PeriodStatus, effective: datetime, deal: Deal, golden_id: str, reason: str
) -> CreditNote | None:
    """The credit for the unused time of a billed period from `effective`: each line billed in it, prorated by the
    second as billing prorates, and the same share of its tax. None when nothing is left to credit."""
    if period.end is None or effective >= period.end:
        return None
    length = int((period.end - period.start).total_seconds())
    unused = int((period.end - max(effective, period.start)).total_seconds())
    lines = [
        InvoiceAdjustment(
            product_code=line.product_code,
            description=f"Unused time on {line.quantity} × {CATALOG.product(line.product_code).name} "
            f"from {effective.date().isoformat()}",
            quantity=line.quantity,
            amount=Money(amount=_share(line.amount.amount, unused, length), currency=deal.currency),
            period_start=effective.date(),
            period_end=period.end.date(),
        )
        for line in period.lines
    ]
    lines = [line for line in lines if line.amount.amount > 0]
    if not lines:
        return None
    credited = sum(line.amount.amount for line in lines)
    tax = _share(period.totals.get("tax", 0), credited, period.totals.get("subtotal", 0))
    return CreditNote(
        golden_customer_id=golden_id,
        legal_entity=deal.legal_entity,
        currency=deal.currency,
        issue_date=effective.date(),
        invoice_id=period.ids["invoice"],
        reason=reason,
        lines=lines,
        tax=Money(amount=tax, currency=deal.currency),
    )
