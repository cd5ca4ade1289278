"""The activity that drives Temporal itself (task queue `{queue}-hub`): tell a golden customer's CustomerMaster
about a changed CRM account (signal-with-start, through operations.finance). Kept apart from the store activities:
it needs a Temporal client, they need only the store."""

from __future__ import annotations

from temporalio import activity
from temporalio.client import Client

from operations.finance import notify_customer_master
from workflows.interface import Names, SyncCustomerMaster


class CustomerMasterActivities:
    def __init__(self, client: Client, task_queue: str) -> None:
        self.client = client
        self.task_queue = task_queue  # the workflow queue the CustomerMaster runs on

    @activity.defn(name=Names.SYNC_CUSTOMER_MASTER)
    async def sync_customer_master(self, args: SyncCustomerMaster) -> None:
        """Ask the golden customer's CustomerMaster to push the CRM account to billing and the ERP."""
        await notify_customer_master(self.client, self.task_queue, args.golden_id, args.change)
