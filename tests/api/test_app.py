"""The trigger API over real HTTP: CRM webhooks start sagas once; bad input gets a 4xx and starts nothing."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import socket
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from api.app import create_api
from canonical import ids
from codec import EncryptionCodec, new_key, parse_keys
from connectors.kit import tls_context
from estate.book import ACME, GLOBEX, DealSpec
from estate.deals import seed_deal
from tests.support.estate import Estate, all_emulators, running_estate
from tests.support.polling import eventually
from workflows.customer_to_cash import CustomerToCash
from workflows.saga import Stage

SECRET = "whsec_crm_sandbox"
DEAL = DealSpec("API-1", ACME, "US01", "USD", [("PLAT-SEAT", 3, Decimal("49.00"))])


@asynccontextmanager
async def serving(
    temporal_env: WorkflowEnvironment, emulators: Any, task_queue: str, tmp_path: Path, **overrides: Any
) -> AsyncIterator[tuple[Estate, str]]:
    """The estate plus the trigger API on a free port, with the CRM's and billing's webhooks pointed at it."""
    async with running_estate(temporal_env, all_emulators(emulators), task_queue, tmp_path, **overrides) as estate:
        app = create_api(estate.trigger, estate.connectors.billing, estate.engine, estate.settings)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        await eventually(lambda: asyncio.sleep(0, server.started))
        crm_admin = f"{estate.urls['salesforce']}/_sandbox/webhook"
        billing_admin = f"{estate.urls['stripe']}/_sandbox/webhook"
        await estate.http.post(crm_admin, json={"url": f"{url}/webhooks/salesforce", "secret": SECRET})
        stripe_hook = {
            "url": f"{url}/webhooks/stripe",
            "secret": estate.settings.stripe_webhook_secret.get_secret_value(),
        }
        await estate.http.post(billing_admin, json=stripe_hook)
        assert estate.settings.api_token is not None
        estate.http.headers["Authorization"] = f"Bearer {estate.settings.api_token.get_secret_value()}"
        try:
            yield estate, url
        finally:
            await estate.http.post(crm_admin, json={"url": None})
            await estate.http.post(billing_admin, json={"url": None})
            server.should_exit = True
            await serving


@pytest.fixture
async def api(
    temporal_env: WorkflowEnvironment, emulators: Any, task_queue: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[Estate, str]]:
    """A running estate and its API for one test.

    `@pytest.mark.payment_method("pm_…")` gives new billing customers another payment method."""
    marker = request.node.get_closest_marker("payment_method")
    overrides = {"stripe_payment_method": marker.args[0]} if marker else {}
    settings_marker = request.node.get_closest_marker("settings")
    overrides |= settings_marker.kwargs if settings_marker else {}
    async with serving(temporal_env, emulators, task_queue, tmp_path, **overrides) as running:
        yield running


@pytest.fixture(scope="module")
async def refusing_api(
    temporal_env: WorkflowEnvironment, emulators: Any, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Estate, str]]:
    """One estate and API shared by the bad-input tests of this module: each is refused and must change nothing,
    so none leaves anything another could see (an estate per case was most of this module's time)."""
    queue = f"test-{uuid.uuid4().hex[:12]}"
    async with serving(temporal_env, emulators, queue, tmp_path_factory.mktemp("refusing")) as running:
        yield running


def signed(body: bytes, secret: str = SECRET, at: float | None = None) -> dict[str, str]:
    t = str(int(at if at is not None else time.time()))
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return {"X-C2C-Signature": f"t={t},v1={digest}", "Content-Type": "application/json"}


def closed_won_event(deal_id: str, event_id: str = "evt-1") -> bytes:
    return json.dumps(
        {
            "eventId": event_id,
            "eventType": "opportunity.closed_won",
            "sobject": "Opportunity",
            "recordId": deal_id,
            "stageName": "Closed Won",
            "occurredAt": "2026-11-28T07:00:00Z",
        }
    ).encode()


async def no_saga(estate: Estate, deal_id: str) -> None:
    with pytest.raises(RPCError, match="not found"):
        await estate.client.get_workflow_handle(ids.saga_id("salesforce", deal_id)).describe()


async def test_closing_a_deal_in_the_crm_starts_its_saga_through_the_signed_webhook(api: Any) -> None:
    estate, _ = api
    deal_id = await estate.closed_deal(DEAL)  # the CRM posts the signed webhook to the trigger API
    handle = estate.client.get_workflow_handle_for(CustomerToCash.run, ids.saga_id("salesforce", deal_id))

    async def described() -> Any:
        try:
            return await handle.describe()
        except RPCError:
            return None

    await eventually(described)
    assert (await handle.result()).outcome is Stage.COMPLETED
    crm = await estate.state("salesforce")
    [delivery] = [d for d in crm["webhookDeliveries"] if d["recordId"] == deal_id]
    assert (delivery["delivered"], delivery["statusCode"]) == (True, 202)


async def test_a_redelivered_webhook_is_acknowledged_as_a_duplicate(api: Any) -> None:
    estate, url = api
    deal_id = await estate.closed_deal(DEAL)

    async def delivered() -> dict[str, Any] | None:
        deliveries = (await estate.state("salesforce"))["webhookDeliveries"]
        return next((d for d in deliveries if d["recordId"] == deal_id and d["delivered"]), None)

    delivery = await eventually(delivered)
    body = closed_won_event(deal_id, event_id=delivery["eventId"])  # the CRM sending it again
    again = await estate.http.post(f"{url}/webhooks/salesforce", content=body, headers=signed(body))
    assert (again.status_code, again.json()) == (202, {"status": "duplicate", "event_id": delivery["eventId"]})
    # A different event for the same deal passes dedupe but meets the workflow id rule: still one saga.
    other = closed_won_event(deal_id, event_id=f"{delivery['eventId']}-other")
    third = await estate.http.post(f"{url}/webhooks/salesforce", content=other, headers=signed(other))
    assert (third.status_code, third.json()["started"]) == (202, False)
    await estate.client.get_workflow_handle(third.json()["workflow_id"]).result()


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (lambda body, headers: (body, {**headers, "X-C2C-Signature": "t=1,v1=00"}), "signature"),
        (lambda body, headers: (body, {"Content-Type": "application/json"}), "signature"),
        (lambda body, headers: (body, signed(body, secret="whsec_other")), "signature"),
        (lambda body, headers: (body, signed(body, at=time.time() - 3600)), "tolerance"),
        (lambda body, headers: (b"{not json", signed(b"{not json")), "JSON"),
        (lambda body, headers: (b'{"eventId": "x"}', signed(b'{"eventId": "x"}')), "recordId"),
    ],
    ids=["bad-signature", "no-signature", "wrong-secret", "stale", "malformed-json", "missing-fields"],
)
async def test_bad_webhooks_get_400_naming_the_problem_and_start_nothing(
    refusing_api: Any, mutate: Any, problem: str
) -> None:
    estate, url = refusing_api
    deal_id = await seed_deal(estate.crm, estate.unique(DEAL))
    good = closed_won_event(deal_id)
    body, headers = mutate(good, signed(good))
    response = await estate.http.post(f"{url}/webhooks/salesforce", content=body, headers=headers)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_webhook"
    assert problem.lower() in response.json()["message"].lower()
    await no_saga(estate, deal_id)


