"""Event contracts: which payload model, at which version, each event type carries, and the JSON Schema files.

`dataschema` on every event is `urn:c2c:events:<type>:v<n>`; the schema is the file
`canonical/event_schemas/<type>.v<n>.json` (`make schemas` writes a missing one; tests fail when a committed one
differs from its model). A version, once committed, is published: `breaking_changes` says what in a new schema a
consumer of the old one could not read, and `make schemas` refuses to overwrite it with such a change — add the
next version instead (a new model, registered below as the type's current one), and keep the old one's file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from canonical import event_payloads as p
from canonical.event_types import EventType

SCHEMA_DIR = Path(__file__).parent / "event_schemas"

# Every version of every type, oldest first; the last is what c2c emits now.
CONTRACTS: dict[EventType, list[type[p.Payload]]] = {
    EventType.CUSTOMER_CREATED: [p.CustomerCreatedV1],
    EventType.SUBSCRIPTION_ACTIVATED: [p.SubscriptionActivatedV1],
    EventType.TAX_QUOTED: [p.TaxQuotedV1],
    EventType.INVOICE_ISSUED: [p.InvoiceIssuedV1],
    EventType.INVOICE_POSTED: [p.InvoicePostedV1],
    EventType.INVOICE_SENT: [p.InvoiceSentV1],
    EventType.PAYMENT_REMINDER: [p.PaymentReminderV1],
    EventType.INVOICE_UNCOLLECTIBLE: [p.InvoiceUncollectibleV1],
    EventType.PAYMENT_SETTLED: [p.PaymentSettledV1],
    EventType.PAYMENT_APPLIED: [p.PaymentAppliedV1],
    EventType.SAGA_PARKED: [p.SagaParkedV1],
    EventType.SAGA_CANCELLED: [p.SagaCancelledV1],
    EventType.CREDIT_MEMO_APPLIED: [p.CreditMemoAppliedV1],
    EventType.SUBSCRIPTION_AMENDED: [p.SubscriptionAmendedV1],
    EventType.SUBSCRIPTION_RENEWED: [p.SubscriptionRenewedV1],
    EventType.SUBSCRIPTION_ENDED: [p.SubscriptionEndedV1],
    EventType.REFUND_ISSUED: [p.RefundIssuedV1],
}

# Changes to a property's schema that no reader notices.
ANNOTATIONS = frozenset({"title", "description", "examples", "default"})


def current(event_type: EventType) -> tuple[int, type[p.Payload]]:
    versions = CONTRACTS[event_type]
    return len(versions), versions[-1]


def validated(event_type: EventType, data: BaseModel | dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """(version, data as JSON) of `data` under the type's current contract; ValueError naming what is wrong
    (an unknown field too: schemas stay open for readers, so the writer checks)."""
    version, model = current(event_type)
    if isinstance(data, BaseModel):
        if not isinstance(data, model):
            raise ValueError(f"{event_type.value} v{version} carries {model.__name__}, not {type(data).__name__}")
        payload = data
    else:
        unknown = sorted(set(data) - set(model.model_fields))
        if unknown:
            raise ValueError(f"{event_type.value} v{version} ({model.__name__}) has no field {', '.join(unknown)}")
        payload = model.model_validate(data)
    return version, payload.model_dump(mode="json")


def dataschema(event_type: EventType, version: int) -> str:
    return f"urn:c2c:events:{event_type.value}:v{version}"


def file_name(event_type: EventType, version: int) -> str:
    return f"{event_type.value}.v{version}.json"


def schema_text(model: type[BaseModel]) -> str:
    return json.dumps(model.model_json_schema(), indent=2, sort_keys=True) + "\n"


def render() -> dict[str, str]:
    """File name -> schema text, for every version of every type."""
    return {
        file_name(event_type, n): schema_text(model)
        for event_type, versions in CONTRACTS.items()
        for n, model in enumerate(versions, start=1)
    }


def breaking_changes(old: dict[str, Any], new: dict[str, Any], where: str = "") -> list[str]:
    """What a reader of `old` could not read in documents valid under `new`. Deliberately strict: the only
    compatible changes are a new optional property and edited annotations; anything else is a new version."""
    problems: list[str] = []
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    for name, schema in old_props.items():
        if name not in new_props:
            problems.append(f"{where}{name}: removed")
        elif _strip(schema) != _strip(new_props[name]):
            problems.append(f"{where}{name}: changed from {_strip(schema)} to {_strip(new_props[name])}")
    for name in sorted(set(new.get("required", [])) - set(old.get("required", []))):
        problems.append(f"{where}{name}: now required")
    if _strip({k: v for k, v in old.items() if k not in {"properties", "required", "$defs"}}) != _strip(
        {k: v for k, v in new.items() if k not in {"properties", "required", "$defs"}}
    ):
        problems.append(f"{where}(the object itself) changed")
    for name, schema in old.get("$defs", {}).items():
        if name not in new.get("$defs", {}):
            problems.append(f"$defs.{name}: removed")
        else:
            problems += breaking_changes(schema, new["$defs"][name], f"$defs.{name}.")
    return problems


def _strip(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: _strip(v) for k, v in schema.items() if k not in ANNOTATIONS}
    if isinstance(schema, list):
        return [_strip(v) for v in schema]
    return schema


def write() -> list[str]:
    """Write missing or compatibly changed schema files; SystemExit naming every breaking change."""
    SCHEMA_DIR.mkdir(exist_ok=True)
    refused, written = [], []
    for name, text in render().items():
        path = SCHEMA_DIR / name
        if path.is_file():
            if path.read_text() == text:
                continue
            problems = breaking_changes(json.loads(path.read_text()), json.loads(text))
            if problems:
                refused.append(f"{name} is published; a breaking change needs a new version: {'; '.join(problems)}")
                continue
        path.write_text(text)
        written.append(name)
    if refused:
        raise SystemExit("\n".join(refused))
    return written
