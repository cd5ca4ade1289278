"""The hash chain over a saga's workflow history in an evidence pack, and its verification. Pure (no I/O).

    h_0 = "0" * 64
    h_i = sha256(ascii(h_{i-1}) + canonical_json(event_i)).hexdigest()     for each history event, in order

`canonical_json` is JSON with sorted keys, no whitespace (`,` and `:`), UTF-8, non-ASCII kept as is: the same bytes
whoever serialises the event. Changing, dropping, adding or reordering any event changes its hash and every hash
after it, so the final hash stands for the whole history: keep it apart from the pack (it is printed at export) and
`verify --expect` it later. A re-export of the same history gives the same final hash (checked against Temporal).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, Field

GENESIS = "0" * 64
ALGORITHM = "h_i = sha256(ascii(h_{i-1}) + canonical_json(event_i)), h_0 = '0' * 64"


class ChainedEvent(BaseModel):
    hash: str = Field(description="this event's link: sha256 of the previous hash and the event's canonical JSON")
    event: dict[str, Any] = Field(description="the history event (Temporal's JSON form, payloads as the pack says)")


class Verification(BaseModel):
    """What `verify` found: `ok` only when every link and the final hash (and the expected one, if given) agree."""

    ok: bool
    events: int
    final_hash: str = Field(description="the final hash recomputed from the events")
    first_broken: int | None = Field(default=None, description="index of the first event whose hash does not match")
    event_id: str | None = Field(default=None, description="that event's eventId")
    problem: str | None = None


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def link(previous: str, event: dict[str, Any]) -> str:
    return hashlib.sha256(previous.encode("ascii") + canonical_json(event)).hexdigest()


def chain(events: list[dict[str, Any]]) -> list[ChainedEvent]:
    """Each event with its link, in order."""
    chained, previous = [], GENESIS
    for event in events:
        previous = link(previous, event)
        chained.append(ChainedEvent(hash=previous, event=event))
    return chained


def final_hash(chained: list[ChainedEvent]) -> str:
    return chained[-1].hash if chained else GENESIS


def verify(chained: list[ChainedEvent], stated_final: str, expected_final: str | None = None) -> Verification:
    """Recompute every link from the events; name the first event whose stated hash differs."""
    previous = GENESIS
    for index, item in enumerate(chained):
        previous = link(previous, item.event)
        if previous != item.hash:
            return Verification(
                ok=False,
                events=len(chained),
                final_hash=final_hash(chain([c.event for c in chained])),
                first_broken=index,
                event_id=str(item.event.get("eventId", "")) or None,
                problem=f"event {index} does not hash to its stated link: it or an earlier event was changed",
            )
    if previous != stated_final:
        return Verification(
            ok=False, events=len(chained), final_hash=previous, problem="the pack's final hash is not its last link"
        )
    if expected_final is not None and previous != expected_final:
        return Verification(
            ok=False,
            events=len(chained),
            final_hash=previous,
            problem=f"the final hash is not the expected {expected_final}: the history was changed and re-chained",
        )
    return Verification(ok=True, events=len(chained), final_hash=previous)


def verify_pack(pack: Any, expected_final: str | None = None) -> Verification:
    """Verify an exported pack (its parsed JSON): the chain of `history.events` against `history.final_hash`."""
    history = pack.get("history") if isinstance(pack, dict) else None
    if not isinstance(history, dict) or not isinstance(history.get("events"), list):
        return Verification(ok=False, events=0, final_hash=GENESIS, problem="not an evidence pack: no history.events")
    try:
        chained = [ChainedEvent.model_validate(item) for item in history["events"]]
    except ValueError as error:
        return Verification(ok=False, events=0, final_hash=GENESIS, problem=f"malformed history event: {error}")
    return verify(chained, str(history.get("final_hash")), expected_final)
