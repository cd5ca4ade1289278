"""CRM activities (task queue `{queue}-crm`): read the closed deal or an account, write our ids back to the account
and the subscription's contract."""

from __future__ import annotations

from temporalio import activity

from activities.errors import translated
from canonical import AccountSnapshot, Deal
from canonical.usage import split_usage
from connectors.roles import CrmSystem
from connectors.routing import ByVendor
from workflows.interface import FetchAccount, FetchDeal, Names, UpdateContract, UpsertContract, WriteBack


class CrmActivities:
    """Each call goes to the CRM its input names (the saga's deal came from it); none named: the default CRM."""

    def __init__(self, crms: ByVendor[CrmSystem]) -> None:
        self.crms = crms

    @activity.defn(name=Names.FETCH_DEAL)
    async def fetch_deal(self, args: FetchDeal) -> Deal:
        with translated():
            return split_usage(await self.crms[args.crm].get_deal(args.deal_id))

    @activity.defn(name=Names.FETCH_ACCOUNT)
    async def fetch_account(self, args: FetchAccount) -> AccountSnapshot:
        with translated():
            return await self.crms[args.crm].get_account(args.account_id)

    @activity.defn(name=Names.WRITE_BACK)
    async def write_back_account(self, args: WriteBack) -> None:
        with translated():
            await self.crms[args.crm].write_back_account(args.account_id, args.refs)

    @activity.defn(name=Names.UPSERT_CONTRACT)
    async def upsert_contract(self, args: UpsertContract) -> str:
        with translated():
            return await self.crms[args.crm].upsert_contract(
                args.deal, args.subscription_id, args.start, args.term_months
            )

    @activity.defn(name=Names.UPDATE_CONTRACT)
    async def update_contract(self, args: UpdateContract) -> None:
        with translated():
            await self.crms[args.crm].update_contract(
                args.deal_id, term_months=args.term_months, ended_on=args.ended_on, terminated=args.terminated
            )
