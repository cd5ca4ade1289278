"""Payload encryption: round trip, tampering, rotation, plaintext pass-through, key parsing."""

from __future__ import annotations

import base64

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter

from codec import ENCODING, KEY_ID, EncryptionCodec, data_converter, new_key, parse_keys

SECRET = Payload(metadata={"encoding": b"json/plain"}, data=b'{"legal_name": "Acme Corp", "tax_id": "US-94-1"}')


async def test_payloads_are_sealed_and_open_again() -> None:
    codec = EncryptionCodec(parse_keys(new_key("k1")))
    [sealed] = await codec.encode([SECRET])
    assert sealed.metadata["encoding"] == ENCODING
    assert sealed.metadata[KEY_ID] == b"k1"
    assert b"Acme" not in sealed.data
    assert await codec.decode([sealed]) == [SECRET]
    [again] = await codec.encode([SECRET])
    assert again.data != sealed.data  # a fresh nonce every time


async def test_tampered_ciphertext_is_refused() -> None:
    codec = EncryptionCodec(parse_keys(new_key()))
    [sealed] = await codec.encode([SECRET])
    tampered = Payload(metadata=sealed.metadata, data=sealed.data[:-1] + bytes([sealed.data[-1] ^ 1]))
    with pytest.raises(ValueError, match="failed authentication"):
        await codec.decode([tampered])


async def test_rotation_reads_old_keys_and_writes_the_new_one() -> None:
    old, new = new_key("k1"), new_key("k2")
    [under_old] = await EncryptionCodec(parse_keys(old)).encode([SECRET])
    rotated = EncryptionCodec(parse_keys(f"{new},{old}"))
    assert await rotated.decode([under_old]) == [SECRET]
    [under_new] = await rotated.encode([SECRET])
    assert under_new.metadata[KEY_ID] == b"k2"
    with pytest.raises(ValueError, match="key 'k2'"):
        await EncryptionCodec(parse_keys(old)).decode([under_new])


async def test_plaintext_payloads_from_before_encryption_still_read() -> None:
    assert await EncryptionCodec(parse_keys(new_key())).decode([SECRET]) == [SECRET]


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("", "no payload keys"),
        ("k1", "id:base64"),
        (f"k1:{base64.b64encode(b'short').decode()}", "32 bytes"),
        ("k1:not base64!", "base64"),
    ],
)
def test_bad_key_specs_are_refused(spec: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_keys(spec)


def test_without_keys_the_converter_is_plain_pydantic() -> None:
    assert data_converter(None) is pydantic_data_converter
    assert isinstance(data_converter(new_key()).payload_codec, EncryptionCodec)