async def test_unknown_deal_is_404_and_starts_nothing(api: Any) -> None:
    estate, url = api
    response = await estate.http.post(f"{url}/deals/006000000000000AAA/start")
    assert response.status_code == 404
    assert response.json()["error"] == "deal_not_found"
    await no_saga(estate, "006000000000000AAA")


@pytest.mark.parametrize(
    ("spec", "code"),
    [
        (DealSpec("API-BRL", GLOBEX, "US01", "BRL", [("PLAT-SEAT", 1, Decimal("49.00"))]), "invalid_deal"),
        (DealSpec("API-EUR-US", GLOBEX, "US01", "EUR", [("PLAT-SEAT", 1, Decimal("49.00"))]), "unsupported_currency"),
        (DealSpec("API-ENT", GLOBEX, "XX99", "USD", [("PLAT-SEAT", 1, Decimal("49.00"))]), "unknown_legal_entity"),
        (DealSpec("API-PROD", GLOBEX, "US01", "USD", [("NO-SUCH", 1, Decimal("49.00"))]), "unknown_product"),
    ],
    ids=["currency-we-do-not-bill", "currency-the-entity-does-not-bill", "unknown-entity", "unknown-product"],
)
async def test_deals_breaking_a_billing_rule_get_422_and_start_nothing(api: Any, spec: DealSpec, code: str) -> None:
    estate, url = api
    deal_id = await estate.closed_deal(spec)  # the CRM's own webhook is refused the same way
    response = await estate.http.post(f"{url}/deals/{deal_id}/start")
    assert response.status_code == 422
    assert response.json()["error"] == code
    assert response.json()["message"]
    await no_saga(estate, deal_id)


