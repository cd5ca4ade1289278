"""Usage events from product systems, shared by the API and the CLI: check the event against the subscription's
lifecycle, store it once by its event id, start its UsageReporting workflow once (`c2c:usage:{event id}`).

Refused, with nothing stored and nothing started (and counted, `c2c_usage_events_total{outcome="refused"}`):
`negative_quantity`, `unknown_subscription` (no lifecycle for the deal: 404), `subscription_ended`,
`unknown_customer` (the event names another golden customer), `unknown_meter` (the subscription has no
usage-priced line on that meter), `timestamp_before_open_period`, `timestamp_in_future` (after the period
billing has open, as the lifecycle knows it), `event_id_reused` (the id was used for other usage: 409).

The same event again is a `duplicate` (whatever the period is by then): it starts the report again if an earlier
answer was lost before the start (the workflow id makes that a no-op otherwise).
"""

from __future__ import annotations

from pydantic import BaseModel
from sqlalchemy.engine import Engine
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from canonical import ids
from canonical.usage import UsageEvent, UsageReport, meter_of
from connectors.factory import USAGE_METERING
from observability.metrics import UsageMetrics
from operations import amendments
from operations.errors import SagaNotFound, UsageConflict, UsageRefused, UsageSubscriptionNotFound
from store import session_scope
from store.usage import Stored, UsageRepository
from workflows.subscription_messages import LifecycleStatus
from workflows.usage import UsageReporting


class UsageAccepted(BaseModel):
    event_id: str
    status: str  # accepted / duplicate
    workflow_id: str
    period_start: str | None = None


def check(event: UsageEvent, status: LifecycleStatus) -> None:
    """Raise UsageRefused naming the first rule the event breaks against the lifecycle's view of the contract."""
    if event.quantity < 0:
        raise UsageRefused("negative_quantity", f"quantity {event.quantity} is negative: usage only adds up")
    if status.ended is not None:
        raise UsageRefused("subscription_ended", f"the subscription of {event.subscription} has ended ({status.ended})")
    if event.customer is not None and event.customer != status.golden_id:
        raise UsageRefused("unknown_customer", f"{event.customer} is not the customer of {event.subscription}")
    if status.billing is not None and status.billing not in USAGE_METERING:
        raise UsageRefused(
            "usage_not_metered",
            f"{event.subscription} is billed in {status.billing}, which c2c does not meter usage in (it meters in "
            f"{', '.join(sorted(USAGE_METERING))})",
        )
    meters = sorted({m for line in status.usage_lines if (m := meter_of(line.product_code))})
    if event.meter not in meters:
        raise UsageRefused(
            "unknown_meter",
            f"{event.subscription} has no usage-priced line on meter {event.meter!r} (its meters: "
            f"{', '.join(meters) or 'none'})",
        )
    period = status.open_period()
    if period is None or period.end is None:
        raise UsageRefused("no_open_period", f"{event.subscription} has no open billing period yet")
    if event.timestamp < period.start:
        raise UsageRefused(
            "timestamp_before_open_period",
            f"{event.timestamp.isoformat()} is before the open period (from {period.start.isoformat()}): that "
            "period is closed",
        )
    if event.timestamp >= period.end:
        raise UsageRefused(
            "timestamp_in_future",
            f"{event.timestamp.isoformat()} is after the open period (to {period.end.isoformat()})",
        )


async def receive(
    client: Client, engine: Engine, metrics: UsageMetrics, *, crm: str, task_queue: str, event: UsageEvent
) -> UsageAccepted:
    """Check, store once, report once; refusals raise (UsageRefused / UsageConflict / UsageSubscriptionNotFound)."""
    try:
        return await _receive(client, engine, metrics, crm=crm, task_queue=task_queue, event=event)
    except (UsageRefused, UsageConflict, UsageSubscriptionNotFound) as refused:
        metrics.received("refused", refused.code)
        raise


async def _receive(
    client: Client, engine: Engine, metrics: UsageMetrics, *, crm: str, task_queue: str, event: UsageEvent
) -> UsageAccepted:
    with session_scope(engine) as session:
        known = UsageRepository(session).classify(event)
    if known is Stored.CONFLICT:
        raise UsageConflict(f"event id {event.event_id} was already used for other usage")
    try:
        status = await amendments.status(client, crm, event.subscription)
    except SagaNotFound as error:
        raise UsageSubscriptionNotFound(f"no subscription c2c follows for {event.subscription}") from error
    if known is None:
        check(event, status)
        with session_scope(engine) as session:
            known = UsageRepository(session).add(event)
        if known is Stored.CONFLICT:
            raise UsageConflict(f"event id {event.event_id} was already used for other usage")
    report = UsageReport(
        event=event,
        customer_id=status.billing_customer_id or "",
        subscription_id=status.subscription_id,
        billing=status.billing,
    )
    workflow_id = ids.usage_report_id(event.event_id)
    try:
        await client.start_workflow(
            UsageReporting.run,
            report,
            id=workflow_id,
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
    except WorkflowAlreadyStartedError:
        pass  # reported before: nothing more to do
    outcome = "accepted" if known is Stored.NEW else "duplicate"
    metrics.received(outcome)
    period = status.open_period()
    return UsageAccepted(
        event_id=event.event_id,
        status=outcome,
        workflow_id=workflow_id,
        period_start=period.start.isoformat() if period else None,
    )
