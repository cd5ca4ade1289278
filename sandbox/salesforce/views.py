"""How records and query results look on the wire, shared by the REST resources and the composite API."""

from __future__ import annotations

from typing import Any

from sandbox.salesforce import soql
from sandbox.salesforce.errors import ApiError
from sandbox.salesforce.schema import ObjectSpec
from sandbox.salesforce.state import Org, Record


def record_view(spec: ObjectSpec, record: Record, version: str, fields: list[str] | None = None) -> Record:
    names = fields if fields is not None else [f.name for f in spec.fields]
    url = f"/services/data/{version}/sobjects/{spec.name}/{record['Id']}"
    return {"attributes": {"type": spec.name, "url": url}} | {name: record.get(name) for name in names}


def selected(spec: ObjectSpec, fields: str | None) -> list[str] | None:
    """The field names of a `fields=` parameter (all when None); INVALID_FIELD names an unknown one."""
    if fields is None:
        return None
    names = []
    for name in fields.split(","):
        field = spec.field(name.strip())
        if field is None:
            raise ApiError(400, "INVALID_FIELD", f"No such column '{name.strip()}' on entity '{spec.name}'")
        names.append(field.name)
    return names


def query_body(version: str, records: list[Record], total: int, cursor: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"totalSize": total, "done": cursor is None}
    if cursor is not None:
        body["nextRecordsUrl"] = f"/services/data/{version}/query/{cursor}"
    body["records"] = records
    return body


def run_query(org: Org, version: str, q: str | None) -> dict[str, Any]:
    """The first page of a SOQL query (caller holds the org's lock)."""
    if not q:
        raise soql.malformed("Missing query parameter q")
    spec, fields, matched = soql.execute(soql.parse(q), org.records)
    records = [record_view(spec, record, version, fields) for record in matched]
    batch, cursor = org.page(records)
    return query_body(version, batch, len(records), cursor)