async def test_deal_not_yet_won_is_refused(api: Any) -> None:
    estate, url = api
    deal_id = await seed_deal(estate.crm, estate.unique(DEAL))
    response = await estate.http.post(f"{url}/deals/{deal_id}/start")
    assert (response.status_code, response.json()["error"]) == (422, "deal_not_closed")
    await no_saga(estate, deal_id)


async def test_status_and_resolve_endpoints_drive_a_parked_saga(api: Any) -> None:
    estate, url = api
    from estate.book import NOWHERE

    spec = DealSpec("API-PARK", NOWHERE, "US01", "USD", [("PLAT-SEAT", 1, Decimal("49.00"))])
    deal_id = await seed_deal(estate.crm, estate.unique(spec), close=True)

    async def parked() -> dict[str, Any] | None:
        body = (await estate.http.get(f"{url}/deals/{deal_id}")).json()
        return body if body.get("stage") == "needs_attention" else None

    status = await eventually(parked)
    assert status["problem"]["code"] == "invalid_address"
    queue = (await estate.http.get(f"{url}/sagas", params={"exception": "invalid_address"})).json()
    assert deal_id in [entry["deal_id"] for entry in queue]
    wrong = await estate.http.post(
        f"{url}/deals/{deal_id}/resolve", json={"action": "retry_with_address", "actor": "jane"}
    )
    assert (wrong.status_code, wrong.json()["error"]) == (409, "resolution_rejected")
    cancel = await estate.http.post(f"{url}/deals/{deal_id}/cancel", json={"actor": "jane", "note": "test"})
    assert cancel.status_code == 200
    result = await estate.client.get_workflow_handle_for(
        CustomerToCash.run, ids.saga_id("salesforce", deal_id)
    ).result()
    assert result.outcome is Stage.CANCELLED
    again = await estate.http.post(f"{url}/deals/{deal_id}/resolve", json={"action": "retry", "actor": "jane"})
    assert (again.status_code, again.json()["error"]) == (409, "saga_ended")
    assert "has ended (cancelled)" in again.json()["message"]
    missing = await estate.http.get(f"{url}/deals/006000000000000AAA")
    assert (missing.status_code, missing.json()["error"]) == (404, "saga_not_found")


@pytest.mark.parametrize(
    "body",
    [
        {"action": "delete everything", "actor": "jane"},
        {"action": "retry"},  # who decided is required
        {"action": "retry", "actor": "   "},
    ],
)
async def test_malformed_resolution_is_422(refusing_api: Any, body: dict[str, Any]) -> None:
    estate, url = refusing_api
    response = await estate.http.post(f"{url}/deals/x/resolve", json=body)
    assert response.status_code == 422


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/deals/{deal}/start", None),
        ("GET", "/deals/{deal}", None),
        ("GET", "/sagas", None),
        ("POST", "/deals/{deal}/resolve", {"action": "retry", "actor": "mallory"}),
        ("POST", "/deals/{deal}/cancel", {"actor": "mallory", "note": "x"}),
    ],
)
@pytest.mark.parametrize("token", [None, "Bearer wrong-token", "Basic YzJjOmMyYw==", "Bearer"])
async def test_finance_endpoints_need_the_api_token_and_do_nothing_without_it(
    refusing_api: Any, method: str, path: str, body: Any, token: str | None
) -> None:
    estate, url = refusing_api
    deal_id = await seed_deal(estate.crm, estate.unique(DEAL), close=False)
    headers = {"Authorization": token} if token else {}
    async with httpx.AsyncClient(verify=tls_context()) as http:
        response = await http.request(method, url + path.format(deal=deal_id), json=body, headers=headers)
    assert (response.status_code, response.json()["error"]) == (401, "unauthorized")
    assert response.headers["WWW-Authenticate"] == "Bearer"
    await no_saga(estate, deal_id)


