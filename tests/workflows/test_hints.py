"""The action hint a parked saga shows in the Temporal UI fits its problem, and its payload is a valid `resolve`."""

from __future__ import annotations

import json
import re

import pytest

from workflows.hints import action_hint
from workflows.saga import Problem, Resolution, ResolutionAction, Stage


def problem(code: str) -> Problem:
    return Problem(stage=Stage.TAX, system="avatax", code=code, message="m", error_type="BusinessRuleError")


def payloads(hint: str) -> list[dict[str, object]]:
    return [json.loads(body) for body in re.findall(r"`(\{.*?\})`", hint)]


def test_an_invalid_address_asks_for_a_corrected_address_with_the_whole_payload() -> None:
    first, cancel = payloads(action_hint(problem("invalid_address")))
    assert first["action"] == ResolutionAction.RETRY_WITH_ADDRESS.value
    assert set(first) == {"action", "corrected_address", "actor", "note"}
    assert cancel["action"] == ResolutionAction.CANCEL.value
    assert Resolution.model_validate(cancel).note  # a cancel needs a note: the payload has one


@pytest.mark.parametrize("code", ["resource_missing", "unavailable", "uncollectible", "period_closed", "whatever"])
def test_other_problems_are_retried_once_fixed_never_with_corrected_data(code: str) -> None:
    hint = action_hint(problem(code))
    actions = [body["action"] for body in payloads(hint)]
    assert actions == [ResolutionAction.RETRY.value, ResolutionAction.CANCEL.value]
    assert "retry_with_address" not in hint
    for body in payloads(hint):
        Resolution.model_validate(body)  # what the hint says to paste is accepted as it is


def test_an_ambiguous_customer_asks_for_the_golden_customer() -> None:
    first, _ = payloads(action_hint(problem("customer_ambiguous")))
    assert first["action"] == ResolutionAction.RETRY_WITH_CUSTOMER.value
    assert "golden_customer_id" in first
