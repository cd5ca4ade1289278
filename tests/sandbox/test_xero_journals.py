"""Manual journals on the Xero emulator over HTTP, as Xero's API documents them: created POSTED or DRAFT, refused
with a ValidationException when the lines do not balance, name an unknown or system account or the date is locked,
an `Idempotency-Key` replaying the first answer, listed with `where` and pages, and changed by POST as the status
allows (a draft posted, a posted journal voided, nothing after that)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import httpx
import pytest

from sandbox.xero.app import CLIENT_ID, CLIENT_SECRET
from sandbox.xero.query import ms_date
from tests.support.xero import TENANT

API = "/api.xro/2.0/ManualJournals"


@pytest.fixture
async def xero(emulators: Any) -> AsyncIterator[httpx.AsyncClient]:
    url = emulators.url("xero")
    async with httpx.AsyncClient(base_url=url, timeout=5.0) as http:
        token = await http.post(
            "/connect/token",
            data={"grant_type": "client_credentials", "scope": "accounting.transactions"},
            auth=(CLIENT_ID, CLIENT_SECRET),
        )
        http.headers.update({"Authorization": f"Bearer {token.json()['access_token']}", "xero-tenant-id": TENANT})
        yield http
        await http.post("/_sandbox/lock", json={"tenant": TENANT, "before": None})


def journal(narration: str, *amounts: tuple[str, str], status: str = "POSTED", day: str = "2025-03-31") -> Any:
    lines = [
        {"LineAmount": float(amount) if amount[-1].isdigit() else amount, "AccountCode": code, "Description": code}
        for code, amount in amounts
    ]
    return {"ManualJournals": [{"Narration": narration, "Date": day, "Status": status, "JournalLines": lines}]}


def refusal(response: httpx.Response) -> list[str]:
    assert response.status_code == 400, response.text
    body = response.json()
    assert (body["ErrorNumber"], body["Type"]) == (10, "ValidationException")
    return [error["Message"] for error in body["Elements"][0]["ValidationErrors"]]


def tag() -> str:
    return f"[rev-test-{uuid.uuid4().hex[:8]}]"


async def test_a_balanced_journal_is_posted_in_xeros_shape_and_read_back(xero: httpx.AsyncClient) -> None:
    narration = f"{tag()} recognition"
    created = await xero.put(API, json=(journal(narration, ("2400", "120.00"), ("4000", "-120.00"))))
    assert created.status_code == 200, created.text
    [posted] = created.json()["ManualJournals"]
    assert (posted["Narration"], posted["Status"], posted["Date"]) == (narration, "POSTED", ms_date(date(2025, 3, 31)))
    assert [(line["AccountCode"], line["LineAmount"]) for line in posted["JournalLines"]] == [
        ("2400", 120.0),
        ("4000", -120.0),
    ]
    assert all(line["AccountID"] and line["TaxType"] == "NONE" for line in posted["JournalLines"])
    accounts = {a["Code"]: a["AccountID"] for a in (await xero.get("/api.xro/2.0/Accounts")).json()["Accounts"]}
    assert posted["JournalLines"][0]["AccountID"] == accounts["2400"]
    read = (await xero.get(f"{API}/{posted['ManualJournalID']}")).json()["ManualJournals"]
    assert read == [posted]


@pytest.mark.parametrize(
    ("amounts", "message"),
    [
        ((("2400", "100.00"), ("4000", "-10.00")), "The total debits (100.00) must equal total credits (-10.00)"),
        ((("2400", "5.00"), ("9999", "-5.00")), "Account code '9999' is not a valid code"),
        ((("1100", "5.00"), ("4000", "-5.00")), "Account code '1100' is a system account"),
        ((("2400", "5.00"),), "at least two journal lines"),
        ((("2400", "five"), ("4000", "-5.00")), "LineAmount must be a number"),
    ],
    ids=["unbalanced", "unknown-account", "system-account", "one-line", "not-a-number"],
)
async def test_a_journal_xero_refuses_is_not_stored(
    xero: httpx.AsyncClient, amounts: tuple[tuple[str, str], ...], message: str
) -> None:
    narration = f"{tag()} refused"
    messages = refusal(await xero.put(API, json=(journal(narration, *amounts))))
    assert any(message in text for text in messages), messages
    assert (await xero.get(API, params={"where": f'Narration=="{narration}"'})).json()["ManualJournals"] == []


async def test_a_journal_dated_in_a_locked_period_or_with_a_closing_status_is_refused(xero: httpx.AsyncClient) -> None:
    await xero.post("/_sandbox/lock", json={"tenant": TENANT, "before": "2025-03-31"})
    messages = refusal(await xero.put(API, json=(journal(tag(), ("2400", "1"), ("4000", "-1")))))
    assert messages == ["The document date cannot be on or before the period lock date (2025-03-31)"]
    voided = journal(tag(), ("2400", "1"), ("4000", "-1"), status="VOIDED", day="2025-04-30")
    assert "cannot be set on a new manual journal" in refusal(await xero.put(API, json=(voided)))[0]


async def test_an_idempotency_key_replays_the_first_answer(xero: httpx.AsyncClient) -> None:
    narration = f"{tag()} once"
    body = journal(narration, ("6150", "2.35"), ("1050", "-2.35"))
    key = {"Idempotency-Key": f"test-{uuid.uuid4().hex}"}
    first = await xero.put(API, json=body, headers=key)
    again = await xero.put(API, json=body, headers=key)
    assert again.json()["ManualJournals"] == first.json()["ManualJournals"]
    listed = (await xero.get(API, params={"where": f'Narration=="{narration}"'})).json()["ManualJournals"]
    assert len(listed) == 1


async def test_journals_are_listed_by_where_and_page(xero: httpx.AsyncClient) -> None:
    prefix = tag()[:-1]
    for number in range(3):
        body = journal(f"{prefix}-{number}] paged", ("2400", "1.00"), ("4000", "-1.00"))
        (await xero.put(API, json=(body))).raise_for_status()
    where = {"where": f'Narration.StartsWith("{prefix}") AND Status=="POSTED"'}
    pages = [
        [
            j["Narration"]
            for j in (await xero.get(API, params={**where, "page": p, "pageSize": 2})).json()["ManualJournals"]
        ]
        for p in (1, 2, 3)
    ]
    assert [len(page) for page in pages] == [2, 1, 0]
    assert sorted(pages[0] + pages[1]) == [f"{prefix}-{n}] paged" for n in range(3)]


async def test_post_posts_a_draft_voids_a_posted_journal_and_nothing_changes_after(xero: httpx.AsyncClient) -> None:
    draft = await xero.post(API, json=(journal(tag(), ("2400", "3"), ("4000", "-3"), status="DRAFT")))
    [created] = draft.json()["ManualJournals"]
    journal_id = created["ManualJournalID"]
    assert created["Status"] == "DRAFT"
    edited = {"ManualJournals": [{"ManualJournalID": journal_id, "Status": "POSTED", "Narration": "posted now"}]}
    [posted] = (await xero.post(API, json=(edited))).json()["ManualJournals"]
    assert (posted["ManualJournalID"], posted["Status"], posted["Narration"]) == (journal_id, "POSTED", "posted now")
    changed = {"ManualJournals": [{"ManualJournalID": journal_id, "Narration": "rewritten"}]}
    assert refusal(await xero.post(API, json=(changed))) == ["A posted manual journal can only be voided"]
    void = {"ManualJournals": [{"ManualJournalID": journal_id, "Status": "VOIDED"}]}
    [voided] = (await xero.post(API, json=(void))).json()["ManualJournals"]
    assert voided["Status"] == "VOIDED"
    back = {"ManualJournals": [{"ManualJournalID": journal_id, "Status": "POSTED"}]}
    assert refusal(await xero.post(API, json=(back))) == ["A voided manual journal cannot be changed to POSTED"]
    other = (await xero.put(API, json=journal(tag(), ("2400", "4"), ("4000", "-4"), day="2025-02-28"))).json()
    await xero.post("/_sandbox/lock", json={"tenant": TENANT, "before": "2025-02-28"})
    void_locked = {
        "ManualJournals": [{"ManualJournalID": other["ManualJournals"][0]["ManualJournalID"], "Status": "VOIDED"}]
    }
    assert "period lock date" in refusal(await xero.post(API, json=void_locked))[0]
    unknown = {"ManualJournals": [{"ManualJournalID": str(uuid.uuid4()), "Status": "VOIDED"}]}
    assert "could not be found" in refusal(await xero.post(API, json=(unknown)))[0]