@pytest.mark.parametrize(
    "params", [{"currency": "usd"}, {"legal_entity": "XX99"}, {"exception": "x' OR 1=1"}, {"stage": "nope"}]
)
async def test_bad_queue_filters_are_422_naming_the_field(refusing_api: Any, params: dict[str, str]) -> None:
    estate, url = refusing_api
    response = await estate.http.get(f"{url}/sagas", params=params)
    assert response.status_code == 422
    assert list(params)[0] in json.dumps(response.json())


@pytest.mark.payment_method("pm_usBankAccount_success")
async def test_bank_debit_settles_when_the_billing_webhook_reports_it(api: Any) -> None:
    estate, _ = api
    spec = DealSpec("API-ACH", GLOBEX, "US01", "USD", [("PLAT-SEAT", 4, Decimal("49.00"))])
    deal_id = await estate.closed_deal(spec)
    handle = estate.client.get_workflow_handle_for(CustomerToCash.run, ids.saga_id("salesforce", deal_id))
    result = await eventually(lambda: _result_when_done(handle))
    assert result.outcome is Stage.COMPLETED
    timeline = [(e.event, e.detail) for e in (await handle.query(CustomerToCash.status)).timeline]
    assert ("payment pending", f"{result.external_ids['payment']}: waiting for the billing webhook") in timeline
    assert any(event == "billing event: payment succeeded" for event, _ in timeline)
    assert result.totals["fee"] > 0  # the settled payment came from the billing API, fee included
    stripe = await estate.state("stripe")
    [invoice] = [i for i in stripe["invoices"] if i["id"] == result.external_ids["invoice"]]
    assert invoice["status"] == "paid"


@pytest.mark.payment_method("pm_usBankAccount_insufficientFunds")
@pytest.mark.settings(dunning_days=[])  # no waiting days on a real-time server: write off at once
async def test_failed_bank_debit_is_written_off_and_cancel_credits_the_invoice(api: Any) -> None:
    estate, url = api
    spec = DealSpec("API-ACH-FAIL", GLOBEX, "US01", "USD", [("PLAT-SEAT", 4, Decimal("49.00"))])
    deal_id = await estate.closed_deal(spec)

    async def parked() -> dict[str, Any] | None:
        response = await estate.http.get(f"{url}/deals/{deal_id}")
        body = response.json() if response.status_code == 200 else {}
        return body if body.get("stage") == "needs_attention" else None

    status = await eventually(parked)
    assert (status["problem"]["stage"], status["problem"]["code"]) == ("settle", "uncollectible")
    cancel = await estate.http.post(f"{url}/deals/{deal_id}/cancel", json={"actor": "jane", "note": "no funds"})
    assert cancel.status_code == 200
    handle = estate.client.get_workflow_handle_for(CustomerToCash.run, ids.saga_id("salesforce", deal_id))
    result = await handle.result()
    assert result.outcome is Stage.CANCELLED
    assert "erp_credit_memo" in result.external_ids  # the posted ERP invoice was reversed, not deleted
    assert "erp_bad_debt_reversal" in result.external_ids  # and the write-off's provision released
    stripe = await estate.state("stripe")
    [invoice] = [i for i in stripe["invoices"] if i["id"] == result.external_ids["invoice"]]
    [note] = [n for n in stripe["credit_notes"] if n["invoice"] == invoice["id"]]  # sent: credited, not voided
    assert (note["id"], note["amount"]) == (result.external_ids["credit_note"], invoice["total"])


async def _result_when_done(handle: Any) -> Any:
    try:
        description = await handle.describe()
    except RPCError:
        return None  # the CRM webhook has not started it yet
    return await handle.result() if description.status and description.status.name == "COMPLETED" else None


async def test_billing_webhook_with_a_bad_signature_is_400(api: Any) -> None:
    estate, url = api
    body = b'{"id": "evt_1", "type": "invoice.paid"}'
    headers = {"Stripe-Signature": "t=1,v1=00", "Content-Type": "application/json"}
    response = await estate.http.post(f"{url}/webhooks/stripe", content=body, headers=headers)
    assert (response.status_code, response.json()["error"]) == (400, "invalid_webhook")


