"""Fuzzing every HubSpot answer c2c parses: the deal, its company and line items, the pipelines, contracts and
amendments, the reconciler's searches and batch reads. A real exchange with the emulator is recorded once and
replayed with one value of one answer removed or replaced; the connector returns normally or raises its taxonomy
(or a ValueError) naming the property, never KeyError, TypeError or AttributeError."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support.fuzzing import fuzzing
from tests.support.hubspot import hubspot_connector, seed_deal
from tests.support.replay import Operation, mistyped, mutations, survives

OPERATIONS = [
    "hubspot.get_deal",
    "hubspot.get_account",
    "hubspot.upsert_contract",
    "hubspot.get_amendment",
    "hubspot.closed_won_deals",
    "hubspot.accounts",
    "hubspot.contracts_of",
]


@pytest.fixture(scope="module")
async def recorded(emulators: Any) -> dict[str, Operation]:
    url = emulators.url("hubspot")
    since = datetime.now(UTC) - timedelta(seconds=5)
    async with httpx.AsyncClient(timeout=10) as http:
        crm = hubspot_connector(http, url)
        seeded = await seed_deal(http, url, dealstage="closedwon")
        deal = await crm.get_deal(seeded.deal_id)
        await crm.write_back_account(seeded.company_id, {"golden_id": "gc_fuzz"})
        await crm.upsert_contract(deal, "sub_fuzz", date(2026, 11, 20), 12)
        change = await seed_deal(
            http,
            url,
            company_id=seeded.company_id,
            lines=(("PLAT-SEAT", "2", "49.00"),),
            dealstage="closedwon",
            c2c_contract_deal_id=seeded.deal_id,
            c2c_change_type="renewal",
        )

    def hs(http: httpx.AsyncClient) -> Any:
        return hubspot_connector(http, url)

    operations = [
        Operation("hubspot.get_deal", lambda h: hs(h).get_deal(seeded.deal_id)),
        Operation("hubspot.get_account", lambda h: hs(h).get_account(seeded.company_id)),
        Operation("hubspot.upsert_contract", lambda h: hs(h).upsert_contract(deal, "sub_other", date(2026, 12, 1), 6)),
        Operation("hubspot.get_amendment", lambda h: hs(h).get_amendment(change.deal_id)),
        Operation("hubspot.closed_won_deals", lambda h: hs(h).closed_won_deals(since)),
        Operation("hubspot.accounts", lambda h: hs(h).accounts([seeded.company_id], ["gc_fuzz"])),
        Operation("hubspot.contracts_of", lambda h: hs(h).contracts_of(["sub_other"], [seeded.deal_id])),
    ]
    for operation in operations:
        await operation.record()
    return {operation.name: operation for operation in operations}


@given(data=st.data())
@fuzzing(300)
async def test_hubspot_answers_with_broken_values_are_refused_naming_the_property(
    recorded: dict[str, Operation], data: st.DataObject
) -> None:
    """Any value of any answer removed or replaced by junk (numbers, text, lists, objects), or a whole body."""
    op = data.draw(st.sampled_from([recorded[name] for name in OPERATIONS]))
    await survives(op, data.draw(mutations(op, root=True)))


@given(data=st.data())
@fuzzing(200)
async def test_hubspot_answers_with_mistyped_fields_never_crash(
    recorded: dict[str, Operation], data: st.DataObject
) -> None:
    """A field removed or given a value of another JSON type: a shape no parser may trust."""
    op = data.draw(st.sampled_from([recorded[name] for name in OPERATIONS]))
    await survives(op, data.draw(mistyped(op)))
