"""Changes to a running Chargebee subscription: its items (prorated by Chargebee) and where its term ends.

`update_subscription` sets the items to absolute quantities with `POST /subscriptions/{id}/update_for_items`
(`replace_items_list`, the base plan kept, `prorate`, `invoice_immediately` false): Chargebee prorates the rest of
the term from the moment of the call (it takes no proration date, unlike Stripe's `proration_date`; c2c applies a
change once its effective moment falls in the current period) and keeps the prorated charges as unbilled charges
for the next renewal invoice, or for `invoice_prorations`. A repeat reads the subscription first and sends nothing
when it already has the items, so even a retry whose key Chargebee forgot prorates once.

A change that lowers any item's amount mid-term is refused PermanentError 'unsupported' before anything is sent:
Chargebee credits a decrease with a credit note on the term's invoice (refundable once paid), not with a negative
line on the next invoice as c2c's periods book prorations; posting that note to the ERP is not built yet.

`set_term_end` makes the subscription's last term the one running at `end`: Chargebee counts a subscription's
life in billing cycles, so the term ends at a term boundary (the renewal date), never mid-term. No renewal left
(`end` within the current term): `cancel_for_items` with `end_of_term`; else `update_for_items` with
`billing_cycles` = the terms starting before `end`, the current one included (`remaining_billing_cycles` after
it). Sent only when the subscription does not already end there."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from canonical import DealLine
from canonical.contract import add_months
from connectors.chargebee import mapping, wire
from connectors.chargebee.errors import SYSTEM, path_id
from connectors.errors import PermanentError

Record = dict[str, Any]
MONTHS = {"month": 1, "year": 12}
SECONDS = {"day": 86_400, "week": 604_800}


class ChargebeeAmendments:
    """Mixed into ChargebeeBilling, which supplies the calls."""

    async def _post(self, path: str, params: Record, key: str, name: str) -> Record:
        raise NotImplementedError

    async def _subscription(self, subscription_id: str) -> Record:
        raise NotImplementedError

    async def _running(self, subscription_id: str) -> Record:
        current = await self._subscription(subscription_id)
        if current["status"] == "cancelled":
            raise PermanentError(SYSTEM, "subscription_canceled", f"{subscription_id} is cancelled; it cannot change")
        return current

    async def update_subscription(
        self,
        subscription_id: str,
        lines: list[DealLine],
        price_ids: dict[str, str],
        effective: datetime,
        *,
        idempotency_key: str,
    ) -> None:
        """The subscription's addon items set to exactly `lines` (see the module); nothing to change: nothing sent."""
        current = await self._running(subscription_id)
        items = list(wire.records_in(current, "subscription_items"))
        plans = [item for item in items if item.get("item_type") == "plan"]
        have = {
            wire.text(item, "item_price_id"): (wire.integer(item, "quantity"), wire.integer(item, "unit_price"))
            for item in items
            if item.get("item_type") != "plan"
        }
        wanted = _wanted(lines, price_ids)
        if have == wanted:
            return
        lowered = sorted(p for p in set(have) | set(wanted) if _amount(wanted.get(p)) < _amount(have.get(p)))
        if lowered:
            raise PermanentError(
                SYSTEM,
                "unsupported",
                f"ChargebeeBilling.update_subscription lowers {', '.join(lowered)} on {subscription_id} mid-term: "
                "Chargebee credits that with a credit note on the term's invoice, which c2c does not post yet",
            )
        subscription_items: list[Record] = [
            {"item_price_id": item["item_price_id"], "quantity": item.get("quantity") or 1} for item in plans
        ]
        subscription_items += [
            {"item_price_id": price_id, "quantity": quantity, "unit_price": unit}
            for price_id, (quantity, unit) in sorted(wanted.items())
        ]
        params = {
            "subscription_items": subscription_items,
            "replace_items_list": True,
            "prorate": True,
            "invoice_immediately": False,
        }
        await self._post(
            f"/subscriptions/{path_id(subscription_id)}/update_for_items", params, idempotency_key, "subscription"
        )

    async def set_term_end(self, subscription_id: str, end: datetime | None, *, idempotency_key: str) -> None:
        """The subscription ends with the term running at `end` (see the module); repeatable."""
        if end is None:
            raise PermanentError(
                SYSTEM, "unsupported", "ChargebeeBilling.set_term_end(None): a term without an end (c2c sets one)"
            )
        current = await self._running(subscription_id)
        term_end = _moment(current, "current_term_end")
        renewals = sum(1 for start in _term_starts(current, end) if start >= term_end)
        path = f"/subscriptions/{path_id(subscription_id)}"
        if renewals == 0:
            if current["status"] == "non_renewing" and current.get("cancelled_at") == int(term_end.timestamp()):
                return
            await self._post(f"{path}/cancel_for_items", {"end_of_term": True}, idempotency_key, "subscription")
            return
        if current["status"] == "active" and current.get("remaining_billing_cycles") == renewals:
            return
        if current.get("cancel_schedule_created_at"):
            raise PermanentError(
                SYSTEM,
                "cancellation_scheduled",
                f"{subscription_id} is cancelled at its term end; remove the scheduled cancellation before renewing",
            )
        params = {"billing_cycles": renewals + 1}
        await self._post(f"{path}/update_for_items", params, idempotency_key, "subscription")


def _wanted(lines: list[DealLine], price_ids: dict[str, str]) -> dict[str, tuple[int, int]]:
    """Item price id -> (quantity, unit price); lines of one product add up, as their one item does."""
    wanted: dict[str, tuple[int, int]] = {}
    for line in lines:
        try:
            price_id = price_ids[line.product_code]
        except KeyError:
            raise PermanentError(SYSTEM, "price_not_mapped", f"no item price for {line.product_code}") from None
        quantity = wanted.get(price_id, (0, 0))[0]
        wanted[price_id] = (quantity + line.quantity, line.unit_price.amount)
    return wanted


def _amount(item: tuple[int, int] | None) -> int:
    return 0 if item is None else item[0] * item[1]


def _moment(data: Record, name: str) -> datetime:
    found = mapping.moment(data.get(name))
    if found is None:
        raise PermanentError(SYSTEM, "bad_response", f"{data.get('id')}.{name} is not a unix time")
    return found


def _term_starts(subscription: Record, before: datetime) -> list[datetime]:
    """The starts of the subscription's terms before `before`, from its start: the plan's period on the billing
    date of its start (month ends clamped), as Chargebee renews."""
    started = _moment(subscription, "started_at")
    period = subscription.get("billing_period")
    unit = subscription.get("billing_period_unit")
    if not isinstance(period, int) or period < 1 or unit not in (*MONTHS, *SECONDS):
        raise PermanentError(SYSTEM, "bad_response", f"{subscription.get('id')} has no billing period")
    starts: list[datetime] = []
    n = 0
    while True:
        if unit in MONTHS:
            start = add_months(started, n * period * MONTHS[unit])
        else:
            start = datetime.fromtimestamp(started.timestamp() + n * period * SECONDS[unit], UTC)
        if start >= before:
            return starts
        starts.append(start)
        n += 1
