"""Send a won CRM change (amendment, renewal, cancellation) to the subscription lifecycle it amends: the one path
for the CRM webhook, the API, the CLI and the missed-deal sweep (through `Trigger.start`).

The lifecycle decides, in CRM order, whether the change applies: accepted and duplicate answer normally, a change
that breaks a rule is `DealRefused` naming the rule (nothing changed anywhere), a contract whose lifecycle is not
running is `ContractNotActive`.
"""

from __future__ import annotations

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from canonical import Amendment, ids
from operations.errors import ContractNotActive, DealRefused, SagaNotFound
from workflows.subscription import SubscriptionLifecycle
from workflows.subscription_messages import AmendmentOutcome, LifecycleStatus


async def send(client: Client, amendment: Amendment) -> tuple[str, AmendmentOutcome]:
    """(the lifecycle's workflow id, its answer); raises DealRefused or ContractNotActive."""
    workflow_id = ids.subscription_id(amendment.crm, amendment.original_deal_id)
    handle = client.get_workflow_handle(workflow_id)
    try:
        outcome = await handle.execute_update(SubscriptionLifecycle.amend, amendment)
    except WorkflowUpdateFailedError as error:  # the validator: it amends another contract
        raise DealRefused("wrong_contract", str(error.cause or error)) from error
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise ContractNotActive(
                f"{amendment.deal_id} amends contract {amendment.contract_id} (deal {amendment.original_deal_id}), "
                "whose subscription c2c does not follow now: its first invoice is not paid yet, or it has ended"
            ) from error
        raise
    if outcome.status == "refused":
        raise DealRefused(outcome.rule or "amendment_refused", outcome.message)
    return workflow_id, outcome


async def status(client: Client, crm: str, deal_id: str) -> LifecycleStatus:
    """The lifecycle of a deal's subscription (running or ended): periods, lines, term, CRM changes."""
    handle = client.get_workflow_handle(ids.subscription_id(crm, deal_id))
    try:
        return await handle.query(SubscriptionLifecycle.status)
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise SagaNotFound(
                f"no subscription lifecycle for deal {deal_id}: its first invoice is not applied yet"
            ) from error
        raise
