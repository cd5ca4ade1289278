"""Event contracts: one committed JSON Schema per event type and version, and CI failing on a breaking change to a
published version (the fix is a new version, never an in-place edit)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import BaseModel, Field

from canonical import BusinessEvent, EventType, Money, event_contracts
from canonical.event_payloads import PaymentSettledV1

HINT = "run `make schemas` and commit canonical/event_schemas/ (a breaking change: add a new version instead)"


def test_every_published_version_matches_its_committed_schema() -> None:
    problems = []
    for name, text in event_contracts.render().items():
        path = event_contracts.SCHEMA_DIR / name
        if not path.is_file():
            problems.append(f"{name}: not committed")
        elif path.read_text() != text:
            breaking = event_contracts.breaking_changes(json.loads(path.read_text()), json.loads(text))
            problems.append(f"{name}: {'BREAKING ' + '; '.join(breaking) if breaking else 'changed compatibly'}")
    assert not problems, f"{problems}; {HINT}"


def test_no_stray_schema_files_and_every_type_has_a_contract() -> None:
    assert set(event_contracts.CONTRACTS) == set(EventType)
    stray = sorted({p.name for p in event_contracts.SCHEMA_DIR.iterdir()} - set(event_contracts.render()))
    assert not stray, f"schemas of no registered version: {stray}"


class Original(BaseModel):
    payment: str
    amount: int
    note: str | None = None


class AddsAnOptionalField(Original):
    channel: str | None = Field(default=None, description="new and optional")


class RemovesAField(BaseModel):
    payment: str
    amount: int


class ChangesAType(BaseModel):
    payment: str
    amount: str
    note: str | None = None


class MakesAFieldRequired(BaseModel):
    payment: str
    amount: int
    note: str


def schema(model: type[BaseModel]) -> dict[str, object]:
    return json.loads(event_contracts.schema_text(model))


def test_a_new_optional_field_or_a_new_description_is_compatible() -> None:
    assert event_contracts.breaking_changes(schema(Original), schema(AddsAnOptionalField)) == []


@pytest.mark.parametrize(
    ("changed", "says"),
    [(RemovesAField, "note: removed"), (ChangesAType, "amount: changed"), (MakesAFieldRequired, "note: now required")],
)
def test_a_breaking_change_is_named(changed: type[BaseModel], says: str) -> None:
    problems = event_contracts.breaking_changes(schema(Original), schema(changed))
    assert any(says in problem for problem in problems), problems


def test_make_schemas_refuses_to_rewrite_a_published_version_incompatibly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(event_contracts, "SCHEMA_DIR", tmp_path)
    published = tmp_path / event_contracts.file_name(EventType.PAYMENT_SETTLED, 1)
    event_contracts.write()
    assert published.read_text() == event_contracts.schema_text(PaymentSettledV1)
    # v1 as it was published had a field today's model no longer has: removing it is breaking
    old = json.loads(published.read_text())
    old["properties"]["settled_by"] = {"type": "string"}
    published.write_text(json.dumps(old))
    with pytest.raises(SystemExit, match=r"payment.settled.v1.json is published.*settled_by: removed"):
        event_contracts.write()
    assert "settled_by" in published.read_text(), "the published schema is left as it was"


def test_every_event_names_its_schema_and_carries_a_valid_payload() -> None:
    event = BusinessEvent.for_step(
        workflow_id="c2c:salesforce:D-1",
        event_type=EventType.PAYMENT_SETTLED,
        business_key="D-1",
        time=datetime(2025, 3, 1, tzinfo=UTC),
        data={
            "payment": "pi_1",
            "amount": Money(amount=4900, currency="USD"),
            "source_system": "stripe",
            "source_time": datetime(2025, 3, 1, 8, 59, tzinfo=UTC),
        },
    )
    assert event.dataschema == "urn:c2c:events:payment.settled:v1"
    assert event.data["amount"] == {"amount": 4900, "currency": "USD"}
    assert event.data["source_time"] == "2025-03-01T08:59:00Z"
    with pytest.raises(ValueError, match="has no field amount_minor"):
        BusinessEvent.for_step(
            workflow_id="c2c:salesforce:D-1",
            event_type=EventType.PAYMENT_SETTLED,
            business_key="D-1",
            time=datetime(2025, 3, 1, tzinfo=UTC),
            data={"payment": "pi_1", "amount_minor": 4900},
        )
