"""`HubSpotCrm`: the CRM role over HubSpot's CRM API (v3 objects, search and batch reads, v4 associations,
pipelines). Contracts live on deals (connectors/hubspot/contracts.py); the transport is connectors/hubspot/transport.py.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import ValidationError

from canonical import AccountSnapshot, Deal
from canonical.records import CrmAccount, CrmDeal
from connectors.errors import BusinessRuleError, PermanentError
from connectors.hubspot.contracts import HubSpotContracts
from connectors.hubspot.errors import SYSTEM
from connectors.hubspot.mapping import (
    UnmappableRecord,
    account_snapshot,
    company_ref_properties,
    crm_account,
    crm_deal,
    to_deal,
)
from connectors.hubspot.transport import summary, typed
from connectors.hubspot.wire import CompanyProperties, DealProperties, HubSpotObject, ms

PRIMARY = "deal_to_company"  # the v3 association type of a deal's primary company (typeId 5)


def primary_company(deal: HubSpotObject) -> str:
    """The deal's primary company; the only one when none is marked primary. UnmappableRecord otherwise."""
    refs = deal.linked("companies")
    primary = {ref.id for ref in refs if ref.type == PRIMARY}
    every = {ref.id for ref in refs}
    if len(primary) == 1:
        return primary.pop()
    if len(every) == 1:
        return every.pop()
    if not every:
        raise UnmappableRecord(f"deal {deal.id} has no associated company")
    raise UnmappableRecord(f"deal {deal.id} has {len(every)} companies and none is its primary company")


class HubSpotCrm(HubSpotContracts):
    """The CrmSystem role: deals with their primary company and line items in, our ids written back to the company."""

    async def get_deal(self, deal_id: str) -> Deal:
        """The deal, its primary company as the Customer and its line items as lines.

        BusinessRuleError 'deal_not_found' for an unknown id, 'invalid_deal' naming the object and property at fault."""
        record = await self.read_object("deals", deal_id, DealProperties, ("companies", "line_items"))
        if record is None:
            raise BusinessRuleError(SYSTEM, "deal_not_found", f"no deal with id {deal_id!r}")
        try:
            deal = typed(DealProperties, record, "invalid_deal", "deal")
            company_id = primary_company(record)
            company = await self.read_object("companies", company_id, CompanyProperties)
            if company is None:
                raise UnmappableRecord(f"company {company_id} of deal {record.id} does not exist")
            properties = typed(CompanyProperties, company, "invalid_deal", "company")
            lines = await self.line_items(record, "invalid_deal")
            won = await self.is_closed_won(deal.pipeline, deal.dealstage)
            return to_deal(record.id, deal, won, (company.id, properties), lines)
        except UnmappableRecord as exc:
            raise BusinessRuleError(SYSTEM, "invalid_deal", str(exc)) from exc
        except ValidationError as exc:
            raise BusinessRuleError(SYSTEM, "invalid_deal", summary(exc, "deal")) from exc

    async def get_account(self, account_id: str) -> AccountSnapshot:
        """The company as get_deal maps a deal's customer, with its hs_lastmodifieddate.

        BusinessRuleError 'account_not_found' for an unknown id, 'invalid_account' naming the property."""
        record = await self.read_object("companies", account_id, CompanyProperties)
        if record is None:
            raise BusinessRuleError(SYSTEM, "account_not_found", f"no company with id {account_id!r}")
        try:
            return account_snapshot(record.id, typed(CompanyProperties, record, "invalid_account", "company"))
        except UnmappableRecord as exc:
            raise BusinessRuleError(SYSTEM, "invalid_account", str(exc)) from exc
        except ValidationError as exc:
            raise BusinessRuleError(SYSTEM, "invalid_account", summary(exc, "company")) from exc

    async def write_back_account(self, account_id: str, refs: dict[str, str]) -> None:
        """Our ids on the company (absolute values: a retry after a lost answer writes the same, creates nothing)."""
        try:
            properties = company_ref_properties(refs)
        except KeyError as exc:
            raise PermanentError(SYSTEM, "unknown_ref", str(exc.args[0])) from exc
        if properties:
            await self.patch("companies", account_id, properties)

    # -- reconciliation reads ----------------------------------------------------------------------------

    async def closed_won_deals(self, modified_since: datetime) -> list[CrmDeal]:
        """Deals in a won stage of their pipeline modified at or after `modified_since` (one search per pipeline
        with won stages), each with its primary company."""
        won: dict[str, list[str]] = {}
        for (pipeline, stage), is_won in (await self.stages(refresh=True)).items():
            if is_won:
                won.setdefault(pipeline, []).append(stage)
        records: dict[str, HubSpotObject] = {}
        for pipeline, stages in sorted(won.items()):
            filters = [
                {"propertyName": "pipeline", "operator": "EQ", "value": pipeline},
                {"propertyName": "dealstage", "operator": "IN", "values": sorted(stages)},
                {"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": ms(modified_since)},
            ]
            records |= {r.id: r for r in await self.search("deals", [{"filters": filters}], DealProperties)}
        companies = await self.primary_companies(list(records))
        deals = []
        for record in records.values():
            try:
                properties = DealProperties.model_validate(record.properties)
            except ValidationError as exc:
                raise PermanentError(SYSTEM, "bad_response", summary(exc, f"deal {record.id}")) from exc
            deals.append(crm_deal(record.id, properties, companies.get(record.id)))
        return sorted(deals, key=lambda deal: int(deal.deal_id))

    async def accounts(self, account_ids: list[str], golden_ids: list[str]) -> list[CrmAccount]:
        """These companies, and every company linked to these golden customers (the CRM's duplicates), each once."""
        found = await self.batch_read("companies", account_ids, CompanyProperties)
        found |= await self.search_in("companies", "c2c_golden_id", golden_ids, CompanyProperties)
        accounts = []
        for record in found.values():
            try:
                accounts.append(crm_account(record.id, CompanyProperties.model_validate(record.properties)))
            except ValidationError as exc:
                raise PermanentError(SYSTEM, "bad_response", summary(exc, f"company {record.id}")) from exc
        return sorted(accounts, key=lambda account: account.account_id)
