"""The CloudEvents NATS protocol binding, binary content mode (CloudEvents spec, bindings/nats-protocol-binding.md).

Attributes travel as `ce-<name>` headers (our extensions too: correlationid, causationid, businesskey),
`datacontenttype` as `content-type`, and the payload is `data` alone, as JSON. Chosen over structured mode so
that a consumer routes, filters and dedupes on headers without parsing the body, and the body is exactly the
document `ce-dataschema` describes. `Nats-Msg-Id` is the event id: JetStream drops a second publish of it.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from broker.subjects import subject_for
from canonical import BusinessEvent

MSG_ID = "Nats-Msg-Id"
CONTENT_TYPE = "content-type"
ATTRIBUTES = (
    "id", "source", "type", "specversion", "time", "subject", "dataschema", "correlationid", "causationid",
    "businesskey",
)  # fmt: skip


def to_message(event: BusinessEvent) -> tuple[str, dict[str, str], bytes]:
    """(subject, headers, payload) of `event`."""
    headers = {MSG_ID: event.id, CONTENT_TYPE: event.datacontenttype}
    for name in ATTRIBUTES:
        value = getattr(event, name)
        if value is None:
            continue
        headers[f"ce-{name}"] = value.isoformat() if isinstance(value, datetime) else str(value)
    payload = json.dumps(event.data, sort_keys=True, separators=(",", ":")).encode()
    return subject_for(event), headers, payload


def from_message(headers: dict[str, str] | None, payload: bytes | None) -> BusinessEvent:
    """The event a message carries; ValueError naming what is missing when it is not one of ours."""
    lowered = {key.lower(): value for key, value in (headers or {}).items()}
    missing = [name for name in ("id", "source", "type", "specversion", "time") if f"ce-{name}" not in lowered]
    if missing:
        raise ValueError(f"not a CloudEvent in binary mode: no ce-{', ce-'.join(missing)} header")
    fields: dict[str, Any] = {name: lowered[f"ce-{name}"] for name in ATTRIBUTES if f"ce-{name}" in lowered}
    fields["datacontenttype"] = lowered.get(CONTENT_TYPE, "application/json")
    fields["data"] = json.loads(payload) if payload else {}
    return BusinessEvent.model_validate(fields)