async def test_the_short_and_long_form_of_a_salesforce_id_start_one_saga(api: Any) -> None:
    estate, url = api
    deal_id = await estate.closed_deal(DEAL)  # the CRM's webhook may start it too: still one saga
    assert len(deal_id) == 18
    short = await estate.http.post(f"{url}/deals/{deal_id[:15]}/start")
    long = await estate.http.post(f"{url}/deals/{deal_id}/start")
    assert short.json()["workflow_id"] == long.json()["workflow_id"] == ids.saga_id("salesforce", deal_id)
    assert [short.json()["started"], long.json()["started"]].count(True) <= 1
    await estate.client.get_workflow_handle(long.json()["workflow_id"]).result()


async def test_a_crm_account_change_reaches_billing_and_the_erp_through_the_customer_master(api: Any) -> None:
    estate, _ = api
    spec = DealSpec("API-RENAME", GLOBEX, "US01", "USD", [("PLAT-SEAT", 2, Decimal("49.00"))])
    deal_id = await estate.closed_deal(spec)
    handle = estate.client.get_workflow_handle_for(CustomerToCash.run, ids.saga_id("salesforce", deal_id))
    result = await eventually(lambda: _result_when_done(handle))
    refs = result.external_ids
    await estate.crm.update("Account", refs["crm_account"], {"Name": "Globex Holdings, Inc.", "BillingCity": "Albany"})

    async def propagated() -> bool:
        stripe, netsuite = await estate.state("stripe"), await estate.state("netsuite")
        [customer] = [c for c in stripe["customers"] if c["id"] == refs["billing_customer"]]
        [erp] = [c for c in netsuite["customer"] if c["id"] == refs["erp_customer"]]
        return customer["name"] == erp["companyName"] == "Globex Holdings, Inc." and "Albany" in json.dumps(erp)

    await eventually(propagated)
    stripe = await estate.state("stripe")
    assert len([c for c in stripe["customers"] if c["metadata"].get("golden_id") == refs["golden_customer"]]) == 1


async def test_an_account_change_for_a_customer_never_onboarded_changes_nothing(api: Any) -> None:
    estate, url = api
    body = json.dumps(
        {
            "eventId": f"evt-acct-{estate.suffix}",
            "eventType": "account.changed",
            "sobject": "Account",
            "recordId": "001000000000000AAA",
            "changedFields": ["Name"],
            "systemModstamp": "2026-11-28T07:00:00.000Z",
            "occurredAt": "2026-11-28T07:00:00.000Z",
        }
    ).encode()
    response = await estate.http.post(f"{url}/webhooks/salesforce", content=body, headers=signed(body))
    assert (response.status_code, response.json()["status"]) == (202, "not onboarded")


@pytest.mark.payment_method("pm_usBankAccount_success")
async def test_duplicated_and_reordered_billing_webhooks_settle_the_saga_once(api: Any) -> None:
    estate, url = api
    # Every event delivered three times, shuffled within a window (seeded), signed with an old and a new secret.
    await estate.http.post(
        f"{estate.urls['stripe']}/_sandbox/webhook",
        json={
            "url": f"{url}/webhooks/stripe",
            "secrets": ["whsec_old_secret", estate.settings.stripe_webhook_secret.get_secret_value()],
            "duplicates": 2,
            "reorder": True,
            "reorder_window": 0.3,
            "seed": 7,
        },
    )
    spec = DealSpec("API-DUP", GLOBEX, "US01", "USD", [("PLAT-SEAT", 4, Decimal("49.00"))])
    deal_id = await estate.closed_deal(spec)
    handle = estate.client.get_workflow_handle_for(CustomerToCash.run, ids.saga_id("salesforce", deal_id))
    result = await eventually(lambda: _result_when_done(handle))
    assert result.outcome is Stage.COMPLETED
    stripe, netsuite = await estate.state("stripe"), await estate.state("netsuite")
    assert any(d["copy"] > 0 and d["status"] == 200 for d in stripe["webhook_deliveries"])  # duplicates did arrive
    assert len(by_id_(netsuite["customerPayment"], "externalId", result.external_ids["payment"])) == 1
    timeline = [e.event for e in (await handle.query(CustomerToCash.status)).timeline]
    assert timeline.count("payment pending") == 1


def by_id_(records: list[dict[str, Any]], key: str, value: Any) -> list[dict[str, Any]]:
    return [r for r in records if r.get(key) == value]


