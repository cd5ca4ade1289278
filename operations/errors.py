"""Why a saga operation did not happen, in the business's terms (never an HTTP status: the API maps these once,
in api/errors.py; the sweep maps them to its SagaStart outcome).

OperationError            `code` names the problem, `message` says it for a person
 ├─ DealNotFound          the CRM has no such deal
 ├─ DealRefused           the deal breaks a CRM or billing rule (`code` is the rule's): nothing starts
 ├─ CrmUnavailable        the CRM did not answer (transient): the same request may work later
 ├─ CrmFailed             the CRM refused our request (auth, a request it cannot parse): loud, not the deal's fault
 ├─ SagaNotFound          no saga for the deal
 ├─ SagaEnded             the deal's saga has ended (completed or cancelled): there is nothing to decide
 ├─ ContractNotActive     a CRM change for a contract whose subscription c2c does not follow (not yet, or ended)
 ├─ ResolutionRejected    the saga's validator refused finance's decision
 ├─ InvoiceNotFound       billing has no such invoice (or the deal no paid invoice to refund)
 ├─ RefundRefused         a refund breaks a rule (`code` is the rule's): nothing starts
 ├─ BillingUnavailable    billing did not answer: the same request may work later
 ├─ UsageRefused          a usage event breaks a rule (`code` is the rule's): nothing stored, nothing reported
 ├─ UsageConflict         a usage event reuses an event id for other usage
 └─ UsageSubscriptionNotFound  a usage event names a subscription c2c does not follow
"""

from __future__ import annotations


class OperationError(Exception):
    code = "operation_failed"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class DealNotFound(OperationError):
    code = "deal_not_found"


class DealRefused(OperationError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class CrmUnavailable(OperationError):
    code = "crm_unavailable"


class CrmFailed(OperationError):
    code = "crm_error"


class SagaNotFound(OperationError, LookupError):
    code = "saga_not_found"


class SagaEnded(OperationError):
    code = "saga_ended"


class ContractNotActive(OperationError):
    code = "contract_not_active"


class ResolutionRejected(OperationError, ValueError):
    code = "resolution_rejected"


class InvoiceNotFound(OperationError, LookupError):
    code = "invoice_not_found"


class RefundRefused(OperationError):
    """A refund that breaks a rule (`code` is the rule's: invoice_not_paid, amount_exceeds_refundable …): nothing
    starts, nothing is written."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class BillingUnavailable(OperationError):
    code = "billing_unavailable"


class UsageRefused(OperationError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class UsageConflict(OperationError):
    code = "event_id_reused"


class UsageSubscriptionNotFound(OperationError, LookupError):
    code = "unknown_subscription"
