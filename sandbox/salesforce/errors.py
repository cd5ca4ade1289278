"""Salesforce REST error responses: a JSON array of {message, errorCode, fields}."""

from __future__ import annotations

from sandbox.salesforce.jsonwire import JsonValue


class ApiError(Exception):
    """An error the REST API answers with `status` and `[{"message", "errorCode", "fields"}]`."""

    def __init__(self, status: int, code: str, message: str, fields: list[str] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields

    def body(self) -> JsonValue:
        error: dict[str, JsonValue] = {"message": self.message, "errorCode": self.code}
        if self.fields is not None:
            error["fields"] = list(self.fields)
        return [error]


def not_found() -> ApiError:
    return ApiError(404, "NOT_FOUND", "The requested resource does not exist")
