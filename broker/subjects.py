"""Subjects: `c2c.events.<noun>.<verb>.<business key>`, e.g. `c2c.events.payment.settled.006Dn00000AbCdE`.

Every event type is two tokens (`payment.settled`), so a subscriber picks one type with
`c2c.events.payment.settled.*`, one deal with `c2c.events.*.*.<key>`, everything with `c2c.events.>`.
The business key is the last token: characters NATS gives a meaning in subjects (`.`, `*`, `>`, whitespace) and
anything outside `[A-Za-z0-9_-]` are written `~XX` (hex of the byte), so any key is one token and stays
readable for the ids the CRMs use.
"""

from __future__ import annotations

import re

from canonical import BusinessEvent, EventType

PREFIX = "c2c.events"
ALL_EVENTS = f"{PREFIX}.>"
_PLAIN = re.compile(r"[A-Za-z0-9_-]")


def token(value: str) -> str:
    """`value` as one subject token (never empty)."""
    if not value:
        raise ValueError("a business key is never empty")
    return "".join(c if _PLAIN.fullmatch(c) else "".join(f"~{b:02X}" for b in c.encode()) for c in value)


def subject_for(event: BusinessEvent) -> str:
    return f"{PREFIX}.{event.type.value}.{token(event.businesskey)}"


def deal_filter(business_key: str) -> str:
    """Every event of one deal (its business key), in the order they were published."""
    return f"{PREFIX}.*.*.{token(business_key)}"


def type_filter(event_type: EventType) -> str:
    return f"{PREFIX}.{event_type.value}.*"


def _two_tokens() -> None:
    wrong = [t.value for t in EventType if len(t.value.split(".")) != 2]
    if wrong:  # the filters above count on it
        raise RuntimeError(f"event types must be <noun>.<verb>: {wrong}")


_two_tokens()
