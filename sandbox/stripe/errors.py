"""Stripe's error envelope `{"error": {type, code, decline_code, message, param}}` as exceptions."""

from __future__ import annotations

from typing import Any


class StripeError(Exception):
    """An error answer; raised once the endpoint has started executing, so its result is stored."""

    def __init__(
        self,
        status: int,
        type_: str,
        message: str,
        *,
        code: str | None = None,
        decline_code: str | None = None,
        param: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type_
        self.message = message
        self.code = code
        self.decline_code = decline_code
        self.param = param
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        for name in ("code", "decline_code", "param"):
            value = getattr(self, name)
            if value is not None:
                error[name] = value
        error.update(self.extra)
        return {"error": error}


class InvalidParams(StripeError):
    """The parameters failed validation: the endpoint never ran, so no idempotent result is stored."""

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(400, "invalid_request_error", message, code=code, param=param)


def invalid(message: str, *, code: str | None = None, param: str | None = None) -> StripeError:
    """A 400 refusal of a request whose parameters were well-formed (the result is stored)."""
    return StripeError(400, "invalid_request_error", message, code=code, param=param)


def no_such(kind: str, object_id: str, param: str | None = None) -> StripeError:
    """Missing object: 404 when it is the URL's resource, 400 when a parameter names it (as Stripe does)."""
    return StripeError(
        404 if param is None else 400,
        "invalid_request_error",
        f"No such {kind}: '{object_id}'",
        code="resource_missing",
        param=param,
    )
