"""Usage events at the door (operations/usage.py, the API's and the CLI's one path): each rule refuses with its code,
stores nothing, starts nothing and is counted; an event id counts once, and a retry of a stored event is a duplicate
whatever the period is by then."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import WorkflowAlreadyStartedError

from canonical import DealLine, Money
from canonical.usage import UsageEvent
from observability.metrics import UsageMetrics
from operations import amendments, usage
from operations.errors import SagaNotFound, UsageConflict, UsageRefused, UsageSubscriptionNotFound
from store import create_schema, make_engine
from store.usage import UsageRecord
from tests.support.store import count
from workflows.saga import Stage
from workflows.subscription_messages import LifecycleStatus, PeriodState, PeriodStatus

START = datetime(2026, 12, 6, tzinfo=UTC)
END = datetime(2027, 1, 6, tzinfo=UTC)
STATUS = LifecycleStatus(
    workflow_id="c2c:salesforce:D-U:subscription",
    subscription_id="sub_1",
    deal_id="D-U",
    stage=Stage.WAITING,
    next_period=2,
    next_period_start=END,
    periods=[PeriodStatus(number=1, start=START, end=END, state=PeriodState.BILLED, trigger="saga")],
    timeline=[],
    golden_id="gc_1",
    billing_customer_id="cus_1",
    usage_lines=[DealLine(product_code="API-CALLS", quantity=1, unit_price=Money(amount=2, currency="USD"))],
)


class FakeClient:
    """Records workflow starts; a second start of an id is refused as Temporal's would be."""

    def __init__(self) -> None:
        self.started: list[str] = []

    async def start_workflow(self, _run: Any, _arg: Any, *, id: str, **_: Any) -> None:  # noqa: A002
        if id in self.started:
            raise WorkflowAlreadyStartedError(id, "UsageReporting")
        self.started.append(id)


@pytest.fixture
def lifecycles(monkeypatch: pytest.MonkeyPatch) -> dict[str, LifecycleStatus]:
    known = {"D-U": STATUS, "D-CB": STATUS.model_copy(update={"deal_id": "D-CB", "billing": "chargebee"})}

    async def status(_client: Any, _crm: str, deal_id: str) -> LifecycleStatus:
        if deal_id not in known:
            raise SagaNotFound(f"no lifecycle for {deal_id}")
        return known[deal_id]

    monkeypatch.setattr(amendments, "status", status)
    return known


def event(
    event_id: str = "e-1", quantity: int = 10, at: datetime = START + timedelta(days=1), **extra: Any
) -> UsageEvent:
    fields: dict[str, Any] = {
        "event_id": event_id,
        "subscription": "D-U",
        "meter": "api_calls",
        "quantity": quantity,
        "timestamp": at,
    }
    return UsageEvent(**(fields | extra))


async def test_each_rule_refuses_with_its_code_stores_nothing_starts_nothing_and_is_counted(
    tmp_path: Path, lifecycles: dict[str, LifecycleStatus]
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    create_schema(engine)
    client, metrics = FakeClient(), UsageMetrics()
    bad = {
        "negative_quantity": event(quantity=-1),
        "unknown_meter": event(meter="gigabytes"),
        "unknown_customer": event(customer="gc_other"),
        "timestamp_before_open_period": event(at=START - timedelta(seconds=1)),
        "timestamp_in_future": event(at=END),
        "unknown_subscription": event(subscription="D-NONE"),
        "usage_not_metered": event(subscription="D-CB"),  # billed in a system c2c does not meter usage in
    }
    for code, refused in bad.items():
        with pytest.raises((UsageRefused, UsageSubscriptionNotFound)) as error:
            await usage.receive(client, engine, metrics, crm="salesforce", task_queue="q", event=refused)  # type: ignore[arg-type]
        assert error.value.code == code
    assert count(engine, UsageRecord) == 0
    assert client.started == []
    assert {reason: n for (outcome, reason), n in metrics.tally.items() if outcome == "refused"} == dict.fromkeys(
        bad, 1
    )


async def test_an_event_id_counts_once_and_its_retry_is_a_duplicate_even_after_its_period_closed(
    tmp_path: Path, lifecycles: dict[str, LifecycleStatus]
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    create_schema(engine)
    client, metrics = FakeClient(), UsageMetrics()

    async def send(sent: UsageEvent) -> usage.UsageAccepted:
        return await usage.receive(client, engine, metrics, crm="salesforce", task_queue="q", event=sent)  # type: ignore[arg-type]

    first = await send(event())
    assert (first.status, first.workflow_id) == ("accepted", "c2c:usage:e-1")
    # The period closes; the product system, which lost the first answer, sends the event again.
    lifecycles["D-U"] = STATUS.model_copy(
        update={
            "periods": [
                *STATUS.periods,
                PeriodStatus(number=2, start=END, end=END + timedelta(days=31), trigger="webhook"),
            ]
        }
    )
    again = await send(event())
    assert again.status == "duplicate"
    with pytest.raises(UsageConflict):
        await send(event(quantity=11))  # the same id for other usage
    assert count(engine, UsageRecord) == 1
    assert client.started == ["c2c:usage:e-1"]  # the duplicate's start found the first
    assert metrics.tally[("accepted", "")] == 1
    assert metrics.tally[("duplicate", "")] == 1
    assert metrics.tally[("refused", "event_id_reused")] == 1


async def test_usage_goes_to_the_billing_system_of_the_subscription(
    tmp_path: Path, lifecycles: dict[str, LifecycleStatus], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    create_schema(engine)
    reports: list[Any] = []

    class Recording(FakeClient):
        async def start_workflow(self, run: Any, arg: Any, *, id: str, **rest: Any) -> None:  # noqa: A002
            reports.append(arg)
            await super().start_workflow(run, arg, id=id, **rest)

    lifecycles["D-U"] = STATUS.model_copy(update={"billing": "stripe"})
    await usage.receive(Recording(), engine, UsageMetrics(), crm="salesforce", task_queue="q", event=event())  # type: ignore[arg-type]
    assert [(r.billing, r.subscription_id, r.customer_id) for r in reports] == [("stripe", "sub_1", "cus_1")]
