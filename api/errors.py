"""The API's error answers: `{"error": code, "message": reason}` with a status; the operations' domain errors
get theirs here and nowhere else."""

from __future__ import annotations

from fastapi import HTTPException

from operations.errors import (
    BillingUnavailable,
    ContractNotActive,
    CrmFailed,
    CrmUnavailable,
    DealNotFound,
    DealRefused,
    InvoiceNotFound,
    OperationError,
    RefundRefused,
    ResolutionRejected,
    SagaEnded,
    SagaNotFound,
    UsageConflict,
    UsageRefused,
    UsageSubscriptionNotFound,
)


class ApiError(HTTPException):
    """A 4xx/5xx whose body names the problem: {"error": code, "message": reason}; a 401 carries
    `WWW-Authenticate: Bearer`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        super().__init__(status_code=status, detail={"error": code, "message": message}, headers=headers)


STATUS: dict[type[OperationError], int] = {
    DealNotFound: 404,
    DealRefused: 422,
    CrmUnavailable: 503,
    CrmFailed: 502,
    SagaNotFound: 404,
    SagaEnded: 409,
    ContractNotActive: 409,
    ResolutionRejected: 409,
    InvoiceNotFound: 404,
    RefundRefused: 422,
    BillingUnavailable: 503,
    UsageRefused: 422,
    UsageConflict: 409,
    UsageSubscriptionNotFound: 404,
}


def api_error(error: OperationError) -> ApiError:
    """The answer to a domain error (500 for one this table does not know yet: a bug to fix here)."""
    status = next((code for kind, code in STATUS.items() if isinstance(error, kind)), 500)
    return ApiError(status, error.code, error.message)
