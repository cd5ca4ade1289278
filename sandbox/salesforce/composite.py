"""The composite resources: sObject Collections (`/composite/sobjects`: create or update up to 200 records, read
records by ids) and Composite (`/composite`: up to 25 subrequests in one call, later ones naming earlier results as
`@{referenceId.path}`), each optionally all-or-none.

The caller holds the org's lock for the whole request, so a composite call is atomic as in Salesforce, and an
all-or-none failure puts every record back as it was. Callouts a rolled-back save already sent (a closed-won
webhook or outbound message) are not taken back: Salesforce only sends them on commit.
"""

from __future__ import annotations

import copy
import re
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from sandbox.salesforce.errors import ApiError, not_found
from sandbox.salesforce.state import Org, Record, object_or_404
from sandbox.salesforce.views import record_view, run_query, selected

MAX_COLLECTION = 200
MAX_SUBREQUESTS = 25
ROLLED_BACK = "Record rolled back because not all records were valid and the request was using AllOrNone header"
HALTED = "The transaction was rolled back since another operation in the same transaction failed."
_REFERENCE = re.compile(r"@\{([A-Za-z0-9_]+)\.([^}]+)\}")
_PATH_STEP = re.compile(r"^([A-Za-z0-9_]+)((?:\[\d+\])*)$")
_VERSION_PATH = re.compile(r"^/services/data/(v\d{2}\.0)/(.*)$")


def _error_item(error: ApiError) -> dict[str, Any]:
    """A failed collection item: `statusCode` (not `errorCode`) as in a SaveResult."""
    return {
        "success": False,
        "errors": [{"statusCode": error.code, "message": error.message, "fields": error.fields or []}],
    }


def _records_of(body: Any) -> tuple[list[Any], bool]:
    if not isinstance(body, dict) or not isinstance(body.get("records"), list):
        raise ApiError(400, "JSON_PARSER_ERROR", "The request body must be an object with a list of records")
    records, all_or_none = body["records"], body.get("allOrNone", False)
    if not isinstance(all_or_none, bool):
        raise ApiError(400, "JSON_PARSER_ERROR", f"Cannot deserialize instance of boolean from {all_or_none!r}")
    if len(records) > MAX_COLLECTION:
        raise ApiError(
            400, "EXCEEDED_ID_LIMIT", f"record limit reached. cannot submit more than {MAX_COLLECTION} records"
        )
    return records, all_or_none


def _typed(item: Any) -> tuple[Any, Record]:
    attributes = item.get("attributes") if isinstance(item, dict) else None
    sobject = attributes.get("type") if isinstance(attributes, dict) else None
    if not isinstance(sobject, str):
        raise ApiError(400, "INVALID_TYPE", "Must send a concrete entity type.", [])
    spec = object_or_404(sobject)
    return spec, {key: value for key, value in item.items() if key != "attributes"}


def _collection(org: Org, body: Any, *, creating: bool) -> list[dict[str, Any]]:
    records, all_or_none = _records_of(body)
    snapshot = copy.deepcopy(org.records) if all_or_none else None
    results: list[dict[str, Any]] = []
    for item in records:
        try:
            spec, fields = _typed(item)
            if creating:
                if "Id" in fields:
                    raise ApiError(
                        400, "INVALID_FIELD_FOR_INSERT_UPDATE", "cannot specify Id in an insert call", ["Id"]
                    )
                record_id = org.create(spec, fields)
            else:
                record_id = fields.pop("Id", None)
                if not isinstance(record_id, str):
                    raise ApiError(400, "MISSING_ARGUMENT", "Id not specified in an update call", [])
                org.update(spec, record_id, fields)
                record_id = org.get(spec, record_id)["Id"]
            results.append({"id": record_id, "success": True, "errors": []})
        except ApiError as error:
            results.append(_error_item(error))
    if snapshot is not None and any(not result["success"] for result in results):
        _restore(org, snapshot)
        halted = ApiError(400, "ALL_OR_NONE_OPERATION_ROLLED_BACK", ROLLED_BACK, [])
        results = [result if not result["success"] else _error_item(halted) for result in results]
    return results


def create_collection(org: Org, body: Any) -> list[dict[str, Any]]:
    """`POST /composite/sobjects`: SaveResults in request order."""
    return _collection(org, body, creating=True)


def update_collection(org: Org, body: Any) -> list[dict[str, Any]]:
    """`PATCH /composite/sobjects`: each record names its `Id`."""
    return _collection(org, body, creating=False)


def read_collection(org: Org, version: str, sobject: str, ids: str | None, fields: str | None) -> list[Any]:
    """`GET /composite/sobjects/{type}?ids=…&fields=…`: the records in the order asked, null for an unknown id."""
    spec = object_or_404(sobject)
    if not ids or not fields:
        raise ApiError(400, "MISSING_ARGUMENT", "Both ids and fields are required")
    names = selected(spec, fields)
    rows: list[Any] = []
    for record_id in ids.split(","):
        try:
            rows.append(record_view(spec, org.get(spec, record_id.strip()), version, names))
        except ApiError:
            rows.append(None)
    return rows


def _restore(org: Org, snapshot: dict[str, dict[str, Record]]) -> None:
    for name, records in snapshot.items():
        org.records[name] = records


