"""Salesforce record ids: 15-char case-sensitive ids and their 18-char case-insensitive form."""

from __future__ import annotations

import re
import time

_CHECKSUM_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ID_SHAPE = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")
# Instance "5g" + reserved "0", as in ids minted on a real pod.
_POD = "5g0"


class ClockSequence:
    """Increasing numbers that follow the wall clock: each is the current tick (`tick_ns` nanoseconds since
    `epoch_ns`) or, when that is not above the last one, the last one plus one.

    The emulator keeps its org in memory, but whatever records and ids c2c kept (the store's crosswalk, workflow
    histories) outlive it; a restarted emulator that numbered from a fixed start would hand out those ids again.
    Following the clock, a new process starts above every number an earlier process gave out, as long as that one
    did not run ahead of the clock by more than the time between them (it only runs ahead when it hands out more
    than one number per tick, and catches up as soon as it stops). No file, so ids are unique per machine clock:
    setting the clock back by more than the run-ahead could repeat some."""

    def __init__(self, tick_ns: int, epoch_ns: int = 0) -> None:
        self._tick_ns = tick_ns
        self._epoch_ns = epoch_ns
        self._last = 0

    def __iter__(self) -> ClockSequence:
        return self

    def __next__(self) -> int:
        self._last = max(self._last + 1, (time.time_ns() - self._epoch_ns) // self._tick_ns)
        return self._last


# Record serials count microseconds since 1970: 9 base62 digits hold them until the year 2398.
SERIAL_TICK_NS = 1_000


def serials() -> ClockSequence:
    """The record serials of one emulator process (see ClockSequence)."""
    return ClockSequence(SERIAL_TICK_NS)


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
