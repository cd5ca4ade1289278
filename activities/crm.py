"""CRM activities (task queue `{queue}-crm`): read the closed deal or an account, write our ids back to the account
and the subscription's contract."""

from __future__ import annotations

from temporalio import activity

from activities.errors import translated
from canonical import AccountSnapshot, Deal
from canonical.usage import split_usage
from connectors.roles import CrmSystem
from workflows.interface import FetchAccount, FetchDeal, Names, UpdateContract, UpsertContract, WriteBack


class CrmActivities:
    def __init__(self, crm: CrmSystem) -> None:
        self.crm = crm

    @activity.defn(name=Names.FETCH_DEAL)
    async def fetch_deal(self, args: FetchDeal) -> Deal:
        with translated():
            return split_usage(await self.crm.get_deal(args.deal_id))

    @activity.defn(name=Names.FETCH_ACCOUNT)
    async def fetch_account(self, args: FetchAccount) -> AccountSnapshot:
        with translated():
            return await self.crm.get_account(args.account_id)

    @activity.defn(name=Names.WRITE_BACK)
    async def write_back_account(self, args: WriteBack) -> None:
        with translated():
            await self.crm.write_back_account(args.account_id, args.refs)

    @activity.defn(name=Names.UPSERT_CONTRACT)
    async def upsert_contract(self, args: UpsertContract) -> str:
        with translated():
            return await self.crm.upsert_contract(args.deal, args.subscription_id, args.start, args.term_months)

    @activity.defn(name=Names.UPDATE_CONTRACT)
    async def update_contract(self, args: UpdateContract) -> None:
        with translated():
            await self.crm.update_contract(
                args.deal_id, term_months=args.term_months, ended_on=args.ended_on, terminated=args.terminated
            )
