"""A deal's evidence pack against a completed, encrypted saga (and a refund of its invoice) on the dev server with the
emulators over HTTP: the API exports every system's ids and amounts, the deal's business events, its other workflows
and the saga's history with decrypted payloads, hash-chained; a second export gives the same final hash; the CLI's
verify mode accepts the pack and refuses it once one event is altered (naming it), or once the history is altered
and re-chained (`--expect`)."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from api.app import create_api
from cli.finance import cli
from codec import data_converter, new_key
from operations.evidence_chain import GENESIS, chain, verify_pack
from tests.support.estate import Estate, all_emulators, running_estate
from tests.support.sagas import USD_DEAL, start

KEYS = new_key("k1")
runner = CliRunner()


@pytest.fixture
async def estate(
    temporal_env: WorkflowEnvironment, emulators: Any, task_queue: str, tmp_path: Path
) -> AsyncIterator[Estate]:
    target = temporal_env.client.service_client.config.target_host
    client = await Client.connect(target, data_converter=data_converter(KEYS))
    async with running_estate(
        temporal_env, all_emulators(emulators), task_queue, tmp_path, client=client, payload_keys=KEYS
    ) as estate:
        yield estate


@pytest.fixture
async def api(estate: Estate) -> AsyncIterator[httpx.AsyncClient]:
    app = create_api(
        estate.trigger, estate.connectors.billing, estate.engine, estate.settings, connectors=estate.connectors
    )
    assert estate.settings.api_token is not None
    token = {"Authorization": f"Bearer {estate.settings.api_token.get_secret_value()}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api", headers=token) as http:
        yield http


def verify_file(path: Path, *extra: str) -> Any:
    return runner.invoke(cli, ["evidence", "--verify", str(path), *extra])


def activity_results(pack: dict[str, Any]) -> list[Any]:
    """The decoded results of the history's completed activities."""
    return [
        payload["json"]
        for item in pack["history"]["events"]
        for payload in item["event"]
        .get("activityTaskCompletedEventAttributes", {})
        .get("result", {})
        .get("payloads", [])
        if "json" in payload
    ]


async def test_a_completed_sagas_evidence_pack_holds_every_system_and_a_chain_that_detects_tampering(
    estate: Estate, api: httpx.AsyncClient, tmp_path: Path
) -> None:
    deal_id, handle = await start(estate, USD_DEAL)
    result = await handle.result()
    refs = result.external_ids
    body = {"amount": "10.00", "reason": "goodwill", "actor": "ana@finance", "key": "ev"}
    refund_id = (await api.post(f"/invoices/{deal_id}/refunds", json=body)).json()["workflow_id"]
    await estate.client.get_workflow_handle(refund_id).result()

    answer = await api.get(f"/deals/{deal_id}/evidence")
    assert answer.status_code == 200, answer.text
    pack = answer.json()
    assert (pack["deal_id"], pack["saga"]["stage"], pack["history"]["payloads"]) == (deal_id, "completed", "decrypted")
    assert pack["history"]["workflow_id"] == handle.id
    assert pack["saga"]["external_ids"] == refs

    # Every system, read back now, by the ids the saga recorded; the same amounts everywhere.
    records = pack["records"]
    total = records["billing"]["invoice"]["paid"]["amount"]
    assert records["crm"]["deal"]["deal_id"] == deal_id
    assert records["billing"]["invoice"]["invoice_id"] == refs["invoice"]
    assert records["billing"]["payment"]["amount"]["amount"] == total
    [document] = records["tax"]["documents"]
    assert (document["code"], document["status"]) == (refs["tax_document"], "Committed")
    [erp_invoice] = records["erp"]["invoices"]
    assert (erp_invoice["internal_id"], erp_invoice["external_id"], erp_invoice["total"]) == (
        refs["erp_invoice"],
        refs["invoice"],
        total,
    )
    [erp_payment] = records["erp"]["payments"]
    assert (erp_payment["internal_id"], erp_payment["applied"]) == (refs["erp_payment"], {refs["erp_invoice"]: total})
    assert {"invoice.posted", "payment.settled"} <= {event["type"] for event in pack["outbox"]}
    assert records["billing"]["invoice"]["refunded"]["amount"] == 10_00
    [memo] = records["erp"]["credit_memos"]
    [customer_refund] = records["erp"]["customer_refunds"]
    assert (memo["created_from"], memo["total"], customer_refund["credit_memo_erp_ids"]) == (
        refs["erp_invoice"],
        10_00,
        [memo["internal_id"]],
    )
    assert [(r["type"], r["workflow_id"]) for r in pack["related"]] == [
        ("Refund", refund_id),
        ("SubscriptionLifecycle", f"{handle.id}:subscription"),
    ]
    assert pack["related"][0]["status"]["stage"] == "refunded"
    assert "refund.issued" in {event["type"] for event in pack["outbox"]}

    # The history as Temporal holds it is ciphertext; the pack's payloads are the decrypted values.
    events = pack["history"]["events"]
    assert len(events) == len((await handle.fetch_history()).events)
    assert any(isinstance(r, dict) and r.get("deal_id") == deal_id for r in activity_results(pack))
    assert "binary/encrypted" not in json.dumps(events)
    assert chain([item["event"] for item in events])[-1].hash == pack["history"]["final_hash"] != GENESIS
    again = (await api.get(f"/deals/{deal_id}/evidence")).json()
    assert again["history"]["final_hash"] == pack["history"]["final_hash"]  # the same history, the same hash

    exported = tmp_path / "pack.json"
    exported.write_text(json.dumps(pack))
    final = pack["history"]["final_hash"]
    verified = verify_file(exported, "--expect", final)
    assert verified.exit_code == 0, verified.output
    assert f"final hash {final}" in verified.output

    # One event altered: verify names it.
    tampered = copy.deepcopy(pack)
    index = next(
        i
        for i, item in enumerate(tampered["history"]["events"])
        if "activityTaskCompletedEventAttributes" in item["event"]
    )
    tampered["history"]["events"][index]["event"]["eventTime"] = "2000-01-01T00:00:00Z"
    exported.write_text(json.dumps(tampered))
    broken = verify_file(exported)
    assert broken.exit_code == 1
    assert f"event {index}" in broken.output
    check = verify_pack(tampered)
    assert (check.ok, check.first_broken) == (False, index)

    # Altered and re-chained (every link recomputed): consistent in itself, but not the hash recorded at export.
    rechained = chain([item["event"] for item in tampered["history"]["events"]])
    tampered["history"]["events"] = [c.model_dump() for c in rechained]
    tampered["history"]["final_hash"] = rechained[-1].hash
    exported.write_text(json.dumps(tampered))
    assert verify_file(exported).exit_code == 0
    assert verify_file(exported, "--expect", final).exit_code == 1

    # A deal with no saga, and nonsense to verify.
    assert (await api.get("/deals/NOPE-1/evidence")).status_code == 404
    exported.write_text("[1, 2]")
    assert verify_file(exported).exit_code == 1
