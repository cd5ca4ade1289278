"""A saga writes its outbox events and its KPI fact, resolves and links its customer and asks CustomerMaster for a sync
as local activities (workflows/calls.py, issue 16): no activity task for them goes through the server, and every
event still reaches the outbox exactly once. It upserts a search attribute only when its value changes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlmodel import Session, select
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from store import OutboxEvent, SagaFact
from tests.support.estate import all_emulators, running_estate
from tests.support.histories import record_history
from tests.support.sagas import USD_DEAL
from workflows import search_attributes
from workflows.calls import LOCAL_HUB_PATCH
from workflows.customer_to_cash import CustomerToCash
from workflows.interface import Names
from workflows.saga import Stage


async def test_a_saga_writes_its_events_and_fact_as_local_activities(
    temporal_env: WorkflowEnvironment, emulators: Any, task_queue: str, tmp_path: Path
) -> None:
    async with running_estate(temporal_env, all_emulators(emulators), task_queue, tmp_path) as estate:
        started = await estate.trigger.start(await estate.closed_deal(USD_DEAL))
        handle = estate.client.get_workflow_handle_for(CustomerToCash.run, started.workflow_id)
        result = await handle.result()
        assert result.outcome is Stage.COMPLETED
        events = (await handle.fetch_history()).events
        with Session(estate.engine) as session:
            outbox = session.exec(select(OutboxEvent).where(OutboxEvent.correlation_id == started.workflow_id)).all()
            facts = session.exec(select(SagaFact).where(SagaFact.workflow_id == started.workflow_id)).all()
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    assert Names.RECORD_EVENT not in scheduled
    assert Names.RECORD_FACT not in scheduled
    # The onboarding's calls to the hub (SAGA_OVERHEAD_PATCH) are local too.
    assert not {Names.RESOLVE_CUSTOMER, Names.LINK_REFS, Names.SYNC_CUSTOMER_MASTER} & set(scheduled)
    markers = [
        e.marker_recorded_event_attributes.marker_name for e in events if e.HasField("marker_recorded_event_attributes")
    ]
    assert LOCAL_HUB_PATCH in str([e for e in events if e.HasField("marker_recorded_event_attributes")])
    local = markers.count("core_local_activity")
    assert local >= len(outbox) + len(facts)  # the fact may be written more than once (an upsert)
    assert len(outbox) >= 6
    assert len(facts) == 1
    await record_history(handle, "customer_to_cash_fewer_round_trips")
    # The trigger started the saga at stage onboard with its entity and currency, and the saga started its
    # lifecycle likewise at stage waiting: none of them is upserted again until it changes.
    upserted = [
        dict(e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields)
        for e in events
        if e.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
    ]
    stages = [fields["C2CStage"].data.decode() for fields in upserted if "C2CStage" in fields]
    assert '"onboard"' not in stages
    assert stages[-1] == '"completed"'
    assert not any("C2CLegalEntity" in fields or "C2CCurrency" in fields for fields in upserted)
    lifecycle = estate.client.get_workflow_handle(result.external_ids["subscription_lifecycle"])
    attributes = (await lifecycle.describe()).typed_search_attributes
    assert attributes.get(search_attributes.STAGE) == Stage.WAITING.value
    assert attributes.get(search_attributes.CURRENCY) == "USD"
    lifecycle_events = (await lifecycle.fetch_history()).events
    assert not any(
        "C2CStage" in e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
        for e in lifecycle_events
        if e.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
    )
    await record_history(lifecycle, "subscription_lifecycle_started_with_attributes")
