"""Custom search attributes finance filters on in the Temporal UI. Plaintext: never PII."""

from temporalio.common import SearchAttributeKey

STAGE = SearchAttributeKey.for_keyword("C2CStage")
EXCEPTION = SearchAttributeKey.for_keyword("C2CException")
LEGAL_ENTITY = SearchAttributeKey.for_keyword("C2CLegalEntity")
CURRENCY = SearchAttributeKey.for_keyword("C2CCurrency")
# The billing period a subscription lifecycle is billing (or parked in): "2", "3", ...
PERIOD = SearchAttributeKey.for_keyword("C2CPeriod")

ALL = [STAGE, EXCEPTION, LEGAL_ENTITY, CURRENCY, PERIOD]
