"""A deal's evidence pack for auditors: every record id, amount and business event across the systems, with a hash
chain over the saga's workflow history (operations/evidence_chain.py), exported by `starter.py evidence` and
`GET /deals/{deal}/evidence`.

What it holds, each read where it lives (read-only, nothing is written anywhere):
- `saga`: the saga's status query (stage, every system's id, totals, timeline);
- `records`: the vendors read back through the connectors: the CRM deal; billing's first invoice (what was paid and
  given back) and its payment; the tax engine's document; the ERP's invoice, payment, credit memos from the invoice
  and the customer refunds paying them out;
- `outbox`: the deal's business events in the store (CloudEvents, in publishing order);
- `related`: the deal's other workflows (its subscription's lifecycle, the refunds of its invoice), each with its
  status;
- `history`: the saga's workflow history, every event chained.

Payloads: Temporal holds them encrypted (codec/); the pack holds them **decrypted** (the exporter holds the keys, as
the Temporal UI's codec endpoint does), because an auditor must read the amounts and ids the history carries. So
the pack is as confidential as the ERP's own records (it carries names and addresses). The chain is computed over
the decrypted events; decryption is deterministic, so exporting again gives the same final hash.
"""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

from google.protobuf.json_format import MessageToDict
from pydantic import BaseModel, Field
from sqlalchemy.engine import Engine
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.converter import PayloadCodec
from temporalio.service import RPCError, RPCStatusCode

from canonical import BusinessEvent, ids
from connectors.errors import ConnectorError
from connectors.factory import Connectors
from operations import finance
from operations.errors import BillingUnavailable
from operations.evidence_chain import ALGORITHM, ChainedEvent, chain, final_hash
from store import OutboxRepository, session_scope
from workflows.refund import Refund
from workflows.saga import SagaStatus
from workflows.subscription import SubscriptionLifecycle

PACK_VERSION = 1


class HistoryChain(BaseModel):
    workflow_id: str
    run_id: str | None
    payloads: str = Field(description="decrypted (the exporter held the keys) or plain (payloads are not encrypted)")
    algorithm: str = ALGORITHM
    events: list[ChainedEvent]
    final_hash: str


class EvidencePack(BaseModel):
    pack_version: int = PACK_VERSION
    generated_at: datetime
    deal_id: str
    crm: str
    saga: SagaStatus
    records: dict[str, Any] = Field(description="per system: what it holds for the deal, read back now")
    outbox: list[BusinessEvent]
    related: list[dict[str, Any]] = Field(description="the deal's lifecycle and refund workflows with their status")
    history: HistoryChain


async def build_pack(client: Client, connectors: Connectors, engine: Engine, crm: str, deal_id: str) -> EvidencePack:
    """The pack of one deal's saga (SagaNotFound when there is none; BillingUnavailable when a vendor does not
    answer: a pack is complete or not made)."""
    saga = await finance.show(client, crm, deal_id)
    handle = client.get_workflow_handle(ids.saga_id(crm, deal_id))
    described = await handle.describe()
    history = await handle.fetch_history()
    codec = client.data_converter.payload_codec
    events = await readable_events([MessageToDict(event) for event in history.events], codec)
    chained = chain(events)
    since = (described.start_time or datetime.now(UTC)).date() - timedelta(days=1)
    try:
        records = await vendor_records(connectors, deal_id, saga, since, crm)
    except ConnectorError as error:
        raise BillingUnavailable(f"a system did not answer for the evidence of {deal_id}: {error}") from error
    return EvidencePack(
        generated_at=datetime.now(UTC),
        deal_id=deal_id,
        crm=crm,
        saga=saga,
        records=records,
        outbox=await asyncio.to_thread(_outbox, engine, deal_id),
        related=await related_workflows(client, crm, deal_id, saga.external_ids.get("invoice")),
        history=HistoryChain(
            workflow_id=handle.id,
            run_id=described.run_id,
            payloads="decrypted" if codec is not None else "plain",
            events=chained,
            final_hash=final_hash(chained),
        ),
    )


async def readable_events(events: list[dict[str, Any]], codec: PayloadCodec | None) -> list[dict[str, Any]]:
    """The history events with every payload decrypted (when a codec is given) and, when it is JSON, shown as its
    value (`json`) instead of base64; other payloads keep their base64 `data`. Metadata is shown as text."""
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("metadata"), dict) and "encoding" in node["metadata"]:
                found.append(node)
                return
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(events)
    payloads = [
        Payload(
            metadata={key: base64.b64decode(value) for key, value in node["metadata"].items()},
            data=base64.b64decode(node.get("data", "")),
        )
        for node in found
    ]
    if codec is not None and payloads:
        payloads = list(await codec.decode(payloads))
    for node, payload in zip(found, payloads, strict=True):
        node.clear()
        node.update(_readable(payload))
    return events


