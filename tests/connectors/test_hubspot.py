"""The HubSpot connector against the HubSpot emulator over real HTTP: deals with their primary company and line
items, company write-back, contracts kept on the deal, amendments, reconciliation reads, tokens and refusals."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from canonical import AmendmentKind, BillingPeriod, Money
from connectors.errors import BusinessRuleError, PermanentError, TransientError
from connectors.hubspot import HubSpotCrm
from sandbox.hubspot.access import CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN
from tests.support.hubspot import (
    AUTH,
    LINE_ITEM_TO_DEAL,
    create,
    deal_properties,
    hubspot_connector,
    hubspot_state,
    link,
    seed_deal,
    set_stage,
)


@pytest.fixture
async def url(emulators: Any, http: httpx.AsyncClient) -> str:
    url: str = emulators.url("hubspot")
    (await http.post(f"{url}/_sandbox/reset")).raise_for_status()
    (await http.delete(f"{url}/_sandbox/faults")).raise_for_status()
    return url


@pytest.fixture
def crm(http: httpx.AsyncClient, url: str) -> HubSpotCrm:
    return hubspot_connector(http, url)


async def test_won_deal_maps_with_its_primary_company_and_line_items(
    http: httpx.AsyncClient, url: str, crm: HubSpotCrm
) -> None:
    seeded = await seed_deal(http, url, dealstage="closedwon")
    deal = await crm.get_deal(seeded.deal_id)
    assert (deal.crm, deal.deal_id, deal.closed_won, deal.stage) == ("hubspot", seeded.deal_id, True, "closedwon")
    assert (deal.currency, deal.legal_entity, deal.term_months, deal.billing_period) == (
        "USD",
        "US01",
        12,
        BillingPeriod.MONTH,
    )
    assert deal.close_date == date(2026, 11, 20)
    assert deal.customer.external_refs == {"hubspot": seeded.company_id}
    assert (deal.customer.address.city, deal.customer.address.country, deal.customer.tax_id) == (
        "Austin",
        "US",
        "US-12-3456789",
    )
    assert [(line.product_code, line.quantity, line.unit_price) for line in deal.lines] == [
        ("PLAT-SEAT", 10, Money(amount=49_00, currency="USD")),
        ("ANALYTICS", 1, Money(amount=199_00, currency="USD")),
    ]


async def test_won_stage_is_read_from_the_pipeline_not_the_stage_name(
    http: httpx.AsyncClient, url: str, crm: HubSpotCrm
) -> None:
    custom = await seed_deal(http, url, pipeline="75650911", dealstage="164250014")
    assert (await crm.get_deal(custom.deal_id)).closed_won
    lost = await seed_deal(http, url, dealstage="closedlost")
    assert not (await crm.get_deal(lost.deal_id)).closed_won


@pytest.mark.parametrize("deal_id", ["999999", "not-a-number", "1" * 30])
async def test_unknown_deal_is_deal_not_found(crm: HubSpotCrm, deal_id: str) -> None:
    with pytest.raises(BusinessRuleError) as refused:
        await crm.get_deal(deal_id)
    assert refused.value.code == "deal_not_found"


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"company": {"country": "United States"}}, "country 'United States' is not an ISO-3166"),
        ({"company": {"zip": ""}}, "missing zip"),
        ({"lines": (("PLAT-SEAT", "2.5", "49"),)}, "quantity must be a whole number"),
        ({"lines": (("PLAT-SEAT", "2", "49.001"),)}, "price 49.001 has more decimals than USD allows"),
        ({"lines": ()}, "has no line items"),
        ({"c2c_billing_period": ""}, "c2c_billing_period None is not Monthly or Annual"),
        ({"c2c_billing_period": "Weekly"}, None),  # not one of the property's options: HubSpot refuses it
        ({"c2c_term_months": "twelve"}, None),  # HubSpot itself refuses a non-number
    ],
)
async def test_a_deal_that_cannot_be_billed_names_the_property(
    http: httpx.AsyncClient, url: str, crm: HubSpotCrm, changes: dict[str, Any], named: str | None
) -> None:
    if named is None:
        with pytest.raises(httpx.HTTPStatusError):
            await seed_deal(http, url, **changes)
        return
    seeded = await seed_deal(http, url, **changes)
    with pytest.raises(BusinessRuleError) as refused:
        await crm.get_deal(seeded.deal_id)
    assert refused.value.code == "invalid_deal"
    assert named in refused.value.message


async def test_the_primary_company_is_the_customer_and_two_without_one_are_refused(
    http: httpx.AsyncClient, url: str, crm: HubSpotCrm
) -> None:
    seeded = await seed_deal(http, url)
    second = await seed_deal(http, url)
    unlabeled = [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 341}]
    path = f"{url}/crm/v4/objects/deals/{second.deal_id}/associations/companies/{seeded.company_id}"
    (await http.put(path, json=unlabeled, headers=AUTH)).raise_for_status()
    assert (await crm.get_deal(second.deal_id)).customer.external_refs == {"hubspot": second.company_id}  # primary
    # A deal whose companies are all unlabeled: no customer c2c could pick.
    orphan = await create(http, url, "deals", deal_properties())
    await create(
        http,
        url,
        "line_items",
        {"hs_sku": "PLAT-SEAT", "quantity": "1", "price": "49"},
        link(orphan, LINE_ITEM_TO_DEAL),
    )
    single = f"{url}/crm/v4/objects/deals/{orphan}/associations/default/companies/{seeded.company_id}"
    (await http.put(single, headers=AUTH)).raise_for_status()
    assert (await crm.get_deal(orphan)).customer.external_refs == {"hubspot": seeded.company_id}  # the only one
    path = f"{url}/crm/v4/objects/deals/{orphan}/associations/companies/{second.company_id}"
    (await http.put(path, json=unlabeled, headers=AUTH)).raise_for_status()
    with pytest.raises(BusinessRuleError, match="has 2 companies and none is its primary company") as refused:
        await crm.get_deal(orphan)
    assert refused.value.code == "invalid_deal"


async def test_account_snapshot_and_write_back(http: httpx.AsyncClient, url: str, crm: HubSpotCrm) -> None:
    seeded = await seed_deal(http, url)
    snapshot = await crm.get_account(seeded.company_id)
    assert snapshot.customer.legal_name.startswith("Initech")
    assert snapshot.modified_at.tzinfo is not None
    await crm.write_back_account(seeded.company_id, {"golden_id": "gc_1", "billing_id": "cus_1", "erp_id": "77"})
    again = await crm.get_account(seeded.company_id)
    assert again.customer.golden_id == "gc_1"
    company = next(c for c in (await hubspot_state(http, url))["objects"]["companies"] if c["id"] == seeded.company_id)
    assert (company["properties"]["c2c_billing_customer_id"], company["properties"]["c2c_erp_customer_id"]) == (
        "cus_1",
        "77",
    )
    with pytest.raises(PermanentError) as unknown:
        await crm.write_back_account(seeded.company_id, {"colour": "red"})
    assert unknown.value.code == "unknown_ref"
    with pytest.raises(BusinessRuleError) as missing:
        await crm.get_account("123")
    assert missing.value.code == "account_not_found"


async def test_contract_lives_on_the_deal_and_moves_on(http: httpx.AsyncClient, url: str, crm: HubSpotCrm) -> None:
    seeded = await seed_deal(http, url, dealstage="closedwon")
    deal = await crm.get_deal(seeded.deal_id)
    contract_id = await crm.upsert_contract(deal, "sub_1", date(2026, 11, 20), 12)
    assert contract_id == seeded.deal_id
    before = next(d for d in (await hubspot_state(http, url))["objects"]["deals"] if d["id"] == seeded.deal_id)
    assert await crm.upsert_contract(deal, "sub_1", date(2026, 11, 20), 12) == contract_id
    after = next(d for d in (await hubspot_state(http, url))["objects"]["deals"] if d["id"] == seeded.deal_id)
    assert after["updatedAt"] == before["updatedAt"]  # found as it is: not written again
    [contract] = await crm.contracts_of(["sub_1"], [])
    assert (contract.status, contract.start_date, contract.end_date, contract.account_id) == (
        "Activated",
        date(2026, 11, 20),
        date(2027, 11, 19),
        seeded.company_id,
    )
    await crm.update_contract(seeded.deal_id, term_months=24, ended_on=date(2027, 3, 4), terminated=True)
    [moved] = await crm.contracts_of([], [seeded.deal_id])
    assert (moved.term_months, moved.ended_on, moved.status) == (24, date(2027, 3, 4), "Terminated")
    plain = await seed_deal(http, url)
    with pytest.raises(PermanentError) as none:
        await crm.update_contract(plain.deal_id, term_months=24)
    assert none.value.code == "contract_not_found"


async def test_a_won_change_to_a_contract_is_an_amendment(http: httpx.AsyncClient, url: str, crm: HubSpotCrm) -> None:
    original = await seed_deal(http, url, dealstage="closedwon")
    assert await crm.get_amendment(original.deal_id) is None  # a new deal
    await crm.upsert_contract(await crm.get_deal(original.deal_id), "sub_2", date(2026, 11, 20), 12)
    change = await seed_deal(
        http,
        url,
        company_id=original.company_id,
        lines=(("PLAT-SEAT", "-3", "49.00"),),
        dealstage="closedwon",
        c2c_contract_deal_id=original.deal_id,
        c2c_change_type="amendment",
        c2c_effective_date="2027-01-15",
    )
    amendment = await crm.get_amendment(change.deal_id)
    assert amendment is not None
    assert (amendment.kind, amendment.contract_id, amendment.original_deal_id) == (
        AmendmentKind.AMENDMENT,
        original.deal_id,
        original.deal_id,
    )
    assert (amendment.effective_date, [(line.product_code, line.quantity_change) for line in amendment.lines]) == (
        date(2027, 1, 15),
        [("PLAT-SEAT", -3)],
    )
    await set_stage(http, url, change.deal_id, "contractsent")
    with pytest.raises(BusinessRuleError, match="dealstage") as open_deal:
        await crm.get_amendment(change.deal_id)
    assert open_deal.value.code == "deal_not_closed"
    stray = await seed_deal(
        http, url, dealstage="closedwon", c2c_contract_deal_id=change.deal_id, c2c_change_type="renewal"
    )
    with pytest.raises(BusinessRuleError) as no_contract:
        await crm.get_amendment(stray.deal_id)
    assert no_contract.value.code == "contract_not_found"


async def test_reconciliation_reads(http: httpx.AsyncClient, url: str, crm: HubSpotCrm) -> None:
    since = datetime.now(UTC) - timedelta(seconds=5)
    won = await seed_deal(http, url, dealstage="closedwon")
    custom = await seed_deal(http, url, pipeline="75650911", dealstage="164250014")
    await seed_deal(http, url)  # open: not in the sweep
    deals = await crm.closed_won_deals(since)
    assert [(d.deal_id, d.account_id, d.amount) for d in deals] == [
        (won.deal_id, won.company_id, 689_00),
        (custom.deal_id, custom.company_id, 689_00),
    ]
    assert await crm.closed_won_deals(datetime.now(UTC) + timedelta(hours=1)) == []
    await crm.write_back_account(custom.company_id, {"golden_id": "gc_77"})
    accounts = await crm.accounts([won.company_id, "424242"], ["gc_77"])
    assert [a.account_id for a in accounts] == sorted([won.company_id, custom.company_id])


async def test_rate_limit_is_retryable_after_the_window(http: httpx.AsyncClient, url: str, crm: HubSpotCrm) -> None:
    seeded = await seed_deal(http, url)
    (await http.post(f"{url}/_sandbox/limits", json={"ten_secondly": 1, "daily": 1000})).raise_for_status()
    await crm.get_account(seeded.company_id)
    with pytest.raises(TransientError) as limited:
        await crm.get_account(seeded.company_id)
    assert (limited.value.status, limited.value.code, limited.value.retry_after) == (429, "TEN_SECONDLY_ROLLING", 10.0)


async def test_oauth_token_is_refreshed_when_hubspot_expires_it(http: httpx.AsyncClient, url: str) -> None:
    crm = hubspot_connector(http, url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, refresh_token=REFRESH_TOKEN)
    seeded = await seed_deal(http, url)
    await crm.get_account(seeded.company_id)
    (await http.post(f"{url}/_sandbox/tokens/expire")).raise_for_status()
    assert (await crm.get_account(seeded.company_id)).customer.external_refs == {"hubspot": seeded.company_id}
    stranger = hubspot_connector(http, url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, refresh_token="stolen")
    with pytest.raises(PermanentError, match="BAD_REFRESH_TOKEN") as refused:
        await stranger.get_account(seeded.company_id)
    assert refused.value.code == "auth"
    wrong = hubspot_connector(http, url, access_token="pat-na1-revoked")
    with pytest.raises(PermanentError) as revoked:
        await wrong.get_account(seeded.company_id)
    assert (revoked.value.code, revoked.value.status) == ("auth", 401)


async def test_associations_are_readable_from_both_ends(http: httpx.AsyncClient, url: str) -> None:
    seeded = await seed_deal(http, url)
    page = await http.get(f"{url}/crm/v4/objects/line_items/{seeded.line_ids[0]}/associations/deals", headers=AUTH)
    assert [r["toObjectId"] for r in page.json()["results"]] == [int(seeded.deal_id)]


async def test_billing_ids_are_matched_with_their_case(http: httpx.AsyncClient, url: str, crm: HubSpotCrm) -> None:
    """HubSpot's IN on text matches regardless of case; billing's ids do not, so neither may c2c."""
    upper = await seed_deal(http, url, dealstage="closedwon")
    lower = await seed_deal(http, url, dealstage="closedwon")
    await crm.upsert_contract(await crm.get_deal(upper.deal_id), "sub_1AbC", date(2026, 11, 20), 12)
    await crm.upsert_contract(await crm.get_deal(lower.deal_id), "sub_1abc", date(2026, 11, 20), 12)
    assert [c.contract_id for c in await crm.contracts_of(["sub_1AbC"], [])] == [upper.deal_id]
