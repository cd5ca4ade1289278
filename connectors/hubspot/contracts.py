"""Contracts in HubSpot: HubSpot's CRM has no contract object on every tier (custom objects need Enterprise), so
c2c keeps a deal's contract on the deal itself, in c2c's deal properties: `c2c_subscription_id` (billing's),
`c2c_contract_status` (Activated / Terminated), `c2c_contract_start`, `c2c_contract_term_months`,
`c2c_contract_company_id` and `c2c_contract_ended_on`. The contract's CRM id is the deal's id: one per deal, and
upserting it is a PATCH of absolute values, so a repeat (or a retry after a lost answer) writes the same thing.

A won change to a contract is another deal whose `c2c_contract_deal_id` names the original deal, with
`c2c_change_type` (amendment / renewal / cancellation), `c2c_effective_date`, `c2c_term_months` for a renewal, and
line items whose quantity is the change (negative for a reduction)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from canonical import Amendment, Deal
from canonical.records import CrmContract
from connectors.errors import BusinessRuleError, PermanentError
from connectors.hubspot.errors import SYSTEM
from connectors.hubspot.mapping import UnmappableRecord, crm_contract, to_amendment
from connectors.hubspot.transport import HubSpotApi, summary, typed
from connectors.hubspot.wire import DealProperties, HubSpotObject, LineItemProperties

ACTIVATED = "Activated"
TERMINATED = "Terminated"


class HubSpotContracts(HubSpotApi):
    """The contract part of the CRM role."""

    async def line_items(self, deal: HubSpotObject, code: str) -> list[tuple[str, LineItemProperties]]:
        """The deal's line items in id order; BusinessRuleError(`code`) when one is gone or unreadable."""
        ids = sorted({ref.id for ref in deal.linked("line_items")}, key=int)
        found = await self.batch_read("line_items", ids, LineItemProperties)
        missing = [i for i in ids if i not in found]
        if missing:
            raise BusinessRuleError(SYSTEM, code, f"deal {deal.id} line items {', '.join(missing)} do not exist")
        return [(i, typed(LineItemProperties, found[i], code, "line item")) for i in ids]

    async def upsert_contract(self, deal: Deal, subscription_id: str, start: date, term_months: int) -> str:
        """The deal's contract properties set and Activated; the deal's id. One already so is not written again."""
        company_id = deal.customer.external_refs.get(SYSTEM)
        if not company_id:
            raise PermanentError(SYSTEM, "missing_account_ref", f"deal {deal.deal_id} has no {SYSTEM} company id")
        current = await self._contract_deal(deal.deal_id)
        terms = (company_id, start, Decimal(term_months), subscription_id)
        found = (current.c2c_contract_company_id, current.c2c_contract_start, current.c2c_contract_term_months)
        if current.c2c_contract_status == ACTIVATED and (*found, current.c2c_subscription_id) == terms:
            return deal.deal_id
        properties: dict[str, Any] = {
            "c2c_contract_company_id": company_id,
            "c2c_contract_start": start,
            "c2c_contract_term_months": term_months,
            "c2c_subscription_id": subscription_id,
            "c2c_contract_status": ACTIVATED,
        }
        await self.patch("deals", deal.deal_id, properties)
        return deal.deal_id

    async def update_contract(
        self, deal_id: str, *, term_months: int | None = None, ended_on: date | None = None, terminated: bool = False
    ) -> None:
        """A renewed term, the last day served, Terminated: absolute values, repeatable. PermanentError
        'contract_not_found' when c2c made no contract on the deal."""
        current = await self._contract_deal(deal_id)
        if current.c2c_contract_status is None:
            raise PermanentError(SYSTEM, "contract_not_found", f"deal {deal_id} carries no c2c contract")
        properties: dict[str, Any] = {}
        if term_months is not None:
            properties["c2c_contract_term_months"] = term_months
        if ended_on is not None:
            properties["c2c_contract_ended_on"] = ended_on
        if terminated and current.c2c_contract_status != TERMINATED:
            properties["c2c_contract_status"] = TERMINATED
        if properties:
            await self.patch("deals", deal_id, properties)

    async def get_amendment(self, deal_id: str) -> Amendment | None:
        """The deal as a change to a contract c2c made; None when it names no `c2c_contract_deal_id`.

        BusinessRuleError 'deal_not_found', 'deal_not_closed', 'contract_not_found' (no such deal, or one without a
        c2c contract) or 'invalid_amendment' (the message names the property)."""
        record = await self.read_object("deals", deal_id, DealProperties, ("line_items",))
        if record is None:
            raise BusinessRuleError(SYSTEM, "deal_not_found", f"no deal with id {deal_id!r}")
        deal = typed(DealProperties, record, "invalid_amendment", "deal")
        if not deal.c2c_contract_deal_id:
            return None
        if not await self.is_closed_won(deal.pipeline, deal.dealstage):
            raise BusinessRuleError(
                SYSTEM,
                "deal_not_closed",
                f"deal {deal_id}: dealstage {deal.dealstage!r} is not a won stage of pipeline {deal.pipeline!r}",
            )
        original = await self.read_object("deals", deal.c2c_contract_deal_id, DealProperties)
        contract = typed(DealProperties, original, "invalid_amendment", "deal") if original else None
        if contract is None or contract.c2c_contract_status is None:
            problem = "does not exist" if contract is None else "carries no c2c contract"
            raise BusinessRuleError(
                SYSTEM,
                "contract_not_found",
                f"deal {deal_id} c2c_contract_deal_id {deal.c2c_contract_deal_id} {problem}",
            )
        try:
            return to_amendment(record.id, deal, await self.line_items(record, "invalid_amendment"))
        except UnmappableRecord as exc:
            raise BusinessRuleError(SYSTEM, "invalid_amendment", str(exc)) from exc
        except ValidationError as exc:
            raise BusinessRuleError(SYSTEM, "invalid_amendment", summary(exc, "amendment")) from exc

    async def contracts_of(self, subscription_ids: list[str], deal_ids: list[str]) -> list[CrmContract]:
        """The contracts on deals of these subscriptions (search) and on these deals (batch read), each once."""
        found = await self.search_in("deals", "c2c_subscription_id", subscription_ids, DealProperties)
        found |= await self.batch_read("deals", deal_ids, DealProperties)
        contracts = []
        for record in found.values():
            try:
                deal = DealProperties.model_validate(record.properties)
            except ValidationError as exc:
                raise PermanentError(SYSTEM, "bad_response", summary(exc, f"deal {record.id}")) from exc
            if deal.c2c_contract_status is not None:
                contracts.append(crm_contract(record.id, deal))
        return sorted(contracts, key=lambda contract: contract.contract_id)

    async def _contract_deal(self, deal_id: str) -> DealProperties:
        record = await self.read_object("deals", deal_id, DealProperties)
        if record is None:
            raise PermanentError(SYSTEM, "contract_not_found", f"no deal with id {deal_id!r}")
        try:
            return DealProperties.model_validate(record.properties)
        except ValidationError as exc:
            raise PermanentError(SYSTEM, "bad_response", summary(exc, f"deal {deal_id}")) from exc