def _readable(payload: Payload) -> dict[str, Any]:
    metadata = {key: value.decode("utf-8", "replace") for key, value in payload.metadata.items()}
    if metadata.get("encoding") == "json/plain":
        try:
            return {"metadata": metadata, "json": json.loads(payload.data)}
        except ValueError:
            pass
    return {"metadata": metadata, "data": base64.b64encode(payload.data).decode("ascii")}


async def vendor_records(
    connectors: Connectors, deal_id: str, saga: SagaStatus, since: date, crm: str | None = None
) -> dict[str, Any]:
    """What each system holds for the deal now (in `crm`, the CRM it came from), read by the ids the saga recorded."""
    refs = saga.external_ids
    deal = await connectors.crms[crm].get_deal(deal_id)
    records: dict[str, Any] = {"crm": {"deal": deal.model_dump(mode="json")}, "billing": {}, "tax": {}, "erp": {}}
    invoice_id = refs.get("invoice")
    if invoice_id is None:
        return records  # the saga stopped before billing invoiced
    invoice = await connectors.billing.refundable_invoice(invoice_id)
    payment = await connectors.billing.payment_for_invoice(invoice_id)
    records["billing"] = {"invoice": invoice.model_dump(mode="json"), "payment": payment.model_dump(mode="json")}
    documents = await connectors.tax.documents_since([deal.legal_entity], since)
    records["tax"] = {"documents": [d.model_dump(mode="json") for d in documents if d.code == refs.get("tax_document")]}
    erp_invoices = [i for i in await connectors.erp.invoices_modified_since(since) if i.external_id == invoice_id]
    erp_ids = {i.internal_id for i in erp_invoices}
    memos = [m for m in await connectors.erp.credit_memos_modified_since(since) if m.created_from in erp_ids]
    memo_ids = {m.internal_id for m in memos}
    refunds = [
        r for r in await connectors.erp.customer_refunds_modified_since(since) if memo_ids & set(r.credit_memo_erp_ids)
    ]
    payments = [p for p in await connectors.erp.payments_modified_since(since) if erp_ids & set(p.applied)]
    records["erp"] = {
        "invoices": [i.model_dump(mode="json") for i in erp_invoices],
        "payments": [p.model_dump(mode="json") for p in payments],
        "credit_memos": [m.model_dump(mode="json") for m in memos],
        "customer_refunds": [r.model_dump(mode="json") for r in refunds],
    }
    return records


def _outbox(engine: Engine, deal_id: str) -> list[BusinessEvent]:
    with session_scope(engine) as session:
        return OutboxRepository(session).events(business_key=deal_id)


async def related_workflows(client: Client, crm: str, deal_id: str, invoice_id: str | None) -> list[dict[str, Any]]:
    """The subscription's lifecycle and the refunds of the deal's invoice, each with Temporal's status and its own
    status query (ids, periods, amounts)."""
    found: list[dict[str, Any]] = []
    lifecycle = client.get_workflow_handle(ids.subscription_id(crm, deal_id))
    try:
        described = await lifecycle.describe()
        status = await lifecycle.query(SubscriptionLifecycle.status)
        found.append(_related(lifecycle.id, "SubscriptionLifecycle", described.status, status))
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
    if invoice_id is not None:
        prefix = ids.refund_id(invoice_id, "")  # billing's ids are [A-Za-z0-9_]: safe inside the quotes
        async for execution in client.list_workflows(f"WorkflowType = 'Refund' AND WorkflowId STARTS_WITH '{prefix}'"):
            if execution.id.startswith(prefix):
                refund = client.get_workflow_handle(execution.id, run_id=execution.run_id)
                found.append(_related(execution.id, "Refund", execution.status, await refund.query(Refund.status)))
    return sorted(found, key=lambda item: str(item["workflow_id"]))


def _related(workflow_id: str, kind: str, status: Any, query: BaseModel) -> dict[str, Any]:
    return {
        "workflow_id": workflow_id,
        "type": kind,
        "execution_status": status.name if status is not None else None,
        "status": query.model_dump(mode="json"),
    }
