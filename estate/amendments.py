"""Amendment, renewal and cancellation opportunities put into the CRM as a sales rep does, over the REST API: the
seeding path of the demo, the chaos run and the tests for CRM changes to a running subscription."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from connectors.salesforce import SalesforceCrm

UPGRADE = "Existing Customer - Upgrade"
DOWNGRADE = "Existing Customer - Downgrade"
REPLACEMENT = "Existing Customer - Replacement"
RENEWAL = "Renewal"
CANCELLATION = "Cancellation"
CLOSED_WON = "Closed Won"

Line = tuple[str, Decimal | int, Decimal | int]  # (ProductCode, Quantity, UnitPrice)


async def amendment_deal(
    crm: SalesforceCrm,
    key: str,
    contract_id: str,
    *,
    kind: str | None = UPGRADE,
    lines: tuple[Line, ...] = (),
    currency: str = "USD",
    close_date: date = date(2024, 9, 1),
    effective_date: date | None = None,
    term_months: int | None = None,
    stage: str = CLOSED_WON,
    extra: dict[str, Any] | None = None,
) -> str:
    """Upsert (by External_Key__c = `key`) an opportunity on the contract's account with `ContractId`, `Type` =
    `kind` and these lines, then move it to `stage` (Closed Won by default, once the lines exist, as the org's
    validation rule wants); returns the opportunity id. Safe to repeat."""
    [contract] = await crm.query(f"SELECT Id, AccountId FROM Contract WHERE Id = '{contract_id}'")
    opportunity: dict[str, Any] = {
        "Name": f"{kind or 'Change'} — {key}",
        "AccountId": contract["AccountId"],
        "StageName": "Prospecting",
        "CloseDate": close_date,
        "CurrencyIsoCode": currency,
        "Type": kind,
        "ContractId": contract_id,
        "Effective_Date__c": effective_date,
        "Term_Months__c": term_months,
    } | (extra or {})
    opportunity_id = await crm.upsert("Opportunity", "External_Key__c", key, opportunity)
    for number, (product, quantity, unit_price) in enumerate(lines, start=1):
        line = {"ProductCode": product, "Quantity": quantity, "UnitPrice": unit_price}
        line_key = f"{key}-{number}"
        existing = await crm.query(f"SELECT Id FROM OpportunityLineItem WHERE External_Key__c = '{line_key}'")
        fields = line if existing else {"OpportunityId": opportunity_id, **line}  # OpportunityId: create only
        await crm.upsert("OpportunityLineItem", "External_Key__c", line_key, fields)
    if stage != "Prospecting":
        await crm.update("Opportunity", opportunity_id, {"StageName": stage})
    return opportunity_id
