"""Reads of Salesforce's records for reconciliation beyond deals and accounts: the Contracts c2c wrote for
subscriptions (standard Contract; `C2C_Subscription_Id__c` = billing's subscription, `C2C_Deal_Id__c` = the deal)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from canonical.records import CrmContract
from connectors.errors import PermanentError
from connectors.salesforce.errors import SYSTEM
from connectors.salesforce.wire import SoqlRecord, soql_in

IN_CHUNK = 200  # values per IN (...) list: far below SOQL's 100,000-character limit


class ContractReadRecord(SoqlRecord):
    """A Contract as the reconciler reads it (with the EndDate Salesforce computes)."""

    AccountId: str | None = None
    Status: str | None = None
    StartDate: date | None = None
    EndDate: date | None = None
    ContractTerm: Decimal | None = None
    C2C_Deal_Id__c: str | None = None
    C2C_Subscription_Id__c: str | None = None
    C2C_Ended_On__c: date | None = None


def crm_contract(record: ContractReadRecord) -> CrmContract:
    return CrmContract(
        contract_id=record.Id,
        deal_id=record.C2C_Deal_Id__c or None,
        subscription_id=record.C2C_Subscription_Id__c or None,
        account_id=record.AccountId,
        status=record.Status,
        start_date=record.StartDate,
        end_date=record.EndDate,
        term_months=int(record.ContractTerm) if record.ContractTerm is not None else None,
        ended_on=record.C2C_Ended_On__c,
    )


class SalesforceReads:
    """Mixed into SalesforceCrm, which supplies `query` (all pages of a SOQL query)."""

    async def query(self, soql: str) -> list[dict[str, Any]]:
        raise NotImplementedError

    async def contracts_of(self, subscription_ids: list[str], deal_ids: list[str]) -> list[CrmContract]:
        """The contracts of these subscriptions (`C2C_Subscription_Id__c`) and of these deals (`C2C_Deal_Id__c`),
        each once, by contract id."""
        found: dict[str, CrmContract] = {}
        for field, values in (("C2C_Subscription_Id__c", subscription_ids), ("C2C_Deal_Id__c", deal_ids)):
            ordered = sorted(set(values))
            for start in range(0, len(ordered), IN_CHUNK):
                where = f"{field} IN {soql_in(ordered[start : start + IN_CHUNK])}"
                for row in await self.query(ContractReadRecord.soql("Contract", where)):
                    try:
                        contract = crm_contract(ContractReadRecord.model_validate(row))
                    except ValidationError as exc:
                        raise PermanentError(SYSTEM, "bad_response", f"unexpected Contract: {exc}") from exc
                    found[contract.contract_id] = contract
        return sorted(found.values(), key=lambda contract: contract.contract_id)
