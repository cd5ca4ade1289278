"""A saga writes its outbox events and its KPI fact as local activities (workflows/calls.py, issue 16): no activity
task for them goes through the server, and every event still reaches the outbox exactly once."""

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
        assert (await handle.result()).outcome is Stage.COMPLETED
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
    markers = [
        e.marker_recorded_event_attributes.marker_name for e in events if e.HasField("marker_recorded_event_attributes")
    ]
    assert LOCAL_HUB_PATCH in str([e for e in events if e.HasField("marker_recorded_event_attributes")])
    local = markers.count("core_local_activity")
    assert local >= len(outbox) + len(facts)  # the fact may be written more than once (an upsert)
    assert len(outbox) >= 6
    assert len(facts) == 1
    await record_history(handle, "customer_to_cash_lifecycle_patch_first")
