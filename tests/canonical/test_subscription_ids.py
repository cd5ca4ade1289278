"""The subscription lifecycle's ids: workflow id round trip, per-period tax document codes."""

from __future__ import annotations

import pytest

from canonical import ids


def test_subscription_id_round_trips_and_is_not_a_saga_id() -> None:
    workflow_id = ids.subscription_id("salesforce", "006ABC")
    assert workflow_id == "c2c:salesforce:006ABC:subscription"
    assert ids.parse_subscription_id(workflow_id) == ("salesforce", "006ABC")
    with pytest.raises(ValueError, match="not a subscription lifecycle id"):
        ids.parse_subscription_id(ids.saga_id("salesforce", "006ABC"))


def test_each_period_has_its_own_tax_document_code_within_avatax_limit() -> None:
    codes = {ids.period_tax_document_code("salesforce", "006ABC", n) for n in range(2, 14)}
    assert len(codes) == 12
    assert ids.tax_document_code("salesforce", "006ABC") not in codes
    long = ids.period_tax_document_code("salesforce", "X" * 60, 2)
    assert len(long) <= 50
    assert long != ids.period_tax_document_code("salesforce", "X" * 60, 3)
