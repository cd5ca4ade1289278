"""Failures with payload keys: message and stack trace sealed, a connector failure's headline (codes only) in plain
text, and the codec endpoint decodes a failure's encoded attributes exactly as the Temporal UI asks for them."""

from __future__ import annotations

import base64
import json

import httpx
from fastapi import FastAPI
from google.protobuf import json_format
from temporalio.api.failure.v1 import Failure
from temporalio.exceptions import ApplicationError

from activities.errors import to_application_error
from api.codec import install_codec_endpoint
from codec import ENCODING, EncryptionCodec, data_converter, failure_headline, new_key, parse_keys
from connectors.errors import BusinessRuleError

KEYS = new_key("k1")
VENDOR_TEXT = "Address cannot be geocoded: Quillbury 00000 US."
REFUSAL = "the problem is invalid_address, not customer_ambiguous: use retry or cancel"


def raised(error: BaseException) -> BaseException:
    """The error with a traceback, as a worker hands it to the failure converter."""
    try:
        raise error
    except BaseException as caught:  # noqa: BLE001 - a test helper that only re-captures
        return caught


def connector_failure() -> BaseException:
    cause = BusinessRuleError("avatax", "invalid_address", VENDOR_TEXT, status=400)
    try:
        raise to_application_error(cause) from cause
    except ApplicationError as error:
        return error


async def encoded(error: BaseException) -> Failure:
    """What a worker with payload keys writes to the history."""
    converter = data_converter(KEYS)
    failure = Failure()
    converter.failure_converter.to_failure(error, converter.payload_converter, failure)
    assert converter.payload_codec is not None
    await converter.payload_codec.encode_failure(failure)
    return failure


async def test_a_connector_failure_keeps_a_code_only_headline_and_seals_the_vendor_text() -> None:
    failure = await encoded(connector_failure())
    assert failure.message == "BusinessRuleError avatax/invalid_address"
    assert failure.stack_trace == ""
    assert failure.encoded_attributes.metadata["encoding"] == ENCODING
    assert failure.cause.message == "Encoded failure"  # the ConnectorError itself: its text is the vendor's
    raw = failure.SerializeToString()
    assert b"Quillbury" not in raw
    assert b"00000" not in raw

    # An SDK client with the key reads the whole message back.
    converter = data_converter(KEYS)
    assert converter.payload_codec is not None
    await converter.payload_codec.decode_failure(failure)
    error = converter.failure_converter.from_failure(failure, converter.payload_converter)
    assert isinstance(error, ApplicationError)
    assert error.message == f"avatax: invalid_address: {VENDOR_TEXT}"
    assert error.details[0] == {"system": "avatax", "code": "invalid_address", "message": VENDOR_TEXT}


async def test_any_other_failure_reads_encoded_failure_in_the_history() -> None:
    failure = await encoded(raised(ValueError(REFUSAL)))
    assert failure.message == "Encoded failure"
    assert failure.application_failure_info.type == "ValueError"
    assert b"invalid_address" not in failure.SerializeToString()


def test_the_headline_is_built_from_codes_only() -> None:
    assert failure_headline(ValueError("x")) is None
    assert failure_headline(ApplicationError("x", type="BusinessRuleError")) is None  # no details
    assert failure_headline(ApplicationError("x", {"system": "avatax", "code": "Bad code: 12 Main St"})) is None
    assert failure_headline(ApplicationError("x", "avatax/invalid_address")) is None  # details not a dict
    headline = failure_headline(
        ApplicationError("x", {"system": "stripe", "code": "card_declined"}, type="BusinessRuleError")
    )
    assert headline == "BusinessRuleError stripe/card_declined"


async def ui_decodes(failure: Failure) -> dict[str, str]:
    """POST /codec/decode as the Temporal UI does for a failure: the history's `encodedAttributes` (proto JSON, base64
    metadata and data) as the only element of `payloads`; the UI then parses the answer's data as JSON."""
    app = FastAPI()
    install_codec_endpoint(app, EncryptionCodec(parse_keys(KEYS)), ["http://localhost:8233"])
    attributes = json.loads(json_format.MessageToJson(failure.encoded_attributes))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http:
        response = await http.post(
            "/codec/decode",
            json={"payloads": [attributes]},
            headers={"Origin": "http://localhost:8233", "X-Namespace": "default"},
        )
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == "http://localhost:8233"
    [payload] = response.json()["payloads"]
    metadata = {key: base64_text(value) for key, value in payload["metadata"].items()}
    assert metadata["encoding"] == "json/plain"
    decoded: dict[str, str] = json.loads(base64_text(payload["data"]))
    return decoded


def base64_text(value: str) -> str:
    return base64.b64decode(value).decode()


async def test_the_codec_endpoint_gives_the_ui_a_refusals_message_and_stack_trace() -> None:
    decoded = await ui_decodes(await encoded(raised(ValueError(REFUSAL))))
    assert decoded["message"] == REFUSAL
    assert "raised" in decoded["stack_trace"]


async def test_the_codec_endpoint_gives_the_ui_a_failed_steps_system_code_and_message() -> None:
    failure = await encoded(connector_failure())
    decoded = await ui_decodes(failure)
    assert decoded["message"] == f"avatax: invalid_address: {VENDOR_TEXT}"
    assert "to_application_error" in decoded["stack_trace"] or "connector_failure" in decoded["stack_trace"]
    # The details (system/code/message as the saga reads them) are an ordinary encrypted payload the UI decodes too.
    assert failure.application_failure_info.details.payloads[0].metadata["encoding"] == ENCODING
    cause = await ui_decodes(failure.cause)
    assert cause["message"] == f"avatax: invalid_address: {VENDOR_TEXT}"