CANCEL = {"actor": "x", "note": "y"}
READER = {"name": "dashboard", "token": "read-only-token-0123456789", "scopes": ["read"]}
UI = {"name": "temporal-ui", "token": "codec-only-token-0123456789", "scopes": ["codec"]}


@pytest.mark.settings(api_tokens=[READER, UI], payload_keys=new_key("k1"))
async def test_tokens_get_only_their_scopes(api: Any) -> None:
    estate, url = api
    deal_id = await seed_deal(estate.crm, estate.unique(DEAL), close=False)
    reader = {"Authorization": f"Bearer {READER['token']}"}
    async with httpx.AsyncClient(verify=tls_context()) as http:
        listed = await http.get(f"{url}/sagas", headers=reader)
        assert listed.status_code == 200
        for path, body in (("start", None), ("resolve", {"action": "retry", "actor": "x"}), ("cancel", CANCEL)):
            response = await http.post(f"{url}/deals/{deal_id}/{path}", json=body, headers=reader)
            assert (response.status_code, response.json()["error"]) == (403, "forbidden")
            assert "'dashboard' lacks the" in response.json()["message"]
        codec = await http.post(f"{url}/codec/decode", json={"payloads": []}, headers=reader)
        assert codec.status_code == 403
    await no_saga(estate, deal_id)


@pytest.mark.settings(api_tokens=[UI], payload_keys=new_key("k1"))
async def test_the_ui_decodes_payloads_with_a_codec_token_and_not_without(api: Any) -> None:
    estate, url = api
    codec = EncryptionCodec(parse_keys(estate.settings.encryption_keys() or ""))
    [sealed] = await codec.encode([Payload(metadata={"encoding": b"json/plain"}, data=b'{"name":"Acme Corp"}')])
    body = json.loads(json_format.MessageToJson(Payloads(payloads=[sealed])))
    origin = {"Origin": "http://localhost:8233"}
    async with httpx.AsyncClient(verify=tls_context()) as http:
        anonymous = await http.post(f"{url}/codec/decode", json=body, headers=origin)
        assert anonymous.status_code == 401
        ui = {**origin, "Authorization": f"Bearer {UI['token']}"}
        decoded = await http.post(f"{url}/codec/decode", json=body, headers=ui)
        assert decoded.status_code == 200
        assert decoded.headers["access-control-allow-origin"] == "http://localhost:8233"
        [payload] = json_format.Parse(decoded.content, Payloads()).payloads
        assert payload.data == b'{"name":"Acme Corp"}'
        stranger = await http.options(
            f"{url}/codec/decode",
            headers={"Origin": "https://evil.test", "Access-Control-Request-Method": "POST"},
        )
        assert "access-control-allow-origin" not in stranger.headers


async def test_oversized_and_non_json_bodies_are_refused_unread_and_start_nothing(api: Any) -> None:
    estate, url = api
    await estate.http.post(f"{estate.urls['salesforce']}/_sandbox/webhook", json={"url": None})  # we send it
    deal_id = await seed_deal(estate.crm, estate.unique(DEAL), close=True)
    event = closed_won_event(deal_id, event_id=f"evt-big-{estate.suffix}")
    padded = event[:-1] + b', "padding": "' + b"x" * (estate.settings.max_body_bytes + 1) + b'"}'
    big = await estate.http.post(f"{url}/webhooks/salesforce", content=padded, headers=signed(padded))
    assert (big.status_code, big.json()["error"]) == (413, "body_too_large")

    async def chunks() -> Any:
        for _ in range(estate.settings.max_body_bytes // 1024 + 2):
            yield b" " * 1024

    streamed = await estate.http.post(
        f"{url}/webhooks/salesforce", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert (streamed.status_code, streamed.json()["error"]) == (413, "body_too_large")
    text = await estate.http.post(
        f"{url}/webhooks/salesforce", content=event, headers={**signed(event), "Content-Type": "text/plain"}
    )
    assert (text.status_code, text.json()["error"]) == (415, "unsupported_media_type")
    await no_saga(estate, deal_id)
    accepted = await estate.http.post(f"{url}/webhooks/salesforce", content=event, headers=signed(event))
    assert accepted.status_code == 202  # the same event, well-formed, is taken
