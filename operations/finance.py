"""Finance's operations on sagas, shared by the API and the CLI: list the queue, show, resolve, cancel.

The queue is Temporal's visibility store filtered on our search attributes (the same query finance types in
the Temporal UI: `C2CStage = "needs_attention"`); a decision is the saga's `resolve` update, whose validator
refuses nonsense before anything reaches the history.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, field_validator
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from canonical import ids
from canonical.reference import LEGAL_ENTITIES
from operations.errors import ResolutionRejected, SagaEnded, SagaNotFound
from workflows import search_attributes
from workflows.customer_master import CustomerMaster, MasterInput
from workflows.customer_to_cash import CustomerToCash
from workflows.interface import AccountChange
from workflows.saga import Resolution, ResolutionAction, SagaStatus, Stage

_CODE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class QueueFilter(BaseModel):
    """Filters of the queue listing; each value is checked so it can go into a visibility query verbatim."""

    stage: Stage | None = Stage.NEEDS_ATTENTION
    exception: str | None = Field(default=None, description="problem code, e.g. invalid_address")
    legal_entity: str | None = None
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    limit: int = Field(default=100, ge=1, le=1000)

    @field_validator("exception")
    @classmethod
    def _code(cls, value: str | None) -> str | None:
        if value is not None and not _CODE.match(value):
            raise ValueError("exception codes are lower_snake_case, e.g. invalid_address")
        return value

    @field_validator("legal_entity")
    @classmethod
    def _entity(cls, value: str | None) -> str | None:
        if value is not None and value not in LEGAL_ENTITIES:
            raise ValueError(f"unknown legal entity {value!r}; known: {', '.join(sorted(LEGAL_ENTITIES))}")
        return value

    def query(self) -> str:
        """The visibility query (the one to save in the Temporal UI)."""
        clauses = ["WorkflowType = 'CustomerToCash'"]
        for key, value in (
            (search_attributes.STAGE, self.stage.value if self.stage else None),
            (search_attributes.EXCEPTION, self.exception),
            (search_attributes.LEGAL_ENTITY, self.legal_entity),
            (search_attributes.CURRENCY, self.currency),
        ):
            if value is not None:
                clauses.append(f"{key.name} = '{value}'")
        return " AND ".join(clauses)


class QueueEntry(BaseModel):
    workflow_id: str
    deal_id: str
    crm: str | None = Field(default=None, description="the CRM the deal came from (sagas of every CRM are listed)")
    stage: str | None
    exception: str | None
    legal_entity: str | None
    currency: str | None
    started: datetime
    running: bool


async def list_sagas(client: Client, crm: str, where: QueueFilter) -> list[QueueEntry]:
    """Sagas matching the filter, newest first (the server's order)."""
    found: list[QueueEntry] = []
    async for wf in client.list_workflows(where.query(), limit=where.limit):
        attrs = wf.typed_search_attributes
        found.append(
            QueueEntry(
                workflow_id=wf.id,
                deal_id=ids.parse_saga_id(wf.id)[1],
                crm=ids.parse_saga_id(wf.id)[0],
                stage=attrs.get(search_attributes.STAGE),
                exception=attrs.get(search_attributes.EXCEPTION),
                legal_entity=attrs.get(search_attributes.LEGAL_ENTITY),
                currency=attrs.get(search_attributes.CURRENCY),
                started=wf.start_time,
                running=wf.close_time is None,
            )
        )
    return found


async def crm_of(client: Client, crms: list[str], deal_id: str) -> str:
    """The CRM whose saga `c2c:{crm}:{deal}` Temporal knows, of the CRMs served (C2C_CRMS, the default first);
    the default when none has one (then show/resolve/cancel answer "no saga" as before). One describe per CRM."""
    for crm in crms if len(crms) > 1 else []:  # one CRM: nothing to look for
        try:
            await client.get_workflow_handle(ids.saga_id(crm, deal_id)).describe()
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
            continue
        return crm
    return crms[0]


async def show(client: Client, crm: str, deal_id: str) -> SagaStatus:
    """Stage, problem, ids, totals and timeline of a deal's saga (running or finished)."""
    handle = client.get_workflow_handle(ids.saga_id(crm, deal_id))
    try:
        return await handle.query(CustomerToCash.status)
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise SagaNotFound(f"no saga for deal {deal_id}") from error
        raise


async def resolve(client: Client, crm: str, deal_id: str, resolution: Resolution) -> SagaStatus:
    """Send finance's decision; returns the status as it was when the saga accepted it."""
    handle = client.get_workflow_handle(ids.saga_id(crm, deal_id))
    try:
        return await handle.execute_update(CustomerToCash.resolve, resolution)
    except WorkflowUpdateFailedError as error:
        raise ResolutionRejected(str(error.cause or error)) from error
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:  # never started, or already finished
            ended = await _ended_stage(handle)
            if ended is not None:
                raise SagaEnded(
                    f"the saga of deal {deal_id} has ended ({ended}): there is nothing to decide"
                ) from error
            raise SagaNotFound(f"no saga for deal {deal_id}") from error
        raise


async def _ended_stage(handle: WorkflowHandle[Any, Any]) -> str | None:
    """How a closed saga ended, in the saga's words (completed, cancelled) or Temporal's (terminated…); None when
    there is no such workflow."""
    try:
        description = await handle.describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    if description.status in (None, WorkflowExecutionStatus.RUNNING):
        return None
    if description.status in (WorkflowExecutionStatus.COMPLETED, WorkflowExecutionStatus.CANCELED):
        return str((await handle.query(CustomerToCash.status)).stage)
    return description.status.name.lower()


async def cancel(client: Client, crm: str, deal_id: str, *, actor: str, note: str) -> SagaStatus:
    """Cancel a parked saga and compensate (the validator refuses once the customer has paid)."""
    return await resolve(client, crm, deal_id, Resolution(action=ResolutionAction.CANCEL, actor=actor, note=note))


async def notify_customer_master(client: Client, task_queue: str, golden_id: str, change: AccountChange) -> None:
    """Signal-with-start the golden customer's CustomerMaster: started if it does not run yet, else signalled."""
    await client.start_workflow(
        CustomerMaster.run,
        MasterInput(golden_id=golden_id),
        id=ids.master_id(golden_id),
        task_queue=task_queue,
        start_signal=CustomerMaster.account_changed.__name__,
        start_signal_args=[change],
    )
