"""Usage on Stripe Billing Meters: one meter per usage-priced product (found by event name before one is created),
usage reported as meter events whose `identifier` is our usage event id (Stripe refuses an identifier it saw in
the last 24 hours: a retry after a lost answer counts once), and the meter's event summaries.

A usage event reaches the meter in the period billing has open: one whose period billing closed meanwhile (its
renewal invoice already cut) is stamped at the start of the open period instead (`late`), so the next invoice
bills it rather than no invoice at all."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from canonical.usage import ReportedUsage, UsageReport
from connectors.errors import PermanentError
from connectors.stripe import wire
from connectors.stripe.checks import checked
from connectors.stripe.errors import SYSTEM

LIST_PAGE = 100


class StripeMeters:
    """Mixed into StripeBilling, which supplies the authenticated, classified `_get` / `_post`."""

    async def _get(self, path: str, **query: Any) -> Any:
        raise NotImplementedError

    async def _post(self, path: str, form: dict[str, Any], *, idempotency_key: str) -> Any:
        raise NotImplementedError

    async def meter_id(self, event_name: str) -> str | None:
        """The id of the meter of `event_name` (active or not: an event name belongs to one meter), or None."""
        query: dict[str, Any] = {"limit": LIST_PAGE}
        while True:
            page = checked(wire.MeterList, await self._get("/v1/billing/meters", **query))
            for meter in page["data"]:
                if meter["event_name"] == event_name:
                    return meter["id"]
            if not page["has_more"] or not page["data"]:
                return None
            query["starting_after"] = page["data"][-1]["id"]

    async def ensure_meter(self, event_name: str, display_name: str, *, idempotency_key: str) -> str:
        """The meter summing `event_name` events per customer: found by event name, else created."""
        found = await self.meter_id(event_name)
        if found is not None:
            return found
        form = {
            "display_name": display_name,
            "event_name": event_name,
            "default_aggregation": {"formula": "sum"},
            "customer_mapping": {"event_payload_key": "stripe_customer_id", "type": "by_id"},
            "value_settings": {"event_payload_key": "value"},
        }
        try:
            created = await self._post("/v1/billing/meters", form, idempotency_key=idempotency_key)
        except PermanentError as exc:
            found = await self.meter_id(event_name) if exc.code == wire.ERROR_RESOURCE_EXISTS else None
            if found is None:
                raise
            return found  # another price of the product made it meanwhile
        return checked(wire.Created, created)["id"]

    async def report_usage(self, report: UsageReport, *, idempotency_key: str) -> ReportedUsage:
        """The usage event as a meter event of its meter, identified by its event id; stamped at the open period's
        start when its own period has closed (late). A repeat of an identifier Stripe has is a `duplicate`."""
        event = report.event
        subscription = checked(wire.Subscription, await self._get(f"/v1/subscriptions/{report.subscription_id}"))
        if subscription["customer"] != report.customer_id:
            raise PermanentError(
                SYSTEM, "usage_mismatch", f"{report.subscription_id} bills {subscription['customer']}, not the usage's"
            )
        moment = int(event.timestamp.timestamp())
        open_start = subscription.get("current_period_start", moment)
        late = moment < open_start
        stamped = max(moment, open_start)
        form = {
            "event_name": event.meter,
            "payload": {"stripe_customer_id": report.customer_id, "value": str(event.quantity)},
            "identifier": event.event_id,
            "timestamp": stamped,
        }
        result = ReportedUsage(event_id=event.event_id, timestamp=datetime.fromtimestamp(stamped, UTC), late=late)
        try:
            # The key names the timestamp: a retry sending the same replays Stripe's answer; one re-stamped after
            # its period closed is a new request, which the identifier makes a duplicate.
            sent = await self._post("/v1/billing/meter_events", form, idempotency_key=f"{idempotency_key}:{stamped}")
        except PermanentError as exc:
            if exc.code != wire.ERROR_RESOURCE_EXISTS:
                raise
            return result.model_copy(update={"duplicate": True})
        checked(wire.MeterEvent, sent)
        return result

    async def usage_of_period(self, event_name: str, customer_id: str, start: datetime, end: datetime) -> int:
        """The meter's summed usage for the customer over `[start, end)`, as Stripe's event summary says (times on
        whole minutes, as the summaries require: `start` and `end` rounded down)."""
        meter_id = await self.meter_id(event_name)
        if meter_id is None:
            return 0
        first, last = int(start.timestamp()) // 60 * 60, int(end.timestamp()) // 60 * 60
        page = checked(
            wire.MeterEventSummaryList,
            await self._get(
                f"/v1/billing/meters/{meter_id}/event_summaries", customer=customer_id, start_time=first, end_time=last
            ),
        )
        return int(sum(summary["aggregated_value"] for summary in page["data"]))
