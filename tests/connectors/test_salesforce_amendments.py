"""SalesforceCrm's contracts and amendment reads against the Salesforce emulator over real HTTP."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from canonical import Amendment, AmendmentKind, AmendmentLine, Deal, Money
from connectors.errors import BusinessRuleError, PermanentError
from connectors.salesforce import SalesforceCrm
from estate.amendments import CANCELLATION, DOWNGRADE, RENEWAL, UPGRADE, amendment_deal


@pytest.fixture
async def url(emulators: Any, http: httpx.AsyncClient) -> str:
    base: str = emulators.url("salesforce")
    await http.post(f"{base}/_sandbox/reset")
    await http.delete(f"{base}/_sandbox/faults")
    return base


@pytest.fixture
def crm(http: httpx.AsyncClient, url: str) -> SalesforceCrm:
    return SalesforceCrm(http, url, "c2c-integration", "sandbox-secret")


async def contracts(http: httpx.AsyncClient, url: str) -> list[dict[str, Any]]:
    state = (await http.get(f"{url}/_sandbox/state")).json()
    return list(state["Contract"])


async def won_deal(crm: SalesforceCrm, key: str = "base", currency: str = "USD") -> Deal:
    """A closed-won new-customer deal (10 seats at 49.00), read back as the saga reads it."""
    account = {
        "Name": "Acme Inc.",
        "BillingStreet": "1 Main St",
        "BillingCity": "Springfield",
        "BillingState": "IL",
        "BillingPostalCode": "62701",
        "BillingCountry": "US",
    }
    account_id = await crm.upsert("Account", "External_Key__c", f"{key}-acct", account)
    opportunity = {
        "Name": f"{key} deal",
        "AccountId": account_id,
        "StageName": "Prospecting",
        "CloseDate": date(2024, 6, 28),
        "CurrencyIsoCode": currency,
        "Legal_Entity__c": "US01",
        "Term_Months__c": 12,
        "Billing_Period__c": "Monthly",
        "Type": "New Customer",
    }
    opp_id = await crm.upsert("Opportunity", "External_Key__c", key, opportunity)
    line = {"OpportunityId": opp_id, "ProductCode": "PLAT-SEAT", "Quantity": 10, "UnitPrice": Decimal("49.00")}
    await crm.upsert("OpportunityLineItem", "External_Key__c", f"{key}-1", line)
    await crm.update("Opportunity", opp_id, {"StageName": "Closed Won"})
    return await crm.get_deal(opp_id)


@pytest.fixture
async def deal(crm: SalesforceCrm) -> Deal:
    return await won_deal(crm)


@pytest.fixture
async def contract_id(crm: SalesforceCrm, deal: Deal) -> str:
    return await crm.upsert_contract(deal, "sub_123", date(2024, 7, 1), 12)


def usd(amount: str) -> Money:
    return Money.from_decimal(Decimal(amount), "USD")


# -- upsert_contract ------------------------------------------------------------------------------


async def test_upsert_contract_twice_writes_one_activated_contract(
    crm: SalesforceCrm, deal: Deal, http: httpx.AsyncClient, url: str
) -> None:
    first = await crm.upsert_contract(deal, "sub_123", date(2024, 7, 1), 12)
    second = await crm.upsert_contract(deal, "sub_123", date(2024, 7, 1), 12)
    assert first == second
    assert first.startswith("800")
    [contract] = await contracts(http, url)
    assert contract["Id"] == first
    assert contract["Status"] == "Activated"
    assert contract["AccountId"] == deal.customer.external_refs["salesforce"]
    assert (contract["StartDate"], contract["ContractTerm"], contract["EndDate"]) == ("2024-07-01", 12, "2025-06-30")
    assert (contract["C2C_Deal_Id__c"], contract["C2C_Subscription_Id__c"]) == (deal.deal_id, "sub_123")


async def test_upsert_contract_again_with_other_terms_updates_the_same_contract(
    crm: SalesforceCrm, deal: Deal, contract_id: str, http: httpx.AsyncClient, url: str
) -> None:
    assert await crm.upsert_contract(deal, "sub_456", date(2024, 8, 1), 24) == contract_id
    [contract] = await contracts(http, url)
    assert (contract["Status"], contract["EndDate"], contract["C2C_Subscription_Id__c"]) == (
        "Activated",
        "2026-07-31",
        "sub_456",
    )


async def test_upsert_contract_finishes_a_contract_left_in_draft(
    crm: SalesforceCrm, deal: Deal, http: httpx.AsyncClient, url: str
) -> None:
    # An earlier attempt created the contract, then failed before activating it.
    account_id = deal.customer.external_refs["salesforce"]
    draft = await crm.upsert("Contract", "C2C_Deal_Id__c", deal.deal_id, {"AccountId": account_id})
    assert await crm.upsert_contract(deal, "sub_123", date(2024, 7, 1), 12) == draft
    [contract] = await contracts(http, url)
    assert contract["Status"] == "Activated"


async def test_upsert_contract_of_a_deal_without_a_crm_account_is_refused(crm: SalesforceCrm, deal: Deal) -> None:
    orphan = deal.model_copy(update={"customer": deal.customer.model_copy(update={"external_refs": {}})})
    with pytest.raises(PermanentError) as caught:
        await crm.upsert_contract(orphan, "sub_123", date(2024, 7, 1), 12)
    assert caught.value.code == "missing_account_ref"


# -- get_amendment --------------------------------------------------------------------------------


async def test_a_deal_without_a_contract_is_no_amendment(crm: SalesforceCrm, deal: Deal) -> None:
    assert await crm.get_amendment(deal.deal_id) is None


async def test_an_upgrade_adds_seats_from_its_effective_date(crm: SalesforceCrm, deal: Deal, contract_id: str) -> None:
    opp_id = await amendment_deal(
        crm,
        "up",
        contract_id,
        kind=UPGRADE,
        lines=(("PLAT-SEAT", 3, Decimal("49.00")),),
        effective_date=date(2024, 9, 15),
    )
    amendment = await crm.get_amendment(opp_id)
    assert amendment is not None
    modified_at = amendment.modified_at
    assert modified_at.tzinfo is not None
    assert abs(datetime.now(UTC) - modified_at) < timedelta(minutes=5)
    assert amendment == Amendment(
        crm="salesforce",
        deal_id=opp_id,
        contract_id=contract_id,
        original_deal_id=deal.deal_id,
        kind=AmendmentKind.AMENDMENT,
        effective_date=date(2024, 9, 15),
        currency="USD",
        lines=[AmendmentLine(product_code="PLAT-SEAT", quantity_change=3, unit_price=usd("49.00"))],
        term_months=None,
        modified_at=modified_at,
    )


async def test_a_downgrade_removes_seats_and_takes_effect_at_close_without_an_effective_date(
    crm: SalesforceCrm, contract_id: str
) -> None:
    opp_id = await amendment_deal(
        crm,
        "down",
        contract_id,
        kind=DOWNGRADE,
        lines=(("PLAT-SEAT", -2, Decimal("49.00")),),
        close_date=date(2024, 10, 1),
    )
    amendment = await crm.get_amendment(opp_id)
    assert amendment is not None
    assert (amendment.kind, amendment.effective_date) == (AmendmentKind.AMENDMENT, date(2024, 10, 1))
    assert amendment.lines == [AmendmentLine(product_code="PLAT-SEAT", quantity_change=-2, unit_price=usd("49.00"))]


async def test_a_renewal_carries_its_new_term(crm: SalesforceCrm, contract_id: str) -> None:
    opp_id = await amendment_deal(
        crm,
        "renew",
        contract_id,
        kind=RENEWAL,
        lines=(("PLAT-SEAT", 10, Decimal("52.00")),),
        effective_date=date(2025, 7, 1),
        term_months=24,
    )
    amendment = await crm.get_amendment(opp_id)
    assert amendment is not None
    assert (amendment.kind, amendment.term_months, amendment.effective_date) == (
        AmendmentKind.RENEWAL,
        24,
        date(2025, 7, 1),
    )
    assert amendment.lines[0].unit_price == usd("52.00")


async def test_a_cancellation_needs_no_lines(crm: SalesforceCrm, deal: Deal, contract_id: str) -> None:
    opp_id = await amendment_deal(crm, "cancel", contract_id, kind=CANCELLATION, effective_date=date(2024, 12, 31))
    amendment = await crm.get_amendment(opp_id)
    assert amendment is not None
    assert (amendment.kind, amendment.lines, amendment.term_months) == (AmendmentKind.CANCELLATION, [], None)
    assert (amendment.original_deal_id, amendment.effective_date) == (deal.deal_id, date(2024, 12, 31))


async def test_the_amendment_helper_is_safe_to_repeat(crm: SalesforceCrm, contract_id: str) -> None:
    lines = (("PLAT-SEAT", 3, Decimal("49.00")),)
    first = await amendment_deal(crm, "again", contract_id, lines=lines)
    assert await amendment_deal(crm, "again", contract_id, lines=lines) == first
    rows = await crm.query(f"SELECT Id FROM OpportunityLineItem WHERE OpportunityId = '{first}'")
    assert len(rows) == 1


# -- refusals -------------------------------------------------------------------------------------


async def test_an_unknown_id_is_deal_not_found(crm: SalesforceCrm, contract_id: str) -> None:
    for unknown in ("006000000000001", "not-an-id", contract_id):
        with pytest.raises(BusinessRuleError) as caught:
            await crm.get_amendment(unknown)
        assert caught.value.code == "deal_not_found"


async def test_a_contract_c2c_did_not_make_is_contract_not_found(crm: SalesforceCrm, deal: Deal) -> None:
    foreign = await crm.upsert(
        "Contract", "C2C_Deal_Id__c", "x", {"AccountId": deal.customer.external_refs["salesforce"]}
    )
    await crm.update("Contract", foreign, {"C2C_Deal_Id__c": None})
    opp_id = await amendment_deal(crm, "foreign", foreign, lines=(("PLAT-SEAT", 1, 49),))
    with pytest.raises(BusinessRuleError) as caught:
        await crm.get_amendment(opp_id)
    assert caught.value.code == "contract_not_found"
    assert foreign in caught.value.message
    assert "C2C_Deal_Id__c" in caught.value.message


async def test_an_open_amendment_opportunity_is_not_closed(crm: SalesforceCrm, contract_id: str) -> None:
    opp_id = await amendment_deal(crm, "open", contract_id, lines=(("PLAT-SEAT", 1, 49),), stage="Negotiation/Review")
    with pytest.raises(BusinessRuleError) as caught:
        await crm.get_amendment(opp_id)
    assert caught.value.code == "deal_not_closed"
    assert "Negotiation/Review" in caught.value.message


@pytest.mark.parametrize(
    ("seed", "problem"),
    [
        ({"kind": "New Customer"}, "Opportunity.Type 'New Customer'"),
        ({"kind": None}, "Opportunity.Type None"),
        ({"lines": (("PLAT-SEAT", Decimal("1.5"), 49),)}, "Quantity must be a whole number, got 1.5"),
        ({"currency": "JPY", "lines": (("PLAT-SEAT", 1, Decimal("7200.5")),)}, "more decimals than JPY allows"),
        ({"currency": "BRL"}, "unsupported currency 'BRL'"),
        ({"lines": (("PLAT-SEAT", 1, Decimal("-5.00")),)}, "has a negative price"),
        ({"lines": (("PLAT-SEAT", 1, 49), ("PLAT-SEAT", 2, 49))}, "more than one line"),
        ({"lines": ((None, 1, 49),)}, "ProductCode is empty"),
        ({"kind": RENEWAL}, "Opportunity.Term_Months__c is empty"),
        ({"kind": RENEWAL, "term_months": 240}, "term_months"),
    ],
)
async def test_an_unreadable_amendment_is_invalid_naming_the_problem(
    crm: SalesforceCrm, contract_id: str, seed: dict[str, Any], problem: str
) -> None:
    seed = {"lines": (("PLAT-SEAT", 1, 49),)} | seed
    opp_id = await amendment_deal(crm, "bad", contract_id, **seed)
    with pytest.raises(BusinessRuleError) as caught:
        await crm.get_amendment(opp_id)
    assert caught.value.code == "invalid_amendment"
    assert problem in caught.value.message
    assert "\n" not in caught.value.message
