"""The one place AvaTax HTTP failures become the connector error taxonomy."""

from __future__ import annotations

import httpx
from pydantic import ValidationError

from connectors.avatax.wire import ErrorInfo, ErrorResult
from connectors.errors import BusinessRuleError, ConnectorError, PermanentError
from connectors.kit import default_status_error, json_body

SYSTEM = "avatax"

# Error and detail codes meaning "the engine cannot place this address": a data problem finance can fix.
ADDRESS_CODES = frozenset(
    {
        "InvalidAddress",
        "AddressRangeError",
        "AddressUnknownStreetError",
        "AddressNotGeocoded",
        "AddressLocationNotFound",
        "AddressConflictException",
        "InvalidAddressTextCase",
        "MissingAddress",
        "NotEnoughAddressesInfo",
        "InvalidCountry",
        "InvalidCountryRegion",
        "InvalidPostalCode",
        "JurisdictionNotFoundError",
    }
)

# We always send shipFrom then shipTo, so AvaTax's address indexes name them.
REFERS_TO = {"Addresses[0]": "ship-from address", "Addresses[1]": "ship-to address"}


def _error(response: httpx.Response) -> ErrorInfo:
    try:
        return ErrorResult.model_validate(json_body(SYSTEM, response)).error
    except (PermanentError, ValidationError):
        return ErrorInfo()


def _readable(error: ErrorInfo) -> str:
    """The vendor's messages, one per detail, with what they refer to."""
    parts = []
    for detail in error.details:
        text = detail.message or ""
        if detail.description and detail.description != detail.message:
            text = f"{text} {detail.description}".strip()
        if detail.refersTo:
            text = f"{REFERS_TO.get(detail.refersTo, detail.refersTo)}: {text}"
        if text:
            parts.append(text)
    return "; ".join(parts) or error.message or "address rejected"


def classify(response: httpx.Response) -> ConnectorError | None:
    """401/403 permanent; 429/5xx transient (Retry-After); address problems are business rules; rest permanent."""
    status = response.status_code
    error = _error(response)
    code = error.code or f"http_{status}"
    message = error.message or response.reason_phrase or f"HTTP {status}"
    if status in (401, 403):
        return PermanentError(SYSTEM, code, message, status=status)
    if status == 429 or status >= 500:
        return default_status_error(SYSTEM, response, code, message)
    codes = {code, *(detail.code for detail in error.details if detail.code)}
    if status == 400 and codes & ADDRESS_CODES:
        return BusinessRuleError(SYSTEM, "invalid_address", _readable(error), status=status)
    return default_status_error(SYSTEM, response, code, message)