def _resolve(value: Any, results: dict[str, Any]) -> Any:
    """`value` with every `@{referenceId.path}` replaced by that earlier result's value."""
    if isinstance(value, dict):
        return {key: _resolve(item, results) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolve(item, results) for item in value]
    if not isinstance(value, str):
        return value
    return _REFERENCE.sub(lambda match: str(_lookup(match.group(1), match.group(2), results)), value)


def _lookup(reference: str, path: str, results: dict[str, Any]) -> Any:
    current = results.get(reference)
    for step in path.split("."):
        match = _PATH_STEP.match(step)
        current = current.get(match.group(1)) if match and isinstance(current, dict) else None
        for index in re.findall(r"\[(\d+)\]", match.group(2) if match else ""):
            current = current[int(index)] if isinstance(current, list) and int(index) < len(current) else None
        if current is None:
            raise ApiError(
                400,
                "PROCESSING_HALTED",
                f"Invalid reference specified. No value for {reference}.{path} found in {reference}. "
                "Provided referenceId ensure you are using correct reference ids.",
            )
    return current


def _subrequest(org: Org, method: str, url: str, body: Any) -> tuple[int, Any, dict[str, str]]:
    """(status, body, headers) of one subrequest of a composite call."""
    parts = urlsplit(url)
    found = _VERSION_PATH.match(parts.path)
    if found is None:
        raise not_found()
    version, rest = found.group(1), [unquote(p) for p in found.group(2).strip("/").split("/")]
    params = {key: values[0] for key, values in parse_qs(parts.query).items()}
    if rest == ["query"] and method == "GET":
        return 200, run_query(org, version, params.get("q")), {}
    if rest == ["composite", "sobjects"] and method == "POST":
        return 200, create_collection(org, body), {}
    if len(rest) < 2 or rest[0] != "sobjects" or len(rest) > 4:
        raise not_found()
    spec = object_or_404(rest[1])
    if len(rest) == 2 and method == "POST":
        record_id = org.create(spec, body)
        location = f"/services/data/{version}/sobjects/{spec.name}/{record_id}"
        return 201, {"id": record_id, "success": True, "errors": []}, {"Location": location}
    if len(rest) == 3 and method == "GET":
        return 200, record_view(spec, org.get(spec, rest[2]), version, selected(spec, params.get("fields"))), {}
    if len(rest) == 3 and method == "PATCH":
        org.update(spec, rest[2], body)
        return 204, None, {}
    if len(rest) == 4:
        field = org.external_field(spec, rest[2])
        if method == "GET":
            record = org.find_external(spec, field, rest[3])
            if record is None:
                raise not_found()
            return 200, record_view(spec, record, version), {}
        if method == "PATCH":
            record_id, created = org.upsert(spec, field, rest[3], body)
            return 201 if created else 200, {"id": record_id, "success": True, "errors": [], "created": created}, {}
    raise ApiError(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed.")


def composite(org: Org, body: Any) -> dict[str, Any]:
    """`POST /composite`: `{allOrNone, compositeRequest: [{method, url, referenceId, body}]}`."""
    requests = body.get("compositeRequest") if isinstance(body, dict) else None
    if not isinstance(requests, list) or not requests or not all(isinstance(r, dict) for r in requests):
        raise ApiError(400, "JSON_PARSER_ERROR", "compositeRequest must be a non-empty list of subrequests")
    if len(requests) > MAX_SUBREQUESTS:
        raise ApiError(400, "LIMIT_EXCEEDED", f"A composite request takes at most {MAX_SUBREQUESTS} subrequests")
    references = [r.get("referenceId") for r in requests]
    if not all(isinstance(ref, str) and re.fullmatch(r"[A-Za-z0-9_]+", ref) for ref in references):
        raise ApiError(400, "INVALID_INPUT", "Every subrequest needs a referenceId of letters, digits and underscores")
    if len(set(references)) != len(references):
        raise ApiError(400, "INVALID_INPUT", "Duplicate referenceId provided in the request")
    all_or_none = body.get("allOrNone", False) is True
    snapshot = copy.deepcopy(org.records) if all_or_none else None
    results: dict[str, Any] = {}
    responses: list[dict[str, Any]] = []
    failed = False
    for request in requests:
        reference = request["referenceId"]
        try:
            if failed and all_or_none:
                raise ApiError(400, "PROCESSING_HALTED", HALTED)
            url = _resolve(request.get("url", ""), results)
            status, answer, headers = _subrequest(
                org, str(request.get("method", "GET")).upper(), url, _resolve(request.get("body"), results)
            )
            results[reference] = answer
        except ApiError as error:
            failed = True
            status, answer, headers = error.status, error.body(), {}
        responses.append({"body": answer, "httpHeaders": headers, "httpStatusCode": status, "referenceId": reference})
    if failed and snapshot is not None:
        _restore(org, snapshot)
        halted = ApiError(400, "PROCESSING_HALTED", HALTED).body()
        for response in responses:
            if response["httpStatusCode"] < 400:
                response.update(body=halted, httpHeaders={}, httpStatusCode=400)
    return {"compositeResponse": responses}
