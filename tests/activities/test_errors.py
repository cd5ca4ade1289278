"""The activity boundary: each taxonomy error becomes the ApplicationError the retry policies expect."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.exceptions import ApplicationError

from activities.errors import to_application_error, translated
from connectors.errors import BusinessRuleError, ConnectorError, PermanentError, TransientError, UncertainOutcome
from workflows.policies import NON_RETRYABLE, VENDOR_RETRY


@pytest.mark.parametrize(
    ("error", "non_retryable"),
    [
        (TransientError("stripe", "rate_limit", "slow down"), False),
        (UncertainOutcome("stripe", "outcome_unknown", "POST /v1/invoices: ReadTimeout"), False),
        (BusinessRuleError("avatax", "invalid_address", "cannot geocode"), True),
        (PermanentError("netsuite", "INVALID_KEY_OR_REF", "no such item"), True),
    ],
)
def test_type_and_retryability_follow_the_taxonomy(error: ConnectorError, non_retryable: bool) -> None:
    app = to_application_error(error)
    assert app.type == type(error).__name__
    assert app.non_retryable is non_retryable
    assert (app.type in NON_RETRYABLE) is non_retryable  # the policies match the exact type names
    assert app.details == ({"system": error.system, "code": error.code, "message": error.message},)


def test_retry_after_becomes_the_next_retry_delay() -> None:
    app = to_application_error(TransientError("stripe", "rate_limit", "slow down", retry_after=7.5))
    assert app.next_retry_delay == timedelta(seconds=7.5)
    assert to_application_error(TransientError("stripe", "x", "y")).next_retry_delay is None


def test_translated_reraises_connector_errors_only() -> None:
    with pytest.raises(ApplicationError) as caught, translated():
        raise BusinessRuleError("stripe", "card_declined", "Your card was declined.")
    assert caught.value.type == "BusinessRuleError"
    with pytest.raises(KeyError), translated():
        raise KeyError("a bug stays a bug")


def test_vendor_retry_policy_is_bounded_so_outages_park_instead_of_failing() -> None:
    assert VENDOR_RETRY.maximum_attempts > 1
    assert set(VENDOR_RETRY.non_retryable_error_types or []) == {"BusinessRuleError", "PermanentError"}
