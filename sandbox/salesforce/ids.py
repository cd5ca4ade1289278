"""Salesforce record ids: 15-char case-sensitive ids and their 18-char case-insensitive form."""

from __future__ import annotations

import re

_CHECKSUM_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ID_SHAPE = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")
# Instance "5g" + reserved "0", as in ids minted on a real pod.
_POD = "5g0"


def checksum(id15: str) -> str:
    """The 3-char suffix: for each 5-char chunk, a bit per upper-case letter, mapped to A-Z0-5."""
    suffix = ""
    for start in (0, 5, 10):
        bits = 0
        for position, char in enumerate(id15[start : start + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << position
        suffix += _CHECKSUM_ALPHABET[bits]
    return suffix


def make_id(key_prefix: str, number: int) -> str:
    """18-char id of the `number`th record of an object with `key_prefix` (e.g. 001 = Account)."""
    digits = ""
    while number:
        number, rest = divmod(number, 62)
        digits = _BASE62[rest] + digits
    id15 = f"{key_prefix}{_POD}{digits.rjust(9, '0')}"
    return id15 + checksum(id15)


def normalise(value: str) -> str | None:
    """The 18-char form of a 15- or 18-char id; None when the value is not a well-formed id."""
    if not _ID_SHAPE.match(value):
        return None
    full = value[:15] + checksum(value[:15])
    if len(value) == 18 and value[15:].upper() != full[15:]:
        return None
    return full
