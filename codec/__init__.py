"""Payload encryption for everything c2c hands to Temporal (inputs, results, queries, history).

Deal data holds names, addresses and tax ids; with `C2C_PAYLOAD_KEYS` set, every payload is sealed with
AES-GCM before it leaves the process, so the Temporal server and its database only hold ciphertext.
Search attributes are never encrypted, which is why they carry no PII. The Temporal UI decodes through
the trigger API's `/codec` endpoint (see api/codec.py), run by whoever holds the key.

Keys: `C2C_PAYLOAD_KEYS="k2:<base64 32 bytes>,k1:<base64 32 bytes>"` — the first encrypts, all decrypt
(rotation). Generate one with `python -m codec`.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
import re
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
    PayloadConverter,
)
from temporalio.exceptions import ApplicationError

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"


def parse_keys(spec: str) -> dict[str, bytes]:
    """`id:base64,id:base64` -> {id: 32-byte key}, in order (the first is the active key)."""
    keys: dict[str, bytes] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        key_id, sep, encoded = item.partition(":")
        if not sep or not key_id:
            raise ValueError(f"payload key {item[:8]}… is not of the form id:base64")
        try:
            key = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise ValueError(f"payload key {key_id!r} is not base64") from None
        if len(key) != 32:
            raise ValueError(f"payload key {key_id!r} must be 32 bytes (AES-256), got {len(key)}")
        keys[key_id] = key
    if not keys:
        raise ValueError("no payload keys given")
    return keys


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM per payload; the key id travels in the payload's metadata so keys can rotate."""

    def __init__(self, keys: dict[str, bytes]) -> None:
        self.active = next(iter(keys))
        self.ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        sealed = []
        for payload in payloads:
            nonce = os.urandom(12)
            data = nonce + self.ciphers[self.active].encrypt(nonce, payload.SerializeToString(), None)
            sealed.append(Payload(metadata={"encoding": ENCODING, KEY_ID: self.active.encode()}, data=data))
        return sealed

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        opened = []
        for payload in payloads:
            if payload.metadata.get("encoding") != ENCODING:
                opened.append(payload)  # written before encryption was switched on
                continue
            key_id = payload.metadata.get(KEY_ID, b"").decode()
            cipher = self.ciphers.get(key_id)
            if cipher is None:
                raise ValueError(f"payload was encrypted with key {key_id!r}, which this process does not have")
            try:
                plain = cipher.decrypt(payload.data[:12], payload.data[12:], None)
            except InvalidTag:
                raise ValueError(f"payload under key {key_id!r} failed authentication (tampered or corrupt)") from None
            opened.append(Payload.FromString(plain))
        return opened


# A vendor's or our own short error code: letters, digits and a few separators, never free text.
CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")


def failure_headline(error: BaseException) -> str | None:
    """`BusinessRuleError avatax/invalid_address` for a connector failure (activities/errors.py puts
    system/code/message in `details[0]`), else None. Built from the type, system and code only — the same
    codes the C2CException search attribute carries in plaintext — never from the vendor's message."""
    if not isinstance(error, ApplicationError) or not error.details or not isinstance(error.details[0], dict):
        return None
    system, code = error.details[0].get("system"), error.details[0].get("code")
    parts = [error.type or "ApplicationError", system, code]
    if not all(isinstance(part, str) and CODE.fullmatch(part) for part in parts):
        return None
    return f"{parts[0]} {system}/{code}"


class ReadableFailureConverter(DefaultFailureConverterWithEncodedAttributes):
    """Every failure's message and stack trace go into the encrypted `encoded_attributes` (the UI decodes them
    through the codec endpoint; SDK clients restore them); the plaintext message left in the history is
    "Encoded failure", or for a connector failure its headline (`BusinessRuleError avatax/invalid_address`),
    so the event list and the CLI say which system refused what without the key."""

    def to_failure(self, exception: BaseException, payload_converter: PayloadConverter, failure: Failure) -> None:
        super().to_failure(exception, payload_converter, failure)
        headline = failure_headline(exception)
        if headline is not None and failure.HasField("encoded_attributes"):
            failure.message = headline


def data_converter(payload_keys: str | None) -> DataConverter:
    """The converter every c2c client uses: pydantic, encrypted when keys are configured."""
    if not payload_keys:
        return pydantic_data_converter
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=EncryptionCodec(parse_keys(payload_keys)),
        # Failure messages and stack traces go into the encrypted attributes too: a vendor's refusal can quote
        # customer data (AvaTax names the city and postal code it could not place). A connector failure keeps a
        # plaintext headline of codes only.
        failure_converter_class=ReadableFailureConverter,
    )


def new_key(key_id: str = "k1") -> str:
    return f"{key_id}:{base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()}"
