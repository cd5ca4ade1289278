"""Revenue recognition activities (task queue `{queue}-erp`): read the entity's deferred revenue, post a month's
recognition journal exactly once."""

from __future__ import annotations

from temporalio import activity

from activities.errors import translated
from canonical.revenue import PostedRecognition, RevenueLedger
from connectors.errors import PermanentError
from connectors.roles import Erp
from connectors.routing import ByVendor
from workflows.interface import Names, PostRecognition, RevenueLedgerRequest


class RevenueActivities:
    """On the ERP its input names (the entity's)."""

    def __init__(self, erps: ByVendor[Erp]) -> None:
        self.erps = erps

    @activity.defn(name=Names.REVENUE_LEDGER)
    async def revenue_ledger(self, args: RevenueLedgerRequest) -> RevenueLedger:
        with translated():
            return await self.erps[args.erp].revenue_ledger(args.legal_entity)

    @activity.defn(name=Names.POST_RECOGNITION)
    async def post_recognition(self, args: PostRecognition) -> PostedRecognition:
        """Check before create: a journal the ERP already holds under the external id is answered as it is (a
        re-run, or a retry after a lost answer), never overwritten with amounts computed later."""
        entry = args.entry
        with translated():
            erp = self.erps[args.erp]
            existing = await erp.recognition(entry.legal_entity, entry.external_id)
            if existing is not None:
                return existing
            await erp.post_journal_entry(entry)
            posted = await erp.recognition(entry.legal_entity, entry.external_id)
            if posted is None:
                raise PermanentError(erp.system, "not_found", f"{entry.external_id} posted but not found")
            return posted
